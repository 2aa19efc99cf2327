/**
 * Loading: YAML/JSON file → ${ENV} interpolation → schema validation → resolved secrets and derived values.
 * Every problem is collected and reported at once as a ConfigError.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { accessRuleProblems } from './access-rules.ts';
import { assertionProblems } from './assertion.ts';
import { bearerProblems } from './bearer.ts';
import { ConfigError, didYouMean } from './errors.ts';
import { type ResolvedIssuer, resolveIssuerConfig } from './issuer.ts';
import { explainIssue } from './messages.ts';
import { isLoopbackHost } from './net.ts';
import { readTarget } from './paths.ts';
import { type ResolvedProvider, resolveProviders, sharedFieldProblems } from './providers.ts';
import { redirectDomainProblems } from './redirect-domains.ts';
import { commonProviderSchema } from './schema/providers.ts';
import { type Config, configSchema, type UpstreamConfig } from './schema.ts';
import { decodeSecret, MIN_SECRET_BYTES } from './secret.ts';
import { type ResolvedSessions, resolveSessions } from './sessions.ts';
import {
  applyEnv,
  applyFlags,
  type Origins,
  readConfigFile,
  referencedEnv,
  type Sources,
} from './sources.ts';
import type { ResolvedStorage } from './storage.ts';
import { trustedProxyProblems } from './trusted-proxies.ts';
import { workerProblems } from './workers.ts';
import { yamlProblems } from './yaml-errors.ts';

export const CALLBACK_PATH = '/oauth2/callback';

export type { ResolvedProvider } from './providers.ts';

export interface ResolvedUpstream extends UpstreamConfig {
  readonly name: string;
}

export interface ResolvedConfig
  extends Omit<Config, 'providers' | 'upstreams' | 'issuer' | 'storage' | 'sessions'> {
  /** Where sessions live (src/config/sessions.ts). */
  readonly sessions: ResolvedSessions;
  /** The OpenID provider at <publicUrl>/oidc, when `issuer` is configured. */
  readonly issuer: ResolvedIssuer | undefined;
  readonly storage: ResolvedStorage;
  readonly public: URL;
  /**
   * The path of publicUrl without its trailing slash: '' at the origin's root, `/auth` for
   * `https://host/auth/`. Every own endpoint, page link and redirect Portcullis makes lives under it; the
   * upstream table and routes stay absolute (docs/endpoints.md, "Serving under a path").
   */
  readonly basePath: string;
  readonly redirectUri: URL;
  readonly cookieKeys: readonly Buffer[];
  readonly cookieSecure: boolean;
  readonly providers: readonly ResolvedProvider[];
  readonly upstreams: readonly ResolvedUpstream[];
  readonly host: string;
  readonly port: number;
}

/**
 * The path publicUrl puts Portcullis under ('' for none), without its trailing slash. It must read as
 * exactly itself (src/config/paths.ts): what the gateway matches is the decoded, normalised path, so a
 * prefix with percent-encodings, dot segments, `//` or `;` would name one path here and another there.
 */
function basePathOf(pub: URL, problems: string[]): string {
  const base = pub.pathname.replace(/\/+$/, '');
  if (base === '') return '';
  const read = readTarget(base);
  if (
    typeof read === 'string' ||
    read.path !== base ||
    read.readings.length > 0 ||
    !/^[\w\-.~/]+$/.test(base)
  ) {
    problems.push(
      `publicUrl: the path ${pub.pathname} must be plain segments of letters, digits and - . _ ~ (such as https://host/auth/)`,
    );
    return '';
  }
  return base;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(top level)';
}

