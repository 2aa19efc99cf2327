/**
 * Real proxies (Debian's nginx, Caddy, HAProxy) run on loopback in front of Portcullis for the end-to-end
 * tests in test/proxies/: each in a temporary folder of its own, configured from the files in examples/,
 * started as a child process of the test and killed (and waited for) when the test file ends. Outside CI
 * a machine without the proxy skips its test with the command that installs it; on CI (`CI` set, as
 * `.ci/run` runs, which installs them) a missing proxy is a failure, so these tests cannot pass by not running.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';
export const CADDY = '/usr/bin/caddy';
export const HAPROXY = '/usr/sbin/haproxy';

/** The `skip` option for a test needing `binary`: false, or why it cannot run on this (non-CI) machine. */
export function skipWithout(binary: string, apt: string): string | false {
  return existsSync(binary) || process.env['CI']
    ? false
    : `${binary} not installed (apt-get install -y ${apt})`;
}

/** The proxy's version line, for the test's name (what it was tested with). */
export function versionOf(binary: string, args: string[]): string {
  const r = spawnSync(binary, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim();
}

/** The example file's text, comment lines dropped (they name the placeholders replaced below). */
export function example(name: string): string {
  return readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
}

/** Replaces `from` by `to` everywhere, failing when the example no longer contains it (it changed shape). */
export function substitute(text: string, pairs: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`the example no longer contains ${JSON.stringify(from)}`);
    out = out.replaceAll(from, to);
  }
  return out;
}

export function tempDir(prefix: string): { path: string; close(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, close: () => rmSync(path, { recursive: true, force: true }) };
}

/** True once something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface RunningProcess {
  readonly child: ChildProcess;
  /** Its stdout and stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM, SIGKILL after 2 s, and waits for the exit. */
  close(): Promise<void>;
}

/** Starts `binary` and waits until every port in `ports` accepts connections (10 s at most). */
export async function startProcess(
  binary: string,
  args: readonly string[],
  ports: readonly number[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running: RunningProcess = {
    child,
    output: () => out,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if ((await Promise.all(ports.map(accepts))).every(Boolean)) return running;
    await new Promise((r) => setTimeout(r, 50));
  }
  await running.close();
  throw new Error(`${binary} did not start (exit ${child.exitCode}): ${out.slice(0, 2000)}`);
}

/**
 * nginx in the foreground, one process, every path inside `dir`, with `server` (a `server { … }` block, as
 * in examples/nginx.conf) in its `http { … }`; resolves once `port` accepts connections.
 */
export function startNginx(dir: string, server: string, port: number): Promise<RunningProcess> {
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${server}
}
`,
  );
  return startProcess(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], [port]);
}
