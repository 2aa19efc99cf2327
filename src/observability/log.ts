/**
 * Structured JSON logs (pino). Tokens, secrets and cookie values are never passed to the logger; the
 * redact list is a second line of defence for fields that might carry them.
 *
 * Pretty logs (pino-pretty) are for people at a terminal, not for production: pino-pretty is an optional
 * dependency (`npm install --omit=optional` leaves it out), imported only when pretty logs are asked for.
 * Without it the logs are JSON, after one warning line.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'headers.cookie',
  'headers.authorization',
  '*.accessToken',
  '*.refreshToken',
  '*.idToken',
  '*.clientSecret',
  '*.secret',
  'cookie',
  'authorization',
];

export type LogFormat = 'auto' | 'json' | 'pretty';

function options(level: string): pino.LoggerOptions {
  return {
    level,
    base: { service: 'portcullis' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

/** JSON lines to `destination` (default stdout). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return destination ? pino(options(level), destination) : pino(options(level));
}

/** pino-pretty's default export, as far as we use it. */
type PrettyFactory = (o: {
  colorize: boolean;
  destination: number | pino.DestinationStream;
  sync: boolean;
}) => pino.DestinationStream;

export interface OpenLoggerOptions {
  /** Where the lines go (default stdout); tests pass a stream. */
  readonly destination?: pino.DestinationStream;
  /** Whether stdout is a terminal (`auto` is pretty there); default process.stdout.isTTY. */
  readonly isTTY?: boolean;
  /** Loads pino-pretty; tests pass one that fails, as when it is not installed. */
  readonly importPretty?: () => Promise<{ default: unknown }>;
}

/** The logger `logging.format` asks for: pretty only when asked (or `auto` on a terminal) and installed. */
export async function openLogger(
  level: string,
  format: LogFormat,
  o: OpenLoggerOptions = {},
): Promise<Logger> {
  const tty = o.isTTY ?? process.stdout.isTTY === true;
  if (format === 'json' || (format === 'auto' && !tty)) return createLogger(level, o.destination);
  let pretty: PrettyFactory | undefined;
  try {
    // A variable specifier: bundlers and type checkers leave the optional module alone.
    const name = 'pino-pretty';
    const mod = await (o.importPretty ?? (() => import(name) as Promise<{ default: unknown }>))();
    if (typeof mod.default === 'function') pretty = mod.default as PrettyFactory;
  } catch {
    pretty = undefined;
  }
  if (pretty === undefined) {
    const log = createLogger(level, o.destination);
    log.warn(
      { event: 'log.pretty-unavailable', format },
      'pretty logs need the optional package pino-pretty, which is not installed: logging JSON',
    );
    return log;
  }
  const sink = pretty({ colorize: !process.env['NO_COLOR'], destination: o.destination ?? 1, sync: true });
  return pino(options(level), sink);
}
