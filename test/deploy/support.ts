/**
 * Shared by the deploy tests (test/deploy/): they build and run real artefacts — the container image with
 * podman, the Helm chart with a helm binary from npm — so they need root, Debian packages and a few
 * minutes. `npm run test:deploy` runs them (and .ci/run does, after installing what they need); in `npm
 * test` they are skipped with this reason.
 */
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const SKIP: string | false =
  process.env['PORTCULLIS_DEPLOY_TESTS'] === '1' ? false : 'deploy test: run by npm run test:deploy';

/** Where built things are kept between runs (the image's rootfs, the helm binary). */
export const CACHE =
  process.env['PORTCULLIS_DEPLOY_CACHE'] ??
  join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'portcullis-deploy');

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end; throws with its output when it exits non-zero (unless `allowFail`). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: SpawnSyncOptions & { allowFail?: boolean } = {},
): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  const out: Run = { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  if (r.error) throw r.error;
  if (!opts.allowFail && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${out.stdout}\n${out.stderr}`);
  }
  return out;
}
