/**
 * Checks that need no network: a configuration that loads can still be suspicious. Loading itself (every
 * schema and cross-field problem) is the runner's first step; these look further.
 */
import { isLoopbackHost } from '../config/net.ts';
import { type Check, fail, ok, type Result, warn } from './finding.ts';
import type { ConfigScope, ProviderScope } from './scope.ts';

export const autoLogin: Check<ConfigScope> = {
  id: 'config.auto-login',
  when: 'always',
  title: 'autoLogin is set only with exactly one provider',
  run({ config, providers }) {
    if (!config.autoLogin || providers.length <= 1) return undefined;
    return warn(
      `autoLogin has no effect with ${providers.length} providers: users still see the sign-in page to pick one`,
      { fix: 'remove autoLogin, or keep a single provider' },
    );
  },
};

export const redirectHost: Check<ConfigScope> = {
  id: 'config.redirect-host',
  when: 'always',
  title: 'the redirect URI is on the host whose cookies carry the sign-in state',
  run({ config }) {
    if (config.redirectUri.origin === config.public.origin) return undefined;
    const host = config.redirectUri.hostname;
    const domain = config.cookie.domain?.replace(/^\./, '').toLowerCase();
    if (domain !== undefined && (host === domain || host.endsWith(`.${domain}`))) return undefined;
    return warn(
      `redirectUrl ${config.redirectUri.href} is on another origin than publicUrl ${config.public.origin}: the browser does not bring the sign-in cookie back there, so sign-ins end in PCL_STATE_UNKNOWN unless both names reach the same Portcullis with a shared cookie domain`,
      {
        fix: 'use publicUrl’s host in redirectUrl (or drop redirectUrl), or set cookie.domain to a parent domain of both',
      },
    );
  },
};

export const forwardAuthPath: Check<ConfigScope> = {
  id: 'config.forward-auth-path',
  when: 'always',
  title: 'forward-auth callers name the original path when routes have rules',
  run({ config }) {
    const routes = config.routes.filter((r) => r.allow !== undefined).map((r) => r.path);
    if (routes.length === 0) return undefined;
    return ok(
      `routes ${routes.join(', ')} have rules: a proxy that asks /oauth2/auth must name the original path, or the request is refused with PCL_FORWARD_AUTH_NO_PATH (proxy mode needs nothing)`,
      {
        fix: 'nginx: `proxy_set_header X-Original-URI $request_uri;` in `location = /oauth2/auth` (examples/nginx.conf); Traefik forwardAuth and Caddy forward_auth send X-Forwarded-Uri themselves',
      },
    );
  },
};

export const cookieSecurity: Check<ConfigScope> = {
  id: 'config.cookie-secure',
  when: 'always',
  title: 'session cookies are Secure unless Portcullis runs on loopback',
  run({ config }) {
    if (config.cookieSecure || isLoopbackHost(config.public.hostname)) return undefined;
    return warn(
      'cookie.secure is false off loopback: the session cookie travels in clear text and can be stolen on the network',
      { fix: 'serve publicUrl over https and remove cookie.secure: false' },
    );
  },
};

export const metricsExposed: Check<ConfigScope> = {
  id: 'config.metrics-exposed',
  when: 'always',
  title: '/metrics is not public on the main listener',
  run({ config }) {
    if (!config.metrics.enabled || !config.metrics.insecureOnMainListener) return undefined;
    return warn(
      'metrics.insecureOnMainListener: anyone who can reach Portcullis reads /metrics (sign-in and denial counts, upstream names) without signing in',
      {
        fix: 'remove metrics.insecureOnMainListener and scrape metrics.listen (default 127.0.0.1:9180), or make sure only the scraper reaches the main listener',
      },
    );
  },
};

function sameAddress(a: URL, host: string, port: number): boolean {
  const targetPort = Number(a.port || (a.protocol === 'https:' ? 443 : 80));
  if (targetPort !== port) return false;
  const h = a.hostname.replace(/^\[|\]$/g, '');
  const wildcard = host === '0.0.0.0' || host === '::';
  return h === host || (wildcard && isLoopbackHost(h)) || (isLoopbackHost(h) && isLoopbackHost(host));
}

