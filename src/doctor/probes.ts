/**
 * Probes that ask the IdP a question without a user: do its endpoints answer, does it accept the client
 * credentials (a token request with a made-up code), and does it accept the redirect URI (an
 * authorization request stopped before anyone signs in).
 */
import { createHash, randomBytes } from 'node:crypto';
import { type Check, type DoctorIo, fail, ok, type Result, skip, warn } from './finding.ts';
import { excerpt, jsonObject, request } from './http.ts';
import { str, type TokenVerdict } from './providers.ts';
import { needsEndpoints, type ProviderScope } from './scope.ts';

const ENDPOINTS = ['authorization', 'token', 'userinfo'] as const;
const SETTING = { authorization: 'authorizationUrl', token: 'tokenUrl', userinfo: 'userInfoUrl' } as const;

export const endpoints: Check<ProviderScope> = {
  id: 'provider.endpoints',
  when: 'live',
  title: 'the authorization, token and userinfo endpoints answer from this host',
  async run(s, io) {
    if (s.location.kind === 'unknown') return undefined;
    if (s.endpoints === undefined) return skip(`not checked: ${needsEndpoints(s)}`);
    const known = s.endpoints;
    const answers = await Promise.all(
      ENDPOINTS.flatMap((n) => {
        const url = known[n];
        return url === undefined ? [] : [request(io, url, {}, s.dates).then((a) => ({ n, url, a }))];
      }),
    );
    const how =
      s.location.kind === 'endpoints' ? ` (no discovery: endpoints of type ${s.provider.type})` : '';
    const down = answers.flatMap((x) => (x.a.ok ? [] : [`${x.n} endpoint ${x.url}: ${x.a.error}`]));
    if (down.length > 0) {
      return fail(`${down.join('; ')}${how}`, {
        fix:
          s.location.kind === 'discovery'
            ? 'the IdP advertises endpoints this host cannot reach (often an internal host name behind a proxy): fix the IdP’s public URL, or the network'
            : 'check the endpoint URLs in the provider entry and the network',
      });
    }
    // userinfo is needed only when the entry asks for it (`userinfo: true`).
    const missing = ENDPOINTS.filter(
      (n) => known[n] === undefined && (n !== 'userinfo' || s.provider.raw['userinfo'] === true),
    );
    if (missing.length > 0) {
      return fail(`no ${missing.join(' or ')} endpoint is known${how}`, {
        fix:
          s.location.kind === 'discovery'
            ? `the discovery document does not advertise it${missing.includes('userinfo') ? `; remove ${s.provider.key}.userinfo: true` : ''}`
            : `set ${missing.map((m) => SETTING[m]).join(' and ')} in ${s.provider.key}`,
      });
    }
    const statuses = answers.map((x) => `${x.n} (HTTP ${x.a.ok ? x.a.status : '?'})`);
    return ok(`${statuses.join(', ')} answer${statuses.length === 1 ? 's' : ''}${how}`);
  },
};

/** RFC 6749 §2.3.1: client_id and secret are form-encoded before Basic; the same bytes openid-client sends. */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/(?:[-_.!~*'()]|%20)/g, (c) =>
    c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The standard reading of a token error response (RFC 6749 §5.2). */
function standardVerdict(error: string | undefined, status: number): TokenVerdict | undefined {
  if (error === 'invalid_grant') return 'accepted';
  if (error === 'invalid_client' || status === 401) return 'rejected';
  return undefined;
}

/** How the probe authenticates: as configured, or one of the alternatives tried when that is refused. */
type ClientAuthMode = 'client_secret_basic' | 'basic-unencoded' | 'client_secret_post' | 'none';

interface TokenProbe {
  readonly status: number;
  readonly error: string | undefined;
  readonly said: string;
  readonly detail: string;
  readonly json: Record<string, unknown> | undefined;
  readonly verdict: TokenVerdict | undefined;
}

/** A token request with a made-up code, authenticated by `mode`; undefined with `unreachable` set. */
async function probeToken(
  s: ProviderScope,
  io: DoctorIo,
  url: string,
  mode: ClientAuthMode,
): Promise<TokenProbe | { unreachable: string }> {
  const p = s.provider;
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: `portcullis-check-${randomBytes(16).toString('base64url')}`,
    redirect_uri: s.redirectUri,
    code_verifier: randomBytes(32).toString('base64url'),
  });
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    // GitHub answers form-encoded unless asked for JSON.
    accept: 'application/json',
  };
  if ((mode === 'client_secret_basic' || mode === 'basic-unencoded') && p.secret !== undefined) {
    const enc = mode === 'client_secret_basic' ? formUrlEncode : (v: string) => v;
    headers['authorization'] =
      `Basic ${Buffer.from(`${enc(p.clientId)}:${enc(p.secret)}`).toString('base64')}`;
  } else {
    body.set('client_id', p.clientId);
    if (mode === 'client_secret_post' && p.secret !== undefined) body.set('client_secret', p.secret);
  }
  const a = await request(io, url, { method: 'POST', headers, body: body.toString() }, s.dates);
  if (!a.ok) return { unreachable: a.error };
  const json = jsonObject(a.body);
  const error = str(json?.['error']);
  const description = str(json?.['error_description']);
  const said = `HTTP ${a.status}${error ? ` ${error}` : ''}${description ? `: ${description}` : ''}`;
  const how = mode === 'basic-unencoded' ? 'client_secret_basic without form-encoding' : mode;
  const detail = `POST ${url} (${how}) → ${error || description ? said : `HTTP ${a.status} ${excerpt(a.body, 120)}`}`;
  const verdict =
    (error !== undefined ? s.kind.readTokenError?.(error, a.status) : undefined) ??
    standardVerdict(error, a.status);
  return { status: a.status, error, said, detail, json, verdict };
}

