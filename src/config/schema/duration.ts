/** Durations in the configuration: seconds (number) or a string such as `12h`, `30m`, `1h30m`, `45s`. */
import { z } from 'zod';

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A duration as seconds (number) or a string such as `12h`, `30m`, `1h30m`, `45s`. */
export const duration = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  if (/^[1-9]\d*$/.test(value.trim())) return Number(value.trim());
  const m = DURATION.exec(value.trim());
  if (!m || value.trim() === '') {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a duration: use seconds or e.g. 30s, 15m, 12h, 1h30m`,
    });
    return z.NEVER;
  }
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (seconds === 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is zero: a duration must be at least 1s` });
    return z.NEVER;
  }
  return seconds;
});
