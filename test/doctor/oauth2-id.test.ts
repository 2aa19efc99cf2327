/**
 * `portcullis check` warns when an oauth2 provider maps no id: a Spinnaker-style profile without sub or id
 * is then keyed by its username or e-mail, which an IdP may give to another person later.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { runDoctor } from '../../src/doctor/run.ts';
import { configDir } from './support.ts';

const dir = configDir();
after(() => dir.remove());

function yaml(mapping: string): string {
  return `publicUrl: https://platform.example.com
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers:
  - id: spin
    type: oauth2
    authorizationUrl: https://sso.example.com/authorize
    tokenUrl: https://sso.example.com/token
    userInfoUrl: https://sso.example.com/me
    clientId: gate
    clientSecret: s
    userInfoMapping: ${mapping}
upstreams: [{ path: /, url: "http://127.0.0.1:9" }]
`;
}

async function insecure(mapping: string) {
  const r = await runDoctor({ file: dir.write('c.yaml', yaml(mapping)), env: {} }, { offline: true });
  return r.findings.filter((f) => f.id === 'provider.insecure').map((f) => f.message);
}

test('no id mapped: a warning naming the fallback and the fix', async () => {
  const found = await insecure(
    '{ email: mail, firstName: given, lastName: family, username: user, roles: memberOf }',
  );
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /keyed by its username, then its e-mail address/);
});

test('control: an id mapped, no warning', async () => {
  assert.deepEqual(await insecure('{ id: uid, email: mail }'), []);
});
