/**
 * The container image for real (deploy/image/build.sh, docs/deploy/container.md): built here from Debian
 * packages and the npm package, then run with podman (runc, host network, read-only root filesystem, state
 * on a volume) as its own non-root user; a user signs in through it against a test IdP on the host, sessions
 * land in sqlite on the volume, and SIGTERM to the container stops it with exit code 0.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { Browser } from '../support/browser.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { CACHE, ROOT, run, SKIP } from './support.ts';

const CONTAINERS_CONF = join(ROOT, 'deploy/image/containers.conf');
const IMAGE = 'localhost/portcullis-test';
const NAME = `portcullis-test-${process.pid}`;
const env = { ...process.env, CONTAINERS_CONF };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function output(): string {
  return readFileSync(join(dir, 'podman.log'), 'utf8');
}

function podman(...args: string[]) {
  return run('podman', args, { env, allowFail: true });
}

let dir: string;

describe('container image', { skip: SKIP }, () => {
  let idp: TestIdp;
  let app: SampleApp;
  let port: number;
  let built: { tag: string; archive: string; size: number };
  let child: ChildProcess | undefined;
  let exited: Promise<number | null>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-image-'));
    const r = run('bash', [join(ROOT, 'deploy/image/build.sh')], {
      env: {
        ...env,
        PORTCULLIS_IMAGE: IMAGE,
        PORTCULLIS_IMAGE_OUT: dir,
        PORTCULLIS_IMAGE_CACHE: join(CACHE, 'image'),
      },
      timeout: 15 * 60_000,
    });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    const m = /^image (\S+) (\S+) (\d+)$/.exec(last);
    assert.ok(m, `build.sh's last line: ${last}\n${r.stderr}`);
    built = { tag: m[1]!, archive: m[2]!, size: Number(m[3]) };
    console.log(`# image ${built.tag}: ${(built.size / 1e6).toFixed(1)} MB unpacked`);

    port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({
      clients: [
        {
          client_id: 'portcullis-image',
          client_secret: 'image-test-client-secret',
          redirect_uris: [`${publicUrl}/oauth2/callback`],
        },
      ],
    });
    app = await startSampleApp();
    // The configuration as an operator mounts it; secrets through the environment.
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      `publicUrl: ${publicUrl}
providers:
  - { id: test, type: oidc, issuer: ${idp.issuer}, clientId: portcullis-image }
upstreams:
  - { path: /, url: ${app.url} }
sessions: { store: storage }
logging: { level: info, format: json }
metrics: { listen: 127.0.0.1:0 }
`,
    );
    // The volume, owned by the image's user like a Kubernetes fsGroup or a named volume would be.
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, 10001, 10001);
  });

  after(async () => {
    if (child && child.exitCode === null) podman('rm', '-f', '-t', '0', NAME);
    await idp?.close();
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('is small, non-root, and its OCI archive says so', () => {
    assert.ok(built.size < 150e6, `image is ${built.size} bytes (aim: under 150 MB)`);
    const inspect = JSON.parse(run('skopeo', ['inspect', '--config', `oci-archive:${built.archive}`]).stdout);
    assert.equal(inspect.config.User, '10001:10001');
    assert.deepEqual(Object.keys(inspect.config.Volumes ?? {}), ['/var/lib/portcullis']);
    const local = JSON.parse(podman('image', 'inspect', built.tag).stdout)[0];
    assert.match((local.Healthcheck ?? local.Config.Healthcheck).Test.join(' '), /\/ready/);
  });

  test('runs read-only on the host network and signs a user in', async () => {
    const logFd = openSync(join(dir, 'podman.log'), 'w');
    child = spawn(
      'podman',
      [
        'run',
        '--rm',
        '--name',
        NAME,
        '--network',
        'host',
        '--read-only',
        '--cap-drop',
        'all',
        '--security-opt',
        'no-new-privileges',
        '-v',
        `${join(dir, 'portcullis.yaml')}:/etc/portcullis/portcullis.yaml:ro`,
        '-v',
        `${join(dir, 'state')}:/var/lib/portcullis`,
        '-e',
        `PORTCULLIS_LISTEN=127.0.0.1:${port}`,
        '-e',
        `PORTCULLIS_COOKIE_SECRET=${randomBytes(32).toString('base64url')}`,
        '-e',
        'PORTCULLIS_PROVIDERS_TEST_CLIENT_SECRET=image-test-client-secret',
        // What a Service named portcullis injects in Kubernetes: must not stop the process.
        '-e',
        'PORTCULLIS_SERVICE_HOST=10.0.0.10',
        '-e',
        'PORTCULLIS_PORT=tcp://10.0.0.10:4180',
        built.tag,
      ],
      // The container's output goes to a file, read back for the assertions and failure messages.
      { env, stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    exited = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (child.exitCode !== null || Date.now() > deadline)
        assert.fail(`not ready (exit ${child.exitCode}):\n${output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const b = new Browser();
    const login = await b.get(`http://127.0.0.1:${port}/oauth2/start?rd=%2Fhello`);
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200, `${back.url}: ${back.body.slice(0, 300)}`);
    assert.equal(new URL(back.url).pathname, '/hello');
    assert.match(back.body, /alice@example\.com/);
    // Sessions went to sqlite on the volume: the one writable place.
    assert.ok(statSync(join(dir, 'state/data/portcullis.db')).size > 0);

    const health = podman('healthcheck', 'run', NAME);
    assert.equal(health.status, 0, `health check: ${health.stdout}${health.stderr}`);
    const uid = podman('exec', NAME, '/usr/local/bin/node', '-p', 'process.getuid()');
    assert.equal(uid.stdout.trim(), '10001');
    const write = podman(
      'exec',
      NAME,
      '/usr/local/bin/node',
      '-e',
      'require("fs").writeFileSync("/opt/x", "")',
    );
    assert.notEqual(write.status, 0);
    assert.match(write.stderr, /EROFS/);
  });

  test('SIGTERM drains and exits 0', async () => {
    assert.ok(child, 'the container runs (previous test)');
    assert.equal(podman('kill', '--signal', 'TERM', NAME).status, 0);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), 30_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(code, 0, `exit ${code}:\n${output()}`);
    assert.match(output(), /SIGTERM: shutting down/);
    assert.equal(existsSync(join(dir, 'state/data/portcullis.db')), true);
  });
});
