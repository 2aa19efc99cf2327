/**
 * Writes the option tables of docs/reference/configuration.md from the configuration schema (src/config/schema.ts):
 * every key with its type, default, description (the schema's `.describe()` text followed by the messages
 * of its checks) and an example. Only the part between the `generated:options` markers is rewritten; the
 * rest of the page is prose.
 *
 * Examples come from the schema (`.meta({ examples: [...] })`, the first one) or else from EXAMPLES below,
 * keyed by option path. Each must pass that option's schema, and every option must have one, so a new
 * option cannot land without an example and a stale example cannot survive a rename.
 *
 *   node scripts/gen-config-docs.ts [--file PATH]           rewrite the page
 *   node scripts/gen-config-docs.ts [--file PATH] --check   exit 1 when the page is out of date
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { z } from 'zod';
import { configSchema, duration } from '../src/config/schema.ts';

export const DEFAULT_FILE = fileURLToPath(new URL('../docs/reference/configuration.md', import.meta.url));
/** JSON Schema for editors (YAML language servers: `# yaml-language-server: $schema=…`); published in the package. */
export const JSON_SCHEMA_FILE = fileURLToPath(new URL('../schema/portcullis.schema.json', import.meta.url));

/** The JSON Schema of the configuration file as written (input side: durations as strings or seconds). */
export function renderJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  });
  return `${JSON.stringify({ ...schema, title: 'Portcullis configuration', $id: 'https://portcullis.dev/schema/portcullis.schema.json' }, null, 2)}\n`;
}
export const START = '<!-- generated:options:start -->';
export const END = '<!-- generated:options:end -->';

/** `${NAME}`: a reference to an environment variable in the configuration file. */
const envRef = (name: string): string => `\${${name}}`;

/** One example value per option path (`providers[].issuer`) without `examples` in the schema. */
const EXAMPLES: Readonly<Record<string, unknown>> = {
  publicUrl: 'https://platform.example.com',
  redirectUrl: 'https://platform.example.com/oauth2/callback',
  listen: '0.0.0.0:4180',
  'cookie.name': 'portcullis',
  'cookie.secret': envRef('PORTCULLIS_COOKIE_SECRET'),
  'cookie.secretFile': '/run/secrets/portcullis-cookie',
  'cookie.domain': 'example.com',
  'cookie.secure': true,
  'sessions.store': 'cookie',
  'sessions.lifetime': '8h',
  'providers[].id': 'corp',
  'providers[].type': 'oidc',
  'providers[].displayName': 'Acme SSO',
  'providers[].issuer': 'https://login.example.com/realms/acme',
  'providers[].clientId': 'portcullis',
  'providers[].clientSecret': envRef('OIDC_CLIENT_SECRET'),
  'providers[].clientSecretFile': '/run/secrets/portcullis-client',
  'providers[].tokenEndpointAuthMethod': 'client_secret_post',
  'providers[].scopes': ['openid', 'email', 'profile', 'groups', 'offline_access'],
  'providers[].audiences': ['https://api.example.com'],
  'providers[].idTokenSigningAlgs': ['RS256', 'ES256'],
  'providers[].userinfo': true,
  'providers[].logoutAtIdp': true,
  'providers[].insecureSkipAtHash': false,
  'providers[].insecureAllowHttp': false,
  'upstreams[].id': 'grafana',
  'upstreams[].path': '/',
  'upstreams[].url': 'http://127.0.0.1:3000',
  'upstreams[].timeout': '2m',
  'upstreams[].passAuthorization': 'access_token',
  'upstreams[].preserveHost': false,
  'routes[].path': '/api/',
  'routes[].public': true,
  'routes[].api': true,
  autoLogin: true,
  trustedProxies: ['10.0.0.0/8', '127.0.0.1'],
  allowedRedirectDomains: ['.example.com', 'docs.example.org:8443'],
  pendingLoginsMax: 5,
  'logging.level': 'debug',
  'logging.format': 'json',
  'metrics.enabled': false,
  'metrics.listen': '0.0.0.0:9180',
  'metrics.insecureOnMainListener': true,
};

