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
import type { Dispatcher } from 'undici';
// undici's request() and Agent alone, not its index: the index loads fetch, WebSocket and the cache and mock
// agents too, ~15 MB of resident memory on top of what the proxy loads (src/types/undici-pool.d.ts).
import requestApi from 'undici/lib/api/api-request.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';

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
  dispatcher: () => Dispatcher | Promise<Dispatcher>,
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
      const u = new URL(url);
      answer = await requestApi.call(await dispatcher(), {
        origin: u.origin,
        path: `${u.pathname}${u.search}`,
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        ...(init.signal ? { signal: init.signal } : {}),
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

let shared: Promise<Dispatcher> | undefined;

/** The proxy agent is loaded only when the environment asks for one (it brings more of undici). */
async function makeDispatcher(): Promise<Dispatcher> {
  if (!envProxyWanted(process.env, process.execArgv)) return new AgentClass();
  const { default: EnvHttpProxyAgent } = await import('undici/lib/dispatcher/env-http-proxy-agent.js');
  return new EnvHttpProxyAgent();
}

export const idpFetch = createIdpFetch(() => (shared ??= makeDispatcher()));
