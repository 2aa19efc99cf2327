// The real-IdP harness: the dev OpenID Provider (oidc-provider, in-process on loopback) plus helpers to
// forge the ID tokens a relying party must reject.
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
import {
  DEMO_USERS,
  type DevClient,
  type DevIdp,
  type DevIdpOptions,
  startDevIdp,
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

export interface TestIdp extends DevIdp {
  discoveryUrl: string;
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

export async function startTestIdp(
  opts: Partial<DevIdpOptions> & { clients: DevClient[] },
): Promise<TestIdp> {
  let jwksRequests = 0;
  const extra = opts.extraRoutes;
  const idp = await startDevIdp({
    users: DEMO_USERS,
    ...opts,
    // Counts key set fetches (oidc-provider serves them at <issuer>/jwks), then lets the IdP answer.
    extraRoutes: async (req, res) => {
      if (new URL(req.url ?? '/', 'http://x').pathname.endsWith('/jwks')) jwksRequests++;
      return extra ? extra(req, res) : false;
    },
  });
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
      return jwksRequests;
    },
    discoveryUrl: `${idp.issuer}/.well-known/openid-configuration`,
    resignIdToken,
    tamperIdTokens(patch, o) {
      idp.setTokenResponseHook(async (body) =>
        typeof body['id_token'] === 'string'
          ? { ...body, id_token: await resignIdToken(body['id_token'], patch, o) }
          : body,
      );
      return () => idp.setTokenResponseHook(undefined);
    },
    holdTokenResponses() {
      const { promise: held, resolve: arrived } = Promise.withResolvers<void>();
      const { promise: gate, resolve: open } = Promise.withResolvers<void>();
      idp.setTokenResponseHook(async (body) => {
        arrived();
        await gate;
        return body;
      });
      return {
        held,
        release() {
          idp.setTokenResponseHook(undefined);
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
