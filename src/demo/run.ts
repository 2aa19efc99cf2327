/**
 * `portcullis demo`: the embedded development IdP, the sample app, a second sample service that signs in
 * through Portcullis's issuer, and Portcullis in front of the app, all on loopback. Prints the URL to open,
 * the curl lines for API access, and the `portcullis check` line for the demo's effective configuration,
 * which it writes (secrets included, mode 0600) to a temporary directory removed on exit. The IdP is
 * clearly labelled as a demo and keeps nothing on disk.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Configuration } from 'oidc-provider';
import { resolveConfig } from '../config/load.ts';
import type { Logger } from '../observability/log.ts';
import { startGateway } from '../server/start.ts';
import { startSampleApp } from './app.ts';
import { DEMO_USERS, startDevIdp } from './idp.ts';
import { reservePort } from './ports.ts';
import { startDemoService } from './service.ts';

export interface DemoOptions {
  readonly host: string;
  /** 0 for any free port (also for the ones below). */
  readonly port: number;
  readonly idpPort: number;
  readonly appPort: number;
  /** The second sample service (a relying party of Portcullis's issuer); default any free port. */
  readonly servicePort?: number;
}

export interface RunningDemo {
  readonly url: string;
  readonly issuer: string;
  readonly appUrl: string;
  /** The second sample service, which signs users in through Portcullis's issuer. */
  readonly serviceUrl: string;
  /** The metrics listener (on loopback, any free port). */
  readonly metricsUrl: string | undefined;
  /** The secret of `demo-cli`, the issuer client that shows API access with a client_credentials token. */
  readonly cliSecret: string;
  /** The demo IdP's machine client (client_credentials, JWT access tokens for the gated API). */
  readonly idpMachine: { readonly id: string; readonly secret: string; readonly resource: string };
  /** The effective configuration with its secrets (mode 0600), for `portcullis check --config`. */
  readonly configFile: string;
  close(): Promise<void>;
}

/** The demo IdP's machine client: a token it gets with client_credentials calls the gated API (/api/). */
const IDP_MACHINE = 'demo-machine';

/**
 * oidc-provider's client_credentials grant, with JWT access tokens (RFC 9068) for the resource the client
 * names (RFC 8707 `resource`): the gated API, which Portcullis accepts as an audience of the demo provider.
 */
