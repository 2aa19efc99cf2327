/** The typed scope one request carries through the pipeline. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RouteConfig } from '../config/schema.ts';
import { parseCookies } from '../sessions/cookies.ts';
import type { Session } from '../sessions/session.ts';
import type { ForwardedInfo } from './trust.ts';

/** An HTTP/1.1 Upgrade request (WebSocket): the client's socket and the bytes already read past the head. */
export interface Upgrade {
  readonly socket: Duplex;
  readonly head: Buffer;
}

/** What a request id from a trusted proxy may look like (it is logged and echoed). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export class Scope {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The path as received, without the query. */
  readonly rawPath: string;
  /** The query string including its leading `?`, or ''. */
  readonly query: string;
  /** Normalised path used for every match (routes, upstreams, endpoints). */
  readonly path: string;
  readonly fwd: ForwardedInfo;
  route: RouteConfig | undefined;
  session: Session | undefined;
  /**
   * The principal of a verified `Authorization: Bearer` token (src/bearer/), shaped like a session so the
   * authorize step, the identity headers and the assertion treat it alike. Never written to a cookie.
   */
  bearer: Session | undefined;
  /** Cached identity headers for the session, if any. */
  identityHeaders: readonly string[] | undefined;
  /** Set-Cookie values to add to whatever response goes out. */
  readonly setCookies: string[] = [];
  #cookies: Map<string, string> | undefined;
  #id: string | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    rawPath: string,
    query: string,
    path: string,
    fwd: ForwardedInfo,
  ) {
    this.req = req;
    this.res = res;
    this.rawPath = rawPath;
    this.query = query;
    this.path = path;
    this.fwd = fwd;
  }

  /** Every cookie of ours starts with this (the session cookie's name): the others are not even parsed. */
  cookiePrefix = '';

  /** The request's cookies whose names start with cookiePrefix. */
  get cookies(): Map<string, string> {
    this.#cookies ??= parseCookies(this.req.headers.cookie, this.cookiePrefix);
    return this.#cookies;
  }

  /** Set for an Upgrade (WebSocket) request: the pipeline ends in a tunnel, and answers are never redirects. */
  upgrade: Upgrade | undefined;

  /** Whether the peer is a trusted proxy (its X-Forwarded-* and X-Request-Id are believed). */
  trustedPeer = false;

  /** The request id: the one a trusted proxy sent, else a fresh one. Made on first use. */
  get id(): string {
    if (this.#id === undefined) {
      const given = this.trustedPeer ? this.req.headers['x-request-id'] : undefined;
      this.#id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    }
    return this.#id;
  }

  searchParams(): URLSearchParams {
    return new URLSearchParams(this.query);
  }

  /** API and XHR requests get 401 JSON instead of a redirect to sign in. */
  wantsJson(): boolean {
    if (this.route?.api || this.upgrade !== undefined) return true;
    const h = this.req.headers;
    if (h['x-requested-with'] !== undefined) return true;
    const mode = h['sec-fetch-mode'];
    if (mode !== undefined && mode !== 'navigate') return true;
    const accept = h.accept;
    return accept?.includes('json') === true && !accept.includes('html');
  }
}
