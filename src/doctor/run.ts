/**
 * The runner: load the configuration (every problem becomes a finding; exit 2), then walk the tables of
 * checks.ts for the configuration, each provider, each upstream and the stores. Subjects run in
 * parallel; the checks of one subject run in table order. Findings come out in a fixed order.
 */
import { ConfigError, isNote } from '../config/errors.ts';
import { type LoadOptions, loadConfig, type ResolvedConfig } from '../config/load.ts';
import { BEARER_CHECKS, CONFIG_CHECKS, PROVIDER_CHECKS, STORE_CHECKS, UPSTREAM_CHECKS } from './checks.ts';
import {
  type Check,
  type DoctorIo,
  type Finding,
  fail,
  type Report,
  type Result,
  type Summary,
  skip,
  warn,
} from './finding.ts';
import { type Location, providerKind, providerView } from './providers.ts';
import type { BearerScope, ConfigScope, ProviderScope, StoreScope, UpstreamScope } from './scope.ts';

export interface DoctorOptions {
  /** Only the checks that need no network. */
  readonly offline?: boolean;
  readonly fetch?: typeof globalThis.fetch;
  readonly now?: () => number;
  /** Per request; default 5 s. */
  readonly timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 5_000;

function ioFrom(o: DoctorOptions): DoctorIo {
  return {
    fetch: o.fetch ?? globalThis.fetch,
    now: o.now ?? Date.now,
    timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
}

function finding(id: string, subject: string, r: Result): Finding {
  const f: { -readonly [K in keyof Finding]: Finding[K] } = {
    id,
    status: r.status,
    subject,
    message: r.message,
  };
  if (r.fix !== undefined) f.fix = r.fix;
  if (r.detail !== undefined) f.detail = r.detail;
  return f;
}

async function runTable<S>(
  checks: readonly Check<S>[],
  scope: S,
  subject: (check: Check<S>) => string,
  io: DoctorIo,
  offline: boolean,
): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const check of checks) {
    if (offline ? check.when === 'live' : check.when === 'offline') continue;
    let results: readonly Result[];
    try {
      const r = await check.run(scope, io);
      results = r === undefined ? [] : 'status' in r ? [r] : r;
    } catch (err) {
      // A bug in a check must not hide the other findings.
      results = [fail(`the check itself failed: ${(err as Error).message}`)];
    }
    for (const r of results) out.push(finding(check.id, subject(check), r));
  }
  return out;
}

function providerScope(config: ResolvedConfig, entry: object, index: number): ProviderScope {
  const provider = providerView(entry, index);
  const kind = providerKind(provider.type);
  let location: Location;
  try {
    location = kind.locate(provider);
  } catch (err) {
    location = { kind: 'unknown', why: (err as Error).message };
  }
  return {
    config,
    provider,
    kind,
    location,
    redirectUri: config.redirectUri.href,
    dates: [],
    discovery: undefined,
    endpoints: undefined,
    unavailable: undefined,
    keys: undefined,
  };
}

/**
 * Runs the provider checks on one `providers` entry of any type, as `checkConfig` does for each entry
 * (tests use it for provider types that the schema does not list yet).
 */
export function checkProvider(
  config: ResolvedConfig,
  entry: object,
  index: number,
  o: DoctorOptions = {},
): Promise<Finding[]> {
  const s = providerScope(config, entry, index);
  return runTable(PROVIDER_CHECKS, s, () => s.provider.subject, ioFrom(o), o.offline === true);
}

/** Runs every check on a loaded configuration (without `config.load`). */
export async function checkConfig(config: ResolvedConfig, o: DoctorOptions = {}): Promise<Finding[]> {
  const io = ioFrom(o);
  const offline = o.offline === true;
  const providers = config.providers.map((p, i) => providerScope(config, p, i));
  const configScope: ConfigScope = { config, providers: providers.map((p) => p.provider) };
  const storeScope: StoreScope = { config };
  const parts = await Promise.all([
    runTable(CONFIG_CHECKS, configScope, () => 'configuration', io, offline),
    ...providers.map((s) => runTable(PROVIDER_CHECKS, s, () => s.provider.subject, io, offline)),
    ...config.bearer.issuers.map((source, index) => {
      const scope: BearerScope = { config, source, index };
      return runTable(BEARER_CHECKS, scope, () => `bearer.issuers[${index}] ${source.id}`, io, offline);
    }),
    ...config.upstreams.map((upstream, index) => {
      const scope: UpstreamScope = { config, upstream, index };
      return runTable(UPSTREAM_CHECKS, scope, () => `upstreams[${index}] ${upstream.name}`, io, offline);
    }),
    // sessions.store → "sessions", storage.reach → "storage"
    runTable(STORE_CHECKS, storeScope, (c) => c.id.slice(0, c.id.indexOf('.')), io, offline),
  ]);
  return parts.flat();
}

export function summarize(findings: readonly Finding[], configInvalid: boolean): Summary {
  const count = (s: Finding['status']) => findings.filter((f) => f.status === s).length;
  const failed = count('fail');
  return {
    ok: count('ok'),
    warn: count('warn'),
    fail: failed,
    skip: count('skip'),
    exitCode: configInvalid ? 2 : failed > 0 ? 1 : 0,
  };
}

/** `portcullis check`: load, then check. A configuration that does not load is reported, not thrown. */
export async function runDoctor(load: LoadOptions, o: DoctorOptions = {}): Promise<Report> {
  const mode = o.offline ? 'offline' : 'live';
  const from = load.file !== undefined ? ` from ${load.file}` : '';
  let config: ResolvedConfig;
  let warnings: readonly string[];
  try {
    ({ config, warnings } = loadConfig(load));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // A note (what waits for the problems to be fixed) is not one more failure.
    const findings = err.problems.map((p) =>
      finding('config.load', 'configuration', isNote(p) ? skip(p.slice(1, -1)) : fail(p)),
    );
    return { config: load.file, mode, findings, summary: summarize(findings, true) };
  }
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
  const findings: Finding[] = [
    {
      id: 'config.load',
      status: 'ok',
      subject: 'configuration',
      message: `loads${from}: ${n(config.providers.length, 'provider')}, ${n(config.upstreams.length, 'upstream')}`,
    },
    ...warnings.map((w) =>
      finding(
        'config.load',
        'configuration',
        warn(w, { fix: 'unset the variable, or rename it to the setting it was meant for' }),
      ),
    ),
    ...(await checkConfig(config, o)),
  ];
  return { config: load.file, mode, findings, summary: summarize(findings, false) };
}
