/**
 * The table of the differential test (explain-differential.test.ts): users at the real test IdP, the
 * rules of the gateway in front of them, and the cases — each a user (or the issuer's machine client) and
 * a target, with what a real request is expected to get. The expectation is written down too, so a case
 * that agrees with the CLI for the wrong reason (both wrong alike) still fails.
 */
import type { DevUser } from '../support/idp.ts';

function user(
  username: string,
  email: string,
  groups: string[],
  claims: Record<string, unknown>,
  emailVerified = true,
): DevUser {
  return { username, password: username, email, emailVerified, name: username, groups, claims };
}

export const USERS: DevUser[] = [
  user('alice', 'alice@example.com', ['admins', 'engineering'], { hd: 'example.com', dept: 'eng' }),
  user('bob', 'bob@example.com', ['engineering'], { dept: 'eng' }),
  user('carol', 'carol@example.com', [], { dept: 'sec-blue' }),
  user('dave', 'dave@dev.corp.example.com', ['ops'], { dept: 'ops' }),
  user('erin', 'erin@corp.example.com', ['ops'], { dept: 'eng' }),
  user('guest', 'guest@partner.org', [], { dept: 'ops' }),
  user('mallory', 'mallory@evil.com', ['admins'], { dept: 'eng' }),
  user('frank', 'frank@example.com', ['admins'], { dept: 'sales' }),
  user('nodept', 'nodept@example.com', ['admins'], {}),
  user('uv', 'uv@example.com', ['admins'], { dept: 'eng' }, false),
  user('uvbad', 'uvbad@evil.com', [], { dept: 'eng' }, false),
  user('attacker', 'attacker@evil.com@example.com', ['admins'], { dept: 'eng' }),
];

/** The claims the IdP releases beyond the standard ones (the profile scope carries them). */
export const EXTRA_CLAIMS = { profile: ['hd', 'dept'] };

/** The access rules: top level (a list and domains), the provider's (a requirement), and routes. */
export const RULES = {
  allow: { emails: ['guest@partner.org'], emailDomains: ['example.com', '.corp.example.com'] },
  providerAllow: { requirements: { dept: ['eng', 'ops', '/sec-.*/'] } },
  routes: [
    { path: '/public/', public: true },
    { path: '/api/', api: true },
    { path: '/admin/', allow: { groups: ['admins'] } },
    { path: '/admin/open/', allow: { groups: ['engineering'] } },
    { path: '/finance/', allow: { emails: ['carol@example.com'] } },
    { path: '/corp/', allow: { emailDomains: ['.corp.example.com'] } },
    { path: '/hd/', allow: { requirements: { hd: 'example.com' } } },
    { path: '/ops/', allow: { groups: ['ops'], requirements: { dept: 'ops' } } },
    { path: '/svc/', api: true, bearer: ['issuer'], allow: { clients: ['svc'] } },
    { path: '/nobody/', api: true, bearer: ['issuer'] },
  ],
};

export interface Case {
  /** A user of USERS, or `machine:svc` (the issuer's client_credentials client). */
  readonly who: string;
  /** `sign-in`; `GET <path>` (a proxied request); `auth <prefix> <uri>` (forward-auth, both paths). */
  readonly target: string;
  /** What the real request is expected to get: allowed, or the reason codes of the 403. */
  readonly expect: 'allowed' | readonly string[];
}

export const CASES: Case[] = [
  // Sign-in: top-level and provider rules, before any session exists.
  { who: 'alice', target: 'sign-in', expect: 'allowed' },
  { who: 'guest', target: 'sign-in', expect: 'allowed' },
  { who: 'dave', target: 'sign-in', expect: 'allowed' },
  { who: 'mallory', target: 'sign-in', expect: ['email-domain-not-allowed'] },
  { who: 'attacker', target: 'sign-in', expect: ['email-invalid'] },
  { who: 'frank', target: 'sign-in', expect: ['requirement-failed:dept'] },
  { who: 'nodept', target: 'sign-in', expect: ['requirement-failed:dept'] },
  { who: 'uv', target: 'sign-in', expect: ['email-unverified'] },
  { who: 'uvbad', target: 'sign-in', expect: ['email-unverified', 'email-domain-not-allowed'] },
  // Proxied requests: the longest route prefix with rules decides on top of the other layers.
  { who: 'bob', target: 'GET /', expect: 'allowed' },
  { who: 'bob', target: 'GET /api/x', expect: 'allowed' },
  { who: 'bob', target: 'GET /public/x', expect: 'allowed' },
  { who: 'guest', target: 'GET /public/x', expect: 'allowed' },
  { who: 'bob', target: 'GET /admin/x', expect: ['group-missing'] },
  { who: 'alice', target: 'GET /admin/x', expect: 'allowed' },
  { who: 'bob', target: 'GET /admin/open/x', expect: 'allowed' },
  { who: 'carol', target: 'GET /admin/open/x', expect: ['group-missing'] },
  { who: 'carol', target: 'GET /finance/q', expect: 'allowed' },
  { who: 'bob', target: 'GET /finance/q', expect: ['email-not-allowed'] },
  { who: 'dave', target: 'GET /corp/x', expect: 'allowed' },
  { who: 'bob', target: 'GET /corp/x', expect: ['email-domain-not-allowed'] },
  { who: 'alice', target: 'GET /hd/', expect: 'allowed' },
  { who: 'bob', target: 'GET /hd/', expect: ['requirement-failed:hd'] },
  { who: 'dave', target: 'GET /ops/x', expect: 'allowed' },
  { who: 'erin', target: 'GET /ops/x', expect: ['requirement-failed:dept'] },
  { who: 'bob', target: 'GET /ops/x', expect: ['group-missing', 'requirement-failed:dept'] },
  { who: 'guest', target: 'GET /ops/x', expect: ['group-missing'] },
  // Forward-auth naming two paths (X-Forwarded-Prefix + X-Forwarded-Uri): every one must pass.
  { who: 'bob', target: 'auth /admin /x', expect: ['group-missing'] },
  { who: 'bob', target: 'auth /admin/open /x', expect: 'allowed' },
  { who: 'alice', target: 'auth /admin /x', expect: 'allowed' },
  // A machine: the issuer's client_credentials token, person rules skipped, allow.clients decides.
  { who: 'machine:svc', target: 'GET /svc/x', expect: 'allowed' },
  { who: 'machine:svc', target: 'GET /nobody/x', expect: ['client-not-allowed'] },
];

/** The CLI arguments that describe a case's principal and target (the config file is added by the caller). */
export function cliArgs(c: Case): string[] {
  const args: string[] = [];
  if (c.who.startsWith('machine:')) args.push('--machine', c.who.slice('machine:'.length));
  else {
    const u = USERS.find((x) => x.username === c.who)!;
    args.push('--email', u.email, '--sub', u.username, '--groups', u.groups.join(','));
    if (u.emailVerified === false) args.push('--unverified');
    for (const [k, v] of Object.entries(u.claims ?? {})) args.push('--claim', `${k}=${String(v)}`);
  }
  const [kind, ...rest] = c.target.split(' ');
  if (kind === 'GET') args.push('--path', rest[0]!);
  // The gate decides for the prefixed path and the path as received (test/policy/gateway.test.ts).
  if (kind === 'auth') args.push('--path', rest[1]!, '--path', `${rest[0]}${rest[1]}`);
  return args;
}
