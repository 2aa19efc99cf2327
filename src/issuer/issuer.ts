/**
 * The issuer: an OpenID provider for the platform's own services, mounted at <publicUrl>/oidc in the
 * gateway's 'endpoints' step. Built only when `issuer` is configured.
 *
 * Mounting follows oidc-provider's recipe for a path prefix (what connect/express `app.use('/oidc', …)`
 * does): the issuer identifier carries the path, `req.url` loses the prefix and `req.originalUrl` keeps
 * it, so the URLs oidc-provider writes (discovery, redirects, cookie paths) carry it again. Scheme, host
 * and client address come from Portcullis's trust boundary, never from the client's own X-Forwarded-*.
 *
 * Follows the signing keys through the instance's one key poller (src/keys/poller.ts): oidc-provider is
 * rebuilt with the new JWKS when a rotated key is published, when it starts signing and when a retired key's
 * window ends, and on configuration reload.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { Session as IssuerSession, KoaContextWithOIDC } from 'oidc-provider';
import type { MachineToken } from '../bearer/verify.ts';
import type { ResolvedIssuer } from '../config/issuer.ts';
import type { ResolvedConfig } from '../config/load.ts';
import { sameRedis } from '../config/redis.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { GatewayContext, IssuerMount } from '../http/context.ts';
import { redirect, sendError } from '../http/respond.ts';
import { crossSiteReason } from '../http/same-origin.ts';
import type { Scope } from '../http/scope.ts';
import { KeyPoller } from '../keys/poller.ts';
import { providerJwks } from '../keys/state.ts';
import type { KeySet } from '../keys/store.ts';
import type { Logger } from '../observability/log.ts';
import { serializeCookie } from '../sessions/cookies.ts';
import { Sealer } from '../sessions/sealer.ts';
import { openStorage } from '../storage/open.ts';
import type { Storage } from '../storage/storage.ts';
import { revokeAccountGrants } from './account-grants.ts';
import { Accounts, accountIdOf } from './accounts.ts';
import { Csrf, interaction, interactionPath } from './interactions.ts';
import { type Binding, buildProvider } from './provider.ts';

const SIGN_OUT_PURPOSE = 'issuer sign-out';
const SIGN_OUT_TTL = 120;

interface Built {
  readonly provider: Provider;
  readonly callback: (req: IncomingMessage, res: import('node:http').ServerResponse) => Promise<void>;
  /** The keys oidc-provider was given: the signing ones first. */
  readonly jwks: readonly import('jose').JWK[];
  readonly clients: ReadonlyMap<string, ResolvedIssuer['clients'][number]>;
  readonly accounts: Accounts;
  readonly config: ResolvedConfig;
  readonly issuer: ResolvedIssuer;
  /** The interaction pages' paths under this mount (src/issuer/interactions.ts). */
  readonly interactionPath: RegExp;
}

export interface IssuerStartOptions {
  /** An already open storage (tests); default: opened from `storage`, and closed by close(). */
  readonly storage?: Storage;
  /** The instance's key poller (shared with the assertion signer); default: one of its own, closed by close(). */
  readonly keys?: KeyPoller;
}

export class Issuer implements IssuerMount {
  readonly storage: Storage;
  readonly #ownsStorage: boolean;
  readonly #log: Logger;
  readonly #bindings: WeakMap<IncomingMessage, Binding>;
  readonly #keys: KeyPoller;
  readonly #ownsKeys: boolean;
  readonly #unsubscribe: () => void;
  #built: Built;
  #sealer: Sealer;
  #csrf: Csrf;
  #closed = false;

  private constructor(
    storage: Storage,
    owns: { storage: boolean; keys: boolean },
    log: Logger,
    keys: KeyPoller,
    built: Built,
    bindings: WeakMap<IncomingMessage, Binding>,
  ) {
    this.storage = storage;
    this.#bindings = bindings;
    this.#ownsStorage = owns.storage;
    this.#ownsKeys = owns.keys;
    this.#log = log;
    this.#keys = keys;
    this.#built = built;
    this.#sealer = new Sealer(built.config.cookieKeys);
    this.#csrf = new Csrf(built.config.cookieKeys);
    this.#unsubscribe = keys.subscribe((set, now) => this.#takeKeys(set, now));
  }

