/** Writing responses: HTML pages, JSON, redirects and coded errors (logged with the request id). */
import { ERRORS, type ErrorCode, PortcullisError } from '../errors/codes.ts';
import type { Logger } from '../observability/log.ts';
import { errorPage } from './pages.ts';
import type { Scope } from './scope.ts';

const NO_STORE = 'no-store';

function finish(s: Scope, status: number, type: string, body: string, extra?: Record<string, string>): void {
  const res = s.res;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', NO_STORE);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (s.setCookies.length > 0) res.setHeader('Set-Cookie', s.setCookies);
  if (extra) for (const k in extra) res.setHeader(k, extra[k]!);
  res.end(s.req.method === 'HEAD' ? undefined : body);
}

/** `imgSrc`: origins (or `data:`) images may come from, e.g. the sign-in page's provider icons. */
export function sendHtml(
  s: Scope,
  status: number,
  html: string,
  o: { imgSrc?: readonly string[] } = {},
): void {
  const img = o.imgSrc?.length ? `; img-src ${o.imgSrc.join(' ')}` : '';
  finish(s, status, 'text/html; charset=utf-8', html, {
    'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'${img}`,
    'X-Frame-Options': 'DENY',
  });
}

export function sendJson(s: Scope, status: number, value: unknown, extra?: Record<string, string>): void {
  finish(s, status, 'application/json', JSON.stringify(value), extra);
}

export function redirect(s: Scope, location: string, status = 302): void {
  const res = s.res;
  res.statusCode = status;
  res.setHeader('Location', location);
  res.setHeader('Cache-Control', NO_STORE);
  if (s.setCookies.length > 0) res.setHeader('Set-Cookie', s.setCookies);
  res.end();
}

export interface ErrorOptions {
  readonly json?: boolean;
  /** User-safe detail shown on the page (e.g. the IdP's error code). */
  readonly userDetail?: string | undefined;
  readonly retryHref?: string | undefined;
  /** User-facing sentences listed on the page (and in JSON), e.g. what an access rule found missing. */
  readonly explanations?: readonly string[] | undefined;
  /** Reason codes of an access decision (`group-missing`, …): in JSON, and small on the page for support. */
  readonly reasons?: readonly string[] | undefined;
  readonly extraHeaders?: Record<string, string>;
  readonly log?: Record<string, unknown>;
  /** Already logged (a denial's audit line, written by the authorize step): no second line. */
  readonly logged?: boolean;
}

/** Logs the operator detail under the request id and answers with the user-facing page or JSON. */
export function sendError(
  log: Logger,
  s: Scope,
  err: PortcullisError | ErrorCode,
  o: ErrorOptions = {},
): void {
  const e = typeof err === 'string' ? new PortcullisError(err, ERRORS[err].title) : err;
  const spec = ERRORS[e.code];
  const entry = { requestId: s.id, code: e.code, status: e.status, path: s.path, detail: e.detail, ...o.log };
  if (o.logged) {
    // The caller wrote the line.
  } else if (e.status >= 500) log.error(entry, spec.title);
  else if (e.status !== 401 && e.status !== 404) log.warn(entry, spec.title);
  else log.debug(entry, spec.title);
  const extra = { 'X-Request-Id': s.id, ...o.extraHeaders };
  if (o.json ?? s.wantsJson()) {
    sendJson(
      s,
      e.status,
      {
        error: e.code,
        message: spec.title,
        detail: spec.advice,
        ...(o.reasons?.length ? { reasons: o.reasons } : {}),
        ...(o.explanations?.length ? { explanations: o.explanations } : {}),
        requestId: s.id,
      },
      extra,
    );
    return;
  }
  s.res.setHeader('X-Request-Id', s.id);
  if (o.extraHeaders) for (const k in o.extraHeaders) s.res.setHeader(k, o.extraHeaders[k]!);
  sendHtml(
    s,
    e.status,
    errorPage({
      status: e.status,
      code: e.code,
      title: spec.title,
      advice: spec.advice,
      requestId: s.id,
      detail: o.userDetail,
      explanations: o.explanations,
      reasons: o.reasons,
      retryHref: o.retryHref,
    }),
  );
}
