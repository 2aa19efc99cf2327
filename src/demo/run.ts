/**
 * `portcullis demo`: the embedded development IdP, the sample app, and Portcullis in front of it, all on
 * loopback. Prints the URL to open. The IdP is clearly labelled as a demo and keeps nothing on disk.
 */
import { randomBytes } from 'node:crypto';
import { resolveConfig } from '../config/load.ts';
import type { Logger } from '../observability/log.ts';
import { startGateway } from '../server/start.ts';
import { startSampleApp } from './app.ts';
import { DEMO_USERS, startDevIdp } from './idp.ts';
import { reservePort } from './ports.ts';

export interface DemoOptions {
  readonly host: string;
  /** 0 for any free port (also for the two below). */
  readonly port: number;
  readonly idpPort: number;
  readonly appPort: number;
}

export interface RunningDemo {
  readonly url: string;
  readonly issuer: string;
  readonly appUrl: string;
  /** The metrics listener (on loopback, any free port). */
  readonly metricsUrl: string | undefined;
  /** The secret of `demo-cli`, the issuer client that shows API access with a client_credentials token. */
  readonly cliSecret: string;
  close(): Promise<void>;
}

export async function startDemo(o: DemoOptions, log: Logger): Promise<RunningDemo> {
  const host = o.host;
  // The public URL and the redirect URI registered at the IdP contain the gateway's port, so port 0 is
  // resolved to a free port first, held until the gateway listens. The IdP and the app take 0 as it is:
  // they listen first and report their URLs.
  const reservation = o.port === 0 ? await reservePort(host) : undefined;
  const port = reservation?.port ?? o.port;
  const publicUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const cliSecret = randomBytes(24).toString('base64url');
  const idp = await startDevIdp({
    host,
    // Another host name than the gateway's (cookies are per host, not per port): the IdP's own cookies
    // then never reach the gateway, nor the sample app behind it.
    ...(publicUrl.startsWith('http://127.0.0.1:') ? { publicHost: 'localhost' } : {}),
    port: o.idpPort,
    title: 'Portcullis demo IdP',
    clients: [
      {
        client_id: 'portcullis-demo',
        client_secret: clientSecret,
        redirect_uris: [`${publicUrl}/oauth2/callback`],
        post_logout_redirect_uris: [`${publicUrl}/oauth2/signed_out`],
      },
    ],
  });
  const started: { close(): Promise<void> }[] = [idp];
  try {
    const app = await startSampleApp({ host, port: o.appPort });
    started.push(app);
    return await startGatewayFor(app.url);
  } catch (err) {
    // Whatever started before the failure is stopped again, so a failed demo leaves no listeners behind.
    await reservation?.release();
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }

  async function startGatewayFor(appUrl: string): Promise<RunningDemo> {
    const config = resolveConfig({
      publicUrl,
      listen: `${host}:${port}`,
      cookie: { secret: randomBytes(32).toString('base64url') },
      providers: [
        {
          id: 'demo',
          type: 'oidc',
          displayName: 'the demo IdP',
          issuer: idp.issuer,
          clientId: 'portcullis-demo',
          clientSecret,
          scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
          logoutAtIdp: true,
          // The demo IdP's ID tokens (aud portcullis-demo) are accepted as bearer tokens on /api/.
          bearer: {},
        },
      ],
      upstreams: [{ id: 'sample-app', path: '/', url: appUrl }],
      routes: [
        // bob is not an admin: he gets the 403 page that says what is missing.
        { path: '/admin/', allow: { groups: ['admins'] } },
        // Signed-in users, the demo IdP's JWTs, and the demo-cli service's client_credentials tokens.
        { path: '/api/', api: true, bearer: ['demo', 'issuer'], allow: { clients: ['demo-cli'] } },
      ],
      // Portcullis's own issuer, here for one machine client (docs/api-access.md); state in memory.
      issuer: {
        clients: [{ id: 'demo-cli', secret: cliSecret, clientCredentials: true, scopes: ['openid'] }],
      },
      storage: { type: 'memory' },
      // Any free loopback port: a busy fixed one must not stop the demo; the banner says which it got.
      metrics: { listen: '127.0.0.1:0' },
    });
    await reservation?.release();
    const gw = await startGateway(config, log);
    return {
      url: gw.url,
      issuer: idp.issuer,
      appUrl,
      metricsUrl: gw.metricsUrl,
      cliSecret,
      async close() {
        await gw.close();
        await Promise.allSettled(started.map((s) => s.close()));
      },
    };
  }
}

export function demoBanner(d: RunningDemo): string {
  const users = DEMO_USERS.map((u) => `${u.username}/${u.password}`).join(', ');
  return [
    '',
    '  Portcullis demo is running (development only — the IdP and its users are fake).',
    '',
    `  Open ${d.url}/ and sign in as ${users}.`,
    '',
    `  demo IdP:    ${d.issuer}`,
    `  sample app:  ${d.appUrl} (behind Portcullis; open it directly to see it without identity)`,
    ...(d.metricsUrl ? [`  metrics:     ${d.metricsUrl}/metrics`] : []),
    '',
    `  Access rules: bob may not enter ${d.url}/admin/ (alice may).`,
    '',
    '  API access with a bearer token (docs/api-access.md): a service gets a token from Portcullis’s issuer',
    '  and calls the gated API with it; the sample app sees X-Forwarded-User: client:demo-cli.',
    '',
    `    TOKEN=$(curl -s -u demo-cli:${d.cliSecret} -d grant_type=client_credentials -d scope=openid \\`,
    `      ${d.url}/oidc/token | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `    curl -H "Authorization: Bearer $TOKEN" ${d.url}/api/whoami`,
    '',
    '  Stop with Ctrl-C.',
    '',
  ].join('\n');
}
