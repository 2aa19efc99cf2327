/**
 * `admin`: the operator console at <publicUrl>/oauth2/admin (docs/console.md) — explain a decision, what-if,
 * recent denials, live checks, sessions, sign-in traces. Off by default; when on, only users an access rule
 * of its own admits may use it (the rule vocabulary of `allow`, docs/access-rules.md), on top of the
 * gate's own rules. An enabled console without a rule would be open to every signed-in user: refused at
 * load, with the fix.
 */
import { z } from 'zod';
import { allowSchema } from './policy.ts';

const counted = (what: string, dflt: number, max: number) =>
  z
    .number()
    .int()
    .min(1)
    .max(max)
    .default(dflt)
    .describe(what)
    .meta({ examples: [dflt * 2] });

export const adminSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('serve the operator console at <publicUrl>/oauth2/admin')
      .meta({ examples: [true] }),
    allow: allowSchema
      .optional()
      .describe(
        'who may use the console, in the vocabulary of allow (groups, emails, …); required when enabled, and applied on top of the top-level and provider rules',
      )
      .meta({ examples: [{ groups: ['portcullis-admins'] }] }),
    decisions: counted(
      'how many recent decisions each instance keeps in memory for the console (explain, what-if)',
      1000,
      100_000,
    ),
    denials: counted(
      'how many recent denials are kept: per instance in memory, or shared by every instance in Redis when server-side sessions are in Redis',
      500,
      100_000,
    ),
    traces: counted(
      'how many recent sign-in traces each instance keeps in memory, by request id',
      200,
      10_000,
    ),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.enabled) return;
    const a = v.allow;
    const rules =
      a !== undefined &&
      Object.entries(a).some(([, x]) =>
        Array.isArray(x)
          ? x.length > 0
          : typeof x === 'object'
            ? Object.keys(x ?? {}).length > 0
            : x !== undefined,
      );
    if (!rules) {
      ctx.addIssue({
        code: 'custom',
        path: ['allow'],
        message:
          'enabled: true needs a rule saying who may use the console, e.g. admin.allow: { groups: [portcullis-admins] } or { emails: [ops@example.com] }',
      });
    }
  });

export type AdminConfig = z.output<typeof adminSchema>;
