/**
 * Forwarding to one upstream over a keep-alive connection pool (undici Pool): bodies streamed both
 * ways, hop-by-hop response headers dropped, time-outs mapped to 504 and failures to 502.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'undici';
// undici's Pool and stream() modules alone, not its index (src/types/undici-pool.d.ts says why).
import streamRequest from 'undici/lib/api/api-stream.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';
import type { ResolvedUpstream } from '../config/load.ts';
import { PortcullisError } from '../errors/codes.ts';
import { type AssertionSpec, assertionSpec } from './assertion.ts';
import { connectionNames, hopByHop, type UpstreamHeaderOptions } from './headers.ts';

export interface ForwardResult {
  /** Set when the upstream could not be used and no response was started: the caller sends the error page. */
  readonly error?: PortcullisError;
}

const DONE: ForwardResult = Object.freeze({});

export class Upstream {
  readonly config: ResolvedUpstream;
  readonly path: string;
  readonly origin: URL;
  /** How request headers are rewritten for this upstream; fixed at start-up. */
  readonly headerOptions: UpstreamHeaderOptions;
  /** X-Portcullis-Assertion settings; undefined: none is sent. */
  readonly assertion: AssertionSpec | undefined;
  readonly #pool: Pool;
  readonly #timeoutMs: number;
  /** Prefix of the upstream URL's own path, prepended to the request path (no trailing slash). */
  readonly #basePath: string;

  constructor(config: ResolvedUpstream, ownsCookie: (name: string) => boolean) {
    this.config = config;
    this.path = config.path;
    this.headerOptions = {
      preserveHost: config.preserveHost,
      replaceAuthorization: config.passAuthorization !== 'none',
      ownsCookie,
    };
    this.origin = new URL(config.url);
    this.assertion = assertionSpec(config);
    this.#timeoutMs = config.timeout * 1000;
    this.#basePath = this.origin.pathname.replace(/\/$/, '');
    this.#pool = new PoolClass(this.origin.origin, {
      connections: 128,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      connectTimeout: Math.min(this.#timeoutMs, 10_000),
      headersTimeout: this.#timeoutMs,
      bodyTimeout: 0,
    });
  }

  /**
   * Forwards the request. `extraSetCookie` (e.g. a refreshed session) is added to the upstream's response.
   * Resolves when the response is done; never rejects. One promise per request: undici's callback form,
   * not its promise wrapped in an async function.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    headers: string[],
    extraSetCookie: readonly string[],
  ): Promise<ForwardResult> {
    const method = req.method ?? 'GET';
    const h = req.headers;
    const hasBody =
      h['content-length'] !== undefined ? h['content-length'] !== '0' : h['transfer-encoding'] !== undefined;
    return new Promise<ForwardResult>((resolve) => {
      streamRequest.call(
        this.#pool,
        {
          path: this.#basePath + path,
          method,
          headers,
          body: hasBody ? req : null,
          headersTimeout: this.#timeoutMs,
          // No limit on the response body: long polls and server-sent events stream as long as they last.
          // The request body is bounded on the client's side (server.bodyTimeout, http/limits.ts): undici's
          // headersTimeout does not fire while it is still writing a streamed body, so a dribbled upload
          // was never cut here.
          bodyTimeout: 0,
          // The upstream's header lines as a flat [name, value, …] list, as they came: no object to build
          // here or in undici (which lower-cases and groups every name), and writeHead takes the list as is.
          responseHeaders: 'raw',
        },
        ({ statusCode, headers: upstream }) => {
          res.writeHead(statusCode, responseHeaders(upstream as unknown as string[], extraSetCookie));
          return res;
        },
        (err) => resolve(err ? this.#failed(res, err) : DONE),
      );
    });
  }

  /** A failure: before the response started, the error for the caller's page; after it, a cut connection. */
  #failed(res: ServerResponse, err: unknown): ForwardResult {
    if (res.headersSent) {
      // Mid-body failure: all we can do is cut the connection so the client sees it as incomplete.
      res.destroy();
      return DONE;
    }
    return { error: this.#classify(err) };
  }

  #classify(err: unknown): PortcullisError {
    const code = (err as { code?: string }).code ?? '';
    const name = this.config.name;
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      return new PortcullisError(
        'PCL_UPSTREAM_TIMEOUT',
        `upstream ${name} sent no response within ${this.config.timeout}s`,
      );
    }
    return new PortcullisError(
      'PCL_UPSTREAM_UNAVAILABLE',
      `upstream ${name} (${this.origin.origin}) failed: ${code || (err as Error).message}`,
      { cause: err },
    );
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/**
 * The upstream's response header lines for the client: hop-by-hop ones dropped, with those the upstream
 * names in Connection (RFC 9110 §7.6.1), and `extraSetCookie` added. Names keep the upstream's spelling.
 */
export function responseHeaders(raw: readonly string[], extraSetCookie: readonly string[]): string[] {
  const out: string[] = [];
  let listed: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const hop = hopByHop(name);
    if (hop !== undefined) {
      if (hop === 'connection') listed = connectionNames(raw[i + 1]!, listed);
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (listed !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (listed.includes(out[i]!.toLowerCase())) out.splice(i, 2);
    }
  }
  for (const c of extraSetCookie) out.push('Set-Cookie', c);
  return out;
}
