/**
 * The one watcher of the stored key set in a running instance. It reads the set's version every
 * KEY_POLL_SECONDS (cheap: the set stays sealed) and re-reads the set when it changed (`portcullis keys
 * rotate`, or another instance generating the first set); it also wakes when a key changes state by the
 * clock alone (a pending key activates, a retired key's window ends: src/keys/state.ts). Each time, its
 * subscribers — the issuer, which rebuilds oidc-provider's JWKS, and the assertion signer — get the new
 * set, in the order they subscribed, one after the other.
 *
 * One timer (a setTimeout chain, re-armed after each check) for everything that follows the keys: two
 * pollers would read the storage twice as often and could see a rotation at different moments.
 */
import type { Logger } from '../observability/log.ts';
import type { Storage } from '../storage/storage.ts';
import { nextTransition, signingKey } from './state.ts';
import { ALGORITHMS, type KeySet, KeyStore } from './store.ts';
import { KEY_POLL_SECONDS } from './timing.ts';

/** Told about a new key set (or a key that changed state), with the time it was evaluated at. */
export type KeysListener = (set: KeySet, now: number) => void | Promise<void>;

export interface KeyPollerOptions {
  /** Polling period (ms); 0: no timer (tests call check()). Default KEY_POLL_SECONDS. */
  readonly pollMs?: number;
  /** The clock, epoch seconds (tests freeze or move it). */
  readonly now?: () => number;
}

const wallClock = () => Math.floor(Date.now() / 1000);

export class KeyPoller {
  readonly store: KeyStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pollMs: number;
  readonly #listeners: KeysListener[] = [];
  #set: KeySet;
  /** When the subscribers were last told (epoch seconds): a transition after it is news. */
  #seenAt: number;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(
    store: KeyStore,
    log: Logger,
    now: () => number,
    pollMs: number,
    set: KeySet,
    at: number,
  ) {
    this.store = store;
    this.#log = log;
    this.#now = now;
    this.#pollMs = pollMs;
    this.#set = set;
    this.#seenAt = at;
  }

  /** Loads (on first use: generates and stores) the key set, and starts polling. */
  static async start(
    storage: Storage,
    cookieKeys: readonly Buffer[],
    log: Logger,
    o: KeyPollerOptions = {},
  ): Promise<KeyPoller> {
    const now = o.now ?? wallClock;
    const store = new KeyStore(storage, cookieKeys);
    const at = now();
    const poller = new KeyPoller(
      store,
      log,
      now,
      o.pollMs ?? KEY_POLL_SECONDS * 1000,
      await store.load(at),
      at,
    );
    poller.#arm();
    return poller;
  }

  /** The key set as last read. */
  get set(): KeySet {
    return this.#set;
  }

  /** The poller's clock (epoch seconds): what key states are evaluated against. */
  now(): number {
    return this.#now();
  }

  /** Adds a subscriber (called on every change from now on); returns the way to remove it. */
  subscribe(listener: KeysListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /**
   * Looks now (the timer, SIGHUP, tests): re-reads the set if its stored version changed, and tells the
   * subscribers when it did or when a key changed state since they were last told. Returns whether they
   * were. Checks run one after the other, so each sees what the previous one stored.
   */
  check(): Promise<boolean> {
    const run = this.#chain.then(() => this.#check());
    // Re-armed after every check, whoever asked: the set it learnt of may change state before the period ends.
    this.#chain = run.catch(() => undefined).finally(() => this.#arm());
    return run;
  }

  async #check(): Promise<boolean> {
    const now = this.#now();
    const version = await this.store.version();
    let set = this.#set;
    if (version !== set.version) set = await this.store.load(now);
    else if ((nextTransition(set, this.#seenAt) ?? Number.POSITIVE_INFINITY) > now) return false;
    this.#set = set;
    this.#seenAt = now;
    for (const listener of [...this.#listeners]) {
      try {
        await listener(set, now);
      } catch (err) {
        // One subscriber failing (e.g. the issuer's rebuild) must not keep the others on the old keys.
        this.#log.error(
          { event: 'keys.subscriber-failed', err: String(err) },
          'a component could not take the new signing keys; it keeps the previous ones',
        );
      }
    }
    this.#log.info(
      {
        event: 'keys.changed',
        version: set.version,
        signing: ALGORITHMS.map((alg) => signingKey(set, alg, now)?.kid),
      },
      'signing keys changed',
    );
    return true;
  }

  /** The next look: at the poll period, or sooner when a key changes state before then. */
  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#closed || this.#pollMs <= 0) return;
    const next = nextTransition(this.#set, this.#now());
    const untilNext = next === undefined ? Number.POSITIVE_INFINITY : (next - this.#now()) * 1000 + 50;
    this.#timer = setTimeout(
      () => {
        this.check().catch((err: unknown) => {
          this.#log.error(
            { event: 'keys.reload-failed', err: String(err) },
            'signing keys could not be re-read from storage; the previous ones stay in use',
          );
        });
      },
      Math.max(0, Math.min(this.#pollMs, untilNext)),
    ).unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
