/**
 * Resolving a Redis connection (`sessions` with store redis, `storage` with type redis): which shape —
 * standalone, Sentinel or Cluster — the fields name, the secrets and TLS files read, and the checks that
 * span fields. Problems are collected under the section's name, never thrown one by one. The client for
 * each shape is built from the result in src/storage/redis.ts.
 */

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
}

export type RedisShape =
  | { readonly kind: 'standalone'; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly RedisNode[];
      readonly masterName: string;
      readonly sentinelUsername?: string | undefined;
      readonly sentinelPassword?: string | undefined;
    }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisNode[] };

/** Everything needed to connect: built at start-up, compared on reload. */
export interface RedisConnection {
  readonly shape: RedisShape;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** TLS on (with these settings); absent: plain TCP (a rediss:// url turns it on as well). */
  readonly tls?: RedisTls | undefined;
}

/** The fields of a section that describe a connection (src/config/schema/redis.ts, plus url and password). */
export interface RedisFields {
  readonly url?: string | undefined;
  readonly username?: string | undefined;
  readonly sentinels?: readonly string[] | undefined;
  readonly sentinelMasterName?: string | undefined;
  readonly sentinelUsername?: string | undefined;
  readonly sentinelPassword?: string | undefined;
  readonly sentinelPasswordFile?: string | undefined;
  readonly cluster?: readonly string[] | undefined;
  readonly tls?:
    | {
        readonly caFile?: string | undefined;
        readonly certFile?: string | undefined;
        readonly keyFile?: string | undefined;
        readonly serverName?: string | undefined;
      }
    | undefined;
}

/** Every connection field but url and the password (each section checks those itself). */
export const REDIS_CONNECTION_KEYS = [
  'username',
  'sentinels',
  'sentinelMasterName',
  'sentinelUsername',
  'sentinelPassword',
  'sentinelPasswordFile',
  'cluster',
  'tls',
] as const;

type ReadSecret = (file: string, key: string) => string | undefined;

/** A URL without user name and password, for messages. */
export function redactUrl(url: string): string {
  const u = URL.parse(url);
  if (u === null) return url.replace(/\/\/[^@/]*@/, '//');
  u.username = '';
  u.password = '';
  return u.href;
}

function node(hostPort: string): RedisNode {
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(hostPort.slice(colon + 1)) };
}

function nodes(list: readonly string[], key: string, problems: string[]): RedisNode[] {
  return list.map((hp, i) => {
    const n = node(hp);
    if (n.port < 1 || n.port > 65535) problems.push(`${key}[${i}]: port ${n.port} is out of range`);
    return n;
  });
}

/**
 * The connection a section names, or undefined when it names none (a problem is then recorded).
 * `password` is the section's password, already read from passwordFile by the caller.
 */
export function resolveRedis(
  section: string,
  /** How the section asks for redis, for messages: "store redis", "type redis". */
  asked: string,
  s: RedisFields,
  password: string | undefined,
  problems: string[],
  readSecret: ReadSecret,
): RedisConnection | undefined {
  const named = (['url', 'sentinels', 'cluster'] as const).filter((k) => s[k] !== undefined);
  if (named.length === 0) {
    problems.push(
      `${section}.url: ${asked} needs a URL, e.g. redis://127.0.0.1:6379/0 (or sentinels + sentinelMasterName for Sentinel, or cluster for a Redis Cluster)`,
    );
  } else if (named.length > 1) {
    problems.push(
      `${section}: set one of url, sentinels or cluster, not ${named.join(' and ')} (each names a different redis shape)`,
    );
  }
  if (s.sentinels === undefined) {
    for (const k of [
      'sentinelMasterName',
      'sentinelUsername',
      'sentinelPassword',
      'sentinelPasswordFile',
    ] as const)
      if (s[k] !== undefined)
        problems.push(`${section}.${k}: only used with sentinels; remove it, or list the sentinels`);
  } else if (s.sentinelMasterName === undefined) {
    problems.push(
      `${section}.sentinelMasterName: Sentinel needs the name the primary is monitored under (sentinel monitor <name> …), e.g. mymaster`,
    );
  }
  if (s.sentinelPassword !== undefined && s.sentinelPasswordFile !== undefined)
    problems.push(`${section}: set either sentinelPassword or sentinelPasswordFile, not both`);
  if (s.url !== undefined && (!URL.canParse(s.url) || !/^rediss?:$/.test(new URL(s.url).protocol)))
    problems.push(`${section}.url: "${redactUrl(s.url)}" is not a redis:// or rediss:// URL`);

  let tls: RedisTls | undefined;
  if (s.tls !== undefined) {
    const t = s.tls;
    if ((t.certFile === undefined) !== (t.keyFile === undefined))
      problems.push(`${section}.tls: a client certificate needs both certFile and keyFile`);
    const read = (file: string | undefined, key: string) =>
      file === undefined ? undefined : readSecret(file, `${section}.tls.${key}`);
    const ca = read(t.caFile, 'caFile');
    const cert = read(t.certFile, 'certFile');
    const key = read(t.keyFile, 'keyFile');
    tls = {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(t.serverName !== undefined ? { servername: t.serverName } : {}),
    };
  }
  const sentinelPassword =
    s.sentinelPassword ??
    (s.sentinelPasswordFile !== undefined
      ? readSecret(s.sentinelPasswordFile, `${section}.sentinelPasswordFile`)?.trim()
      : undefined);

  let shape: RedisShape | undefined;
  if (named.length !== 1) shape = undefined;
  else if (s.url !== undefined) shape = { kind: 'standalone', url: s.url };
  else if (s.sentinels !== undefined && s.sentinelMasterName !== undefined)
    shape = {
      kind: 'sentinel',
      sentinels: nodes(s.sentinels, `${section}.sentinels`, problems),
      masterName: s.sentinelMasterName,
      sentinelUsername: s.sentinelUsername,
      sentinelPassword,
    };
  else if (s.cluster !== undefined)
    shape = { kind: 'cluster', nodes: nodes(s.cluster, `${section}.cluster`, problems) };
  return shape === undefined ? undefined : { shape, username: s.username, password, tls };
}

/** Whether two connections reach the same redis as the same user (a reload that differs needs a restart). */
export function sameRedis(a: RedisConnection | undefined, b: RedisConnection | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Where a connection goes, without secrets: for messages and logs. */
export function describeRedis(c: RedisConnection): string {
  const s = c.shape;
  const list = (ns: readonly RedisNode[]) => ns.map((n) => `${n.host}:${n.port}`).join(',');
  if (s.kind === 'standalone') return redactUrl(s.url);
  if (s.kind === 'sentinel') return `sentinel ${s.masterName} via ${list(s.sentinels)}`;
  return `cluster ${list(s.nodes)}`;
}
