/**
 * npm run on a machine whose own Node is older than the one the checkout pins (the `node` devDependency,
 * Node 24) installs the checkout without an EBADENGINE warning about Portcullis itself: npm compares the
 * root's `engines` with the Node running npm, unless the root declares `devEngines`
 * (@npmcli/arborist build-ideal-tree.js). Runs only where such a Node is installed (/usr/bin/node older
 * than the `engines` requirement); elsewhere it skips.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OLD_NODE = '/usr/bin/node';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  engines: { node: string };
};

/** The machine's Node, when it is older than `engines.node` (">=X" or ">=X.Y"). */
function olderNode(): string | undefined {
  if (!existsSync(OLD_NODE)) return undefined;
  const have = execFileSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' })
    .trim()
    .split('.')
    .map(Number);
  const need = (/^>=\s*([\d.]+)$/.exec(pkg.engines.node)?.[1] ?? '0').split('.').map(Number);
  const at = need.findIndex((n, i) => (have[i] ?? 0) !== n);
  return at >= 0 && (have[at] ?? 0) < need[at]! ? have.join('.') : undefined;
}

function npmCli(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  if (found === '') return undefined;
  const cli = join(realpathSync(found), '..', '..', 'bin', 'npm-cli.js');
  return existsSync(cli) ? cli : undefined;
}

const version = olderNode();
const dir = mkdtempSync(join(tmpdir(), 'pcl-quiet-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm on an older Node: no EBADENGINE warning at all (Portcullis itself or a dependency)', {
  skip: version === undefined ? `no Node older than ${pkg.engines.node} at ${OLD_NODE}` : false,
}, () => {
  const cli = npmCli();
  assert.ok(cli, 'npm is installed');
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  copyFileSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
  const r = spawnSync(
    OLD_NODE,
    [cli, 'ci', '--dry-run', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'],
    {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, new RegExp(`EBADENGINE +package: '${pkg.name}@`));
  // Nor any dependency: kubernetes-models 5 (the deploy tests' validator) wants Node 22 and made four of
  // them on every install; it is pinned to the 4.x line, which validates the same objects.
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /EBADENGINE/);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /EBADDEVENGINES/);
});
