// The check of bench/run.sh for portcullis-assertion: through that Portcullis, the app receives an
// X-Portcullis-Assertion that verifies against Portcullis's key set (/oauth2/jwks) with the right iss, aud
// and sub, and a forged assertion sent by the client does not reach it.
// Usage: node bench/check-assertion.ts GATEWAY_URL APP_URL COOKIE
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [gateway, app, cookie] = process.argv.slice(2);
if (!gateway || !app || !cookie) {
  process.stderr.write('usage: check-assertion.ts GATEWAY_URL APP_URL COOKIE\n');
  process.exit(2);
}
// The sample app's /api/ echoes every header it received as JSON.
const res = await fetch(new URL('/api/whoami', gateway), {
  headers: { cookie, 'x-portcullis-assertion': 'forged.by.client' },
});
if (res.status !== 200) throw new Error(`GET /api/whoami through ${gateway}: ${res.status}`);
const { headers } = (await res.json()) as { headers: Record<string, string> };
const token = headers['x-portcullis-assertion'];
if (!token || token === 'forged.by.client') throw new Error(`the app received assertion ${token}`);
const { payload, protectedHeader } = await jwtVerify(
  token,
  createRemoteJWKSet(new URL('/oauth2/jwks', gateway)),
  {
    issuer: new URL(gateway).origin,
    audience: new URL(app).origin,
  },
);
if (payload.sub !== 'alice') throw new Error(`assertion sub ${payload.sub}, expected alice`);
process.stdout.write(
  `checked portcullis-assertion: the app got an ${protectedHeader.alg} assertion (kid ${protectedHeader.kid}) that verifies against /oauth2/jwks, sub alice; the forged one was dropped\n`,
);