/** Prose shown under each section heading (the schema describes keys, not sections). */
const SECTION_NOTES: Readonly<Record<string, string>> = {
  '': 'Keys at the top of the file.',
  cookie:
    'The session cookie and the cookies of sign-ins in flight. Exactly one of `cookie.secret` and `cookie.secretFile` is required (see [Cookie secret](#cookie-secret)).',
  sessions:
    'Where sessions live and how long they last. `store: cookie` (the default) seals the whole session into the cookie; `store: redis` (with `url`) or `store: storage` (the `storage` section, sqlite or redis) keep it server-side, with only a sealed random id in the cookie, so sign-out revokes it everywhere (see [the session cookie](../endpoints.md#the-session-cookie) and [examples/redis-sessions.yaml](../../examples/redis-sessions.yaml)). `url`, `password`, `passwordFile` and `keyPrefix` apply to `store: redis` only.',
  'providers[]':
    'The identity providers users sign in with, at least one; with several, the sign-in page lists them all. `type` selects the kind; these keys are common to every type, and the sections below list each type’s own. Guides: [docs/providers/](../providers/).',
  'providers[].allow':
    'Access rules for users of this provider, checked with the top-level `allow` (see [access-rules.md](../access-rules.md)).',
  'providers[type=oidc]': 'Any OpenID Connect provider: [providers/oidc.md](../providers/oidc.md).',
  'providers[type=github]':
    'GitHub and GitHub Enterprise Server: [providers/github.md](../providers/github.md).',
  'providers[type=google]': 'Google: [providers/google.md](../providers/google.md).',
  'providers[type=entra]': 'Microsoft Entra ID: [providers/entra.md](../providers/entra.md).',
  'providers[type=gitlab]':
    'GitLab.com and self-managed GitLab: [providers/gitlab.md](../providers/gitlab.md).',
  'providers[type=keycloak]': 'Keycloak: [providers/keycloak.md](../providers/keycloak.md).',
  'providers[type=jupyterhub]':
    'A JupyterHub as the identity provider: [providers/jupyterhub.md](../providers/jupyterhub.md).',
  'providers[type=oauth2]':
    'Any OAuth2 server with a profile endpoint: [providers/oauth2.md](../providers/oauth2.md).',
  'providers[].userInfoMapping':
    'Where each identity field is in the `oauth2` profile: a field name or a dot path (`data.attributes.mail`).',
  allow:
    'Access rules every signed-in user must meet, whichever the provider. Each configured criterion must hold; within one, any listed value suffices; `emails` and `emailDomains` together are one criterion. See [access-rules.md](../access-rules.md).',
  'routes[].allow':
    'Access rules for this path prefix, on top of the top-level and provider rules; the longest route prefix with an `allow` applies.',
  'upstreams[]':
    'Where requests go after the gate, at least one. The longest matching path prefix wins (`/api` matches `/api` and `/api/x`, not `/apix`); the request path is forwarded unchanged, appended to the path of `url`.',
  'upstreams[].assertion':
    'X-Portcullis-Assertion for this upstream: a JWT signed by Portcullis (ES256) that says who the user is, verifiable with the keys at `/oauth2/jwks`. An `assertion` section turns it on; see [assertion.md](../assertion.md).',
  'routes[]':
    'Path prefixes with their own rules (longest prefix wins). A path without a route needs a session, and a browser without one is redirected to sign in.',
  logging: 'Structured logs on standard output.',
  metrics:
    'Prometheus metrics, on a listener of their own (loopback by default) so that the main listener’s `/metrics` belongs to the upstream; see [endpoints.md](../endpoints.md#metrics).',
  issuer:
    'An OpenID Connect provider at `<publicUrl>/oidc` for the platform’s own services, federated to the providers above; absent: none is built. See [issuer.md](../issuer.md).',
  'issuer.clients[]':
    'The services that sign users in through Portcullis. A confidential client has `secret` or `secretFile` (sent with HTTP Basic or in the form body); a public one has `public: true` and uses PKCE.',
  'issuer.clients[].display': 'How users see the service on the consent page.',
  storage:
    'Where the issuer keeps its state: sessions, grants, codes, tokens and its signing keys (sealed with the cookie secret). The same keys sign [assertions](../assertion.md): with an upstream `assertion` and no `issuer`, only the keys are kept here. See [issuer.md](../issuer.md#storage).',
};

