/**
 * The one reading of an IdP's URLs that `portcullis serve` (src/idp/) and `portcullis check`
 * (src/doctor/) share, so that `check` can never pass a configuration that `serve` refuses, or the
 * other way round (test/doctor/agreement.test.ts runs both on the same spellings against a real IdP).
 */

/**
 * Where the discovery document of `issuer` is: OIDC Discovery §4.1, the issuer's path followed by
 * `/.well-known/openid-configuration`, without doubling a trailing slash — the same URL openid-client
 * (oauth4webapi's appendWellKnown) builds.
 */
export function discoveryUrlOf(issuer: string): string {
  const url = new URL(issuer);
  url.pathname = `${url.pathname}/.well-known/openid-configuration`.replace('//', '/');
  return url.href;
}

/**
 * Whether the issuer an IdP publishes is the configured one. OIDC Discovery §4.3 asks for identical
 * issuers; like openid-client, both are compared as parsed URLs, so the spellings that are one URL agree
 * (scheme and host letter case, the slash after a bare host: `https://idp.example` is
 * `https://idp.example/`), while a path keeps its case and its trailing slash (`…/realms/acme/` is not
 * `…/realms/acme`). ID tokens are then held to the published value exactly (OIDC Core §3.1.3.7).
 */
export function sameIssuer(configured: string, published: string): boolean {
  const a = URL.parse(configured);
  const b = URL.parse(published);
  if (a === null || b === null) return configured === published;
  return a.href === b.href;
}

/** What the log and `check` say when they differ (docs quote it: test/docs/quoted-messages.test.ts). */
export function issuerMismatch(configured: string, published: string): string {
  return `the IdP publishes issuer "${published}", not the configured "${configured}"`;
}

/** What the log and `check` say when the discovery URL answers with a redirect. */
export function discoveryRedirect(url: string, status: number, location: string | null): string {
  return `${url} answered HTTP ${status} to ${location ?? '(no Location)'}; discovery does not follow redirects`;
}

/**
 * A JupyterHub's base URL from the `url` setting. The hub's own pages live under `<base>/hub/`, so an
 * operator often copies a URL ending in `/hub`; the API is `<base>/hub/api/…`, never `/hub/hub/api/…`.
 */
export function jupyterhubBase(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/hub$/, '');
}
