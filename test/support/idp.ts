// The real-IdP harness: the dev OpenID Provider (oidc-provider, in-process on loopback) plus the hooks only
// tests need — token responses rewritten or held, extra routes beside the provider (a vendor API), JWT
// access tokens — and helpers to forge the ID tokens a relying party must reject. The hooks live here, not
// in src/demo/idp.ts: the demo ships without them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  base64url,
  CompactSign,
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import {
  closeServer,
  createDevIdpApp,
  DEMO_USERS,
  type DevClient,
  type DevIdp,
  type DevIdpApp,
  type DevIdpOptions,
  type DevUser,
  sendStarting,
} from '../../src/demo/idp.ts';

export type { DevClient, DevIdp, DevIdpOptions, DevUser } from '../../src/demo/idp.ts';
export { DEMO_USERS };

export type IdTokenClaims = JWTPayload & Record<string, unknown>;
export type IdTokenHeader = ProtectedHeaderParameters & Record<string, unknown>;
export type IdTokenPatch = (claims: IdTokenClaims, header: IdTokenHeader) => void;

export interface ResignOptions {
  /** 'idp' (default): the IdP's own key, a valid signature. 'foreign': a fresh key with the same kid. */
  key?: 'idp' | 'foreign';
  /** 'none' produces an unsigned `header.payload.` token. */
  alg?: 'RS256' | 'none';
}

