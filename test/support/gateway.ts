/**
 * Portcullis in front of the sample app, on loopback, for any providers: the caller starts its IdPs (real
 * oidc-provider instances or provider API stubs) with the redirect URI it is given, then hands over the
 * provider entries. Logs are captured (parsed and raw) and the gateway's clock can be moved forward.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

/**
 * A port free now, to know the public URL (and so the redirect URI) before the gateway listens. It is taken
 * below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so that between this check and the
 * gateway's listen() no `listen(0)` and no outgoing connection of any process can be handed the same port:
 * only another explicit pick could, and picks are random over thousands of ports. (Ports from `listen(0)`
 * came from the ephemeral range and were, under load, taken in between: EADDRINUSE.)
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const top = Math.max(10_000, low - 1);
  const bottom = Math.max(1_024, top - 12_000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found in ${bottom}-${top}`);
}

function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (a !== undefined && b !== undefined && a > 0) return [a, b];
  } catch {}
  return [32_768, 60_999];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
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
