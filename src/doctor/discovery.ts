/**
 * The discovery document (OpenID Connect Discovery 1.0) and what it says the IdP supports, compared with
 * what Portcullis will send.
 */
import { discoveryRedirect, discoveryUrlOf, issuerMismatch, sameIssuer } from '../config/idp-urls.ts';
import { type Check, type DoctorIo, fail, ok, type Result, skip, warn } from './finding.ts';
import { excerpt, jsonObject, request } from './http.ts';
import { str, strings } from './providers.ts';
import type { ProviderScope } from './scope.ts';

/** OIDC Discovery §4: where `serve` fetches the document (src/config/idp-urls.ts). */
export function discoveryUrl(issuer: string): string {
  return discoveryUrlOf(issuer);
}

/** What to set when the IdP publishes `value`: the type's own hook, else the setting holding the issuer. */
function issuerFix(s: ProviderScope, value: string): string {
  const custom = s.kind.issuerFix?.(s.provider, value);
  if (custom !== undefined) return custom;
  const setting = s.location.kind === 'discovery' ? s.location.setting : undefined;
  if (setting === undefined) return `make the provider’s issuer ${value}`;
  return `set ${s.provider.key}.${setting}: ${value} (copy it from ${discoveryUrl(value)})`;
}

export const discovery: Check<ProviderScope> = {
  id: 'provider.discovery',
  when: 'live',
  title: 'the discovery document can be fetched and has the endpoints sign-in needs',
  async run(s, io) {
    if (s.location.kind === 'unknown') {
      s.unavailable = 'Portcullis cannot tell where the IdP is';
      return undefined;
    }
    if (s.location.kind === 'endpoints') {
      s.endpoints = s.location.endpoints;
      return undefined;
    }
    const url = discoveryUrl(s.location.issuer);
    const a = await request(io, url, { headers: { accept: 'application/json' } }, s.dates);
    s.unavailable = 'needs the discovery document';
    if (!a.ok) {
      return fail(`cannot fetch ${url}: ${a.error}`, {
        fix: 'check the issuer URL, and that this host reaches the IdP (DNS, firewall, HTTPS_PROXY)',
      });
    }
    if (a.status >= 300 && a.status < 400) {
      return fail(discoveryRedirect(url, a.status, a.headers.get('location')), {
        fix: await redirectFix(s, io, url, a.headers.get('location')),
      });
    }
    if (a.status !== 200) {
      return fail(`${url} answered HTTP ${a.status}, not the discovery document`, {
        fix:
          a.status === 404
            ? 'the issuer is not right: it must be the IdP’s exact issuer (Keycloak: https://host/realms/<realm>; Entra ID: https://login.microsoftonline.com/<tenant>/v2.0)'
            : 'check that the IdP is healthy and the issuer URL is right',
        detail: excerpt(a.body),
      });
    }
    const metadata = jsonObject(a.body);
    if (metadata === undefined) {
      return fail(`${url} did not answer with a JSON object`, {
        fix: 'the issuer URL points at something else than the IdP (a login page, a proxy error page?)',
        detail: excerpt(a.body),
      });
    }
    s.discovery = { url, metadata };
    const endpoints = {
      authorization: str(metadata['authorization_endpoint']),
      token: str(metadata['token_endpoint']),
      userinfo: str(metadata['userinfo_endpoint']),
      jwks: str(metadata['jwks_uri']),
    };
    const invalid = Object.entries(endpoints)
      .filter(([, v]) => v !== undefined && !URL.canParse(v))
      .map(([k]) => k);
    s.endpoints = Object.fromEntries(
      Object.entries(endpoints).filter(([k, v]) => v !== undefined && !invalid.includes(k)),
    );
    s.unavailable = undefined;
    // Required by OIDC Discovery §3 and needed by the code flow.
    const missing = ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'].filter(
      (k) => str(metadata[k]) === undefined,
    );
    if (missing.length > 0 || invalid.length > 0) {
      return fail(
        `the discovery document at ${url} lacks ${[...missing, ...invalid.map((k) => `a valid ${k} URL`)].join(', ')}`,
        { fix: 'the IdP is not a complete OpenID provider at this issuer; check the issuer URL' },
      );
    }
    return ok(`fetched ${url} (HTTP 200, ${a.ms} ms)`);
  },
};

/**
 * What to do about a discovery URL that redirects: `serve` (openid-client) does not follow it, so the
 * issuer must be the one whose document answers directly. The document behind the redirect says which.
 */
async function redirectFix(
  s: ProviderScope,
  io: DoctorIo,
  url: string,
  location: string | null,
): Promise<string> {
  const target = location === null ? undefined : URL.parse(location, url)?.href;
  if (target === undefined) return 'the IdP answers with a redirect without a Location; check the issuer URL';
  const b = await request(io, target, { headers: { accept: 'application/json' } });
  const published = b.ok && b.status === 200 ? str(jsonObject(b.body)?.['issuer']) : undefined;
  if (published === undefined) {
    return `open ${target}, and put the "issuer" it shows in ${s.provider.key}; if it shows no document, the issuer URL is wrong`;
  }
  if (discoveryUrlOf(published) !== url) {
    return `the document behind the redirect publishes issuer ${published}: ${issuerFix(s, published)}`;
  }
  return `the document behind the redirect publishes the configured issuer ${published}, but the IdP’s web server redirects its own discovery URL (a trailing-slash rule in front of it?): serve ${url} without a redirect, or set ${s.provider.key}.skipDiscovery with the endpoints`;
}