  static async start(config: ResolvedConfig, log: Logger, o: IssuerStartOptions = {}): Promise<Issuer> {
    const issuer = config.issuer;
    if (issuer === undefined) throw new TypeError('Issuer.start: the configuration has no issuer section');
    const storage = o.storage ?? (await openStorage(config.storage, log));
    let keys: KeyPoller | undefined;
    try {
      keys = o.keys ?? (await KeyPoller.start(storage, config.cookieKeys, log));
      const bindings = new WeakMap<IncomingMessage, Binding>();
      const built = build(config, storage, keys.set, keys.now(), log, (req) => bindings.get(req));
      const owns = { storage: o.storage === undefined, keys: o.keys === undefined };
      return new Issuer(storage, owns, log, keys, built, bindings);
    } catch (err) {
      if (o.keys === undefined) keys?.close();
      if (o.storage === undefined) await storage.close();
      throw err;
    }
  }

  /**
   * Says the issuer is ready. Called by whoever serves it once it can be reached (src/server/start.ts,
   * after the listener is up): built is not ready — on a busy port nothing would ever answer.
   */
  announce(): void {
    const issuer = this.#built.config.issuer!;
    this.#log.info(
      {
        event: 'issuer.started',
        issuer: issuer.url.href,
        clients: issuer.clients.map((c) => c.id),
        storage: this.storage.type,
        keys: this.#built.jwks.map((k) => k.kid),
      },
      'issuer ready',
    );
  }

  get issuerUrl(): URL {
    return this.#built.issuer.url;
  }

  /** The oidc-provider instance in use (tests). */
  get provider(): Provider {
    return this.#built.provider;
  }

  #rebuild(config: ResolvedConfig, set: KeySet, now: number): void {
    this.#built = build(config, this.storage, set, now, this.#log, (req) => this.#bindings.get(req));
    this.#sealer = new Sealer(config.cookieKeys);
    this.#csrf = new Csrf(config.cookieKeys);
  }

  /**
   * Has the key poller look now (tests, and what a SIGHUP does): a rotation, a key that starts signing, a
   * retired key whose window ended. Returns whether the keys changed (the provider was then rebuilt).
   */
  refreshKeys(): Promise<boolean> {
    return this.#keys.check();
  }

  /** From the key poller: the JWKS changed, so oidc-provider is rebuilt with it (it cannot swap keys in place). */
  #takeKeys(set: KeySet, now: number): void {
    if (this.#closed) return;
    this.#rebuild(this.#built.config, set, now);
    this.#log.info({ event: 'issuer.keys-reloaded', version: set.version }, 'issuer keys reloaded');
  }

  /** A new configuration: clients, lifetimes and keys are rebuilt; storage changes need a restart. */
  async reload(config: ResolvedConfig): Promise<void> {
    if (config.issuer === undefined) return;
    const before = this.#built.config.storage;
    if (
      config.storage.type !== before.type ||
      config.storage.file !== before.file ||
      !sameRedis(config.storage.redis, before.redis) ||
      config.storage.keyPrefix !== before.keyPrefix
    ) {
      this.#log.warn({ event: 'issuer.storage-changed' }, 'storage changed: restart to apply it');
    }
    this.#rebuild(config, this.#keys.set, this.#keys.now());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    if (this.#ownsKeys) this.#keys.close();
    if (this.#ownsStorage) await this.storage.close();
  }

  /**
   * The stop at /oidc/sign_out, bound to the browser that signed out of the gate: a random value goes both
   * into the sealed `next` and into a cookie set with the gate's answer (Path=/oidc/sign_out, HttpOnly). A
   * `next` made for anyone else's sign-out (an attacker can make one for their own session) finds no
   * matching cookie in the victim's browser, so it ends nothing.
   */
  async endUser(user: { readonly provider: string; readonly sub: string }): Promise<number> {
    return revokeAccountGrants(this.storage, user);
  }

  signOutVia(next: string, s: Scope): string {
    const binding = randomBytes(32).toString('base64url');
    const sealed = this.#sealer.seal(
      SIGN_OUT_PURPOSE,
      JSON.stringify({ to: next, b: binding, exp: Math.floor(Date.now() / 1000) + SIGN_OUT_TTL }),
    );
    s.setCookies.push(
      serializeCookie(this.#signOutCookie(), binding, SIGN_OUT_TTL, this.#signOutCookieOptions()),
    );
    return `${this.#mount()}/sign_out?next=${encodeURIComponent(sealed)}`;
  }

  /** Where the issuer is mounted: the identifier's path, `/oidc` or `<base>/oidc` (src/config/issuer.ts). */
  #mount(): string {
    return this.#built.issuer.url.pathname;
  }

  #signOutCookie(): string {
    const c = this.#built.config;
    return `${c.public.protocol === 'https:' ? '__Secure-' : ''}${c.cookie.name}_oidc_signout`;
  }

  #signOutCookieOptions() {
    return {
      secure: this.#built.config.public.protocol === 'https:',
      path: `${this.#mount()}/sign_out`,
      sameSite: 'Lax' as const,
    };
  }

  /**
   * For bearer calls to gated routes (src/bearer/): a client_credentials token this issuer made, found in
   * its storage (so every instance sees it), not expired, and of a client still configured for the grant.
   */
  async clientToken(token: string): Promise<MachineToken | undefined> {
    // oidc-provider's opaque tokens are 43 base64url characters; anything else is not worth a storage read.
    if (!/^[A-Za-z0-9_-]{20,128}$/.test(token)) return undefined;
    const t = await this.#built.provider.ClientCredentials.find(token);
    if (t === undefined || t.isExpired || typeof t.clientId !== 'string') return undefined;
    if (this.#built.clients.get(t.clientId)?.clientCredentials !== true) return undefined;
    return { clientId: t.clientId, exp: t.exp };
  }

  async handle(ctx: GatewayContext, s: Scope): Promise<void> {
    // Only the canonical spelling reaches oidc-provider: its router sees the raw path, Portcullis matched
    // the normalised one, and the two must name the same endpoint.
    const mount = this.#mount();
    if (s.rawPath !== mount && !s.rawPath.startsWith(`${mount}/`)) {
      sendError(
        ctx.log,
        s,
        new PortcullisError('PCL_BAD_REQUEST', `non-canonical issuer path ${s.rawPath.slice(0, 200)}`),
      );
      return;
    }
    const built = this.#built;
    this.#bindings.set(s.req, { ctx, s });
    trustedForwarding(s, ctx.config.public);
    const m = this.#built.interactionPath.exec(s.path);
    if (m) {
      await interaction(
        {
          provider: built.provider,
          clients: built.clients,
          accounts: built.accounts,
          csrf: this.#csrf,
          storage: this.storage,
        },
        ctx,
        s,
        m[1]!,
        m[2],
      );
      return;
    }
    if (s.path === `${mount}/sign_out`) {
      await this.#gateSignOut(built, ctx, s);
      return;
    }
    // The logout confirmation is a state change: from Portcullis's own logout page only, like the gate's
    // sign-out (oidc-provider's xsrf token already ties it to the session; this refuses it before that).
    if (s.path === `${mount}/session/end/confirm` && s.req.method === 'POST') {
      const refused = crossSiteReason(s, ctx.config.public.origin);
      if (refused !== undefined) {
        sendError(
          ctx.log,
          s,
          new PortcullisError('PCL_CROSS_SITE', `logout confirmation refused: ${refused}`),
        );
        return;
      }
    }
    if (s.path === `${mount}/auth` && (s.req.method === 'GET' || s.req.method === 'POST')) {
      await this.#followGate(built, ctx, s);
    }
    const req = s.req as IncomingMessage & { originalUrl?: string };
    req.originalUrl = s.rawPath + s.query;
    req.url = (s.rawPath.slice(mount.length) || '/') + s.query;
    await built.callback(req, s.res);
  }

  /**
   * The issuer's session follows the gate's: when the browser's gate session is gone or belongs to another
   * account, the issuer session ends before a new authorization request is looked at.
   */
  async #followGate(built: Built, ctx: GatewayContext, s: Scope): Promise<void> {
    const koa = built.provider.createContext(s.req, s.res);
    const session = await built.provider.Session.get(koa);
    if (session.accountId === undefined) return;
    const gate = await ctx.sessions.read(s.cookies, ctx.now());
    if (gate !== undefined && accountIdOf(gate) === session.accountId) return;
    ctx.log.debug(
      { requestId: s.id, event: 'issuer.session-ended', why: gate ? 'other account' : 'no gate session' },
      'issuer session follows the gate',
    );
    await this.#endSession(built, koa, session);
  }

  /** Ends oidc-provider's session: its grants (but offline ones, as in RP-initiated logout), the session, the cookie. */
  async #endSession(built: Built, koa: KoaContextWithOIDC, session: IssuerSession): Promise<void> {
    for (const a of Object.values(session.authorizations ?? {})) {
      if (a.grantId === undefined || a.persistsLogout) continue;
      await this.storage.revokeGrant(a.grantId);
      await this.storage.destroy('Grant', a.grantId);
    }
    await session.destroy();
    koa.cookies.set(built.provider.cookieName('session'), null, {
      httpOnly: true,
      sameSite: 'lax',
      path: this.#mount(),
    });
  }

  /**
   * /oidc/sign_out: the stop gate sign-out makes on its way, to end the issuer session (its cookie is scoped
   * to /oidc). It ends the session only for the browser the gate's sign-out answered (signOutVia); anything
   * else — a link or navigation from another site, a replayed or foreign `next` — ends nothing and is sent
   * to the gate's sign-out confirmation page.
   */
  async #gateSignOut(built: Built, ctx: GatewayContext, s: Scope): Promise<void> {
    const stop = this.#openStop(s);
    const name = this.#signOutCookie();
    const bound = s.cookies.get(name);
    if (bound !== undefined) s.setCookies.push(serializeCookie(name, '', 0, this.#signOutCookieOptions()));
    if (stop === undefined || bound === undefined || !sameToken(bound, stop.binding)) {
      ctx.log.warn(
        {
          requestId: s.id,
          event: 'issuer.sign-out-refused',
          why: stop === undefined ? 'no valid next' : 'not bound to this browser',
          site: s.req.headers['sec-fetch-site'],
        },
        'issuer sign-out not started by this browser: nothing ended, sent to the sign-out confirmation',
      );
      redirect(s, `${ctx.config.basePath}/oauth2/sign_out`);
      return;
    }
    const koa = built.provider.createContext(s.req, s.res);
    const session = await built.provider.Session.get(koa);
    if (!session.new) {
      await this.#endSession(built, koa, session);
      ctx.log.info(
        { requestId: s.id, event: 'issuer.session-ended', why: 'gate sign-out' },
        'issuer session ended',
      );
    }
    // Koa wrote its Set-Cookie straight onto the response; redirect() sets the header from s.setCookies.
    const set = s.res.getHeader('set-cookie');
    s.res.removeHeader('set-cookie');
    if (set !== undefined) s.setCookies.push(...(Array.isArray(set) ? set : [String(set)]));
    redirect(s, stop.to);
  }

  /** The sealed, unexpired `next` of a gate sign-out, if this request carries one. */
  #openStop(s: Scope): { to: string; binding: string } | undefined {
    const sealed = s.searchParams().get('next');
    const plain = sealed === null ? undefined : this.#sealer.open(SIGN_OUT_PURPOSE, sealed);
    if (plain === undefined) return undefined;
    const v = JSON.parse(plain) as { to?: unknown; b?: unknown; exp?: unknown };
    if (typeof v.to !== 'string' || typeof v.b !== 'string' || typeof v.exp !== 'number') return undefined;
    if (v.exp <= Math.floor(Date.now() / 1000)) return undefined;
    return { to: v.to, binding: v.b };
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Builds the provider from the configuration and the key set as it stands at `now`. */
function build(
  config: ResolvedConfig,
  storage: Storage,
  set: KeySet,
  now: number,
  log: Logger,
  bindingOf: (req: IncomingMessage) => Binding | undefined,
): Built {
  const issuer = config.issuer!;
  const jwks = providerJwks(set, now);
  const longest = Math.max(
    issuer.refreshTokenTtl,
    config.sessions.lifetime,
    ...issuer.clients.map((c) => c.ttl.refreshToken),
  );
  const accounts = new Accounts(storage, longest);
  const provider = buildProvider({
    issuer,
    storage,
    jwks,
    cookieKeys: config.cookieKeys,
    cookieBase: config.cookie.name,
    secure: config.public.protocol === 'https:',
    sessionTtl: config.sessions.lifetime,
    basePath: config.basePath,
    accounts,
    log,
    bindingOf,
  });
  return {
    provider,
    callback: provider.callback(),
    jwks,
    clients: new Map(issuer.clients.map((c) => [c.id, c])),
    accounts,
    config,
    issuer,
    interactionPath: interactionPath(issuer.url.pathname),
  };
}

/**
 * Hands oidc-provider (Koa with `proxy` on) the scheme and host of the public URL and the client address
 * the trust boundary worked out, replacing whatever X-Forwarded-* the client sent.
 */
function trustedForwarding(s: Scope, pub: URL): void {
  const h = s.req.headers;
  h['x-forwarded-proto'] = pub.protocol.slice(0, -1);
  h['x-forwarded-host'] = pub.host;
  h['x-forwarded-for'] = s.fwd.clientIp;
  delete h['forwarded'];
}
