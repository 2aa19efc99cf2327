/**
 * The fetch every call to an IdP goes through (discovery, the token endpoint, userinfo, key sets, provider
 * APIs): undici's request() on a keep-alive Agent, its answer handed back as a Fetch `Response`, which is
 * what openid-client, jose and src/idp/http.ts expect. The global fetch() sends a request body through web
 * streams and an async generator and reads the answer through another stream; for a token request that
 * was twice the CPU of request() + Response (measured here: ~1.1 against ~0.5 ms per call, client and a
 * local server together) and ~1.5 ms more per sign-in under load. The connection pool behaves as fetch's:
 * keep-alive, as long as the server's Keep-Alive hint allows (undici's defaults).
 *
 * Errors keep fetch's shape, which the callers classify (src/idp/oidc.ts `classify`): a failed connection
 * is a TypeError "fetch failed" with the cause; a time-out or abort rejects with the signal's reason.
 * Egress proxies: Node's fetch honours HTTP(S)_PROXY / NO_PROXY only with NODE_USE_ENV_PROXY=1 or
 * --use-env-proxy (docs/troubleshooting.md); so does this, with undici's EnvHttpProxyAgent.
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';

export interface FetchInit {
  readonly method?: string | undefined;
  readonly headers?: Record<string, string> | Headers | undefined;
  readonly body?: unknown;
  readonly redirect?: string | undefined;
  readonly signal?: AbortSignal | null | undefined;
}

/** Statuses whose Response has no body (Fetch: null body status). */
const NULL_BODY = new Set([204, 205, 304]);

/** Whether Node's own fetch would use the proxy environment variables. */
export function envProxyWanted(env: NodeJS.ProcessEnv, execArgv: readonly string[]): boolean {
  return (
    env['NODE_USE_ENV_PROXY'] === '1' ||
    execArgv.includes('--use-env-proxy') ||
    /(^|\s)--use-env-proxy(\s|$)/.test(env['NODE_OPTIONS'] ?? '')
  );
}

/** A fetch over `dispatcher` (tests pass their own; idpFetch makes one on first use). */
export function createIdpFetch(
  dispatcher: () => Dispatcher,
): (url: string, init?: FetchInit) => Promise<Response> {
  return async (url, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> =
      init.headers instanceof Headers ? Object.fromEntries(init.headers) : { ...init.headers };
    let body: string | Uint8Array | null = null;
    const b = init.body;
    if (b instanceof URLSearchParams) {
      body = b.toString();
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
    } else if (typeof b === 'string' || b instanceof Uint8Array) body = b;
    else if (b instanceof ArrayBuffer) body = new Uint8Array(b);
    else if (b !== undefined && b !== null) return fetch(url, init as RequestInit); // a stream: fetch's own way
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        ...(init.signal ? { signal: init.signal } : {}),
        dispatcher: dispatcher(),
      });
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new TypeError('fetch failed', { cause: err });
    }
    const out = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (Array.isArray(value)) for (const v of value) out.append(name, v);
      else if (value !== undefined) out.append(name, value);
    }
    const status = answer.statusCode;
    if (NULL_BODY.has(status) || method === 'HEAD') {
      await answer.body.dump();
      return new Response(null, { status, headers: out });
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await answer.body.arrayBuffer();
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new TypeError('fetch failed', { cause: err });
    }
    return new Response(bytes, { status, headers: out });
  };
}

let shared: Dispatcher | undefined;

export const idpFetch = createIdpFetch(
  () => (shared ??= envProxyWanted(process.env, process.execArgv) ? new EnvHttpProxyAgent() : new Agent()),
);