/** Why two issuers differ, in the words an operator needs, and what to set. */
export function explainIssuer(configured: string, published: string): { why: string; fixValue: string } {
  const publishedUrl = URL.parse(published);
  const configuredUrl = URL.parse(configured);
  if (`${configured}/` === published) {
    return {
      why: `the IdP publishes its issuer with a trailing slash (${published}); the configured one has none`,
      fixValue: published,
    };
  }
  if (configured === `${published}/`) {
    return {
      why: `the configured issuer ends with a slash; the IdP publishes it without one (${published})`,
      fixValue: published,
    };
  }
  if (configured.toLowerCase() === published.toLowerCase()) {
    return {
      why: `the two differ in the letter case of the path (${published} at the IdP); a path is compared character for character`,
      fixValue: published,
    };
  }
  if (publishedUrl && configuredUrl && publishedUrl.origin === configuredUrl.origin) {
    return {
      why: `same host, different path: configured ${configuredUrl.pathname}, the IdP publishes ${publishedUrl.pathname} (${published})`,
      fixValue: published,
    };
  }
  if (publishedUrl && configuredUrl) {
    return {
      why: `the IdP publishes its issuer on another origin (${publishedUrl.origin}, configured ${configuredUrl.origin}); an IdP behind a proxy often does this when it is not told its public URL`,
      fixValue: published,
    };
  }
  return { why: `the IdP publishes ${published}`, fixValue: published };
}

export const issuer: Check<ProviderScope> = {
  id: 'provider.issuer',
  when: 'live',
  title: 'the issuer in the discovery document is string-identical to the configured one',
  run(s) {
    if (s.location.kind !== 'discovery') return undefined;
    if (s.discovery === undefined) return skip(`not compared: ${s.unavailable ?? 'no discovery document'}`);
    const published = str(s.discovery.metadata['issuer']);
    if (published === undefined) return fail('the discovery document has no issuer');
    const configured = s.location.expected;
    if (published === configured) return ok(`issuer is ${published}, exactly as configured`);
    if (s.kind.issuerMatches === undefined && sameIssuer(configured, published)) {
      return ok(`issuer ${configured} is the IdP’s ${published}: the same URL, as serve compares them`);
    }
    if (s.kind.issuerMatches?.(configured, published)) {
      return ok(`issuer ${configured} fits the IdP’s published template ${published}`);
    }
    const { why, fixValue } = explainIssuer(configured, published);
    const publishedUrl = URL.parse(published);
    const configuredUrl = URL.parse(configured);
    const otherOrigin =
      publishedUrl !== null && configuredUrl !== null && publishedUrl.origin !== configuredUrl.origin;
    return fail(
      `issuer mismatch: ${issuerMismatch(configured, published)}: ${why}. serve refuses the discovery document (OIDC Discovery §4.3), so every sign-in would fail`,
      {
        fix: otherOrigin
          ? `if users reach the IdP at ${configuredUrl.origin}, fix the IdP’s public URL (Keycloak: KC_HOSTNAME; behind a proxy: forward Host and X-Forwarded-Proto); otherwise ${issuerFix(s, fixValue)}`
          : issuerFix(s, fixValue),
        detail: `configured ${JSON.stringify(configured)}, published ${JSON.stringify(published)}`,
      },
    );
  },
};

function metadataOf(s: ProviderScope): Readonly<Record<string, unknown>> | Result | undefined {
  if (s.location.kind !== 'discovery') return undefined;
  if (s.discovery === undefined) return skip(`not checked: ${s.unavailable ?? 'no discovery document'}`);
  return s.discovery.metadata;
}

function isResult(v: unknown): v is Result {
  return typeof v === 'object' && v !== null && 'status' in v && 'message' in v;
}

export const codeFlow: Check<ProviderScope> = {
  id: 'provider.code-flow',
  when: 'live',
  title: 'the IdP supports the authorization code flow (response_type code)',
  run(s) {
    const m = metadataOf(s);
    if (m === undefined || isResult(m)) return m;
    const responseTypes = strings(m['response_types_supported']);
    // OIDC Discovery §3: grant_types_supported defaults to authorization_code and implicit.
    const grants = strings(m['grant_types_supported']) ?? ['authorization_code', 'implicit'];
    if (responseTypes !== undefined && !responseTypes.includes('code')) {
      return fail(`the IdP does not offer response_type code (it lists ${responseTypes.join(', ')})`, {
        fix: 'Portcullis signs in with the authorization code flow; enable it for the client at the IdP',
      });
    }
    if (!grants.includes('authorization_code')) {
      return fail(`the IdP does not offer the authorization_code grant (it lists ${grants.join(', ')})`, {
        fix: 'enable the authorization code grant at the IdP',
      });
    }
    if (responseTypes === undefined) {
      return warn('the discovery document has no response_types_supported (required by OIDC Discovery §3)');
    }
    return ok('authorization code flow supported');
  },
};

