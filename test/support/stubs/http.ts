// Small pieces the hand-written provider stubs share: a loopback server, form and JSON bodies, a login
// page the scripted browser can fill in (form id="login", like the dev IdP's), PKCE checks.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from '../../../src/demo/idp.ts';

/** Stub pages imitate vendors' markup by hand; the values in them are escaped. */
const esc = (v: string) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface StubServer {
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

export type StubHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
) => void | Promise<void>;

export async function startStubServer(handler: StubHandler): Promise<StubServer> {
  let base = '';
  const server = http.createServer((req, res) => {
    Promise.resolve(handler(req, res, new URL(req.url ?? '/', base))).catch((err: unknown) => {
      console.error('stub failed', err);
      if (!res.headersSent) sendJson(res, 500, { message: 'stub failure' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, server, close: () => closeServer(server) };
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req));
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

export function sendPage(res: http.ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>${esc(title)}</title></head><body>${body}</body></html>`);
}

/** A login form posting back to `action` with the authorization request's parameters as hidden fields. */
export function loginForm(title: string, action: string, params: URLSearchParams, error?: string): string {
  const hidden = [...params]
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
  return `<h1>${esc(title)}</h1>${error ? `<p role="alert">${esc(error)}</p>` : ''}<form id="login" method="post" action="${esc(action)}">${hidden}<label>Username <input name="username"></label><label>Password <input name="password" type="password"></label><button type="submit">Sign in</button></form><form id="abort" method="post" action="${esc(action)}">${hidden}<input type="hidden" name="abort" value="1"><button type="submit">Cancel</button></form>`;
}

export function redirect(res: http.ServerResponse, location: string): void {
  res.writeHead(302, { location });
  res.end();
}

/** RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) === code_challenge for S256. */
export function pkceMatches(
  verifier: string | null,
  challenge: string | undefined,
  method: string | undefined,
): boolean {
  if (challenge === undefined) return true;
  if (verifier === null || method !== 'S256') return false;
  return createHash('sha256').update(verifier).digest('base64url') === challenge;
}

export function token(prefix: string): string {
  return `${prefix}${randomBytes(20).toString('hex')}`;
}

/** The credentials of an `Authorization: Basic` header, if any. */
export function basicAuth(req: http.IncomingMessage): { id: string; secret: string } | undefined {
  const h = req.headers.authorization;
  if (h === undefined || !/^basic /i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0
    ? undefined
    : { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
}

/** The token of an `Authorization: <scheme> <token>` header when the scheme is one of `schemes`. */
export function bearer(req: http.IncomingMessage, schemes: readonly string[]): string | undefined {
  const m = /^(\S+)\s+(\S+)$/.exec(req.headers.authorization ?? '');
  return m && schemes.includes(m[1]!.toLowerCase()) ? m[2] : undefined;
}
