/**
 * The flags of `portcullis explain`: the principal (provider, e-mail, groups, claims, memberships, or a
 * machine) and the target (paths, or an issuer client, or nothing: sign-in), turned into what the gate
 * itself would hold — the identity a provider keeps in the session (an unverified address moved aside
 * unless the provider allows it, as src/idp/claims.ts does at sign-in) and the path as the gate reads it.
 */
import { parseArgs } from 'node:util';
import { ISSUER_SOURCE } from '../config/bearer.ts';
import type { ResolvedConfig } from '../config/load.ts';
import { REFUSALS, readTarget } from '../config/paths.ts';
import { withEmailPolicy } from '../idp/claims.ts';
import type { Principal } from '../policy/decision.ts';
import type { ExplainTarget } from '../policy/explain.ts';
import type { Identity } from '../sessions/session.ts';
import { CONFIG_OPTIONS, UsageError } from './options.ts';

export const EXPLAIN_OPTIONS = {
  ...CONFIG_OPTIONS,
  provider: { type: 'string' },
  email: { type: 'string' },
  unverified: { type: 'boolean' },
  groups: { type: 'string', multiple: true },
  claim: { type: 'string', multiple: true },
  username: { type: 'string' },
  sub: { type: 'string' },
  orgs: { type: 'string', multiple: true },
  teams: { type: 'string', multiple: true },
  projects: { type: 'string', multiple: true },
  tenant: { type: 'string' },
  machine: { type: 'string' },
  path: { type: 'string', multiple: true },
  'forward-auth': { type: 'boolean' },
  client: { type: 'string' },
  json: { type: 'boolean' },
  'what-if': { type: 'string' },
  decisions: { type: 'string' },
} as const;

export type ExplainValues = ReturnType<typeof parseExplainArgs>['values'];

/** Parses the flags; the configuration's own flags (--config, --set, …) are handed back for loading. */
export function parseExplainArgs(args: readonly string[]) {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof EXPLAIN_OPTIONS; tokens: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options: EXPLAIN_OPTIONS, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError(`explain: ${(err as Error).message}`);
  }
  const configArgs: string[] = [];
  for (const t of parsed.tokens) {
    if (t.kind === 'option' && t.name in CONFIG_OPTIONS && t.value !== undefined) {
      configArgs.push(`--${t.name}`, t.value);
    }
  }
  return { values: parsed.values, configArgs };
}

/** `a,b` and repeated flags alike; empty items dropped. */
function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** `--claim k=v` (repeatable; a key given twice is a list, as a claim with several values). */
function claims(specs: readonly string[] | undefined): Record<string, string | string[]> | undefined {
  if (specs === undefined || specs.length === 0) return undefined;
  const out: Record<string, string | string[]> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UsageError(`explain: --claim takes KEY=VALUE, got "${spec}"`);
    const key = spec.slice(0, eq);
    const value = spec.slice(eq + 1);
    const have = out[key];
    out[key] = have === undefined ? value : [...(Array.isArray(have) ? have : [have]), value];
  }
  return out;
}

/** The principal the flags describe, as the gate would hold it after sign-in (or a bearer token). */
export function principalOf(v: ExplainValues, config: ResolvedConfig): Principal {
  if (v.machine !== undefined) {
    if (config.issuer === undefined) {
      throw new UsageError('explain: --machine needs an issuer: machines are its clients (issuer.clients)');
    }
    if (v.email !== undefined || v.provider !== undefined) {
      throw new UsageError(
        'explain: --machine describes a service, not a person: drop --email and --provider',
      );
    }
    // As src/bearer/verify.ts makes it from a client_credentials token.
    const identity: Identity = {
      sub: `client:${v.machine}`,
      preferredUsername: v.machine,
      groups: [],
      client: v.machine,
    };
    return { provider: ISSUER_SOURCE, identity };
  }
  const ids = config.providers.map((p) => p.id);
  let id = v.provider;
  if (id === undefined) {
    if (ids.length !== 1) {
      throw new UsageError(`explain: --provider is needed, one of: ${ids.join(', ')}`);
    }
    id = ids[0]!;
  }
  const provider = config.providers.find((p) => p.id === id);
  const bearerIssuer = config.bearer.issuers.some((b) => b.id === id);
  if (provider === undefined && !bearerIssuer) {
    throw new UsageError(`explain: no provider "${id}"; the providers are: ${ids.join(', ')}`);
  }
  const c = claims(v.claim);
  const orgs = list(v.orgs).map((o) => o.toLowerCase());
  const teams = list(v.teams).map((t) => t.toLowerCase());
  const projects = list(v.projects);
  const identity: Identity = {
    sub: v.sub ?? v.email ?? v.username ?? 'explain',
    groups: list(v.groups),
    ...(v.email !== undefined ? { email: v.email, emailVerified: v.unverified !== true } : {}),
    ...(v.username !== undefined ? { preferredUsername: v.username } : {}),
    ...(c !== undefined ? { claims: c } : {}),
    ...(orgs.length > 0 ? { orgs } : {}),
    ...(teams.length > 0 ? { teams } : {}),
    ...(projects.length > 0 ? { projects } : {}),
    ...(v.tenant !== undefined ? { tenant: v.tenant } : {}),
  };
  const allowUnverified = provider?.insecureAllowUnverifiedEmail === true;
  return { provider: id, identity: withEmailPolicy(identity, allowUnverified) };
}

/** The target: paths read as the gate reads a request target (one that it would refuse is a usage error). */
export function targetOf(v: ExplainValues): ExplainTarget {
  const raw = v.path ?? [];
  if (raw.length > 0 && v.client !== undefined) {
    throw new UsageError('explain: give --path or --client, not both (the issuer decides without a path)');
  }
  const paths = raw.map((p) => {
    const t = readTarget(p);
    if (typeof t === 'string') {
      throw new UsageError(`explain: --path ${p}: the gate refuses it with 400 (${REFUSALS[t]})`);
    }
    if (t.readings.length > 0) {
      throw new UsageError(
        `explain: --path ${p} reads differently on other servers (${t.readings.join(', ')}); give the path as the gate normalises it: ${t.path}`,
      );
    }
    return t.path;
  });
  return {
    paths,
    ...(v.client !== undefined ? { client: v.client } : {}),
    ...(v['forward-auth'] === true ? { surface: 'forward-auth' as const } : {}),
  };
}
