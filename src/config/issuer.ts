/**
 * Resolving the `issuer` section: client secrets read from files, token lifetimes filled in, and the checks
 * that span fields (one secret source, public clients without secrets, redirect URIs that the protocol
 * allows). Problems are collected, never thrown one by one. The `storage` section is resolved alongside
 * (src/config/storage.ts), as the issuer's state lives there.
 */

import { isLoopbackHost } from './net.ts';
import type { IssuerClientConfig, IssuerConfig, StorageConfig } from './schema/issuer.ts';
import { type ResolvedStorage, resolveStorage } from './storage.ts';

/** The issuer lives here, under the gateway's public URL. */
export const ISSUER_PATH = '/oidc';
/** Client secrets shorter than this are refused: 32 characters of `portcullis secret --client` is 192 bits. */
export const MIN_CLIENT_SECRET_LENGTH = 32;

export interface ResolvedIssuerClient extends IssuerClientConfig {
  /** From `secret` or `secretFile`; undefined for a public client. */
  readonly secretValue: string | undefined;
  readonly authMethod: 'client_secret_basic' | 'none';
  readonly name: string;
  readonly ttl: { readonly accessToken: number; readonly idToken: number; readonly refreshToken: number };
}

export interface ResolvedIssuer extends Omit<IssuerConfig, 'clients'> {
  /** `<origin><base path>/oidc`: the issuer identifier (no trailing slash); its pathname is the mount. */
  readonly url: URL;
  readonly clients: readonly ResolvedIssuerClient[];
}

type ReadSecret = (file: string, key: string) => string | undefined;

/** Problems with one redirect URI (RFC 6749 §3.1.2, RFC 9700 §2.1 and §4.1.1), or undefined. */
function redirectUriProblem(value: string): string | undefined {
  const u = new URL(value);
  if (u.hash !== '' || value.includes('#')) return 'must not have a fragment (RFC 6749 §3.1.2)';
  if (u.username !== '' || u.password !== '') return 'must not carry a user name or password';
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    return 'plain http is allowed only on loopback (127.0.0.1, ::1, localhost); use https';
  }
  // An allow-list, not a deny-list: javascript:, data:, file:, vbscript:, blob:, about: … are all refused.
  // Native apps may use a private-use scheme, which RFC 8252 §7.1 requires in reverse-domain form
  // (com.example.app:/callback): the dot keeps every browser-meaningful scheme out.
  if (
    u.protocol !== 'https:' &&
    u.protocol !== 'http:' &&
    !/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(u.protocol)
  ) {
    return `the ${u.protocol} scheme cannot be a redirect URI: use https, http on loopback, or a native app's private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)`;
  }
  return undefined;
}

export function resolveIssuerConfig(
  issuer: IssuerConfig | undefined,
  storage: StorageConfig,
  publicUrl: URL,
  /** publicUrl's path without its trailing slash ('' at the root): the issuer lives at `<base>/oidc`. */
  basePath: string,
  problems: string[],
  readSecret: ReadSecret,
): { issuer: ResolvedIssuer | undefined; storage: ResolvedStorage } {
  const storageOut = resolveStorage(storage, problems, readSecret);
  if (issuer === undefined) return { issuer: undefined, storage: storageOut };
  const ids = new Set<string>();
  const clients = issuer.clients.map((c, i) =>
    resolveClient(c, `issuer.clients[${i}]`, ids, issuer, problems, readSecret),
  );
  const url = new URL(`${publicUrl.origin}${basePath}${ISSUER_PATH}`);
  return { issuer: { ...issuer, url, clients }, storage: storageOut };
}

function resolveClient(
  c: IssuerClientConfig,
  key: string,
  ids: Set<string>,
  issuer: IssuerConfig,
  problems: string[],
  readSecret: ReadSecret,
): ResolvedIssuerClient {
  if (ids.has(c.id)) problems.push(`${key}.id: "${c.id}" is used by another client; ids must be unique`);
  ids.add(c.id);
  let secretValue: string | undefined;
  if (c.public) {
    if (c.secret !== undefined || c.secretFile !== undefined) {
      problems.push(`${key}: a public client has no secret; remove secret/secretFile or public: true`);
    }
    if (c.clientCredentials) {
      problems.push(`${key}.clientCredentials: only a confidential client (with a secret) may use it`);
    }
  } else {
    if (c.secret !== undefined && c.secretFile !== undefined) {
      problems.push(`${key}: set either secret or secretFile, not both`);
    }
    secretValue =
      c.secret ??
      (c.secretFile !== undefined ? readSecret(c.secretFile, `${key}.secretFile`)?.trim() : undefined);
    if (c.secret === undefined && c.secretFile === undefined) {
      problems.push(
        `${key}.secret: a confidential client needs a secret (or secretFile) — make one with \`portcullis secret --client\` — or set public: true for a PKCE client`,
      );
    } else if (secretValue !== undefined && secretValue.length < MIN_CLIENT_SECRET_LENGTH) {
      problems.push(
        `${key}.secret: ${secretValue.length} characters; at least ${MIN_CLIENT_SECRET_LENGTH} are needed — make one with \`portcullis secret --client\``,
      );
    }
  }
  if (c.redirectUris.length === 0 && !c.clientCredentials) {
    problems.push(`${key}.redirectUris: list the service's redirect URIs (or enable clientCredentials only)`);
  }
  c.redirectUris.forEach((uri, j) => {
    const p = redirectUriProblem(uri);
    if (p) problems.push(`${key}.redirectUris[${j}]: ${uri} ${p}`);
  });
  c.postLogoutRedirectUris.forEach((uri, j) => {
    const p = redirectUriProblem(uri);
    if (p) problems.push(`${key}.postLogoutRedirectUris[${j}]: ${uri} ${p}`);
  });
  if (c.redirectUris.length > 0 && !c.scopes.includes('openid')) {
    problems.push(`${key}.scopes: must include "openid" for a client that signs users in`);
  }
  return {
    ...c,
    secretValue,
    // oidc-provider v9 accepts client_secret_basic and client_secret_post alike from a client registered
    // with either (lib/shared/client_auth.js), which is what services that send one or the other need.
    authMethod: c.public ? 'none' : 'client_secret_basic',
    name: c.display?.name ?? c.id,
    ttl: {
      accessToken: c.accessTokenTtl ?? issuer.accessTokenTtl,
      idToken: c.idTokenTtl ?? issuer.idTokenTtl,
      refreshToken: c.refreshTokenTtl ?? issuer.refreshTokenTtl,
    },
  };
}
