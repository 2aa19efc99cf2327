/** Mapping a profile to an identity: the shapes IdPs really send for ids, groups and e-mail verification. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimAt, identityFromProfile, type ProfileMapping, strings } from '../../src/idp/claims.ts';

const MAP: ProfileMapping = {
  sub: ['sub', 'id'],
  email: 'email',
  emailVerified: 'email_verified',
  username: 'login',
  groups: 'groups',
};
const opts = { keepClaims: [], allowUnverifiedEmail: false };

test('groups: a list, one string, numeric ids, and junk entries dropped', () => {
  assert.deepEqual(strings(['a', 'b']), ['a', 'b']);
  assert.deepEqual(strings('admins'), ['admins']);
  assert.deepEqual(strings(''), []);
  assert.deepEqual(strings([42, 'ops', '', null, { id: 1 }, Number.NaN, true]), ['42', 'ops']);
  assert.deepEqual(strings(7), ['7']);
  assert.deepEqual(strings(undefined), []);
  assert.deepEqual(strings({ 0: 'a' }), []);
});

test('the user id falls back along its paths; a numeric id becomes a string; no id, no identity', () => {
  assert.equal(identityFromProfile({ id: 583231 }, MAP, opts)?.sub, '583231');
  assert.equal(identityFromProfile({ sub: 'abc', id: 1 }, MAP, opts)?.sub, 'abc');
  assert.equal(identityFromProfile({ login: 'x' }, MAP, opts), undefined);
});

test('an unverified e-mail is dropped unless allowed; "false" as a string counts as false', () => {
  const p = { sub: 's', email: 'a@example.com', email_verified: 'false' };
  assert.equal(identityFromProfile(p, MAP, opts)?.email, undefined);
  assert.equal(identityFromProfile(p, MAP, opts)?.emailVerified, false);
  assert.equal(identityFromProfile(p, MAP, { ...opts, allowUnverifiedEmail: true })?.email, 'a@example.com');
  assert.equal(identityFromProfile({ ...p, email_verified: true }, MAP, opts)?.email, 'a@example.com');
});

test('dot paths read nested objects; a flat key with dots in its name is found too', () => {
  assert.equal(claimAt({ a: { b: { c: 'deep' } } }, 'a.b.c'), 'deep');
  assert.equal(
    claimAt({ 'https://example.com/groups': ['x'] }, 'https://example.com/groups')?.toString(),
    'x',
  );
  assert.equal(claimAt({ a: 'str' }, 'a.b'), undefined);
});

test('a claim named __proto__ stays a plain key when claims are kept for requirements', async () => {
  const { pickClaims } = await import('../../src/idp/claims.ts');
  const profile = JSON.parse('{"sub":"s","__proto__":["x"],"hd":"example.com"}') as Record<string, unknown>;
  const kept = pickClaims(profile, ['__proto__', 'hd']);
  assert.equal(Object.getPrototypeOf(kept), Object.prototype);
  assert.deepEqual(Object.keys(kept ?? {}), ['__proto__', 'hd']);
});
