#!/usr/bin/env node
/**
 * The portcullis command: serve | config | check | explain | demo | secret | keys | sessions.
 * Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { holdDuringStartUp, restartWithMemorySettings } from './node-flags.ts';
import { CONFIG_USAGE, parseConfigArgs, UsageError } from './options.ts';
import { CHECK_USAGE, EXPLAIN_USAGE, KEYS_USAGE, SECRET_USAGE, SESSIONS_USAGE } from './usage.ts';
import { englishOnlyZod } from './zod-locales.ts';

// Each command is loaded when it runs: `serve` must not hold the demo's IdP (oidc-provider, koa), the
// doctor or the key and session tools in memory (docs/scaling.md#memory).

const USAGE = `usage: portcullis <command> [options]

commands:
  serve [options]            run the gateway (reloads on SIGHUP and when its files change)
  config [options] [--json]  print the effective configuration and where each value came from
${CHECK_USAGE}
${EXPLAIN_USAGE}
  demo [--port N] [--idp-port N] [--app-port N] [--service-port N] [--host H]
                             run the demo: a development IdP, a sample app and Portcullis in front
${SECRET_USAGE}
${KEYS_USAGE}
${SESSIONS_USAGE}

options of serve, config, check, explain, keys and sessions:
${CONFIG_USAGE}

environment: every setting also as PORTCULLIS_<KEY_PATH>, e.g. PORTCULLIS_COOKIE_SECRET,
  PORTCULLIS_PROVIDERS_<ID>_CLIENT_SECRET (see docs/reference/configuration.md)

exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage
  (explain: 0 allowed, 1 denied, 2 invalid configuration or usage)`;

/** A usage error: one line that says what is wrong and where the help is, exit 2 (no page of help). */
function usage(message: string): never {
  process.stderr.write(`portcullis: ${message} (see portcullis --help)\n`);
  process.exit(2);
}

function port(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    usage(`${flag} must be a port number (0-65535), got "${value}"`);
  return n;
}

function onSignals(close: (signal: NodeJS.Signals) => Promise<void>): void {
  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    // A second signal while draining: stop now.
    if (closing) process.exit(1);
    closing = true;
    process.stderr.write(`\n${signal}: shutting down\n`);
    close(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  englishOnlyZod();
  switch (command) {
    case 'serve': {
      restartWithMemorySettings();
      const { load } = parseConfigArgs(rest);
      const running = await holdDuringStartUp(async () => (await import('./serve.ts')).serve(load));
      onSignals((signal) => running.shutdown(signal));
      return;
    }
    case 'demo': {
      let values: Record<string, string | undefined>;
      try {
        ({ values } = parseArgs({
          args: rest,
          options: {
            port: { type: 'string' },
            'idp-port': { type: 'string' },
            'app-port': { type: 'string' },
            'service-port': { type: 'string' },
            host: { type: 'string' },
          },
          strict: true,
        }));
      } catch (err) {
        usage((err as Error).message);
      }
      const { openLogger } = await import('../observability/log.ts');
      const { demoBanner, startDemo } = await import('../demo/run.ts');
      // Pretty lines on a terminal (pino-pretty, an optional dependency), JSON when piped or asked for.
      const format = process.env['PORTCULLIS_LOGGING_FORMAT'];
      const log = await openLogger(
        process.env['PORTCULLIS_LOGGING_LEVEL'] ?? 'info',
        format === 'json' || format === 'pretty' ? format : 'auto',
      );
      const demo = await startDemo(
        {
          host: values['host'] ?? '127.0.0.1',
          port: port(values['port'] ?? process.env['PORT'], 4180, '--port'),
          idpPort: port(values['idp-port'], 4181, '--idp-port'),
          appPort: port(values['app-port'], 4182, '--app-port'),
          servicePort: port(values['service-port'], 4183, '--service-port'),
        },
        log,
      );
      process.stdout.write(`${demoBanner(demo)}\n`);
      onSignals(() => demo.close());
      return;
    }
    case 'secret': {
      if (rest.length > 1 || (rest[0] !== undefined && rest[0] !== '--client')) {
        usage(`secret takes only --client, not "${rest.join(' ')}"`);
      }
      const secret =
        rest[0] === '--client'
          ? (await import('./keys.ts')).newClientSecret()
          : randomBytes(32).toString('base64url');
      process.stdout.write(`${secret}\n`);
      return;
    }
    case 'keys':
      await (await import('./keys.ts')).keysCommand(rest);
      return;
    case 'sessions':
      await (await import('./sessions.ts')).sessionsCommand(rest);
      return;
    case 'config': {
      const { load, flags } = parseConfigArgs(rest, ['json']);
      const { loadConfig } = await import('../config/load.ts');
      const { describeConfig, formatSettings } = await import('../config/describe.ts');
      const loaded = loadConfig(load);
      // On stderr, so that the settings (and --json) on stdout stay parseable.
      for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
      const settings = describeConfig(loaded);
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(settings, null, 2)}\n`
          : `${formatSettings(settings, process.stdout.isTTY && !process.env['NO_COLOR'])}\n`,
      );
      return;
    }
    case 'check':
      process.exitCode = await (await import('./check.ts')).checkCommand(rest);
      return;
    case 'explain':
      process.exitCode = (await import('./explain.ts')).explainCommand(rest);
      return;
    case undefined:
      return usage('a command is needed: serve, config, check, demo, secret or keys');
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      usage(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) usage(err.message);
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    process.stderr.write(`portcullis: address in use: ${(err as Error).message} — pick another port\n`);
  } else {
    process.stderr.write(`portcullis: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
