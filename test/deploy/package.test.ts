/**
 * The package as an operator gets it (issue 10, part 1): `npm pack` (whose prepack builds dist/), the
 * tarball installed into an empty folder, then the installed `portcullis` command run on Node 24 — the
 * binary running this test, never the package's own `node` devDependency, which an install does not bring —
 * for --help, check, serve (/ping, SIGTERM, exit 0) and demo; and on an older Node (the system's, 20 here)
 * the one-line "needs Node.js …" message with exit 1 and no stack trace.
 *
 * No network: the install is offline. npm ci filled the cache with the tarballs but not with the registry's
 * package documents that `npm install <tgz>` would resolve versions from, so the empty folder gets a
 * lockfile made from the repository's (its production entries) — what a locked deployment does anyway.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  engines: { node: string };
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};
const LOCK = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean }>;
};
/** Node 24, the binary running this test: first on PATH, so the bin's `#!/usr/bin/env node` finds it. */
const NODE24_PATH = `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}`;

let dir: string;
let app: string;
let tarball: string;
const children: ChildProcess[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-package-'));
  // --json names the file; prepack runs `npm run build` first, so dist/ is fresh whatever the checkout had.
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: REPO,
    env: { ...process.env, PATH: NODE24_PATH },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [info] = JSON.parse(packed.slice(packed.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = join(dir, info!.filename);
  const shipped = info!.files.map((f) => f.path);
  assert.ok(shipped.includes('dist/cli/main.js'), 'the tarball ships dist/');
  assert.ok(!shipped.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources, no tests');

  app = join(dir, 'app');
  mkdirSync(app);
  const spec = `file:../${info!.filename}`;
  const packages: Record<string, unknown> = {
    '': { dependencies: { portcullis: spec } },
    'node_modules/portcullis': {
      version: PKG.version,
      resolved: spec,
      license: PKG.license,
      dependencies: PKG.dependencies,
      optionalDependencies: PKG.optionalDependencies,
      bin: PKG.bin,
      engines: PKG.engines,
    },
  };
  for (const [path, entry] of Object.entries(LOCK.packages))
    if (path !== '' && !entry.dev) packages[path] = entry;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ private: true, dependencies: { portcullis: spec } }),
  );
  writeFileSync(
    join(app, 'package-lock.json'),
    JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }),
  );
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], {
    cwd: app,
    env: { ...process.env, PATH: NODE24_PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The installed command, as `npx portcullis` runs it: node_modules/.bin/portcullis through its shebang. */
function bin(): string {
  return join(app, 'node_modules', '.bin', 'portcullis');
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, path = NODE24_PATH) {
  return spawnSync(bin(), args, {
    cwd: app,
    env: { ...process.env, ...env, PATH: path },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(bin(), args, { cwd: app, env: { ...process.env, ...env, PATH: NODE24_PATH } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function until<T>(f: () => T | undefined, what: string, output: () => string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('the installed package', () => {
  test('engines.node and the bin check say the same version', () => {
    // One number: the bin reads engines.node; this keeps engines in the form it can read.
    assert.match(PKG.engines.node, /^>=\s*\d+(\.\d+){0,2}$/);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/portcullis/package.json'), 'utf8'));
    assert.equal(installed.engines.node, PKG.engines.node);
    assert.ok(
      !existsSync(join(app, 'node_modules', 'node')),
      'the pinned node devDependency is not installed',
    );
  });

  test('portcullis --help', () => {
    const r = run(['--help']);
    assert.match(r.stdout + r.stderr, /usage: portcullis <command>/);
    assert.doesNotMatch(r.stderr, /ERR_|at .*\(/);
  });

  test('portcullis check --offline on an example', () => {
    const r = run(
      ['check', '--offline', '--config', join(app, 'node_modules/portcullis/examples/demo.yaml')],
      {
        PORTCULLIS_COOKIE_SECRET: randomBytes(32).toString('base64url'),
        DEMO_CLIENT_SECRET: 'dummy',
        DEMO_CLI_SECRET: randomBytes(32).toString('base64url'),
        DEMO_SERVICE_SECRET: randomBytes(32).toString('base64url'),
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('portcullis serve answers /ping and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const config = join(dir, 'serve.yaml');
    writeFileSync(
      config,
      `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers:
  - { id: idp, type: oidc, issuer: http://127.0.0.1:9/, clientId: c, clientSecret: s }
upstreams:
  - { path: /, url: http://127.0.0.1:9 }
metrics: { enabled: false }
logging: { format: json }
`,
    );
    const { child, output } = start(['serve', '--config', config]);
    const ping = await pingUntilUp(`http://127.0.0.1:${port}/ping`, output);
    assert.equal(ping, 200);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0, output());
  });

  test('portcullis demo serves its URL and stops on SIGTERM', async () => {
    const { child, output } = start(['demo', '--port', '0', '--idp-port', '0', '--app-port', '0']);
    const url = await until(
      () => /Open (http:\/\/\S+?)\/? and sign in/.exec(output())?.[1],
      'the banner',
      output,
    );
    // node:http, not fetch: fetch sends Sec-Fetch-Mode: cors, which gets the API answer (401 JSON).
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(`${url}/`, { headers: { accept: 'text/html' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    // Not signed in: the sign-in page or a redirect to it, from the installed package's gateway.
    assert.ok(status === 200 || status === 302, `GET ${url}/: ${status}`);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0, output());
  });

  const old = oldNode();
  test('on an older Node: one line naming the version needed, exit 1', { skip: old.skip }, () => {
    // The system Node first on PATH: what `npx portcullis` does on a machine whose node is too old.
    const r = run(['--help'], {}, `${dirname(old.path!)}${delimiter}${process.env['PATH'] ?? ''}`);
    assert.equal(r.status, 1);
    const wanted = PKG.engines.node.replace(/^>=\s*/, '');
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^portcullis: needs Node\\.js ${wanted.replace(/\./g, '\\.')}`));
    assert.ok(lines[0]!.includes(old.version!), lines[0]);
  });
});

async function pingUntilUp(url: string, output: () => string): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      return r.status;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${url}: ${String(err)}; output:\n${output()}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/** A Node older than engines.node on this machine: Debian's (/usr/bin/node, 20 here; .ci/run installs it). */
function oldNode(): { path?: string; version?: string; skip: string | false } {
  const path = '/usr/bin/node';
  if (!existsSync(path))
    return { skip: 'no /usr/bin/node on this machine (.ci/run installs Debian’s nodejs)' };
  const version = execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  const major = Number(version.split('.')[0]);
  const need = Number(/\d+/.exec(PKG.engines.node)![0]);
  if (major >= need) return { skip: `/usr/bin/node is ${version}, not older than ${PKG.engines.node}` };
  return { path, version, skip: false };
}
