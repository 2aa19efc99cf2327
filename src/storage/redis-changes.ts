/**
 * Change feeds on Redis pub/sub (Storage.changes): PUBLISH on the storage's own connection, SUBSCRIBE on
 * one connection of its own per storage (a subscribed connection can send nothing else). Channels are
 * named under the key prefix (`<prefix>c:<kind>`), so deployments sharing a server do not hear each other.
 *
 * Pub/sub delivers at most once: what is published while the subscriber is disconnected is lost. So the
 * listeners hear `down` the moment the connection closes and `up` only once SUBSCRIBE is confirmed on a
 * new one; a listener that caches must drop everything on `down` and trust nothing it read before `up`.
 * ioredis's own reconnection and re-subscription are off for that reason (its `ready` comes before the
 * re-subscription is confirmed): a broken connection ends, and a new one is made after a pause.
 *
 * The three shapes: standalone and Sentinel subscribe on a duplicate of the storage's connection (with
 * Sentinel, on the current primary; after a failover the new connection asks Sentinel again). A Cluster
 * broadcasts every PUBLISH to every node (redis.io/docs/latest/develop/interact/pubsub/#pubsub-in-cluster),
 * so the subscriber connects to any one node, picked again at each reconnection.
 */
import { type Cluster, Redis } from 'ioredis';
import type { ChangeFeed, ChangeListener } from './storage.ts';

/** Pause before a new subscriber connection: doubles from the first to the last on repeated failures. */
const RETRY_FIRST_MS = 100;
const RETRY_LAST_MS = 2_000;

export class RedisChanges {
  readonly #redis: Redis | Cluster;
  readonly #listeners = new Map<string, Set<ChangeListener>>();
  #conn: Redis | undefined;
  #subscribed = false;
  #retry: NodeJS.Timeout | undefined;
  #pause = RETRY_FIRST_MS;
  #closed = false;
  #clientId: number | undefined;

  constructor(redis: Redis | Cluster) {
    this.#redis = redis;
  }

  feed(channel: string): ChangeFeed {
    return {
      publish: async (id) => {
        await this.#redis.publish(channel, id);
      },
      listen: (l) => this.#listen(channel, l),
    };
  }

  #listen(channel: string, l: ChangeListener): () => void {
    let set = this.#listeners.get(channel);
    const fresh = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(channel, set);
    }
    set.add(l);
    l.down();
    // No connection: open one, unless one is already due (#later).
    if (this.#conn === undefined) {
      if (this.#retry === undefined) this.#open();
    } else if (this.#subscribed && fresh) {
      const conn = this.#conn;
      conn.subscribe(channel).then(
        () => {
          if (this.#conn === conn && this.#subscribed) for (const x of set) x.up();
        },
        () => conn.disconnect(),
      );
    } else if (this.#subscribed) l.up();
    return () => {
      set.delete(l);
    };
  }

  /** A new subscriber connection; its end (whatever the cause) tells the listeners and schedules the next. */
  #open(): void {
    if (this.#closed || this.#conn !== undefined) return;
    const conn = this.#connection();
    if (conn === undefined) {
      this.#later();
      return;
    }
    this.#conn = conn;
    this.#subscribed = false;
    conn.on('error', () => {
      // The storage's own connection reports connection problems; this one just ends and is replaced.
    });
    conn.on('message', (channel: string, id: string) => {
      for (const l of this.#listeners.get(channel) ?? []) l.changed(id);
    });
    conn.once('close', () => this.#lost(conn));
    conn.once('end', () => {
      this.#lost(conn);
      if (this.#conn === conn) {
        this.#conn = undefined;
        this.#later();
      }
    });
    let channels: string[] = [];
    conn
      .connect()
      .then(() => conn.client('ID'))
      .then((id) => {
        this.#clientId = Number(id);
        channels = [...this.#listeners.keys()];
        return conn.subscribe(...channels);
      })
      .then(() => {
        if (this.#conn !== conn) return;
        // A channel first listened to while SUBSCRIBE was on its way is not covered: start again.
        if (this.#listeners.size !== channels.length) {
          conn.disconnect();
          return;
        }
        this.#subscribed = true;
        this.#pause = RETRY_FIRST_MS;
        for (const set of this.#listeners.values()) for (const l of set) l.up();
      })
      .catch(() => conn.disconnect());
  }

  #lost(conn: Redis): void {
    if (this.#conn !== conn || !this.#subscribed) return;
    this.#subscribed = false;
    for (const set of this.#listeners.values()) for (const l of set) l.down();
  }

  #later(): void {
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#open();
    }, this.#pause);
    this.#retry.unref();
    this.#pause = Math.min(this.#pause * 2, RETRY_LAST_MS);
  }

  #connection(): Redis | undefined {
    // No reconnection, no offline queue, no re-subscription of ioredis's own: see the top of this file.
    const own = {
      lazyConnect: true,
      retryStrategy: () => null,
      autoResubscribe: false,
      enableOfflineQueue: false,
      enableAutoPipelining: false,
    };
    if (this.#redis instanceof Redis) return this.#redis.duplicate({ ...own, failoverDetector: false });
    const nodes = this.#redis.nodes('all');
    const node = nodes[Math.floor(Math.random() * nodes.length)];
    if (node === undefined) return undefined;
    const { host, port } = node.options;
    return new Redis({
      ...this.#redis.options.redisOptions,
      ...own,
      ...(host !== undefined ? { host } : {}),
      ...(port !== undefined ? { port } : {}),
    });
  }

  /** The server's CLIENT ID of the subscriber connection while subscribed (CLIENT KILL ID in tests). */
  get subscriberId(): number | undefined {
    return this.#subscribed ? this.#clientId : undefined;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) {
      this.#lost(conn);
      conn.disconnect();
    }
    for (const set of this.#listeners.values()) for (const l of set) l.down();
    this.#listeners.clear();
  }
}