// ---- the bits of zod v4's schema objects this walker reads ---------------------------------------------

interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly value?: unknown;
  readonly inclusive?: boolean;
  readonly error?: (issue?: unknown) => unknown;
}

interface Def {
  readonly type: string;
  readonly innerType?: Node;
  readonly in?: Node;
  readonly defaultValue?: unknown;
  readonly shape?: Readonly<Record<string, Node>>;
  readonly element?: Node;
  readonly options?: readonly Node[];
  readonly discriminator?: string;
  readonly entries?: Readonly<Record<string, string | number>>;
  readonly values?: readonly unknown[];
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
}

interface Node {
  readonly def: Def;
  readonly description?: string | undefined;
  safeParse(value: unknown): { success: boolean; error?: { issues: readonly { message: string }[] } };
}

const asNode = (schema: unknown): Node => schema as Node;
const DURATION = asNode(duration);

function metaOf(n: Node): { description?: string | undefined; examples?: unknown } | undefined {
  return z.globalRegistry.get(n as unknown as z.core.$ZodType);
}

function describedAs(n: Node): string | undefined {
  return n.description ?? metaOf(n)?.description;
}

/** The first of the schema's `examples` metadata, if any. */
function exampleOf(n: Node): { value: unknown } | undefined {
  const examples = metaOf(n)?.examples;
  if (Array.isArray(examples) && examples.length > 0) return { value: examples[0] };
  return undefined;
}

export interface Field {
  /** `cookie.secret`, `providers[].issuer`. */
  readonly path: string;
  /** The key as written in YAML. */
  readonly key: string;
  /** The schema as declared (with its default/optional wrappers), which examples must pass. */
  readonly node: Node;
  /** The schema without wrappers. */
  readonly inner: Node;
  readonly description: string | undefined;
  /** From the schema's `examples` metadata, else undefined (EXAMPLES is used). */
  readonly example: { value: unknown } | undefined;
  readonly required: boolean;
  readonly hasDefault: boolean;
  readonly defaultValue: unknown;
  readonly isDuration: boolean;
  /** Set when the option is a mapping or a list of mappings documented in its own section. */
  readonly section?: string | undefined;
}

function describeField(path: string, key: string, node: Node): Field {
  let cur = node;
  let description: string | undefined;
  let example: { value: unknown } | undefined;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  let isDuration = false;
  for (;;) {
    description ??= describedAs(cur);
    example ??= exampleOf(cur);
    if (cur === DURATION) {
      isDuration = true;
      break;
    }
    const t = cur.def.type;
    if (t === 'default' || t === 'prefault') {
      if (!hasDefault) {
        hasDefault = true;
        defaultValue = cur.def.defaultValue;
      }
    } else if (t === 'optional' || t === 'nullable') {
      optional = true;
    } else if (t !== 'pipe') {
      break;
    }
    const next = cur.def.innerType ?? cur.def.in;
    if (next === undefined) break;
    cur = next;
  }
  return {
    path,
    key,
    node,
    inner: cur,
    description,
    example,
    required: !optional && !hasDefault,
    hasDefault,
    defaultValue,
    isDuration,
  };
}

export interface Section {
  /** '' for the top level, else the option path: `cookie`, `providers[]`. */
  readonly name: string;
  readonly fields: Field[];
}

