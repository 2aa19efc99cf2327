/**
 * `portcullis keys list|rotate`: the signing keys in the configured storage — the issuer's, which also sign
 * X-Portcullis-Assertion (src/proxy/assertion.ts).
 * `portcullis secret --client`: a client secret for a service registered in `issuer.clients`.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config/errors.ts';
import { loadConfig } from '../config/load.ts';
import { KeyStore, type StoredKey } from '../issuer/keys.ts';
import { createLogger } from '../observability/log.ts';
import { assertionsWanted, longestAssertionLifetime } from '../proxy/assertion.ts';
import { openStorage } from '../storage/open.ts';
import { parseConfigArgs, UsageError } from './options.ts';

export const KEYS_USAGE = `  keys list [options]        list the signing keys of the issuer and of upstream assertions
                             (in the configured storage)
  keys rotate [options] [--discard-unreadable]
                             add new signing keys; the current ones keep verifying until the tokens
                             and assertions they signed expire (running instances pick the new keys up
                             within a minute)`;

export const SECRET_USAGE = `  secret [--client]          print a new random cookie secret (32 bytes, base64url); with --client,
                             a client secret for a service in issuer.clients (give it to the service)`;

/** A client secret: 32 random bytes, base64url (43 characters, above the 32-character minimum). */
export function newClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

function when(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

function describeKey(k: StoredKey, now: number): string {
  const state =
    k.retiredAt === undefined ? 'signing  ' : (k.keepUntil ?? 0) > now ? 'verifying' : 'expired  ';
  const until =
    k.retiredAt !== undefined
      ? `, retired ${when(k.retiredAt)}, verifies until ${when(k.keepUntil ?? 0)}`
      : '';
  return `  ${state} ${k.alg}  ${k.kid}  (created ${when(k.createdAt)}${until})`;
}

export async function keysCommand(
  args: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'list' && sub !== 'rotate') {
    throw new UsageError(`keys needs "list" or "rotate"${sub ? `, not "${sub}"` : ''}`);
  }
  const { load, flags } = parseConfigArgs(rest, sub === 'rotate' ? ['discard-unreadable'] : []);
  const { config } = loadConfig(load);
  if (config.issuer === undefined && !assertionsWanted(config)) {
    throw new ConfigError([
      'issuer: not configured, and no upstream has an assertion section — signing keys exist only for the issuer (docs/issuer.md) and for X-Portcullis-Assertion (docs/assertion.md)',
    ]);
  }
  if (config.storage.type === 'memory') {
    throw new ConfigError([
      'storage.type: memory keeps keys inside the running process only; keys are managed for sqlite or redis',
    ]);
  }
  const storage = await openStorage(config.storage, createLogger('silent'));
  try {
    const keys = new KeyStore(storage, config.cookieKeys);
    const now = Math.floor(Date.now() / 1000);
    if (sub === 'list') {
      const set = await keys.load(now);
      out.write(
        `${config.issuer ? 'issuer ' : ''}signing keys (version ${set.version}, ${config.storage.type} storage):\n`,
      );
      for (const k of set.keys) out.write(`${describeKey(k, now)}\n`);
      return;
    }
    // Old keys must verify every ID token and assertion they signed: as long as the longest lifetime.
    const issuer = config.issuer;
    const keepFor = Math.max(
      longestAssertionLifetime(config),
      ...(issuer ? [issuer.idTokenTtl, ...issuer.clients.map((c) => c.ttl.idToken)] : []),
    );
    const r = await keys.rotate(now, keepFor, {
      discardUnreadable: (flags as Record<string, boolean>)['discard-unreadable'] === true,
    });
    out.write(`rotated the ${issuer ? 'issuer ' : ''}signing keys (now version ${r.set.version}):\n`);
    for (const k of r.added) out.write(`  added     ${k.alg}  ${k.kid}  signs from now on\n`);
    for (const k of r.retired) {
      out.write(`  retired   ${k.alg}  ${k.kid}  verifies until ${when(k.keepUntil ?? now)}\n`);
    }
    for (const k of r.dropped) out.write(`  dropped   ${k.alg}  ${k.kid}\n`);
    out.write(
      `running instances pick the new keys up within a minute (SIGHUP: at once); services fetch them from ${issuer ? '/oidc/jwks or ' : ''}/oauth2/jwks\n`,
    );
  } finally {
    await storage.close();
  }
}
