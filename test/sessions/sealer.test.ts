import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Sealer } from '../../src/sessions/sealer.ts';

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const key = () => randomBytes(32);

test('round trip, for any plaintext length, including empty and non-ASCII', () => {
  const s = new Sealer([key()]);
  for (const plain of ['', 'x', 'ab', 'abc', 'abcd', '{"v":1}', 'ünïcødé ✓ 🍪', 'x'.repeat(20_000)]) {
    const sealed = s.seal('session', plain);
    assert.match(sealed, /^[A-Za-z0-9_-]+$/, 'base64url, cookie-safe');
    assert.equal(s.open('session', sealed), plain, JSON.stringify(plain.slice(0, 10)));
  }
});

test('every seal is fresh (random IV): the same plaintext never seals to the same value', () => {
  const s = new Sealer([key()]);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(s.seal('session', 'same'));
  assert.equal(seen.size, 50);
});

test('purpose binding: sealed for one purpose never opens as another', () => {
  const s = new Sealer([key()]);
  const flow = s.seal('flow', '{"v":1}');
  assert.equal(s.open('flow', flow), '{"v":1}');
  assert.equal(s.open('session', flow), undefined);
  assert.equal(s.open('Flow', flow), undefined);
  assert.equal(s.open('', flow), undefined);
  const session = s.seal('session', '{"v":1}');
  assert.equal(s.open('flow', session), undefined);
});

test('a changed byte anywhere in the sealed value fails to open', () => {
  const s = new Sealer([key()]);
  const sealed = s.seal('session', '{"sub":"alice","groups":["admins"]}');
  const bytes = Buffer.from(sealed, 'base64url');
  for (let i = 0; i < bytes.length; i++) {
    for (const flip of [0x01, 0x80, 0xff]) {
      const t = Buffer.from(bytes);
      t[i] = t[i]! ^ flip;
      assert.equal(s.open('session', t.toString('base64url')), undefined, `byte ${i} ^ ${flip}`);
    }
  }
});

test('a changed character anywhere in the sealed value fails to open (one value, one spelling)', () => {
  const s = new Sealer([key()]);
  // Lengths whose base64url has unused bits in the last character (the case a lax decoder lets through).
  for (const plain of ['0123456789', '0123456789a', '0123456789ab']) {
    const sealed = s.seal('session', plain);
    for (let i = 0; i < sealed.length; i++) {
      for (const c of BASE64URL) {
        if (c === sealed[i]) continue;
        const t = sealed.slice(0, i) + c + sealed.slice(i + 1);
        assert.equal(s.open('session', t), undefined, `position ${i} of ${sealed.length} -> ${c}`);
      }
    }
    for (const junk of ['=', '==', '.', ' ', '\n', '*', '%3D']) {
      assert.equal(s.open('session', sealed + junk), undefined, `appended ${JSON.stringify(junk)}`);
      assert.equal(s.open('session', junk + sealed), undefined, `prepended ${JSON.stringify(junk)}`);
      const mid = sealed.slice(0, 20) + junk + sealed.slice(20);
      assert.equal(s.open('session', mid), undefined, `inserted ${JSON.stringify(junk)}`);
    }
  }
});

test('truncated, empty, garbage and foreign values are undefined, never a throw', () => {
  const s = new Sealer([key()]);
  const sealed = s.seal('session', '{"v":1,"sub":"alice"}');
  for (let n = 0; n < sealed.length; n++) {
    assert.equal(s.open('session', sealed.slice(0, n)), undefined, `first ${n} chars`);
    assert.equal(s.open('session', sealed.slice(sealed.length - n)), undefined, `last ${n} chars`);
  }
  const garbage = [
    '',
    'a',
    '=',
    'deleted',
    'null',
    '{"v":1}',
    '%00%00',
    '\u0000'.repeat(100),
    '🍪'.repeat(40),
    'A'.repeat(44),
    'A'.repeat(10_000),
    '_'.repeat(200),
    randomBytes(200).toString('base64'),
    randomBytes(200).toString('latin1'),
    Buffer.from([1, 0, 0, 0, 0, ...randomBytes(60)]).toString('base64url'), // version 1, unknown key id
  ];
  for (const g of garbage) {
    assert.doesNotThrow(() => s.open('session', g));
    assert.equal(s.open('session', g), undefined, JSON.stringify(g.slice(0, 30)));
  }
  const other = new Sealer([key()]);
  assert.equal(other.open('session', sealed), undefined, 'another key');
  // Same key id bytes but the wrong version byte.
  const v2 = Buffer.from(sealed, 'base64url');
  v2[0] = 2;
  assert.equal(s.open('session', v2.toString('base64url')), undefined);
});

test('rotation: the first secret seals, every secret opens', () => {
  const oldKey = key();
  const newKey = key();
  const before = new Sealer([oldKey]);
  const sealedOld = before.seal('session', 'old');

  const rotated = new Sealer([newKey, oldKey]);
  assert.equal(rotated.open('session', sealedOld), 'old', 'old values still open after rotation');
  const sealedNew = rotated.seal('session', 'new');
  assert.equal(rotated.open('session', sealedNew), 'new');
  assert.equal(before.open('session', sealedNew), undefined, 'new values are sealed with the first key');
  assert.equal(new Sealer([newKey]).open('session', sealedNew), 'new');

  const retired = new Sealer([newKey]);
  assert.equal(retired.open('session', sealedOld), undefined, 'a removed key no longer opens');
});

test('keys are derived from the secret: the same secret opens across instances', () => {
  const k = key();
  assert.equal(new Sealer([k]).open('flow', new Sealer([Buffer.from(k)]).seal('flow', 'x')), 'x');
});

test('a Sealer without secrets is a start-up error', () => {
  assert.throws(() => new Sealer([]), TypeError);
});