/** A list element that is a discriminated union of mappings (`providers`, by `type`). */
function isObjectUnion(n: Node): boolean {
  return (
    n.def.type === 'union' &&
    n.def.discriminator !== undefined &&
    (n.def.options ?? []).every((o) => o.def.type === 'object')
  );
}

/**
 * Walks an object schema into sections: one for the object, one more for each nested mapping. A list of a
 * discriminated union (`providers`) gets one section for the keys every variant has (`providers[]`) and
 * one per variant for the rest (`providers[type=github]`); their option paths stay `providers[].key`.
 */
export function collectSections(root: Node = asNode(configSchema)): Section[] {
  const sections: Section[] = [];
  const walk = (name: string, object: Node, prefix = name, skip?: ReadonlySet<string>): void => {
    const section: Section = { name, fields: [] };
    sections.push(section);
    const nested: [string, Node, 'object' | 'union'][] = [];
    for (const [key, child] of Object.entries(object.def.shape ?? {})) {
      if (skip?.has(key)) continue;
      const path = prefix === '' ? key : `${prefix}.${key}`;
      let field = describeField(path, key, child);
      const inner = field.inner;
      if (!field.isDuration && inner.def.type === 'object') {
        field = { ...field, section: path };
        nested.push([path, inner, 'object']);
      } else if (inner.def.type === 'array' && inner.def.element !== undefined) {
        const element = describeField(path, key, inner.def.element).inner;
        if (element.def.type === 'object') {
          field = { ...field, section: `${path}[]` };
          nested.push([`${path}[]`, element, 'object']);
        } else if (isObjectUnion(element)) {
          field = { ...field, section: `${path}[]` };
          nested.push([`${path}[]`, element, 'union']);
        }
      }
      section.fields.push(field);
    }
    for (const [path, child, kind] of nested) {
      if (kind === 'union') walkUnion(path, child);
      else walk(path, child);
    }
  };
  const walkUnion = (name: string, union: Node): void => {
    const options = union.def.options ?? [];
    const tag = union.def.discriminator!;
    const keysOf = (o: Node) => Object.keys(o.def.shape ?? {});
    const common = keysOf(options[0]!).filter((k) => options.every((o) => keysOf(o).includes(k)));
    const first = options[0]!.def.shape ?? {};
    const shape: Record<string, Node> = {};
    for (const k of common) {
      shape[k] =
        k === tag
          ? asNode(
              z
                .union(options.map((o) => o.def.shape![tag] as unknown as z.ZodLiteral<string>))
                .describe(describedAs(first[tag]!) ?? tag),
            )
          : first[k]!;
    }
    walk(name, { def: { type: 'object', shape } } as unknown as Node);
    const skip = new Set(common);
    for (const o of options) {
      const value = o.def.shape![tag]!.def.values?.[0];
      walk(`${name.slice(0, -2)}[${tag}=${String(value)}]`, o, name, skip);
    }
  };
  walk('', root);
  return sections;
}

// ---- rendering ---------------------------------------------------------------------------------------

function code(text: string): string {
  const body = text.replaceAll('|', '\\|');
  return body.includes('`') ? `\`\` ${body} \`\`` : `\`${body}\``;
}

/** GitHub's heading anchor for a section heading rendered as `### \`name\``. */
export function anchor(section: string): string {
  return section === '' ? 'top-level' : section.toLowerCase().replace(/[^a-z0-9 -]/g, '');
}

const CODE_TOKEN = /[_/<>*{}$=]|^[a-z]+[A-Z][A-Za-z]*$/;

/**
 * Turns a schema description into a Markdown sentence: tokens that look like code (paths, URLs, protocol
 * names with underscores, camelCase keys, `X-Forwarded-*`) are put in code spans so Markdown leaves them
 * alone; the first letter is capitalised and a full stop added.
 */
