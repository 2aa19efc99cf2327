/**
 * The broken configurations of test/config/corpus.test.ts: each is the base below with one change (or a
 * few, for the combinations), what the operator would write. `files` are written beside the
 * configuration; `<dir>` in the configuration and in the expected output stands for that directory.
 */

/** 32 bytes, base64url: a valid cookie secret. */
export const COOKIE = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I';

export const BASE = `publicUrl: https://auth.example.com
cookie:
  secret: ${COOKIE}
providers:
  - id: corp
    type: oidc
    issuer: https://login.example.com
    clientId: portcullis
    clientSecret: client-secret-value
upstreams:
  - path: /
    url: http://127.0.0.1:8080
`;

export interface BrokenConfig {
  readonly name: string;
  /** The configuration file's text. */
  readonly yaml: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly files?: Readonly<Record<string, string>>;
}

/** BASE with `from` replaced by `to` (which must be there). */
function edit(...pairs: [string, string][]): string {
  let text = BASE;
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`corpus: ${JSON.stringify(from)} is not in the base`);
    text = text.replace(from, to);
  }
  return text;
}

const add = (more: string) => `${BASE}${more}\n`;

export const CASES: BrokenConfig[] = [
  // YAML
  {
    name: 'yaml: a key indented differently from its siblings',
    yaml: edit(['    type: oidc', '   type: oidc']),
  },
  {
    name: 'yaml: a list item further out than the others',
    yaml: add('  - path: /b/\n    url: http://127.0.0.1:8081\n - path: /c/\n   url: http://127.0.0.1:8082'),
  },
  { name: 'yaml: a tab as indentation', yaml: edit(['    type: oidc', '\ttype: oidc']) },
  {
    name: 'yaml: a key twice',
    yaml: edit(['    clientId: portcullis', '    clientId: portcullis\n    clientId: other']),
  },
  {
    name: 'yaml: a quote not closed',
    yaml: edit(['clientSecret: client-secret-value', 'clientSecret: "client-secret-value']),
  },
  { name: 'yaml: a flow list not closed', yaml: add('trustedProxies: [10.0.0.0/8, 192.168.0.0/16') },
  {
    name: 'yaml: two mistakes far apart are two findings',
    yaml: edit(
      ['    type: oidc', '   type: oidc'],
      ['    url: http://127.0.0.1:8080', '\turl: http://127.0.0.1:8080'],
    ),
  },
  { name: 'yaml: the top level is a list', yaml: '- publicUrl: https://auth.example.com\n' },
  { name: 'yaml: an empty file', yaml: '\n' },
  // environment
  {
    name: 'env: a variable that is not set',
    yaml: edit(['clientSecret: client-secret-value', 'clientSecret: ${OIDC_SECRET}']),
  },
  {
    name: 'env: a reference that is not a variable name',
    yaml: edit(['clientId: portcullis', 'clientId: ${1CLIENT}']),
  },
  { name: 'env: a misspelt PORTCULLIS_ variable', yaml: BASE, env: { PORTCULLIS_COOKIE_SECRTE: COOKIE } },
  { name: 'env: a boolean variable that is not one', yaml: BASE, env: { PORTCULLIS_AUTO_LOGIN: 'maybe' } },
  {
    name: 'env: a number variable that is not one',
    yaml: BASE,
    env: { PORTCULLIS_PENDING_LOGINS_MAX: 'five' },
  },
  {
    name: 'env: an unset variable in a required value is said once',
    yaml: edit(['publicUrl: https://auth.example.com', 'publicUrl: ${PUBLIC_URL}']),
  },
  // files
  {
    name: 'files: cookie.secretFile missing',
    yaml: edit([`  secret: ${COOKIE}`, '  secretFile: <dir>/cookie-secret']),
  },
  {
    name: 'files: a client secret file missing, without a follow-on',
    yaml: edit(['clientSecret: client-secret-value', 'clientSecretFile: <dir>/oidc-secret']),
  },
  {
    name: 'files: a cookie secret file with a short secret',
    yaml: edit([`  secret: ${COOKIE}`, '  secretFile: <dir>/cookie-secret']),
    files: { 'cookie-secret': 'short\n' },
  },
  // types
  { name: 'types: listen as a number', yaml: add('listen: 4180') },
  {
    name: 'types: scopes as one string',
    yaml: edit(['    clientId: portcullis', '    clientId: portcullis\n    scopes: openid email groups']),
  },
  { name: 'types: trustedProxies as one string', yaml: add('trustedProxies: 10.0.0.0/8') },
  { name: 'types: publicUrl missing', yaml: edit(['publicUrl: https://auth.example.com\n', '']) },
  { name: 'types: providers missing', yaml: BASE.replace(/providers:\n(?: {2}.*\n)+/, '') },
  { name: 'types: upstreams missing', yaml: BASE.replace(/upstreams:\n(?: {2}.*\n)+/, '') },
  { name: 'types: a boolean written as a word in quotes', yaml: add('autoLogin: "yes"') },
  { name: 'types: a number in quotes', yaml: add('pendingLoginsMax: "5"') },
  {
    name: 'types: a secret of the wrong type is not printed',
    yaml: edit([`  secret: ${COOKIE}`, '  secret: 123456']),
  },
  {
    name: 'types: providers as a mapping, not a list',
    yaml: edit(['  - id: corp', '    id: corp'], ['providers:\n', 'providers:\n  corp:\n']),
  },
  { name: 'types: an upstream without its url', yaml: edit(['    url: http://127.0.0.1:8080\n', '']) },
  // formats
  { name: 'formats: listen without a host', yaml: add('listen: "4180"') },
  {
    name: 'formats: publicUrl not a URL',
    yaml: edit(['publicUrl: https://auth.example.com', 'publicUrl: auth.example.com']),
  },
  {
    name: 'formats: publicUrl with a script scheme',
    yaml: edit(['publicUrl: https://auth.example.com', 'publicUrl: javascript:alert(1)']),
  },
  { name: 'formats: a log level misspelt', yaml: add('logging:\n  level: debg') },
  { name: 'formats: a provider type misspelt', yaml: edit(['type: oidc', 'type: oidcc']) },
  { name: 'formats: a duration in words', yaml: add('sessions:\n  lifetime: 3 days') },
  { name: 'formats: a number below its minimum', yaml: add('pendingLoginsMax: 0') },
  { name: 'formats: a number above its maximum', yaml: add('pendingLoginsMax: 50') },
  {
    name: 'formats: a cookie name with a space',
    yaml: edit([`  secret: ${COOKIE}`, `  secret: ${COOKIE}\n  name: my cookie`]),
  },
  // unknown keys
  { name: 'keys: a misspelt top-level key', yaml: edit(['cookie:', 'cookies:']) },
  {
    name: 'keys: a misspelt key leaves the real one missing: said once',
    yaml: edit(['clientId: portcullis', 'clientID: portcullis']),
  },
  { name: 'keys: an unknown key without a close match', yaml: add('colour: blue') },
  {
    name: 'keys: a misspelt section is still checked, as the section meant',
    yaml: edit(['cookie:', 'cookies:'], [`  secret: ${COOKIE}`, '  secret: too-short']),
  },
  {
    name: 'keys: a misspelt key with a value of the wrong type: both said',
    yaml: edit(['    clientId: portcullis', '    clientId: portcullis\n    scope: openid email']),
  },
  // across settings
  { name: 'cross: a short cookie secret', yaml: edit([`  secret: ${COOKIE}`, '  secret: too-short']) },
  {
    name: 'cross: two providers with one id',
    yaml: edit([
      'upstreams:',
      '  - id: corp\n    type: github\n    clientId: gh\n    clientSecret: gh-secret\nupstreams:',
    ]),
  },
  {
    name: 'cross: plain http off loopback',
    yaml: edit(['publicUrl: https://auth.example.com', 'publicUrl: http://auth.example.com']),
  },
  { name: 'cross: two upstreams on one path', yaml: add('  - path: /\n    url: http://127.0.0.1:8081') },
  { name: 'cross: a port above 65535', yaml: add('listen: 0.0.0.0:70000') },
  {
    name: 'cross: a redirect URL not ending in the callback',
    yaml: add('redirectUrl: https://auth.example.com/callback'),
  },
  // combinations
  {
    name: 'all at once: env, a type, a format, an unknown key and a missing file',
    yaml: edit(
      ['clientSecret: client-secret-value', 'clientSecretFile: <dir>/oidc-secret'],
      ['clientId: portcullis', 'clientId: ${CLIENT_ID}'],
      ['cookie:', 'listen: 4180\nlogging:\n  level: loud\ncookie:'],
    ).concat('autoLogn: true\n'),
  },
  {
    name: 'an unknown key and problems across settings: both in one run',
    yaml: edit(['cookie:', 'cookies_: 1\ncookie:'], [`  secret: ${COOKIE}`, '  secret: too-short']),
  },
  {
    name: 'a type problem and a missing file: one run, and the checks across settings said to wait',
    yaml: edit([`  secret: ${COOKIE}`, '  secretFile: <dir>/cookie-secret']).concat(
      'trustedProxies: 10.0.0.0/8\n',
    ),
  },
];
