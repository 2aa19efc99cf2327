/**
 * A sample service that signs its users in through Portcullis's issuer: a small web app on loopback that
 * is an OpenID Connect relying party with openid-client (code flow, PKCE S256, state, nonce), keeps its
 * own session in memory and shows who signed in. The browser test drives it in Chromium.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oc from 'openid-client';

export interface SampleService {
  /** e.g. http://127.0.0.1:PORT, no trailing slash. */
  readonly url: string;
  readonly redirectUri: string;
  /** Points the service at its issuer (it listens first: its redirect URI must be registered). */
  connect(issuer: string, clientId: string, clientSecret: string): void;
  close(): Promise<void>;
}

const esc = (v: string) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto}th{text-align:left;padding-right:1rem}</style>
</head><body>${body}</body></html>`;
}

export async function startSampleService(): Promise<SampleService> {
  let settings: { issuer: string; clientId: string; clientSecret: string } | undefined;
  let config: oc.Configuration | undefined;
  const pending = new Map<string, { verifier: string; nonce: string }>();
  const sessions = new Map<string, Record<string, unknown>>();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`sample service error: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const redirectUri = `${url}/callback`;

  async function rp(): Promise<oc.Configuration> {
    if (settings === undefined) throw new Error('not connected to an issuer');
    config ??= await oc.discovery(
      new URL(settings.issuer),
      settings.clientId,
      undefined,
      oc.ClientSecretBasic(settings.clientSecret),
      { execute: [oc.allowInsecureRequests] },
    );
    return config;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    const sid = /(?:^|;\s*)svc=([\w-]+)/.exec(req.headers.cookie ?? '')?.[1];
    const claims = sid ? sessions.get(sid) : undefined;
    if (u.pathname === '/') {
      const body = claims
        ? `<h1>Hello, ${esc(String(claims['name']))}</h1><table>${[
            'sub',
            'preferred_username',
            'email',
            'groups',
          ]
            .map(
              (k) =>
                `<tr><th>${k}</th><td>${esc(Array.isArray(claims[k]) ? (claims[k] as string[]).join(',') : String(claims[k] ?? ''))}</td></tr>`,
            )
            .join('')}</table>`
        : '<h1>Sample service</h1><p><a href="/login">Sign in with Portcullis</a></p>';
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page('Sample service', body));
      return;
    }
    if (u.pathname === '/login') {
      const verifier = oc.randomPKCECodeVerifier();
      const state = oc.randomState();
      const nonce = oc.randomNonce();
      pending.set(state, { verifier, nonce });
      const to = oc.buildAuthorizationUrl(await rp(), {
        redirect_uri: redirectUri,
        scope: 'openid profile email groups',
        code_challenge: await oc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      res.writeHead(302, { location: to.href }).end();
      return;
    }
    if (u.pathname === '/callback') {
      const state = u.searchParams.get('state') ?? '';
      const flow = pending.get(state);
      pending.delete(state);
      if (flow === undefined) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown state');
        return;
      }
      const tokens = await oc.authorizationCodeGrant(await rp(), u, {
        pkceCodeVerifier: flow.verifier,
        expectedState: state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      const id = randomBytes(16).toString('hex');
      sessions.set(id, { ...tokens.claims() });
      res.writeHead(302, { location: '/', 'set-cookie': `svc=${id}; Path=/; HttpOnly; SameSite=Lax` }).end();
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }

  return {
    url,
    redirectUri,
    connect(issuer, clientId, clientSecret) {
      settings = { issuer, clientId, clientSecret };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