export function sentence(text: string): string {
  const out = text
    .trim()
    .split(/\s+/)
    .map((token) => {
      const m = /^([("]*)(.*?)([),.;:"]*)$/.exec(token);
      const [, lead = '', core = '', trail = ''] = m ?? [];
      if (core !== '' && CODE_TOKEN.test(core)) return `${lead}${code(core)}${trail}`;
      return token.replaceAll('|', '\\|');
    })
    .join(' ');
  const first = out.charAt(0);
  const capital = /[a-z]/.test(first) ? first.toUpperCase() + out.slice(1) : out;
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function checkMessages(n: Node): string[] {
  const out: string[] = [];
  for (const c of n.def.checks ?? []) {
    const message = c._zod.def.error?.();
    if (typeof message === 'string' && message !== '') out.push(message);
  }
  return out;
}

function plural(type: string): string {
  if (type === 'string' || type === 'integer' || type === 'number' || type === 'boolean') return `${type}s`;
  return type;
}

function typeOf(n: Node, isDuration = false): string {
  if (isDuration || n === DURATION) return '[duration](#durations)';
  const d = n.def;
  switch (d.type) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number': {
      const checks = (d.checks ?? []).map((c) => c._zod.def);
      const int = checks.some((c) => c.check === 'number_format' && /int/.test(c.format ?? ''));
      const min = checks.find((c) => c.check === 'greater_than');
      const max = checks.find((c) => c.check === 'less_than');
      const base = int ? 'integer' : 'number';
      if (min?.inclusive && max?.inclusive) return `${base}, ${String(min.value)}–${String(max.value)}`;
      return base;
    }
    case 'enum':
      return `one of ${Object.values(d.entries ?? {})
        .map((v) => code(String(v)))
        .join(', ')}`;
    case 'literal':
      return (d.values ?? []).map((v) => code(String(v))).join(' or ');
    case 'union':
      return (d.options ?? []).map((o) => typeOf(o)).join(' or ');
    case 'array': {
      const element = d.element === undefined ? undefined : describeField('', '', d.element);
      return element === undefined ? 'list' : `list of ${plural(typeOf(element.inner, element.isDuration))}`;
    }
    case 'object':
      return 'mapping';
    default:
      return d.type;
  }
}

export function humanDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const out = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
  return out === '' ? '0s' : out;
}

function yamlValue(value: unknown): string {
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim();
}

function defaultCell(f: Field): string {
  if (f.section !== undefined && f.hasDefault && !Array.isArray(f.defaultValue)) {
    return 'optional (defaults below)';
  }
  if (f.hasDefault) {
    const v = f.defaultValue;
    if (f.isDuration && typeof v === 'number') return `${code(humanDuration(v))} (${v} s)`;
    return code(yamlValue(v));
  }
  return f.required ? '**required**' : '—';
}

function typeCell(f: Field): string {
  if (f.section !== undefined) {
    const link = `[\`${f.section}\`](#${anchor(f.section)})`;
    return f.section.endsWith('[]') ? `list of mappings, see ${link}` : `mapping, see ${link}`;
  }
  return typeOf(f.inner, f.isDuration);
}

function descriptionCell(f: Field): string {
  const parts: string[] = [];
  if (f.description !== undefined) parts.push(sentence(f.description));
  const messages = checkMessages(f.inner);
  if (f.inner.def.type === 'array' && f.inner.def.element !== undefined) {
    messages.push(...checkMessages(describeField('', '', f.inner.def.element).inner));
  }
  for (const m of messages) parts.push(sentence(m));
  return parts.join(' ') || '—';
}

function exampleValue(f: Field): { value: unknown } | undefined {
  return f.example ?? (f.path in EXAMPLES ? { value: EXAMPLES[f.path] } : undefined);
}

function exampleCell(f: Field): string {
  const example = exampleValue(f);
  if (f.section !== undefined || example === undefined) return '—';
  return code(`${f.key}: ${yamlValue(example.value)}`);
}

