/**
 * `portcullis check [--config FILE] [--offline] [--json]`: test a configuration against the live IdP.
 * Exit 0 when no check failed (warnings allowed), 1 when one did, 2 when the configuration does not load
 * (its problems are still printed, as findings).
 */

import { formatHuman, formatJson, wantsColour } from '../doctor/report.ts';
import { runDoctor } from '../doctor/run.ts';
import { parseConfigArgs } from './options.ts';

/** Runs the command and returns its exit code; UsageError (bad flags, no config) propagates. */
export async function checkCommand(args: readonly string[]): Promise<number> {
  const { load, flags } = parseConfigArgs(args, ['offline', 'json']);
  const report = await runDoctor(load, { offline: flags.offline });
  process.stdout.write(
    `${flags.json ? formatJson(report) : formatHuman(report, wantsColour(process.stdout, process.env))}\n`,
  );
  return report.summary.exitCode;
}
