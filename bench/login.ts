// Signs in through a gateway at the dev IdP with the scripted browser from the tests and prints the
// Cookie header value of the session: Portcullis's (`portcullis`, or its chunks `portcullis_0`, `_1`, …),
// or with --apache mod_auth_openidc's (`mod_auth_openidc_session`, or its chunks).
// Usage: node bench/login.ts GATEWAY_URL [USER] [PASSWORD] [--apache]
import { Browser } from '../test/support/browser.ts';

const apache = process.argv.includes('--apache');
const [gateway, user = 'alice', password = 'alice'] = process.argv.slice(2).filter((a) => a !== '--apache');
if (!gateway) {
  process.stderr.write('usage: login.ts GATEWAY_URL [USER] [PASSWORD] [--apache]\n');
  process.exit(2);
}
const base = new URL(gateway);
const browser = new Browser();
// Portcullis: its start endpoint (no sign-in page in between); Apache: any protected URL redirects.
const loginPage = await browser.get(apache ? new URL('/', base) : new URL('/oauth2/start?rd=/', base));
const done = await browser.signInAtDevIdp(loginPage, user, password);
if (done.status !== 200 || new URL(done.url).origin !== base.origin) {
  throw new Error(`sign-in ended with ${done.status} at ${done.url}: ${done.body.slice(0, 300)}`);
}
// The jar keeps cookies per host like a browser (the IdP on another port shares it): keep the session only.
const name = apache ? /^mod_auth_openidc_session(?:_chunks|_\d+)?$/ : /^portcullis(?:_\d+)?$/;
const session = browser.jar
  .cookiesFor(base)
  .filter((c) => name.test(c.name))
  .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
if (session.length === 0)
  throw new Error(`no session cookie after sign-in (jar: ${browser.jar.names(base)})`);
process.stdout.write(`${session.map((c) => `${c.name}=${c.value}`).join('; ')}\n`);