/** Problems with the examples or descriptions: missing, unknown, or not accepted by the option's schema. */
export function problems(sections: readonly Section[]): string[] {
  const out: string[] = [];
  const leaves = sections.flatMap((s) => s.fields).filter((f) => f.section === undefined);
  const known = new Set(leaves.map((f) => f.path));
  for (const f of leaves) {
    if (f.description === undefined) out.push(`${f.path}: no .describe() text in src/config/schema.ts`);
    const example = exampleValue(f);
    if (example === undefined) {
      out.push(`${f.path}: no example (add .meta({ examples: [...] }) to the schema, or EXAMPLES here)`);
      continue;
    }
    const r = f.node.safeParse(example.value);
    if (!r.success) {
      out.push(`${f.path}: the example is rejected by the schema: ${r.error?.issues[0]?.message ?? ''}`);
    }
  }
  for (const path of Object.keys(EXAMPLES)) {
    if (!known.has(path)) out.push(`${path}: example for an option the schema does not have`);
  }
  return out;
}

/** The Markdown that goes between the markers. */
export function renderOptions(sections: readonly Section[] = collectSections()): string {
  const bad = problems(sections);
  if (bad.length > 0) throw new Error(`cannot generate the option tables:\n  - ${bad.join('\n  - ')}`);
  const lines: string[] = [
    '<!-- Generated from src/config/schema.ts by `npm run docs` (scripts/gen-config-docs.ts): edit those, not this part. -->',
  ];
  for (const s of sections) {
    lines.push('', s.name === '' ? '### Top level' : `### \`${s.name}\``, '');
    const note = SECTION_NOTES[s.name];
    if (note !== undefined) lines.push(note, '');
    lines.push('| Option | Type | Default | Description | Example |', '|---|---|---|---|---|');
    for (const f of s.fields) {
      lines.push(
        `| ${code(f.path)} | ${typeCell(f)} | ${defaultCell(f)} | ${descriptionCell(f)} | ${exampleCell(f)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The page with its generated part replaced. Throws when the markers are missing. */
export function updateDoc(page: string, generated: string = renderOptions()): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`the page needs the markers ${START} and ${END}, in that order`);
  }
  return `${page.slice(0, start + START.length)}\n${generated}${page.slice(end)}`;
}

export function main(argv: readonly string[]): number {
  const { values } = parseArgs({
    args: [...argv],
    options: { check: { type: 'boolean', default: false }, file: { type: 'string' } },
    strict: true,
  });
  const file = values.file ?? DEFAULT_FILE;
  const page = readFileSync(file, 'utf8');
  const next = updateDoc(page);
  const schemaNow = existsSync(JSON_SCHEMA_FILE) ? readFileSync(JSON_SCHEMA_FILE, 'utf8') : '';
  const schemaNext = renderJsonSchema();
  // The JSON Schema is only checked with the real page (a --file elsewhere is a test of the page logic).
  const withSchema = values.file === undefined;
  if (values.check) {
    let status = 0;
    if (next !== page) {
      process.stderr.write(`${file}: the option tables are out of date; run \`npm run docs\`\n`);
      status = 1;
    }
    if (withSchema && schemaNext !== schemaNow) {
      process.stderr.write(`${JSON_SCHEMA_FILE}: out of date; run \`npm run docs\`\n`);
      status = 1;
    }
    return status;
  }
  if (next !== page) writeFileSync(file, next);
  process.stdout.write(`${file}: ${next === page ? 'up to date' : 'updated'}\n`);
  if (withSchema) {
    mkdirSync(dirname(JSON_SCHEMA_FILE), { recursive: true });
    if (schemaNext !== schemaNow) writeFileSync(JSON_SCHEMA_FILE, schemaNext);
    process.stdout.write(`${JSON_SCHEMA_FILE}: ${schemaNext === schemaNow ? 'up to date' : 'updated'}\n`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-config-docs: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