/** Replaces ${VAR} in every string of the parsed document; `$${` escapes a literal `${`. */
function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: PropertyKey[],
  problems: string[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$)?\{([^}]*)\}/g, (whole, escaped: string | undefined, name: string) => {
      if (escaped) return whole.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        problems.push(`${formatPath(path)}: "\${${name}}" is not a valid environment variable reference`);
        return whole;
      }
      const v = env[name];
      if (v === undefined) {
        problems.push(
          `${formatPath(path)}: environment variable ${name} is not set (referenced as \${${name}})`,
        );
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], problems));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, [...path, k], problems);
    return out;
  }
  return value;
}

function knownKeys(schema: z.ZodType, path: readonly PropertyKey[], doc: unknown): string[] {
  // Walk the schema (and the document, to pick a discriminated union's variant) along the issue path to
  // list the keys that are valid there.
  let s: unknown = schema;
  let node = doc;
  for (const p of path) {
    s = variantFor(unwrap(s), node);
    const def = (s as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def;
    if (def?.type === 'object' && typeof p === 'string') s = def.shape?.[p];
    else if (def?.type === 'array') s = def.element;
    else return [];
    node = (node as Record<PropertyKey, unknown> | null | undefined)?.[p];
  }
  const def = (variantFor(unwrap(s), node) as { def?: { type?: string; shape?: Record<string, unknown> } })
    .def;
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** For a discriminated union (`providers` entries by `type`), the option the document's value selects. */
function variantFor(s: unknown, node: unknown): unknown {
  const def = (s as { def?: { type?: string; discriminator?: string; options?: unknown[] } } | undefined)
    ?.def;
  if (def?.type !== 'union' || def.discriminator === undefined) return s;
  const tag = (node as Record<string, unknown> | null | undefined)?.[def.discriminator];
  return (
    def.options?.find((o) => {
      const lit = (o as { def?: { shape?: Record<string, { def?: { values?: unknown[] } }> } }).def?.shape?.[
        def.discriminator!
      ];
      return lit?.def?.values?.includes(tag) === true;
    }) ?? s
  );
}

function unwrap(s: unknown): unknown {
  let cur = s as { def?: { type?: string; innerType?: unknown; in?: unknown } } | undefined;
  while (cur?.def && ['default', 'optional', 'pipe', 'prefault', 'nullable'].includes(cur.def.type ?? '')) {
    cur = (cur.def.innerType ?? cur.def.in) as typeof cur;
  }
  return cur;
}

/**
 * A misspelt key (clientID) also leaves the real one (clientId) missing: that is the same problem, reported
 * once, as the misspelling. True for such a "missing" issue.
 */
function followsMisspelling(error: z.ZodError, doc: unknown): (issue: z.core.$ZodIssue) => boolean {
  const meant = new Set<string>();
  for (const issue of error.issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const valid = knownKeys(configSchema, issue.path, doc);
    for (const key of issue.keys) {
      const hint = didYouMean(key, valid);
      if (hint !== undefined) meant.add(formatPath([...issue.path, hint]));
    }
  }
  return (issue) => issue.code === 'invalid_type' && meant.has(formatPath(issue.path));
}

/** The schema's problems as the configuration reports them: key path, problem, fix (did you mean …). */
export function zodProblems(error: z.ZodError, doc: unknown): string[] {
  const problems: string[] = [];
  const followOn = followsMisspelling(error, doc);
  for (const issue of error.issues) {
    if (followOn(issue)) continue;
    if (issue.code === 'unrecognized_keys') {
      const valid = knownKeys(configSchema, issue.path, doc);
      for (const key of issue.keys) {
        const hint = didYouMean(key, valid);
        problems.push(
          `${formatPath([...issue.path, key])}: unknown key${hint ? ` — did you mean "${hint}"?` : valid.length ? ` (valid here: ${valid.join(', ')})` : ''}`,
        );
      }
      continue;
    }
    if (issue.code === 'invalid_union' && 'errors' in issue) {
      problems.push(`${formatPath(issue.path)}: ${explainIssue(issue, configSchema, doc)}`);
      // A provider entry with a wrong `type`: still report the problems of the fields all types share.
      if (issue.path[0] === 'providers' && issue.path[2] === 'type' && typeof issue.path[1] === 'number') {
        const entry = (doc as { providers?: unknown[] }).providers?.[issue.path[1]];
        for (const shared of sharedFieldProblems(entry)) {
          problems.push(
            `${formatPath(['providers', issue.path[1], ...shared.path])}: ${explainIssue(shared, commonProviderSchema, entry)}`,
          );
        }
      }
      continue;
    }
    problems.push(`${formatPath(issue.path)}: ${explainIssue(issue, configSchema, doc)}`);
  }
  return problems;
}

/**
 * Takes the keys named by `unrecognized_keys` issues out of the (freshly interpolated, unshared) document,
 * so the rest can be checked in the same run. A misspelt key whose intended one is absent (clientID for
 * clientId) lends it its value: the checks that follow then see what the operator meant.
 */
function withoutUnknownKeys(doc: unknown, issues: z.ZodError['issues']): unknown {
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const valid = knownKeys(configSchema, issue.path, doc);
    let node = doc;
    for (const p of issue.path) node = (node as Record<PropertyKey, unknown> | null | undefined)?.[p];
    if (node !== null && typeof node === 'object') {
      const map = node as Record<string, unknown>;
      for (const key of issue.keys) {
        const meant = didYouMean(key, valid);
        if (meant !== undefined && map[meant] === undefined) map[meant] = map[key];
        delete map[key];
      }
    }
  }
  return doc;
}

function readSecretFile(file: string, key: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

export function parseConfigText(text: string, source: string): unknown {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) throw new ConfigError(yamlProblems(document.errors, text, source));
  return document.toJS() as unknown;
}

export interface LoadOptions {
  /** The YAML/JSON file; without one, settings come from the environment and flags only. */
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** `--set key=value` and named flags, in the order given; the last one wins. */
  readonly sets?: readonly { flag: string; spec: string }[];
}

export interface LoadedConfig {
  readonly config: ResolvedConfig;
  /** Where each value set came from, by key path; anything else is a default. */
  readonly origins: Origins;
  /** The files the configuration was read from (the file itself and every …File secret): watched for reloads. */
  readonly files: readonly string[];
  /** What does not stop Portcullis but the operator should see (unknown PORTCULLIS_ variables). */
  readonly warnings: readonly string[];
}

/** Loads file → environment → flags, validates, and keeps the origin of every value. */
export function loadConfig(o: LoadOptions = {}): LoadedConfig {
  const env = o.env ?? process.env;
  const sources: Sources = o.file ? readConfigFile(o.file) : { doc: {}, origins: new Map() };
  const referenced = referencedEnv(sources.doc);
  // Interpolated values keep their line and say which variable filled them in.
  for (const [key, origin] of sources.origins) {
    const value = getPath(sources.doc, key);
    if (typeof value === 'string') {
      const vars = [...referencedEnv(value)];
      if (vars.length > 0) sources.origins.set(key, `${origin} (\${${vars.join('}, ${')}})`);
    }
  }
  const problems: string[] = [];
  const warnings: string[] = [];
  applyEnv(sources, env, referenced, problems, warnings);
  applyFlags(sources, o.sets ?? [], problems);
  let config: ResolvedConfig;
  try {
    config = resolveConfig(sources.doc, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...problems, ...err.problems]);
    throw err;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const files = o.file ? [o.file] : [];
  collectFiles(config, files);
  return { config, origins: sources.origins, files, warnings };
}

function getPath(doc: unknown, key: string): unknown {
  let node = doc;
  for (const part of key.replace(/\[(\d+)\]/g, '.$1').split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  return node;
}

function collectFiles(value: unknown, out: string[], key = ''): void {
  if (typeof value === 'string' && /File$/.test(key) && !out.includes(value)) out.push(value);
  else if (Array.isArray(value)) for (const v of value) collectFiles(v, out, key);
  else if (
    value !== null &&
    typeof value === 'object' &&
    !(value instanceof URL) &&
    !Buffer.isBuffer(value)
  ) {
    for (const [k, v] of Object.entries(value)) collectFiles(v, out, k);
  }
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  return loadConfig({ file, env }).config;
}

/**
 * Said once when the schema stage failed: the checks that combine settings need every value well-formed,
 * so they wait, and the operator is told so rather than meeting them on the next run.
 */
export const NOT_CHECKED = '(the checks that combine settings run once the problems above are fixed)';

/**
 * The `…File` settings whose file cannot be read, found in the document as written: reported in the same
 * run as the schema's problems (the resolution that reads them needs a valid schema first).
 */
function unreadableFiles(doc: unknown, path: PropertyKey[] = [], out: string[] = []): string[] {
  if (Array.isArray(doc)) {
    doc.forEach((v, i) => {
      unreadableFiles(v, [...path, i], out);
    });
  } else if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      if (/File$/.test(k) && typeof v === 'string' && v !== '') {
        readSecretFile(v, formatPath([...path, k]), out);
      } else unreadableFiles(v, [...path, k], out);
    }
  }
  return out;
}