export const upstreamLoop: Check<ConfigScope> = {
  id: 'config.upstream-loop',
  when: 'always',
  title: 'no upstream points back at Portcullis itself',
  run({ config }) {
    const loops: Result[] = [];
    for (const u of config.upstreams) {
      const target = new URL(u.url);
      if (target.origin === config.public.origin || sameAddress(target, config.host, config.port)) {
        loops.push(
          fail(`upstream ${u.name} (${u.url}) is Portcullis itself: every request would loop`, {
            fix: 'point the upstream at the application, not at Portcullis’s own address',
          }),
        );
      }
    }
    return loops;
  },
};

// ---- per provider ------------------------------------------------------------------------------------

export const located: Check<ProviderScope> = {
  id: 'provider.location',
  when: 'always',
  title: 'Portcullis can tell where the IdP is (an issuer, or explicit endpoints)',
  run(s) {
    if (s.location.kind !== 'unknown') return undefined;
    return fail(`cannot tell where the ${s.provider.type} IdP is: ${s.location.why}`, {
      fix: `set ${s.provider.key}.issuer (discovery), or authorizationUrl and tokenUrl`,
    });
  },
};

export const issuerSlash: Check<ProviderScope> = {
  id: 'provider.issuer-slash',
  when: 'offline',
  title: 'an issuer ending in "/" is pointed out (the live issuer check tells whether it is right)',
  run(s) {
    if (
      s.location.kind !== 'discovery' ||
      s.location.setting === undefined ||
      !s.location.issuer.endsWith('/')
    ) {
      return undefined;
    }
    return warn(
      `the issuer ${s.location.issuer} ends with a slash: right for a few IdPs (Auth0), wrong for most; it must match the IdP’s discovery document exactly`,
      { fix: 'run `portcullis check` without --offline: the live issuer check compares it with the IdP' },
    );
  },
};

export const plainHttp: Check<ProviderScope> = {
  id: 'provider.plain-http',
  when: 'always',
  title: 'the IdP is reached over https (plain http only on loopback)',
  run(s) {
    const urls =
      s.location.kind === 'discovery'
        ? [s.location.issuer]
        : s.location.kind === 'endpoints'
          ? Object.values(s.location.endpoints)
          : [];
    const plain = urls.filter((u) => {
      const url = URL.parse(u);
      return url !== null && url.protocol === 'http:' && !isLoopbackHost(url.hostname);
    });
    if (plain.length === 0) return undefined;
    return warn(
      `plain http to the IdP off loopback (${plain.join(', ')}): client secrets and tokens cross the network unencrypted`,
      { fix: 'use the IdP’s https URL; insecureAllowHttp is for labs only' },
    );
  },
};

export const insecureSettings: Check<ProviderScope> = {
  id: 'provider.insecure',
  when: 'always',
  title: 'settings that weaken sign-in checks (insecure…) are pointed out',
  run(s) {
    const out: Result[] = [];
    if (s.provider.raw['insecureSkipAtHash'] === true) {
      out.push(
        warn('insecureSkipAtHash: the at_hash claim of ID tokens is not checked', {
          fix: `remove ${s.provider.key}.insecureSkipAtHash unless the IdP computes at_hash wrongly`,
        }),
      );
    }
    const mapping = s.provider.raw['userInfoMapping'] as Record<string, unknown> | undefined;
    if (s.provider.raw['type'] === 'oauth2' && mapping?.['id'] === undefined) {
      out.push(
        warn(
          'userInfoMapping has no id: a profile with neither sub nor id is keyed by its username, then its e-mail address — values the IdP may give to another person later, who would then be the same user here',
          {
            fix: `set ${s.provider.key}.userInfoMapping.id to the profile’s immutable user id, if it has one`,
          },
        ),
      );
    }
    if (s.provider.raw['insecureAllowUnverifiedEmail'] === true) {
      out.push(
        warn(
          'insecureAllowUnverifiedEmail: an address the IdP marks unverified satisfies e-mail rules; anyone who can type that address at the IdP gets in',
          {
            fix: `remove ${s.provider.key}.insecureAllowUnverifiedEmail unless the IdP verifies every address`,
          },
        ),
      );
    }
    return out;
  },
};

/** The runner's own first step, listed here so the table in checks.ts documents it. */
export const loads = {
  id: 'config.load',
  when: 'always',
  title: 'the configuration loads: schema, environment, secret files and cross-field rules (exit 2 if not)',
} as const;
