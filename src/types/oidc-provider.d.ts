// oidc-provider v9 ships no type declarations and @types/oidc-provider stops at v8. This declares the surface
// Portcullis uses — the demo IdP (src/demo/idp.ts) and the issuer (src/issuer/) — and nothing more; extend it
// as more is needed, do not widen it to `any`. Names and shapes follow oidc-provider's lib/ sources.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type UnknownObject = Record<string, unknown>;

  /** Koa's cookie jar (the `cookies` package) as oidc-provider uses it. */
  export interface Cookies {
    get(name: string, options?: UnknownObject): string | undefined;
    set(name: string, value: string | null, options?: UnknownObject): this;
  }

  /** The parts of the Koa context (plus `ctx.oidc`) that our middleware and hooks read. */
  export interface KoaContextWithOIDC {
    method: string;
    path: string;
    host: string;
    href: string;
    secure: boolean;
    status: number;
    body: unknown;
    type: string;
    req: IncomingMessage;
    res: ServerResponse;
    cookies: Cookies;
    get(field: string): string;
    set(field: string, value: string | string[]): void;
    append(field: string, value: string | string[]): void;
    oidc: OIDCContext;
  }

  export interface OIDCContext {
    route?: string;
    params?: UnknownObject;
    client?: Client;
    session?: Session;
    entities: {
      readonly RotatedRefreshToken?: { remainingTTL: number };
      readonly AccessToken?: { accountId?: string };
      readonly [name: string]: unknown;
    };
    result?: InteractionResults;
    /** Scopes requested that are OIDC scopes (openid, profile, …). */
    requestParamOIDCScopes: Set<string>;
    /** Claims requested through scopes and the claims parameter. */
    requestParamClaims: Set<string>;
    urlFor(name: string, opt?: UnknownObject): string;
  }

  export type Middleware = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void> | void;

  export interface Client {
    clientId: string;
    clientAuthMethod: string;
    clientName?: string;
    applicationType?: string;
    redirectUris: string[];
    postLogoutRedirectUris?: string[];
    grantTypeAllowed(type: string): boolean;
  }

  export interface Account {
    accountId: string;
    claims(
      use: string,
      scope: string,
      claims: UnknownObject,
      rejected: string[],
    ): Promise<UnknownObject> | UnknownObject;
  }

  export interface InteractionPrompt {
    name: string;
    reasons: string[];
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
      max_age?: number;
      [key: string]: unknown;
    };
  }

  export interface Interaction {
    uid: string;
    /** Epoch seconds: when the interaction began, and when it expires. */
    iat: number;
    exp: number;
    prompt: InteractionPrompt;
    params: UnknownObject;
    session?: { accountId: string; uid: string; cookie: string };
    grantId?: string;
    returnTo: string;
    lastSubmission?: UnknownObject;
  }

  export interface InteractionResults {
    login?: { accountId: string; remember?: boolean; ts?: number; amr?: string[]; acr?: string };
    consent?: { grantId?: string };
    error?: string;
    error_description?: string;
    [key: string]: unknown;
  }

  export class Grant {
    constructor(properties?: { clientId?: string; accountId?: string });
    static find(id: string): Promise<Grant | undefined>;
    jti: string;
    accountId?: string;
    clientId?: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    getOIDCScope(): string;
    save(ttl?: number): Promise<string>;
    destroy(): Promise<void>;
  }

  /** oidc-provider's end-user session (one per browser, by its session cookie). */
  export interface Session {
    readonly new?: boolean;
    jti: string;
    uid: string;
    accountId?: string;
    loginTs?: number;
    state?: { postLogoutRedirectUri?: string; clientId?: string; [key: string]: unknown };
    authorizations?: Record<string, { sid?: string; grantId?: string; persistsLogout?: boolean }>;
    grantIdFor(clientId: string): string | undefined;
    destroy(): Promise<void>;
  }

  export interface SessionModel {
    get(ctx: KoaContextWithOIDC): Promise<Session>;
    findByUid(uid: string): Promise<Session | undefined>;
  }

  export interface ClientModel {
    find(id: string): Promise<Client | undefined>;
  }

  export interface Adapter {
    upsert(id: string, payload: UnknownObject, expiresIn?: number): Promise<void>;
    find(id: string): Promise<UnknownObject | undefined>;
    findByUserCode(userCode: string): Promise<UnknownObject | undefined>;
    findByUid(uid: string): Promise<UnknownObject | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export type AdapterConstructor = new (name: string) => Adapter;

  /** Configuration is validated by oidc-provider at construction; callbacks are typed where we define them. */
  export type Configuration = UnknownObject;

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    readonly Grant: typeof Grant;
    readonly Session: SessionModel;
    readonly Client: ClientModel;
    /** client_credentials access tokens; find() answers undefined for an unknown or expired one. */
    readonly ClientCredentials: {
      find(value: string): Promise<{ clientId: string; exp: number; isExpired: boolean } | undefined>;
    };
    /** Koa's `app.proxy`: trust X-Forwarded-Proto/-Host/-For (Portcullis sets them itself). */
    proxy: boolean;
    use(middleware: Middleware): this;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    createContext(req: IncomingMessage, res: ServerResponse): KoaContextWithOIDC;
    cookieName(type: 'session' | 'interaction' | 'resume'): string;
    on(event: string, listener: (...args: never[]) => void): this;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<string>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
  }

  /** lib/helpers/interaction_policy: the prompts (login, consent) and the checks that trigger them. */
  export namespace interactionPolicy {
    type CheckResult = boolean;
    class Check {
      /** `error` is what a prompt=none request gets when the check fails (e.g. login_required). */
      constructor(
        reason: string,
        description: string,
        error: string,
        check: (ctx: KoaContextWithOIDC) => CheckResult | Promise<CheckResult>,
      );
      static readonly REQUEST_PROMPT: true;
      static readonly NO_NEED_TO_PROMPT: false;
      reason: string;
    }
    interface Prompt {
      name: string;
      checks: Check[] & { get(reason: string): Check | undefined };
    }
    interface Policy extends Array<Prompt> {
      get(name: string): Prompt | undefined;
    }
    function base(): Policy;
  }

  /** An OAuth error as oidc-provider renders it (lib/helpers/errors.js): status, `error`, public description, private detail. */
  export class OIDCProviderError extends Error {
    error: string;
    status: number;
    error_description?: string;
    error_detail?: string;
  }
  export const errors: {
    /** 400 invalid_grant; `detail` is logged, never sent. */
    readonly InvalidGrant: new (
      detail?: string,
    ) => OIDCProviderError;
    /** 401 invalid_token; `detail` is logged, never sent. */
    readonly InvalidToken: new (
      detail?: string,
    ) => OIDCProviderError;
    /** 403 insufficient_scope with a public description and the scope attribute (when given). */
    readonly InsufficientScope: new (
      description: string,
      scope: string | undefined,
    ) => OIDCProviderError;
    readonly [name: string]: (new (...args: never[]) => OIDCProviderError) | undefined;
  };
  export default Provider;
}
