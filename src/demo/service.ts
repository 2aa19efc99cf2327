/**
 * The demo's second service: a tiny relying party that signs users in through Portcullis's own issuer
 * (`<publicUrl>/oidc`), as a JupyterHub service or an internal tool would (docs/issuer.md). It shows the
 * issuer's consent page on the first sign-in, and is listed on /oauth2/services. Development only: its
 * sessions live in memory, and it runs on loopback over plain http (openid-client's allowInsecureRequests).
 *
 * It shares the gateway's host name (cookies are per host, not per port), so its cookie has a name of its
 * own; the gateway's session cookie reaches it too, unread.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { html } from '../http/html.ts';

export interface DemoServiceOptions {
  readonly host: string;
  readonly port: number;
  readonly clientId: string;
}

export interface DemoService {
  readonly url: string;
  readonly redirectUri: string;
  /** Called once the gateway's issuer is known (it starts after this service). */
  connect(issuer: string, clientSecret: string): void;
  close(): Promise<void>;
}

const COOKIE = 'demo_service_sid';
const FLOW_TTL_MS = 10 * 60_000;

interface Flow {
  readonly verifier: string;
  readonly nonce: string;
  readonly at: number;
}

export async function startDemoService(o: DemoServiceOptions): Promise<DemoService> {
  const flows = new Map<string, Flow>();
  const sessions = new Map<string, Record<string, unknown>>();
  let issuer: string | undefined;
  let secret: string | undefined;
  let config: Promise<oidc.Configuration> | undefined;
  const discover = () => {
    if (issuer === undefined || secret === undefined) throw new Error('the demo service is not connected');
    config ??= oidc
      .discovery(new URL(issuer), o.clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] })
      .catch((err: unknown) => {
        config = undefined;
        throw err;
      });
    return config;
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      page(res, 502, html`<p>Signing in through Portcullis failed: ${(err as Error).message}</p>`);
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    const url = new URL(req.url ?? '/', base);
    if (url.pathname === '/login') {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const now = Date.now();
      for (const [k, f] of flows) if (now - f.at > FLOW_TTL_MS) flows.delete(k);
      flows.set(state, { verifier, nonce, at: now });
      const to = oidc.buildAuthorizationUrl(await discover(), {
        redirect_uri: redirectUri,
        scope: 'openid email profile',
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      res.writeHead(302, { location: to.href }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const state = url.searchParams.get('state') ?? '';
      const flow = flows.get(state);
      flows.delete(state);
      if (flow === undefined) {
        page(res, 400, html`<p>This sign-in has expired. <a href="/login">Sign in again</a>.</p>`);
        return;
      }
      const tokens = await oidc.authorizationCodeGrant(await discover(), url, {
        pkceCodeVerifier: flow.verifier,
        expectedState: state,
        expectedNonce: flow.nonce,
      });
      const sid = randomBytes(24).toString('base64url');
      sessions.set(sid, { ...tokens.claims() });
      res
        .writeHead(303, {
          location: '/',
          'set-cookie': `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`,
        })
        .end();
      return;
    }
    const sid = /(?:^|;\s*)demo_service_sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const claims = sid === undefined ? undefined : sessions.get(sid);
    if (claims === undefined) {
      page(
        res,
        200,
        html`<p>This service knows nobody yet. It signs users in through Portcullis’s issuer
(<code>${issuer ?? ''}</code>): the first time, Portcullis asks you to allow it.</p>
<p><a class="button" href="/login">Sign in with Portcullis</a></p>`,
      );
      return;
    }
    const rows = ['sub', 'email', 'name', 'preferred_username', 'iss', 'aud'].map(
      (k) => html`<tr><th>${k}</th><td>${String(claims[k] ?? '—')}</td></tr>`,
    );
    page(
      res,
      200,
      html`<p>Signed in through Portcullis’s issuer. The ID token it issued says:</p><table>${rows}</table>`,
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host === '0.0.0.0' ? '127.0.0.1' : o.host;
  const base = `http://${host}:${port}`;
  const redirectUri = `${base}/callback`;
  return {
    url: base,
    redirectUri,
    connect(i, s) {
      issuer = i;
      secret = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function page(res: http.ServerResponse, status: number, body: ReturnType<typeof html>): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Demo service</title>
<style>body{font-family:system-ui,sans-serif;margin:0;padding:2rem 1rem;background:#eef4f1;color:#1d2330}
main{max-width:44rem;margin:0 auto;background:#fff;border-radius:12px;padding:1.5rem 2rem}
table{border-collapse:collapse}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e4e4e7}</style></head>
<body><main><h1>Demo service</h1>${body}</main></body></html>`.toString(),
  );
}
