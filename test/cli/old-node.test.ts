/**
 * A machine whose own Node is older than the one the checkout pins (the `node` devDependency, Node 24):
 * npm, which runs on the machine's Node, installs quietly (no EBADENGINE warning for Portcullis itself),
 * and the installed command run on that old Node says what it needs instead of failing on a .ts import.
 * These run only where such a Node is installed (/usr/bin/node older than 22.18); elsewhere they skip.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OLD_NODE = '/usr/bin/node';

function oldNode(): string | undefined {
  if (!existsSync(OLD_NODE)) return undefined;
  const v = execFileSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  const [major = 0, minor = 0] = v.split('.').map(Number);
  return major < 22 || (major === 22 && minor < 18) ? v : undefined;
}

function npmCli(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  if (found === '') return undefined;
  const cli = join(realpathSync(found), '..', '..', 'bin', 'npm-cli.js');
  return existsSync(cli) ? cli : realpathSync(found).endsWith('.js') ? realpathSync(found) : undefined;
}

const version = oldNode();
const dir = mkdtempSync(join(tmpdir(), 'pcl-old-node-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm on an older Node installs the checkout without an EBADENGINE warning', {
  skip: version === undefined ? 'no Node older than 22.18 at /usr/bin/node' : false,
}, () => {
  const cli = npmCli();
  assert.ok(cli, 'npm is installed');
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  copyFileSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
  const r = spawnSync(
    OLD_NODE,
    [cli, 'ci', '--dry-run', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /EBADENGINE/);
});

test('the command on an older Node says which Node it needs, exit 1', {
  skip: version === undefined ? 'no Node older than 22.18 at /usr/bin/node' : false,
}, () => {
  const r = spawnSync(OLD_NODE, [join(ROOT, 'bin/portcullis.js'), 'check'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `portcullis needs Node.js 22.18 or later (this is v${version}). In a checkout, run it through npm (npm run portcullis -- <command>), which uses the pinned Node 24.\n`,
  );
});
