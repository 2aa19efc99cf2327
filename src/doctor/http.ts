/**
 * Plain `fetch` for the live checks: raw statuses and errors (openid-client would turn them into its own
 * exceptions), a timeout on every request, no redirects followed, and the `Date` header of every answer
 * kept for the clock-skew check.
 */
import type { DoctorIo } from './finding.ts';

export interface DateSample {
  readonly url: string;
  /** The `Date` header in ms (second precision, RFC 9110 §6.6.1). */
  readonly serverMs: number;
  /** Local clock when the request was sent and when the answer's headers arrived. */
  readonly sentMs: number;
  readonly receivedMs: number;
}

export interface Answer {
  readonly ok: true;
  readonly status: number;
  readonly headers: Headers;
  /** The body as text, at most `maxBody` characters. */
  readonly body: string;
  readonly ms: number;
}

export interface NoAnswer {
  readonly ok: false;
  /** Why nothing came back, in words (`connection refused`, `no answer within 5000 ms`, …). */
  readonly error: string;
  readonly ms: number;
}

export interface RequestOptions {
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Default 64 KiB: enough for discovery documents, JWKS and error pages. */
  readonly maxBody?: number;
  readonly timeoutMs?: number;
}

/** Sends one request without following redirects; never throws. Records the `Date` header in `dates`. */
export async function request(
  io: DoctorIo,
  url: string,
  o: RequestOptions = {},
  dates?: DateSample[],
): Promise<Answer | NoAnswer> {
  const timeoutMs = o.timeoutMs ?? io.timeoutMs;
  const sentMs = io.now();
  const started = performance.now();
  const init: RequestInit = {
    method: o.method ?? 'GET',
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
    headers: { 'user-agent': 'portcullis-check', ...o.headers },
  };
  if (o.body !== undefined) init.body = o.body;
  try {
    const res = await io.fetch(url, init);
    const receivedMs = io.now();
    const date = res.headers.get('date');
    const serverMs = date ? Date.parse(date) : Number.NaN;
    if (dates && Number.isFinite(serverMs)) dates.push({ url, serverMs, sentMs, receivedMs });
    const body = await readText(res, o.maxBody ?? 64 * 1024);
    return { ok: true, status: res.status, headers: res.headers, body, ms: elapsed(started) };
  } catch (err) {
    return { ok: false, error: describeNetworkError(err, timeoutMs), ms: elapsed(started) };
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

async function readText(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.length >= max) {
        text = text.slice(0, max);
        break;
      }
    }
  } catch {
    // A body cut short still says what it said so far.
  } finally {
    reader.cancel().catch(() => {});
  }
  return text;
}

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Turns fetch's `TypeError: fetch failed` and its cause into what an operator can act on. */
export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  // fetch wraps the socket error as its cause; undici's request throws it directly.
  const code = e.cause?.code ?? e.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found (DNS)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection closed without an answer';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
  }
  if (e.cause?.message === 'bad port') {
    return 'fetch refuses this port (it is on the Fetch standard’s list of blocked ports); use another port';
  }
  if (code && TLS_CODES.has(code)) {
    return `TLS certificate not accepted (${code}); if your CA is private, give Node its certificate with NODE_EXTRA_CA_CERTS`;
  }
  const message = e.cause?.message ?? e.message ?? String(err);
  return code ? `${message} (${code})` : message;
}

/** The JSON object in an answer's body, or undefined. */
export function jsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A short, single-line excerpt of a body for `detail`; with `around`, the part where it matches. */
export function excerpt(body: string, max = 200, around?: RegExp): string {
  const text = plainText(body);
  const at = around ? text.search(around) : -1;
  if (at > 0) {
    const start = at;
    const cut = text.slice(start, start + max);
    return `${start > 0 ? '…' : ''}${cut}${start + max < text.length ? '…' : ''}`;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Markup, styles and scripts dropped; whitespace collapsed. */
function plainText(body: string): string {
  return body
    .replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/\s+/g, ' ')
    .trim();
}
