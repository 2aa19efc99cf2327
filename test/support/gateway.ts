/**
 * Portcullis in front of the sample app, on loopback, for any providers: the caller starts its IdPs (real
 * oidc-provider instances or provider API stubs) with the redirect URI it is given, then hands over the
 * provider entries. Logs are captured (parsed and raw) and the gateway's clock can be moved forward.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { Browser } from './browser.ts';
import { type Cleanup, startOrRelease } from './cleanup.ts';
import type { LogLine } from './stack.ts';

export interface GatewayHarness {
  readonly gw: RunningGateway;
  readonly app: SampleApp;
  readonly url: string;
  readonly logs: LogLine[];
  rawLogs(): string;
  /** Moves the gateway's clock forward (seconds). */
  advance(seconds: number): void;
  browser(): Browser;
  close(): Promise<void>;
}

/** A port free now, to know the public URL (and so the redirect URI) before the gateway listens. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface PublicAddress {
  readonly port: number;
  readonly publicUrl: string;
  readonly redirectUri: string;
}

export async function reserveAddress(): Promise<PublicAddress> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  return { port, publicUrl, redirectUri: `${publicUrl}/oauth2/callback` };
}

export interface HarnessOptions {
  readonly address: PublicAddress;
  readonly providers: readonly Record<string, unknown>[];
  /** More top-level configuration (allow, routes, autoLogin, trustedProxies, …). */
  readonly config?: Record<string, unknown>;
}

export function startHarness(o: HarnessOptions): Promise<GatewayHarness> {
  // The port was only reserved: another process may take it first, and then the sample app must not stay.
  return startOrRelease((parts) => start(o, parts));
}

async function start(o: HarnessOptions, parts: Cleanup): Promise<GatewayHarness> {
  const app = parts.add(await startSampleApp());
  const raw: Record<string, unknown> = {
    publicUrl: o.address.publicUrl,
    listen: `127.0.0.1:${o.address.port}`,
    cookie: { secret: randomBytes(32).toString('base64url') },
    providers: o.providers,
    upstreams: [{ id: 'sample', path: '/', url: app.url, timeout: 2 }],
    routes: [
      { path: '/public/', public: true },
      { path: '/api/', api: true },
    ],
    logging: { level: 'debug' },
    // The metrics listener's fixed default port would collide between test files: any free one.
    metrics: { listen: '127.0.0.1:0' },
    ...o.config,
  };
  const config = resolveConfig(raw as RawConfig);
  let text = '';
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      const s = String(chunk);
      text += s;
      for (const line of s.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  let offset = 0;
  const gw = parts.add(
    await startGateway(config, createLogger('debug', sink), {
      now: () => Math.floor(Date.now() / 1000) + offset,
    }),
  );
  return {
    gw,
    app,
    url: gw.url,
    logs,
    rawLogs: () => text,
    advance(seconds) {
      offset += seconds;
    },
    browser: () => new Browser(),
    close: () => parts.close(),
  };
}
