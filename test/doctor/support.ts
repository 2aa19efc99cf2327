/**
 * Helpers for the `portcullis check` tests: a real reverse proxy on loopback in front of the real IdP
 * (it can fail a path, shift the `Date` header or edit a JSON answer, as a broken deployment would), a
 * listener that counts connections, and config files written to a temporary directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ProxyOptions {
  /** Answer this path instead of the IdP: a status (with a small body), or 'reset' to drop the connection. */
  readonly fail?: Readonly<Record<string, number | 'reset'>>;
  /** Added to the `Date` header of every answer (ms). */
  readonly dateOffsetMs?: number;
  /** Answers this path with a redirect: [status, Location]. */
  readonly redirect?: Readonly<Record<string, readonly [number, string]>>;
  /** Asks the IdP for another path than the one requested (path → the IdP's path). */
  readonly alias?: Readonly<Record<string, string>>;
  /** Rewrites the Authorization header on its way to the IdP. */
  readonly authorization?: (value: string) => string;
  /** Answers this path with another status than the IdP's (the body as the IdP wrote it, edited). */
  readonly status?: Readonly<Record<string, number>>;
  /** Edits JSON answers by path (after the IdP origin was replaced with the proxy's). */
  readonly json?: Readonly<Record<string, (body: Record<string, unknown>) => unknown>>;
}

export interface IdpProxy {
  /** The proxy's origin, e.g. http://127.0.0.1:PORT: use it as the issuer. */
  readonly url: string;
  /** Paths asked, in order. */
  readonly paths: string[];
  close(): Promise<void>;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * A reverse proxy to `target` that presents the IdP under its own origin: every mention of the IdP's
 * origin in bodies and Location headers becomes the proxy's, as a proxy with the right public URL would.
 */
export async function startIdpProxy(target: string, o: ProxyOptions = {}): Promise<IdpProxy> {
  const paths: string[] = [];
  let origin = '';
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    paths.push(path);
    const failure = o.fail?.[path];
    if (failure === 'reset') {
      req.socket.destroy();
      return;
    }
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end(`proxy: ${failure} for ${path}\n`);
      return;
    }
    const redirect = o.redirect?.[path];
    if (redirect !== undefined) {
      res.writeHead(redirect[0], { location: redirect[1] }).end();
      return;
    }
    const asked = o.alias?.[path] ?? req.url ?? '/';
    (async () => {
      const body = await readBody(req);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (k === 'host' || k === 'connection' || k === 'content-length' || v === undefined) continue;
        headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      }
      const auth = headers.get('authorization');
      if (auth !== null && o.authorization) headers.set('authorization', o.authorization(auth));
      const init: RequestInit = { method: req.method ?? 'GET', headers, redirect: 'manual' };
      if (body.length > 0) init.body = body;
      const upstream = await fetch(`${target}${asked}`, init);
      let text = (await upstream.text()).replaceAll(target, origin);
      const edit = o.json?.[path];
      if (edit) text = JSON.stringify(edit(JSON.parse(text) as Record<string, unknown>));
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (
          !['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)
        ) {
          out[k] = v.replaceAll(target, origin);
        }
      });
      const date = Date.parse(upstream.headers.get('date') ?? '');
      out['date'] = new Date(
        (Number.isFinite(date) ? date : Date.now()) + (o.dateOffsetMs ?? 0),
      ).toUTCString();
      res.writeHead(o.status?.[path] ?? upstream.status, out).end(text);
    })().catch((err: unknown) => {
      res.writeHead(502).end(`proxy: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: origin,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Listener {
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** A TCP listener that counts connections and closes them: proof that nothing was contacted. */
export async function startCountingListener(): Promise<Listener> {
  const server = net.createServer((socket) => {
    listener.connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const listener: Listener = {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return listener;
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A plain upstream app that answers 200. */
export async function startApp(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('app'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ConfigDir {
  /** Writes `name` with `text` and returns its path. */
  write(name: string, text: string): string;
  remove(): void;
}

export function configDir(): ConfigDir {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-check-'));
  return {
    write(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const PUBLIC_URL = 'http://127.0.0.1:4180';
export const REDIRECT_URI = `${PUBLIC_URL}/oauth2/callback`;
export const COOKIE_SECRET = randomBytes(32).toString('base64url');

export interface ProviderYaml {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly extra?: string;
}

/** A small but complete configuration: one provider, the given upstreams, and `extra` top-level YAML. */
export function configYaml(p: ProviderYaml, upstreams: readonly string[], extra = ''): string {
  const secret = p.clientSecret !== undefined ? `, clientSecret: ${JSON.stringify(p.clientSecret)}` : '';
  return `publicUrl: ${PUBLIC_URL}
cookie: { secret: ${COOKIE_SECRET} }
providers:
  - { id: corp, type: oidc, issuer: ${JSON.stringify(p.issuer)}, clientId: ${p.clientId}${secret}${p.extra ? `, ${p.extra}` : ''} }
upstreams:
${upstreams.map((u, i) => `  - { id: app${i}, path: /${i === 0 ? '' : `p${i}/`}, url: ${u} }`).join('\n')}
${extra}`;
}