/** Validates a parsed document and derives what the runtime needs; throws ConfigError with every problem. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const problems: string[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(['(top level): the configuration must be a mapping of keys to values']);
  }
  const interpolated = interpolate(raw, env, [], problems);
  let parsed = configSchema.safeParse(interpolated);
  if (!parsed.success) {
    // A variable that is not set is reported once, by interpolate(): the empty string it left behind
    // ("Too small: expected string to have >=1 characters") is the same problem, not a second one.
    const unset = new Set(problems.map((p) => p.slice(0, p.indexOf(': '))));
    for (const p of zodProblems(parsed.error, interpolated))
      if (!unset.has(p.slice(0, p.indexOf(': ')))) problems.push(p);
    // A misspelt key used to hide every check below until it was fixed. When unknown keys (and what they
    // leave missing) are the only schema problems, validate again without them (a misspelt key's value
    // moved to the key meant) so that all problems are reported at once.
    const followOn = followsMisspelling(parsed.error, interpolated);
    if (!parsed.error.issues.every((i) => i.code === 'unrecognized_keys' || followOn(i))) {
      throw new ConfigError([...problems, ...unreadableFiles(interpolated), NOT_CHECKED]);
    }
    const cleaned = withoutUnknownKeys(interpolated, parsed.error.issues);
    parsed = configSchema.safeParse(cleaned);
    if (!parsed.success) {
      // Only a misspelt key's value, now under the key meant, can fail here.
      problems.push(...zodProblems(parsed.error, cleaned));
      throw new ConfigError([...problems, ...unreadableFiles(cleaned), NOT_CHECKED]);
    }
  }
  const c = parsed.data;

  const pub = new URL(c.publicUrl);
  if (pub.protocol !== 'https:' && pub.protocol !== 'http:')
    problems.push('publicUrl: must be an http(s) URL');
  if (pub.search || pub.hash) problems.push('publicUrl: must not have a query or fragment');
  const basePath = basePathOf(pub, problems);
  const redirectUri = new URL(c.redirectUrl ?? `${pub.origin}${basePath}${CALLBACK_PATH}`);
  if (!redirectUri.pathname.endsWith(CALLBACK_PATH)) {
    problems.push(`redirectUrl: must end with ${CALLBACK_PATH} (got ${redirectUri.pathname})`);
  }

  // Cookie keys: every secret must carry at least 32 bytes of key material.
  let secrets: string[] = [];
  if (c.cookie.secret !== undefined && c.cookie.secretFile !== undefined) {
    problems.push('cookie: set either secret or secretFile, not both');
  }
  if (c.cookie.secret !== undefined)
    secrets = Array.isArray(c.cookie.secret) ? c.cookie.secret : [c.cookie.secret];
  else if (c.cookie.secretFile !== undefined) {
    const text = readSecretFile(c.cookie.secretFile, 'cookie.secretFile', problems);
    if (text !== undefined) secrets = text.split('\n').filter((l) => l.trim() !== '');
  } else problems.push('cookie.secret: is required — generate one with `portcullis secret`');
  const cookieKeys: Buffer[] = [];
  secrets.forEach((s, i) => {
    const d = decodeSecret(s);
    if (d.bytes.length < MIN_SECRET_BYTES) {
      problems.push(
        `cookie.secret${secrets.length > 1 ? `[${i}]` : ''}: ${d.bytes.length} bytes (read as ${d.encoding}); at least ${MIN_SECRET_BYTES} are needed — generate one with \`portcullis secret\``,
      );
    } else cookieKeys.push(d.bytes);
  });
  const loopback = isLoopbackHost(pub.hostname);
  const cookieSecure = c.cookie.secure ?? !(pub.protocol === 'http:' && loopback);
  if (pub.protocol === 'http:' && !loopback && c.cookie.secure !== false) {
    problems.push(
      `publicUrl: ${pub.origin} is plain http off loopback, so Secure cookies would never be sent back; use https, or set cookie.secure: false knowingly`,
    );
  }
  if (c.cookie.domain !== undefined) {
    const d = c.cookie.domain.replace(/^\./, '').toLowerCase();
    if (pub.hostname !== d && !pub.hostname.endsWith(`.${d}`)) {
      problems.push(`cookie.domain: ${c.cookie.domain} does not cover the publicUrl host ${pub.hostname}`);
    }
  }

  const providers = resolveProviders(c.providers, problems, (file, key) =>
    readSecretFile(file, key, problems),
  );
  problems.push(...accessRuleProblems(c));
  problems.push(...bearerProblems(c));

  const upstreamPaths = new Set<string>();
  const upstreams: ResolvedUpstream[] = c.upstreams.map((u, i) => {
    if (upstreamPaths.has(u.path))
      problems.push(`upstreams[${i}].path: ${u.path} is served by another upstream`);
    upstreamPaths.add(u.path);
    const target = new URL(u.url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      problems.push(`upstreams[${i}].url: must be http or https`);
    }
    if (target.search || target.hash) problems.push(`upstreams[${i}].url: must not have a query or fragment`);
    return { ...u, name: u.id ?? u.path };
  });

  // These already start with the key and index (`trustedProxies[0] "x" is …`): no second prefix.
  problems.push(...trustedProxyProblems(c.trustedProxies));
  problems.push(...assertionProblems(c.upstreams));
  problems.push(...redirectDomainProblems(c.allowedRedirectDomains));
  const { issuer, storage } = resolveIssuerConfig(c.issuer, c.storage, pub, basePath, problems, (file, key) =>
    readSecretFile(file, key, problems),
  );

  const sessions = resolveSessions(
    c.sessions,
    problems,
    (file, key) => readSecretFile(file, key, problems),
    c.storage.type,
  );
  problems.push(...workerProblems(c));

  const m = /^(.*):(\d+)$/.exec(c.listen)!;
  const port = Number(m[2]);
  if (port > 65535) {
    problems.push(`listen: found port ${port}; a port is at most 65535 — write e.g. listen: "${m[1]}:4180"`);
  }
  // Node refuses a request timeout shorter than the headers timeout (http.createServer throws).
  if (c.server.requestTimeout < c.server.headersTimeout) {
    problems.push(
      `server.requestTimeout: ${c.server.requestTimeout}s is shorter than server.headersTimeout (${c.server.headersTimeout}s); the whole request includes its headers`,
    );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...c,
    public: pub,
    basePath,
    redirectUri,
    cookieKeys,
    cookieSecure,
    providers,
    upstreams,
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port,
    issuer,
    storage,
    sessions,
  };
}