export const authMethod: Check<ProviderScope> = {
  id: 'provider.auth-method',
  when: 'live',
  title: 'the IdP supports the token endpoint authentication method in use',
  run(s) {
    const m = metadataOf(s);
    if (m === undefined || isResult(m)) return m;
    const listed = strings(m['token_endpoint_auth_methods_supported']);
    // OIDC Discovery §3: when absent, the default is client_secret_basic.
    const supported = listed ?? ['client_secret_basic'];
    const method = s.provider.authMethod;
    const said = listed
      ? `it lists ${listed.join(', ')}`
      : 'it lists none, so only the default client_secret_basic';
    if (supported.includes(method)) return ok(`${method} is supported (${said})`);
    if (method === 'none') {
      return warn(
        `the IdP does not list "none" (${said}); a public client may still work where the IdP allows PKCE without a secret`,
        {
          fix: 'if the credentials check below fails, register the client as public at the IdP, or give Portcullis its secret',
        },
      );
    }
    const alternative = ['client_secret_basic', 'client_secret_post'].find((a) => supported.includes(a));
    return fail(`the IdP does not support ${method} at its token endpoint (${said})`, {
      fix: alternative
        ? `set ${s.provider.key}.tokenEndpointAuthMethod: ${alternative}`
        : supported.includes('none')
          ? `the IdP takes public clients only: set ${s.provider.key}.tokenEndpointAuthMethod: none and remove the client secret (PKCE protects the code), or enable a secret-based method for the client at the IdP`
          : `Portcullis authenticates with client_secret_basic, client_secret_post or none, and the IdP lists only ${supported.join(', ')}: enable one of those for the client at the IdP`,
    });
  },
};

export const pkce: Check<ProviderScope> = {
  id: 'provider.pkce',
  when: 'live',
  title: 'the IdP supports PKCE with S256 (Portcullis sends it on every sign-in)',
  run(s) {
    const m = metadataOf(s);
    if (m === undefined || isResult(m)) return m;
    const methods = strings(m['code_challenge_methods_supported']);
    if (methods === undefined) {
      return warn(
        'the IdP does not advertise code_challenge_methods_supported; many support PKCE S256 without saying so',
        {
          fix:
            s.provider.authMethod === 'none'
              ? 'a public client depends on PKCE: make sure the IdP enforces it for this client'
              : undefined,
        },
      );
    }
    if (!methods.includes('S256')) {
      return fail(`the IdP does not support PKCE S256 (it lists ${methods.join(', ') || 'nothing'})`, {
        fix: 'enable PKCE with S256 at the IdP; Portcullis never falls back to plain',
      });
    }
    return ok('PKCE S256 supported');
  },
};

export const scopes: Check<ProviderScope> = {
  id: 'provider.scopes',
  when: 'live',
  title: 'the configured scopes are among those the IdP advertises',
  run(s) {
    const m = metadataOf(s);
    if (m === undefined || isResult(m)) return m;
    const supported = strings(m['scopes_supported']);
    if (supported === undefined) return ok('the IdP does not advertise scopes_supported; nothing to compare');
    const unknown = s.provider.scopes.filter((x) => !supported.includes(x));
    if (unknown.length === 0) return ok(`scopes ${s.provider.scopes.join(' ')} are all advertised`);
    return warn(
      `the IdP does not advertise scope${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; it may ignore or reject ${unknown.length > 1 ? 'them' : 'it'}`,
      {
        fix: `check the scope names at the IdP, or remove them from ${s.provider.key}.scopes`,
        detail: `advertised: ${supported.join(' ')}`,
      },
    );
  },
};

export const logout: Check<ProviderScope> = {
  id: 'provider.logout',
  when: 'live',
  title: 'with logoutAtIdp, the IdP has an end-session endpoint (RP-initiated logout)',
  run(s) {
    if (s.provider.raw['logoutAtIdp'] !== true) return undefined;
    const configured = str(s.provider.raw['endSessionUrl']);
    if (configured !== undefined) return ok(`sign-out continues at ${configured}`);
    const m = metadataOf(s);
    if (m === undefined) {
      return warn('logoutAtIdp is set, but without discovery there is no end-session endpoint', {
        fix: `set ${s.provider.key}.endSessionUrl, or remove logoutAtIdp`,
      });
    }
    if (isResult(m)) return m;
    const endpoint = str(m['end_session_endpoint']);
    if (endpoint !== undefined) return ok(`sign-out continues at ${endpoint}`);
    return warn(
      'logoutAtIdp is set, but the IdP advertises no end_session_endpoint: sign-out ends only the Portcullis session',
      { fix: `enable RP-initiated logout at the IdP, or remove ${s.provider.key}.logoutAtIdp` },
    );
  },
};
