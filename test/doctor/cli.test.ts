/**
 * `portcullis check` as a process: exit codes 0/1/2, the JSON shape, and human output without colour
 * when stdout is not a terminal. The child is spawned asynchronously: spawnSync would block this
 * process's event loop, which the in-process IdP answers on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closeAfter } from '../support/cleanup.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { type ConfigDir, configDir, configYaml, REDIRECT_URI, startApp } from './support.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = randomBytes(24).toString('base64url');

let idp: TestIdp;
let app: { url: string; close(): Promise<void> };
let dir: ConfigDir;

const parts = closeAfter();

before(async () => {
  idp = parts.add(
    await startTestIdp({
      clients: [{ client_id: 'conf', client_secret: SECRET, redirect_uris: [REDIRECT_URI] }],
    }),
  );
  app = parts.add(await startApp());
  dir = configDir();
});

after(() => dir?.remove());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function portcullis(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Only PATH and HOME from the environment: no stray PORTCULLIS_* variable changes the outcome.
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface JsonReport {
  config: string | null;
  mode: string;
  findings: { id: string; status: string; subject: string; message: string; fix?: string }[];
  summary: { ok: number; warn: number; fail: number; skip: number; exitCode: number };
}

test('a good configuration: exit 0, JSON with findings and summary', async () => {
  const file = dir.write(
    'good.yaml',
    configYaml({ issuer: idp.issuer, clientId: 'conf', clientSecret: SECRET }, [app.url]),
  );
  const r = await portcullis(['check', '--config', file, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const report = JSON.parse(r.stdout) as JsonReport;
  assert.deepEqual(Object.keys(report), ['config', 'mode', 'findings', 'summary']);
  assert.equal(report.config, file);
  assert.equal(report.mode, 'live');
  assert.equal(report.summary.exitCode, 0);
  assert.equal(report.summary.fail, 0);
  assert.ok(report.findings.length >= 14);
  for (const f of report.findings) {
    assert.equal(typeof f.id, 'string');
    assert.ok(['ok', 'warn', 'fail', 'skip'].includes(f.status));
    assert.equal(typeof f.subject, 'string');
    assert.equal(typeof f.message, 'string');
  }
  assert.ok(!r.stdout.includes(SECRET));
});

test('a wrong client secret: exit 1; human output, no colour on a pipe', async () => {
  const wrong = randomBytes(24).toString('base64url');
  const file = dir.write(
    'bad.yaml',
    configYaml({ issuer: idp.issuer, clientId: 'conf', clientSecret: wrong }, [app.url]),
  );
  // From the environment, as operators often give the file.
  const r = await portcullis(['check'], { PORTCULLIS_CONFIG: file });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, /^portcullis check /);
  assert.match(
    r.stdout,
    /\n {2}✗ credentials +the IdP rejects the client id or secret \(HTTP 401 invalid_client/,
  );
  assert.match(r.stdout, /\n {2}✓ issuer +issuer is http:\/\/127\.0\.0\.1:\d+, exactly as configured/);
  assert.match(r.stdout, /failed: something is wrong \(exit 1\)\n$/);
  assert.ok(!r.stdout.includes('\x1b['), 'no colour codes on a pipe');
  assert.ok(!r.stdout.includes(wrong) && !r.stdout.includes(SECRET));
});

test('a configuration that does not load: exit 2, its problems still printed (JSON and human)', async () => {
  const file = dir.write(
    'invalid.yaml',
    `publicUrl: http://127.0.0.1:4180
cookie: { secret: tooshort }
providers: [{ id: corp, type: oidc, issuer: ${idp.issuer}, clientId: c }]
upstreams: [{ path: /, url: ${app.url} }]
`,
  );
  const json = await portcullis(['check', '--config', file, '--json']);
  assert.equal(json.code, 2);
  const report = JSON.parse(json.stdout) as JsonReport;
  assert.equal(report.summary.exitCode, 2);
  assert.deepEqual(
    report.findings.map((f) => [f.id, f.status]),
    [['config.load', 'fail']],
  );
  assert.match(report.findings[0]!.message, /^cookie\.secret: .*at least 32 are needed/);
  const human = await portcullis(['check', '--config', file]);
  assert.equal(human.code, 2);
  assert.match(human.stdout, /✗ load +cookie\.secret: /);
  assert.match(human.stdout, /the configuration does not load \(exit 2\)/);
});

test('usage errors: exit 2 with one line pointing to --help', async () => {
  const noConfig = await portcullis(['check']);
  assert.equal(noConfig.code, 2);
  assert.equal(
    noConfig.stderr,
    'portcullis: needs --config FILE (or PORTCULLIS_CONFIG) (see portcullis --help)\n',
  );
  const badFlag = await portcullis(['check', '--config', 'x.yaml', '--frobnicate']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /frobnicate/);
});

test('--offline --json: static findings only, exit 0', async () => {
  const file = dir.write(
    'offline.yaml',
    configYaml({ issuer: 'http://127.0.0.1:9/', clientId: 'c', clientSecret: 's' }, ['http://127.0.0.1:9']),
  );
  const r = await portcullis(['check', '--config', file, '--offline', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as JsonReport;
  assert.equal(report.mode, 'offline');
  assert.deepEqual(
    report.findings.map((f) => `${f.status} ${f.id}`),
    ['ok config.load', 'warn provider.issuer-slash'],
  );
});

test('`portcullis config` shows warnings on stderr and keeps --json on stdout parseable', async () => {
  const file = dir.write(
    'env.yaml',
    configYaml({ issuer: idp.issuer, clientId: 'conf', clientSecret: SECRET }, [app.url]),
  );
  const r = await portcullis(['config', '--config', file, '--json'], {
    PORTCULLIS_SERVICE_HOST: '10.0.0.11',
    PORTCULLIS_PORT: 'tcp://10.0.0.11:4180',
    PORTCULLIS_IMAGE_TAG: 'v1',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(JSON.parse(r.stdout)));
  assert.match(r.stderr, /^warning: PORTCULLIS_IMAGE_TAG: not a Portcullis setting, ignored/m);
  assert.doesNotMatch(r.stderr, /SERVICE_HOST|PORTCULLIS_PORT\b/);
});