/**
 * After client_secret_basic was refused: try the id and secret without the form-encoding RFC 6749 §2.3.1
 * asks for (some IdPs, glewlwyd among them, do not decode it, so a `-` sent as `%2D` no longer matches),
 * then client_secret_post, and say which the IdP accepts. Undefined when neither is.
 */
async function otherEncoding(s: ProviderScope, io: DoctorIo, url: string): Promise<Result | undefined> {
  const p = s.provider;
  if (p.authMethod !== 'client_secret_basic' || p.secret === undefined) return undefined;
  const encodes = formUrlEncode(p.clientId) !== p.clientId || formUrlEncode(p.secret) !== p.secret;
  const raw = encodes ? await probeToken(s, io, url, 'basic-unencoded') : undefined;
  const post = await probeToken(s, io, url, 'client_secret_post');
  const accepted = (x: typeof raw) => x !== undefined && 'verdict' in x && x.verdict === 'accepted';
  const postWorks = accepted(post);
  const detail = [raw, post].flatMap((x) => (x && 'detail' in x ? [x.detail] : [])).join('; ');
  if (accepted(raw)) {
    return fail(
      "the IdP accepts the client credentials only without the form-encoding of client_secret_basic: the client id or secret has characters RFC 6749 §2.3.1 encodes (such as - . _ ~ ! * ' ( )), and the IdP does not decode them",
      {
        fix: postWorks
          ? `set ${p.key}.tokenEndpointAuthMethod: client_secret_post (the IdP accepted it just now)`
          : `give the client a secret of letters and digits only at the IdP (and a client id without such characters)`,
        detail,
      },
    );
  }
  if (postWorks) {
    return fail(
      'the IdP refuses the client credentials with client_secret_basic but accepts them with client_secret_post',
      {
        fix: `set ${p.key}.tokenEndpointAuthMethod: client_secret_post (the IdP accepted it just now)`,
        detail,
      },
    );
  }
  return undefined;
}

export const credentials: Check<ProviderScope> = {
  id: 'provider.credentials',
  when: 'live',
  title: 'the IdP accepts the client id and secret (a token request with a made-up code)',
  async run(s, io) {
    if (s.location.kind === 'unknown') return undefined;
    const url = s.endpoints?.token;
    if (url === undefined) return skip(`not checked: ${needsEndpoints(s)}`);
    const p = s.provider;
    const probe = await probeToken(s, io, url, p.authMethod as ClientAuthMode);
    if ('unreachable' in probe) return fail(`the token endpoint ${url} did not answer: ${probe.unreachable}`);
    const { error, said, detail, json, verdict } = probe;
    if (verdict === 'accepted') {
      return ok(
        p.authMethod === 'none'
          ? `the IdP knows public client ${p.clientId} (it refused only the made-up code: ${error})`
          : `the IdP accepts the client credentials (it refused only the made-up code: ${error})`,
        { detail },
      );
    }
    if (verdict === 'rejected' || error === 'unauthorized_client') {
      const found = await otherEncoding(s, io, url);
      if (found !== undefined) return found;
    }
    if (verdict === 'rejected') {
      return fail(
        p.authMethod === 'none'
          ? `the IdP rejects client id "${p.clientId}" as a public client (${said})`
          : `the IdP rejects the client id or secret (${said})`,
        {
          fix:
            p.authMethod === 'none'
              ? `check ${p.key}.clientId; register the client as public (no secret, PKCE) at the IdP, or configure its secret`
              : `check ${p.key}.clientId and the secret (clientSecret/clientSecretFile) against the client registered at the IdP, and that it is registered for ${p.authMethod}`,
          detail,
        },
      );
    }
    if (error === 'unauthorized_client') {
      return fail(
        `the IdP answers unauthorized_client (${said}): the client may not use the authorization code grant, or — at some IdPs — the client id or secret is wrong`,
        {
          fix: `enable the Authorization Code grant ("standard flow") for the client at the IdP, and check ${p.key}.clientId and the secret`,
          detail,
        },
      );
    }
    if (probe.status === 200 && json && 'access_token' in json) {
      return warn('the IdP issued tokens for a made-up authorization code; it does not check codes', {
        detail,
      });
    }
    return warn(`could not tell whether the IdP accepts the client credentials (${said})`, {
      fix: 'sign in once to confirm; the IdP answered the probe in a way Portcullis does not recognise',
      detail,
    });
  },
};

