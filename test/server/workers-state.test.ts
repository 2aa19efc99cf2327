/**
 * server.workers: 2 with the issuer and signed assertions on sqlite (one file, several processes: the
 * signing keys generated once, by whichever worker stores them first), a worker that keeps dying (the
 * primary gives up and exits 1), and a start that cannot listen (the primary exits 1 at once).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../support/gateway.ts';

interface Line {
  msg: string;
  event?: string;
  pid?: number;
  [k: string]: unknown;
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-workers-state-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function config(port: number): string {
  return `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers: [{ id: test, type: oidc, issuer: https://idp.example.com, clientId: c, clientSecret: s }]
upstreams: [{ path: /, url: http://127.0.0.1:9, assertion: {} }]
issuer:
  clients: [{ id: svc, secret: ${'x'.repeat(32)}, redirectUris: [https://svc.example.com/cb] }]
storage: { type: sqlite, path: ${join(dir, `state-${port}.db`)} }
server: { workers: 2, shutdownDelay: 0 }
logging: { level: info, format: json }
metrics: { enabled: false }
`;
}

function serve(port: number): { child: ChildProcess; lines: Line[]; output: () => string } {
  const file = join(dir, `p-${port}.yaml`);
  writeFileSync(file, config(port));
  const child = spawn(process.execPath, ['src/cli/main.ts', 'serve', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORTCULLIS_CONFIG: '' },
  });
  const lines: Line[] = [];
  let out = '';
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk;
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const raw of parts) {
      try {
        lines.push(JSON.parse(raw) as Line);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  return { child, lines, output: () => out };
}

async function waitFor(lines: Line[], pred: (l: Line) => boolean, what: string, out: () => string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const hit = lines.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${out().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

test('sqlite shared by two workers: one set of signing keys; a worker that keeps dying stops the primary', async () => {
  const port = await freePort();
  const { child, lines, output } = serve(port);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(lines, (l) => l.msg === 'portcullis listening', 'start-up', output);
    // Both workers started on an empty file at once; every answer (both workers) lists the same keys.
    const jwks = await Promise.all(Array.from({ length: 6 }, () => get(port, '/oauth2/jwks')));
    const oidc = await Promise.all(Array.from({ length: 6 }, () => get(port, '/oidc/jwks')));
    assert.match(jwks[0]!, /^200 \{"keys":\[\{/);
    assert.equal(new Set(jwks).size, 1, jwks.join('\n'));
    assert.equal(new Set(oidc).size, 1, oidc.join('\n'));

    // Kill the same slot's worker each time it is ready again: the fifth death within a minute stops all.
    let victim = lines.filter((l) => l.event === 'worker.ready').at(-1)!;
    for (let death = 1; death <= 5; death++) {
      process.kill(victim.pid!, 'SIGKILL');
      if (death === 5) break;
      const seen = new Set(lines.filter((l) => l.event === 'worker.ready').map((l) => l.pid));
      victim = await waitFor(
        lines,
        (l) => l.event === 'worker.ready' && !seen.has(l.pid),
        `restart ${death}`,
        output,
      );
    }
    assert.equal(await exited, 1, output().slice(-2000));
    const fatal = lines.find((l) => l.event === 'worker.died' && l['deaths'] === 5);
    assert.ok(fatal, 'the crash loop is logged');
    const delays = lines.filter((l) => l.event === 'worker.died').map((l) => l['restartInMs']);
    assert.deepEqual(delays, [500, 1000, 2000, 4000, undefined], 'the back-off doubles');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('a port that is taken: the first worker cannot listen, the primary stops the other and exits 1', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const { child, output } = serve(port);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 1, output());
    assert.match(output(), /address in use/);
    assert.match(output(), /exited during start-up/);
  } finally {
    blocker.close();
  }
});