export type TokenResponseHook = (
  body: Record<string, unknown>,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface TestIdpOptions extends Partial<Omit<DevIdpOptions, 'host'>> {
  clients: DevClient[];
  /** Rewrites successful POST /token response bodies (tests use it to tamper with ID tokens). */
  tokenResponseHook?: TokenResponseHook;
  /** Answers requests outside the OpenID provider first (an API next to it); true when answered. */
  extraRoutes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
  /**
   * Issue access tokens as JWTs (RFC 9068) for this audience instead of opaque ones, with `claims(user)`
   * added (Keycloak puts roles there). Userinfo then refuses them.
   */
  jwtAccessTokens?: { audience: string; claims?: (user: DevUser) => Record<string, unknown> };
}

export interface TestIdp extends DevIdp {
  discoveryUrl: string;
  /** Replaces (or with undefined removes) the token response hook. */
  setTokenResponseHook(hook: TokenResponseHook | undefined): void;
  /** Decodes a real ID token, lets `patch` change claims and header, and signs it again as asked. */
  resignIdToken(idToken: string, patch: IdTokenPatch, opts?: ResignOptions): Promise<string>;
  /** Rewrites the id_token of every following token response; returns a function that stops it. */
  tamperIdTokens(patch: IdTokenPatch, opts?: ResignOptions): () => void;
  /** How many times its JWKS (jwks_uri) has been fetched. */
  readonly jwksRequests: number;
  /**
   * A slow token endpoint, on cue: every following token response is held (the grant is already
   * processed at the IdP, only the answer waits) until `release()`, which also removes the hook. `held`
   * resolves when the first response is being held, so a test can act while the call is in flight.
   */
  holdTokenResponses(): TokenHold;
}

export interface TokenHold {
  readonly held: Promise<void>;
  release(): void;
}

/** oidc-provider configuration for JWT access tokens (RFC 9068) through resource indicators (RFC 8707). */
function jwtAccessTokenConfig(
  jwt: NonNullable<TestIdpOptions['jwtAccessTokens']>,
  users: () => readonly DevUser[],
): Configuration {
  return {
    features: {
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => jwt.audience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'openid email profile groups offline_access',
          audience: jwt.audience,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: async (_ctx: KoaContextWithOIDC, token: { accountId?: string }) => {
      const user = users().find((u) => u.sub === token.accountId);
      return user && jwt.claims ? jwt.claims(user) : undefined;
    },
  } as Configuration;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** The demo IdP's provider on a server of ours, so extra routes answer first. */
async function startIdp(
  opts: TestIdpOptions,
  jwksRequests: { count: number },
): Promise<{ idp: DevIdp; app: DevIdpApp }> {
  const { tokenResponseHook: _, extraRoutes: extra, jwtAccessTokens, ...devOpts } = opts;
  let app: DevIdpApp | undefined;
  const server = http.createServer((req, res) => {
    if (app === undefined) return sendStarting(res);
    const ready = app;
    // Counts key set fetches (oidc-provider serves them at <issuer>/jwks), then lets the IdP answer.
    if (new URL(req.url ?? '/', 'http://x').pathname.endsWith('/jwks')) jwksRequests.count++;
    if (extra === undefined) return ready.handle(req, res);
    Promise.resolve(extra(req, res)).then(
      (answered) => {
        if (!answered) ready.handle(req, res);
      },
      (err: unknown) => {
        console.error('test idp: extra route failed', err);
        if (!res.headersSent) res.writeHead(500).end('extra route failed');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}${opts.issuerPath ?? ''}`;
  try {
    const created = await createDevIdpApp(issuer, {
      users: DEMO_USERS,
      ...devOpts,
      ...(jwtAccessTokens
        ? { providerConfig: jwtAccessTokenConfig(jwtAccessTokens, () => created.users) }
        : {}),
    });
    app = created;
  } catch (err) {
    await closeServer(server);
    throw err;
  }
  const ready = app;
  const idp: DevIdp = {
    issuer,
    port,
    users: ready.users,
    get signingKey() {
      return ready.signingKey;
    },
    rotateSigningKey: () => ready.rotateSigningKey(),
    close: () => closeServer(server),
  };
  return { idp, app };
}

export async function startTestIdp(opts: TestIdpOptions): Promise<TestIdp> {
  const jwksRequests = { count: 0 };
  const { idp, app } = await startIdp(opts, jwksRequests);
  let tokenResponseHook = opts.tokenResponseHook;
  // provider.use() inserts before oidc-provider's own router, so after next() the token response is final.
  app.use(async (ctx, next) => {
    await next();
    const hook = tokenResponseHook;
    if (hook && ctx.method === 'POST' && ctx.path === '/token' && ctx.status === 200 && isObject(ctx.body)) {
      ctx.body = await hook({ ...ctx.body });
    }
  });
  const setTokenResponseHook = (hook: TokenResponseHook | undefined) => {
    tokenResponseHook = hook;
  };
  let foreignKey: CryptoKey | undefined;

  async function resignIdToken(idToken: string, patch: IdTokenPatch, o: ResignOptions = {}): Promise<string> {
    const header = { ...decodeProtectedHeader(idToken) } as IdTokenHeader;
    const claims = { ...decodeJwt(idToken) } as IdTokenClaims;
    if (o.alg === 'none') {
      header.alg = 'none';
      patch(claims, header);
      const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
      return `${encode(header)}.${encode(claims)}.`;
    }
    patch(claims, header);
    let key: CryptoKey | Uint8Array;
    if (o.key === 'foreign') {
      foreignKey ??= (await generateKeyPair('RS256')).privateKey;
      key = foreignKey;
    } else {
      key = await importJWK(idp.signingKey, 'RS256');
    }
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ ...header, alg: header.alg ?? 'RS256' })
      .sign(key);
  }

  return {
    ...idp,
    get signingKey() {
      return idp.signingKey;
    },
    get jwksRequests() {
      return jwksRequests.count;
    },
    discoveryUrl: `${idp.issuer}/.well-known/openid-configuration`,
    setTokenResponseHook,
    resignIdToken,
    tamperIdTokens(patch, o) {
      setTokenResponseHook(async (body) =>
        typeof body['id_token'] === 'string'
          ? { ...body, id_token: await resignIdToken(body['id_token'], patch, o) }
          : body,
      );
      return () => setTokenResponseHook(undefined);
    },
    holdTokenResponses() {
      const { promise: held, resolve: arrived } = Promise.withResolvers<void>();
      const { promise: gate, resolve: open } = Promise.withResolvers<void>();
      setTokenResponseHook(async (body) => {
        arrived();
        await gate;
        return body;
      });
      return {
        held,
        release() {
          setTokenResponseHook(undefined);
          open();
        },
      };
    },
  };
}

/** A public JWK of a fresh key, for tests that need an unrelated JWKS. */
export async function freshPublicJwk(kid: string) {
  const { publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
}
