/**
 * Real Redis in the shapes operators run, started by the tests on loopback with free ports and Debian's
 * binaries (redis-server, redis-sentinel, redis-cli; .ci/run installs them):
 *
 * - Sentinel: a primary, a replica and three sentinels (quorum 2) watching it as `mymaster`, with a short
 *   down-after-milliseconds so a failover takes seconds (production default: 30 s; docs/scaling.md).
 * - Cluster: six nodes, `redis-cli --cluster create … --cluster-replicas 1`: three primaries, three replicas.
 *
 * Every process is SIGKILLed and the directory removed by close(), which callers register in an after hook.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { RedisConnection } from '../../src/config/redis.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A free loopback port (and, for cluster nodes, port + 10000 free as well: the cluster bus). */
async function freePort(withBus = false): Promise<number> {
  for (;;) {
    const port = await listenFree(0);
    if (!withBus) return port;
    if (port + 10000 > 65535) continue;
    try {
      await listenFree(port + 10000);
      return port;
    } catch {
      // bus port taken: try another
    }
  }
}

function listenFree(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function untilTrue(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`redis shapes: ${what} not ready within ${ms} ms (${String(last ?? 'no answer')})`);
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    timeout: 10_000,
  });
  return stdout;
}

class Processes {
  readonly dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  readonly #procs = new Map<number, ChildProcess>();

  start(port: number, cmd: string, args: string[]): void {
    const p = spawn(cmd, args, { stdio: 'ignore', cwd: this.dir });
    p.unref();
    this.#procs.set(port, p);
  }

  /** SIGKILL of the process on that port (a crash, not a shutdown). */
  kill(port: number): void {
    this.#procs.get(port)?.kill('SIGKILL');
  }

  close(): void {
    for (const p of this.#procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    this.#procs.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const serverArgs = (port: number) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
];

export interface RedisShape {
  readonly connection: RedisConnection;
  /** Port of the current primary (Sentinel) or of every primary (Cluster), as the servers say now. */
  primaries(): Promise<number[]>;
  kill(port: number): void;
  close(): Promise<void>;
}

export async function startSentinel(): Promise<RedisShape> {
  const ps = new Processes();
  try {
    const primary = await freePort();
    const replica = await freePort();
    ps.start(primary, 'redis-server', serverArgs(primary));
    ps.start(replica, 'redis-server', [...serverArgs(replica), '--replicaof', '127.0.0.1', String(primary)]);
    await untilTrue('replica in sync', async () =>
      /master_link_status:up/.test(await cli(replica, 'info', 'replication')),
    );
    const sentinels: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(ps.dir, `sentinel-${i}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${ps.dir}`,
          `sentinel monitor mymaster 127.0.0.1 ${primary} 2`,
          'sentinel down-after-milliseconds mymaster 1000',
          'sentinel failover-timeout mymaster 5000',
          'sentinel parallel-syncs mymaster 1',
          '',
        ].join('\n'),
      );
      ps.start(port, 'redis-sentinel', [conf]);
      sentinels.push(port);
    }
    // A failover needs each sentinel to know the replica and the other sentinels.
    for (const s of sentinels)
      await untilTrue(`sentinel ${s}`, async () => {
        const info = await cli(s, 'info', 'sentinel');
        return /status=ok/.test(info) && /slaves=1/.test(info) && /sentinels=3/.test(info);
      });
    return {
      connection: {
        shape: {
          kind: 'sentinel',
          masterName: 'mymaster',
          sentinels: sentinels.map((port) => ({ host: '127.0.0.1', port })),
        },
      },
      async primaries() {
        for (const s of sentinels) {
          try {
            const out = (await cli(s, 'sentinel', 'get-master-addr-by-name', 'mymaster')).trim().split('\n');
            return [Number(out[1])];
          } catch {
            // that sentinel is down: ask the next
          }
        }
        return [];
      },
      kill: (port) => ps.kill(port),
      close: async () => ps.close(),
    };
  } catch (err) {
    ps.close();
    throw err;
  }
}

export async function startCluster(): Promise<RedisShape> {
  const ps = new Processes();
  try {
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) {
      const port = await freePort(true);
      ps.start(port, 'redis-server', [
        ...serverArgs(port),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(ps.dir, `nodes-${port}.conf`),
        // How long a primary may be silent before its replica is promoted (production default: 15 s).
        '--cluster-node-timeout',
        '2000',
      ]);
      ports.push(port);
    }
    for (const p of ports) await untilTrue(`node ${p}`, async () => /PONG/.test(await cli(p, 'ping')));
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    for (const p of ports)
      await untilTrue(`cluster state on ${p}`, async () =>
        /cluster_state:ok/.test(await cli(p, 'cluster', 'info')),
      );
    return {
      connection: {
        shape: { kind: 'cluster', nodes: ports.slice(0, 3).map((port) => ({ host: '127.0.0.1', port })) },
      },
      async primaries() {
        for (const p of ports) {
          try {
            const nodes = await cli(p, 'cluster', 'nodes');
            return nodes
              .split('\n')
              .filter((l) => /\bmaster\b/.test(l) && !/\bfail\b/.test(l))
              .map((l) => Number(/:(\d+)@/.exec(l)?.[1]));
          } catch {
            // that node is down: ask the next
          }
        }
        return [];
      },
      kill: (port) => ps.kill(port),
      close: async () => ps.close(),
    };
  } catch (err) {
    ps.close();
    throw err;
  }
}

/** Deletes every key with this prefix on a standalone or sentinel primary, or on every cluster primary. */
export async function removeKeys(shape: RedisShape, pattern: string): Promise<void> {
  for (const port of await shape.primaries()) {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (const k of keys) await r.del(k);
      } while (cursor !== '0');
    } catch {
      // a node that is gone holds nothing to clean
    } finally {
      r.disconnect();
    }
  }
}
