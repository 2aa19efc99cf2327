/**
 * The `allow` blocks of the configuration — at the top level, per provider and per route: who may pass
 * once signed in. Imported by src/config/schema.ts and src/config/schema/providers.ts; compiled into an
 * AccessPolicy by src/policy/compile.ts (docs/access-rules.md explains the semantics).
 */
import { z } from 'zod';

/** `/regex/` or `/regex/flags`: a requirement value that is a regular expression. */
export const REGEX_VALUE = /^\/(.*)\/([dgimsuvy]*)$/s;

/** The compiled form of a requirement's regex value, anchored: the whole claim value must match. */
export function requirementRegex(value: string): RegExp | undefined {
  const m = REGEX_VALUE.exec(value);
  if (m === null) return undefined;
  // `g` and `y` make RegExp.test stateful (lastIndex): never wanted here. `m` would let `^` and `$` match
  // at line breaks inside the value, so `/example\.com/m` would pass "evil\nexample.com": the anchors
  // must hold for the whole value, so it is dropped too.
  return new RegExp(`^(?:${m[1]!})$`, m[2]!.replace(/[gmy]/g, ''));
}

function regexProblem(value: string): string | undefined {
  const m = REGEX_VALUE.exec(value);
  if (m === null) return undefined;
  try {
    // The pattern as written first, so the message quotes the operator's regex, not the anchored one.
    new RegExp(m[1]!, m[2]!);
    requirementRegex(value);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const requirementValue = z.union([scalar, z.array(scalar).min(1)]).superRefine((v, ctx) => {
  for (const item of Array.isArray(v) ? v : [v]) {
    if (typeof item !== 'string') continue;
    const problem = regexProblem(item);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${problem}` });
    }
  }
});

const emailDomain = z
  .string()
  .regex(/^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/, {
    message: 'must be a domain such as example.com, or .example.com for its subdomains',
  });

const email = z.string().refine((v) => v.split('@').length === 2 && !/\s/.test(v) && !/^@|@$/.test(v), {
  message: 'must be one e-mail address such as alice@example.com',
});

export const allowSchema = z
  .object({
    emails: z
      .array(email)
      .optional()
      .describe('e-mail addresses allowed (any case); with emailDomains, either one suffices')
      .meta({ examples: [['alice@example.com', 'bob@contractor.example']] }),
    emailsFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'a file of allowed e-mail addresses, one per line (# comments), re-read when it changes; adds to emails',
      )
      .meta({ examples: ['/etc/portcullis/allowed-emails.txt'] }),
    emailDomains: z
      .array(emailDomain)
      .optional()
      .describe('e-mail domains allowed: example.com exactly, or .example.com for any of its subdomains')
      .meta({ examples: [['example.com', '.corp.example.com']] }),
    groups: z
      .array(z.string().min(1))
      .optional()
      .describe('the user must be in at least one of these groups (exact, case-sensitive)')
      .meta({ examples: [['admins', 'sre']] }),
    githubOrgs: z
      .array(z.string().min(1))
      .optional()
      .describe('the user must be a member of one of these GitHub organisations (any case)')
      .meta({ examples: [['acme']] }),
    githubTeams: z
      .array(z.string().regex(/^[^/\s]+\/[^/\s]+$/, { message: 'must be org/team-slug' }))
      .optional()
      .describe('the user must be in one of these GitHub teams, written org/team-slug (any case)')
      .meta({ examples: [['acme/platform']] }),
    gitlabGroups: z
      .array(z.string().min(1))
      .optional()
      .describe('the user must be a member of one of these GitLab groups (full path, e.g. acme/platform)')
      .meta({ examples: [['acme/platform']] }),
    clients: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'issuer clients (issuer.clients ids) whose client_credentials tokens may pass; machines pass only where listed, and person rules never apply to them (docs/api-access.md)',
      )
      .meta({ examples: [['deployer']] }),
    requirements: z
      .record(
        z
          .string()
          .min(1)
          .refine((k) => k !== '__proto__', { message: '__proto__ cannot be a claim name' }),
        requirementValue,
      )
      .optional()
      .describe(
        'claims the user must have: key: value (equal), key: /regex/ (the whole value matches), or a list (any)',
      )
      .meta({ examples: [{ hd: 'example.com', department: '/^(platform|sre)$/' }] }),
  })
  .strict();

export type AllowConfig = z.output<typeof allowSchema>;
