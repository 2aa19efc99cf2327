/**
 * `portcullis keys list|rotate`: the signing keys in the configured storage (src/keys/) — the issuer's,
 * which also sign X-Portcullis-Assertion (src/proxy/assertion.ts). A rotation is staged: the new keys are
 * published at once and sign from ACTIVATION_DELAY_SECONDS later (src/keys/timing.ts); `--now` skips that.
 * `portcullis secret --client`: a client secret for a service registered in `issuer.clients`.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config/errors.ts';
import { loadConfig } from '../config/load.ts';
import { keyState } from '../keys/state.ts';
import { KeyStore, type StoredKey } from '../keys/store.ts';
import { ACTIVATION_DELAY_SECONDS, KEY_POLL_SECONDS } from '../keys/timing.ts';
import { createLogger } from '../observability/log.ts';
import { assertionsWanted, longestAssertionLifetime } from '../proxy/assertion.ts';
import { openStorage } from '../storage/open.ts';
import { parseConfigArgs, UsageError } from './options.ts';

/** A client secret: 32 random bytes, base64url (43 characters, above the 32-character minimum). */
export function newClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

function when(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** One line of `keys list`: the key's state now and the times that make it (src/keys/state.ts). */
function describeKey(k: StoredKey, now: number): string {
  const state = keyState(k, now);
  const times = [`created ${when(k.createdAt)}`];
  if (k.activatesAt !== undefined) {
    times.push(`${k.activatesAt > now ? 'signs from' : 'signed from'} ${when(k.activatesAt)}`);
  }
  if (k.retiredAt !== undefined) {
    times.push(`${k.retiredAt > now ? 'signs until' : 'retired'} ${when(k.retiredAt)}`);
    times.push(`${(k.keepUntil ?? 0) > now ? 'verifies until' : 'verified until'} ${when(k.keepUntil ?? 0)}`);
  }
  return `  ${state.padEnd(8)} ${k.alg}  ${k.kid}  (${times.join(', ')})`;
}

export async function keysCommand(
  args: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'list' && sub !== 'rotate') {
    throw new UsageError(`keys needs "list" or "rotate"${sub ? `, not "${sub}"` : ''}`);
  }
  const { load, flags } = parseConfigArgs(rest, sub === 'rotate' ? ['discard-unreadable', 'now'] : []);
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
    const f = flags as Record<string, boolean>;
    const immediate = f['now'] === true;
    const r = await keys.rotate(now, keepFor, {
      discardUnreadable: f['discard-unreadable'] === true,
      delay: immediate ? 0 : ACTIVATION_DELAY_SECONDS,
    });
    const at = when(r.activatesAt);
    // Over no signing keys (fresh storage, --discard-unreadable) the new keys sign at once anyway.
    const atOnce = r.activatesAt <= now;
    out.write(`rotated the ${issuer ? 'issuer ' : ''}signing keys (now version ${r.set.version}):\n`);
    for (const k of r.added) {
      out.write(
        `  added     ${k.alg}  ${k.kid}  ${atOnce ? 'signs from now on' : `published now, signs from ${at}`}\n`,
      );
    }
    for (const k of r.retired) {
      out.write(
        `  retired   ${k.alg}  ${k.kid}  verifies until ${when(k.keepUntil ?? now)} (signs until ${at})\n`,
      );
    }
    for (const k of r.dropped) out.write(`  dropped   ${k.alg}  ${k.kid}\n`);
    const where = `${issuer ? '/oidc/jwks and ' : ''}/oauth2/jwks`;
    out.write(
      !atOnce
        ? `the new keys start signing at ${at} (in ${r.activatesAt - now} s): by then every running instance publishes them at ${where} (instances look every ${KEY_POLL_SECONDS} s); until then the current keys sign\n`
        : immediate && r.retired.length > 0
          ? `--now: the new keys sign at once. Running instances publish them at ${where} within ${KEY_POLL_SECONDS} s (SIGHUP: at once); until each has, a service that fetches its JWKS cannot verify what the new keys signed — send SIGHUP to every instance now\n`
          : `no key was signing: the new keys sign at once; running instances pick them up within ${KEY_POLL_SECONDS} s (SIGHUP: at once)\n`,
    );
  } finally {
    await storage.close();
  }
}
