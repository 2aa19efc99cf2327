/**
 * Structured JSON logs (pino). Tokens, secrets and cookie values are never passed to the logger; the
 * redact list is a second line of defence for fields that might carry them.
 */
import { pino } from 'pino';
import pretty from 'pino-pretty';

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

export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  format: LogFormat = 'json',
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'portcullis' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const usePretty =
    format === 'pretty' || (format === 'auto' && destination === undefined && process.stdout.isTTY);
  if (usePretty) {
    return pino(options, pretty({ colorize: !process.env['NO_COLOR'], destination: 1, sync: true }));
  }
  return destination ? pino(options, destination) : pino(options);
}