const REDIRECT_PROBLEM =
  /invalid_redirect_uri|redirect_uri_mismatch|AADSTS50011|redirect[_ ]?ur[il][^<]{0,120}(invalid|mismatch|not match|does not match|not registered|not allowed|not valid)|(invalid|mismatch|unregistered)[^<]{0,40}redirect[_ ]?ur[il]|callback url mismatch/i;
const CLIENT_PROBLEM =
  /invalid_client|AADSTS700016|unknown client|client not found|client[_ ]id[^<]{0,60}(invalid|unknown|not found|not exist)/i;

/** Reads an IdP's answer to an authorization request it refused. */
function classifyRefusal(s: ProviderScope, text: string, status: number, url: string): Result {
  if (REDIRECT_PROBLEM.test(text)) {
    return fail(`the IdP does not accept the redirect URI ${s.redirectUri} (HTTP ${status})`, {
      fix: `register exactly ${s.redirectUri} as a redirect URI of client ${s.provider.clientId} at the IdP (scheme, host, port and path; no trailing slash)${s.kind.redirectUriNote ? `; ${s.kind.redirectUriNote}` : ''}`,
      detail: excerpt(text, 160, REDIRECT_PROBLEM),
    });
  }
  if (CLIENT_PROBLEM.test(text)) {
    return fail(`the IdP does not know client id "${s.provider.clientId}" (HTTP ${status})`, {
      fix: `check ${s.provider.key}.clientId against the client registered at the IdP`,
      detail: excerpt(text, 160, CLIENT_PROBLEM),
    });
  }
  return warn(`could not tell whether the IdP accepts the redirect URI: it answered HTTP ${status}`, {
    fix: `make sure ${s.redirectUri} is registered at the IdP; sign in once to confirm`,
    detail: `GET ${url} → ${excerpt(text)}`,
  });
}

export const redirectUri: Check<ProviderScope> = {
  id: 'provider.redirect-uri',
  when: 'live',
  title: 'the IdP accepts the redirect URI (an authorization request stopped before sign-in)',
  async run(s, io) {
    if (s.location.kind === 'unknown') return undefined;
    if (!s.kind.redirectUriCheckedBeforeLogin) {
      return skip(
        `${s.provider.type} checks the redirect URI only after a user signs in, so it cannot be probed; register ${s.redirectUri}${s.kind.redirectUriNote ? ` (${s.kind.redirectUriNote})` : ''}`,
      );
    }
    const endpoint = s.endpoints?.authorization;
    if (endpoint === undefined) return skip(`not checked: ${needsEndpoints(s)}`);
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(endpoint);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: s.provider.clientId,
      redirect_uri: s.redirectUri,
      scope: s.provider.scopes.join(' '),
      state: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const a = await request(io, url.href, { headers: { accept: 'text/html' } }, s.dates);
    if (!a.ok) return fail(`the authorization endpoint ${endpoint} did not answer: ${a.error}`);
    const location = a.headers.get('location');
    if (a.status >= 300 && a.status < 400 && location) {
      const target = URL.parse(location, url.href);
      const ours = new URL(s.redirectUri);
      if (target && target.origin === ours.origin && target.pathname === ours.pathname) {
        // Only a registered redirect URI gets the browser sent back (RFC 6749 §4.1.2.1).
        const error = target.searchParams.get('error');
        if (error) {
          const description = target.searchParams.get('error_description');
          return warn(
            `the IdP accepts the redirect URI but answered error=${error}${description ? ` (${description})` : ''}`,
            {
              fix: 'fix what the error names (scopes, grant types, client settings) at the IdP or in the provider entry',
            },
          );
        }
        return ok('the IdP accepts the redirect URI (it redirected straight back)');
      }
      if (target && /error/i.test(target.pathname + target.search)) {
        // Some IdPs redirect to an error page on their own site: read it.
        const page = await request(io, target.href, { headers: { accept: 'text/html' } }, s.dates);
        const text = `${target.href} ${page.ok ? page.body : ''}`;
        return classifyRefusal(s, text, page.ok ? page.status : a.status, url.href);
      }
      return ok(
        `the IdP accepts the redirect URI ${s.redirectUri}: it sent the browser on to sign in (HTTP ${a.status} to ${target ? target.pathname : location})`,
      );
    }
    const json = jsonObject(a.body);
    const text = json ? `${str(json['error']) ?? ''} ${str(json['error_description']) ?? ''}` : a.body;
    if (a.status === 200 && /type=["']?password/i.test(a.body)) {
      return ok(`the IdP accepts the redirect URI ${s.redirectUri}: it shows its sign-in form`);
    }
    return classifyRefusal(s, text, a.status, url.href);
  },
};
