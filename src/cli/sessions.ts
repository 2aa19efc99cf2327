/**
 * `portcullis sessions list|revoke --user SUB [--provider ID]`: a user's server-side sessions (indexed by
 * provider and user id, src/sessions/server-store.ts) and their grants at the issuer
 * (src/issuer/account-grants.ts). `revoke` ends them all at once: every instance reads the store at every
 * request, so the user is signed out everywhere from the next request on. Cookie sessions live in the
 * browsers and cannot be found by their user: refused with a message.
 */
import { ConfigError } from '../config/errors.ts';
import { loadConfig } from '../config/load.ts';
import { accountGrants, revokeAccountGrants } from '../issuer/account-grants.ts';
import { createLogger } from '../observability/log.ts';
import { cookieNames } from '../sessions/cookie-store.ts';
import { openSessionStorage, sessionChanges } from '../sessions/open.ts';
import { ServerSessionStore } from '../sessions/server-store.ts';
import type { UserRef } from '../sessions/store.ts';
import { openStorage } from '../storage/open.ts';
import type { Storage } from '../storage/storage.ts';
import { parseConfigArgs, UsageError } from './options.ts';

function when(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Takes --user and --provider (each once) out of the arguments; the rest are the config options. */
function userArgs(args: readonly string[]): { user: string; provider: string | undefined; rest: string[] } {
  const rest: string[] = [];
  const found: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--(user|provider)(?:=(.*))?$/.exec(a);
    if (m === null) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined || value === '') throw new UsageError(`--${m[1]} needs a value`);
    if (found[m[1]!] !== undefined) throw new UsageError(`--${m[1]} given twice`);
    found[m[1]!] = value;
  }
  if (found['user'] === undefined) throw new UsageError('sessions needs --user SUB');
  return { user: found['user'], provider: found['provider'], rest };
}

export async function sessionsCommand(
  args: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const [sub, ...more] = args;
  if (sub !== 'list' && sub !== 'revoke')
    throw new UsageError(`sessions needs "list" or "revoke"${sub ? `, not "${sub}"` : ''}`);
  const { user, provider, rest } = userArgs(more);
  const { load } = parseConfigArgs(rest);
  const { config } = loadConfig(load);
  if (config.sessions.store === 'cookie' && config.issuer === undefined) {
    throw new ConfigError([
      'sessions.store: cookie sessions live in the browsers and cannot be listed or revoked by user; use sessions.store redis or storage (docs/endpoints.md#server-side-sessions)',
    ]);
  }
  const known = config.providers.map((p) => p.id);
  if (provider !== undefined && !known.includes(provider))
    throw new ConfigError([`--provider ${provider}: no such provider (configured: ${known.join(', ')})`]);
  const users: UserRef[] = (provider ? [provider] : known).map((p) => ({ provider: p, sub: user }));

  const log = createLogger('silent');
  const opened: Storage[] = [];
  try {
    const storage =
      config.issuer !== undefined || config.sessions.store === 'storage'
        ? opened[opened.push(await openStorage(config.storage, log)) - 1]
        : undefined;
    const sessionStorage = await openSessionStorage(config, log, storage);
    if (sessionStorage !== undefined && sessionStorage !== storage) opened.push(sessionStorage);
    const store =
      sessionStorage === undefined || config.sessions.store === 'cookie'
        ? undefined
        : new ServerSessionStore({
            storage: sessionStorage,
            type: config.sessions.store,
            cookieKeys: config.cookieKeys,
            names: cookieNames(config.cookie.name, config.cookieSecure, config.cookie.domain),
            cookieOptions: { secure: config.cookieSecure, domain: config.cookie.domain },
            ownsStorage: false,
            // Instances with sessions.localCache drop a revoked session when they hear of it.
            changes: sessionChanges(config, sessionStorage),
          });
    const now = Math.floor(Date.now() / 1000);
    for (const u of users) {
      const label = `${u.sub} at ${u.provider}`;
      if (sub === 'list') {
        const sessions = store ? await store.listUser(u, now) : [];
        const grants = config.issuer && storage ? await accountGrants(storage, u) : [];
        if (provider === undefined && sessions.length === 0 && grants.length === 0) continue;
        out.write(`${label}: ${store ? `${sessions.length} session(s)` : 'cookie sessions (not listed)'}`);
        out.write(config.issuer ? `, ${grants.length} issuer grant(s)\n` : '\n');
        for (const s of sessions)
          out.write(`  session ${s.ref}  signed in ${when(s.createdAt)}, ends ${when(s.expiresAt)}\n`);
        for (const g of grants) out.write(`  grant   ${g.clientId ?? '(unknown client)'}\n`);
      } else {
        const ended = store ? await store.endUser(u) : 0;
        const grants = config.issuer && storage ? await revokeAccountGrants(storage, u) : 0;
        if (provider === undefined && ended === 0 && grants === 0) continue;
        out.write(`${label}: ended ${ended} session(s), revoked ${grants} issuer grant(s)\n`);
      }
    }
    out.write(sub === 'list' ? 'listed\n' : 'done: signed out everywhere\n');
  } finally {
    for (const s of opened.reverse()) await s.close();
  }
}