function machineTokens(resource: string): Configuration {
  return {
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
          return {
            scope: 'api',
            audience: resource,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  } as unknown as Configuration;
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
  const serviceSecret = randomBytes(24).toString('base64url');
  const machineSecret = randomBytes(24).toString('base64url');
  const apiResource = `${publicUrl}/api`;
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
      // The second sign-in method on the chooser: the same IdP, as a public client (PKCE, no secret).
      {
        client_id: 'portcullis-demo-public',
        redirect_uris: [`${publicUrl}/oauth2/callback`],
        post_logout_redirect_uris: [`${publicUrl}/oauth2/signed_out`],
      },
      {
        client_id: IDP_MACHINE,
        client_secret: machineSecret,
        redirect_uris: [],
        grant_types: ['client_credentials'],
      },
    ],
    providerConfig: machineTokens(apiResource),
  });
  const started: { close(): Promise<void> }[] = [idp];
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  try {
    const app = await startSampleApp({
      host,
      port: o.appPort,
      assertion: {
        jwksUrl: `${publicUrl}/oauth2/jwks`,
        issuer: publicUrl,
      },
    });
    started.push(app);
    const service = await startDemoService({ host, port: o.servicePort ?? 0, clientId: 'demo-service' });
    started.push(service);
    service.connect(`${publicUrl}/oidc`, serviceSecret);
    return await startGatewayFor(app.url, service);
  } catch (err) {
    // Whatever started before the failure is stopped again, so a failed demo leaves no listeners behind.
    await reservation?.release();
    await Promise.allSettled(started.map((s) => s.close()));
    removeDir();
    throw err;
  }

  async function startGatewayFor(
    appUrl: string,
    service: { url: string; redirectUri: string },
  ): Promise<RunningDemo> {
    const input = {
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
          // The demo IdP's ID tokens (aud portcullis-demo) and its machine client's access tokens for the
          // API (aud <publicUrl>/api) are accepted as bearer tokens on /api/.
          bearer: { audiences: ['portcullis-demo', apiResource] },
        },
        {
          id: 'demo-public',
          type: 'oidc',
          displayName: 'a public client (PKCE, no secret)',
          issuer: idp.issuer,
          clientId: 'portcullis-demo-public',
          scopes: ['openid', 'email', 'profile', 'groups'],
          logoutAtIdp: true,
        },
      ],
      // The sample app checks the assertion against /oauth2/jwks and says so on its page.
      upstreams: [{ id: 'sample-app', path: '/', url: appUrl, assertion: {} }],
      routes: [
        // bob is not an admin: he gets the 403 page that says what is missing.
        { path: '/admin/', allow: { groups: ['admins'] } },
        // Signed-in users, the demo IdP's JWTs, and the demo-cli service's client_credentials tokens.
        { path: '/api/', api: true, bearer: ['demo', 'issuer'], allow: { clients: ['demo-cli'] } },
      ],
      // Portcullis's own issuer (docs/issuer.md): a second service that signs users in (with consent,
      // listed on /oauth2/services) and a machine client (docs/api-access.md); state in memory.
      issuer: {
        clients: [
          {
            id: 'demo-service',
            secret: serviceSecret,
            redirectUris: [service.redirectUri],
            scopes: ['openid', 'email', 'profile'],
            display: {
              name: 'Demo service',
              url: service.url,
              description: 'a second app that signs you in through Portcullis',
            },
          },
          { id: 'demo-cli', secret: cliSecret, clientCredentials: true, scopes: ['openid'] },
        ],
      },
      storage: { type: 'memory' },
      // The operator console (docs/console.md) for the demo's admins: alice, not bob.
      admin: { enabled: true, allow: { groups: ['admins'] } },
      // Any free loopback port: a busy fixed one must not stop the demo; the banner says which it got.
      metrics: { listen: '127.0.0.1:0' },
    };
    const configFile = join(dir, 'portcullis-demo.yaml');
    // JSON is YAML; secrets included, readable by this user only.
    writeFileSync(
      configFile,
      `# The running demo's effective configuration (secrets included). Removed when the demo stops.\n${JSON.stringify(input, null, 2)}\n`,
      { mode: 0o600 },
    );
    const config = resolveConfig(input);
    await reservation?.release();
    const gw = await startGateway(config, log);
    return {
      url: gw.url,
      issuer: idp.issuer,
      appUrl,
      serviceUrl: service.url,
      metricsUrl: gw.metricsUrl,
      cliSecret,
      idpMachine: { id: IDP_MACHINE, secret: machineSecret, resource: apiResource },
      configFile,
      async close() {
        await gw.close();
        await Promise.allSettled(started.map((s) => s.close()));
        removeDir();
      },
    };
  }
}

export function demoBanner(d: RunningDemo): string {
  const users = DEMO_USERS.map((u) => `${u.username}/${u.password}`).join(', ');
  const token = (curl: string) => `TOKEN=$(${curl} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`;
  return [
    '',
    '  Portcullis demo is running (development only — the IdP and its users are fake).',
    '',
    `  Open ${d.url}/ and sign in as ${users} (two sign-in methods on the chooser).`,
    '',
    `  demo IdP:      ${d.issuer}`,
    `  sample app:    ${d.appUrl} (behind Portcullis; it verifies X-Portcullis-Assertion against ${d.url}/oauth2/jwks)`,
    `  demo service:  ${d.serviceUrl} (signs in through Portcullis’s issuer: consent page, then ${d.url}/oauth2/services)`,
    ...(d.metricsUrl ? [`  metrics:       ${d.metricsUrl}/metrics`] : []),
    '',
    `  Access rules: bob may not enter ${d.url}/admin/ (alice may).`,
    `  Operator console: ${d.url}/oauth2/admin (alice; bob is refused) — why was bob refused, what if, sessions.`,
    '',
    '  API access with a bearer token (docs/api-access.md). A token from the demo IdP (client_credentials,',
    '  a JWT for the API’s audience):',
    '',
    `    ${token(`curl -s -u ${d.idpMachine.id}:${d.idpMachine.secret} -d grant_type=client_credentials -d resource=${d.idpMachine.resource} ${d.issuer}/token`)}`,
    `    curl -H "Authorization: Bearer $TOKEN" ${d.url}/api/whoami`,
    '',
    '  A token from Portcullis’s own issuer (the upstream sees X-Forwarded-User: client:demo-cli):',
    '',
    `    ${token(`curl -s -u demo-cli:${d.cliSecret} -d grant_type=client_credentials -d scope=openid ${d.url}/oidc/token`)}`,
    `    curl -H "Authorization: Bearer $TOKEN" ${d.url}/api/whoami`,
    '',
    '  Check this configuration against the running demo (docs/check.md):',
    '',
    `    npm run portcullis -- check --config ${d.configFile}`,
    '',
    '  Stop with Ctrl-C.',
    '',
  ].join('\n');
}
