/**
 * The access rules, applied again whenever the issuer hands out a user's tokens or identity without the
 * user's browser: the token endpoint (authorization_code redemption and refresh_token), userinfo and
 * introspection. The authorization endpoint asks at sign-in (src/issuer/interactions.ts); these ask for a
 * grant made then, so a user the rules stop admitting gets nothing more from the next request on — an
 * offline grant (offline_access, which outlives the gate session) included.
 *
 * The principal is the one stored with the account at the user's last sign-in through the issuer
 * (src/issuer/accounts.ts); the rules are the ones in force now (`ctx.authz` of the request's gateway
 * context, swapped by a reload). The authorize step records a denial (metric, `issuer.denied` audit line).
 *
 * A refusal revokes the grant: its access, refresh and authorization codes and the grant itself are
 * destroyed, as oidc-provider does when a used refresh token comes back (lib/helpers/revoke.js). Putting the
 * rules back does not revive it; the service has to send the user through the authorization endpoint
 * again, where the rules and the user's current identity are checked afresh (RFC 9700 §4.14.2: a refresh
 * token is revoked when the authorization behind it is withdrawn). An account stored before Portcullis kept
 * the principal has none to decide on: refused and revoked the same way (fails closed), so its user signs
 * in once more.
 */
import type { IncomingMessage } from 'node:http';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../observability/log.ts';
import type { Principal, Surface } from '../policy/authorize.ts';
import type { Storage } from '../storage/storage.ts';
import type { Accounts } from './accounts.ts';
import type { Binding } from './binding.ts';

/** The issuer surfaces decided here (the authorization endpoint's is the interaction's). */
export type GrantSurface = Extract<Surface, 'issuer.token' | 'issuer.userinfo' | 'issuer.introspection'>;

/** What a code, refresh or access token says about its grant (oidc-provider's token models). */
export interface GrantBound {
  readonly accountId?: string | undefined;
  readonly grantId?: string | undefined;
  readonly clientId?: string | undefined;
}

/** `allowed`; `denied`: the rules refuse the user; `unknown`: no principal to decide on (fails closed). */
export type Admission = 'allowed' | 'denied' | 'unknown';

export interface AdmissionDeps {
  readonly accounts: Accounts;
  readonly storage: Storage;
  readonly log: Logger;
  readonly bindingOf: (req: IncomingMessage) => Binding | undefined;
}

export class GrantAdmission {
  readonly #d: AdmissionDeps;

  constructor(d: AdmissionDeps) {
    this.#d = d;
  }

  /**
   * Asks the authorize step whether the user behind `token` is still admitted; anything but yes revokes
   * the grant. `principal`: the account's, when the caller has already read it (findAccount), else it is
   * read here. `caller`: the client asking, when it is not the token's own (introspection by a resource
   * server), for the audit line.
   */
  async check(
    koa: KoaContextWithOIDC,
    surface: GrantSurface,
    token: GrantBound,
    o: { readonly principal?: Principal | undefined; readonly caller?: string } = {},
  ): Promise<Admission> {
    const caller = o.caller;
    const b = this.#d.bindingOf(koa.req);
    const accountId = token.accountId;
    if (b === undefined || accountId === undefined) {
      // Every request reaches oidc-provider through Issuer.handle, which binds it; without one there are
      // no rules to apply, so nothing is handed out (and nothing revoked on a guess).
      this.#d.log.error(
        { event: 'issuer.unbound', surface, client: token.clientId },
        'issuer request without a gateway context or account: refused',
      );
      return 'unknown';
    }
    const principal = 'principal' in o ? o.principal : (await this.#d.accounts.load(accountId))?.principal;
    const outcome = b.ctx.authz.authorize({
      surface,
      principal,
      requestId: b.s.id,
      client: token.clientId,
      audit: () => ({
        requestId: b.s.id,
        client: token.clientId,
        ...(caller !== undefined && caller !== token.clientId ? { caller } : {}),
      }),
    });
    if (outcome.kind === 'allowed') return 'allowed';
    const admission = outcome.kind === 'denied' ? 'denied' : 'unknown';
    await this.#revoke(token.grantId);
    b.ctx.log.warn(
      {
        requestId: b.s.id,
        event: 'issuer.grant-revoked',
        surface,
        client: token.clientId,
        sub: accountId,
        why: admission === 'denied' ? 'access-rules' : 'no-principal',
      },
      admission === 'denied'
        ? 'the access rules no longer admit the user: grant revoked'
        : 'the account has no stored principal to apply the access rules to: grant revoked, the user signs in again',
    );
    return admission;
  }

  /** The grant and everything issued under it (codes, access and refresh tokens), as Issuer#endSession does. */
  async #revoke(grantId: string | undefined): Promise<void> {
    if (grantId === undefined) return;
    await this.#d.storage.revokeGrant(grantId);
    await this.#d.storage.destroy('Grant', grantId);
  }
}
