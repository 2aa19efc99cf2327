/**
 * The storage contract: every adapter (memory, sqlite, redis) passes this one suite, and so does
 * oidc-provider's Adapter API on top of it (src/issuer/adapter.ts). A harness provides the adapter, a way
 * to move time forward (a frozen clock for memory and sqlite; real waiting for redis, whose server owns
 * expiry) and, for durable adapters, a way to reopen the same store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StorageAdapter } from '../../src/issuer/adapter.ts';
import type { Storage } from '../../src/storage/storage.ts';

export interface ContractHarness {
  readonly storage: Storage;
  /** Moves time forward by `seconds` as the storage sees it. */
  advance(seconds: number): Promise<void>;
  /** Closes the storage and opens the same store again (durable adapters only). */
  reopen?: () => Promise<Storage>;
  /** Releases whatever the harness holds (files, keys); the storage is closed by the suite. */
  dispose(): Promise<void>;
}

export function storageContract(name: string, open: () => Promise<ContractHarness>): void {
  describe(`storage contract: ${name}`, () => {
    let h: ContractHarness;
    let s: Storage;
    let n = 0;
    /** A fresh id per test, so tests never see each other's entries. */
    const id = (label: string) => `${label}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

    before(async () => {
      h = await open();
      s = h.storage;
    });
    after(async () => {
      await s.close();
      await h.dispose();
    });

    test('stores and returns a JSON payload unchanged', async () => {
      const k = id('a');
      const payload = {
        text: 'héllo ✓ "quoted" \\ back',
        n: 42,
        f: 1.5,
        t: true,
        nil: null,
        list: [1, 'two', { three: 3 }],
        nested: { deep: { deeper: ['x'] } },
      };
      await s.upsert('Thing', k, payload, { expiresIn: 60 });
      assert.deepEqual(await s.find('Thing', k), payload);
    });

    test('an unknown id is undefined; kinds are separate namespaces', async () => {
      const k = id('b');
      assert.equal(await s.find('Thing', k), undefined);
      await s.upsert('Thing', k, { which: 'thing' });
      await s.upsert('Other', k, { which: 'other' });
      assert.deepEqual(await s.find('Thing', k), { which: 'thing' });
      assert.deepEqual(await s.find('Other', k), { which: 'other' });
      await s.destroy('Thing', k);
      assert.equal(await s.find('Thing', k), undefined);
      assert.deepEqual(await s.find('Other', k), { which: 'other' });
    });

    test('values read are copies: changing them changes nothing stored', async () => {
      const k = id('copy');
      const stored = { list: [1] };
      await s.upsert('Thing', k, stored);
      stored.list.push(2);
      const read = (await s.find('Thing', k)) as { list: number[] };
      read.list.push(3);
      assert.deepEqual(await s.find('Thing', k), { list: [1] });
    });

    test('upsert replaces the payload, the lookups and the consumed mark', async () => {
      const k = id('c');
      await s.upsert('Session', k, { v: 1 }, { lookups: { uid: `${k}-u1` } });
      await s.consume('Session', k, 1_700_000_000);
      await s.upsert('Session', k, { v: 2 }, { lookups: { uid: `${k}-u2` } });
      assert.deepEqual(await s.find('Session', k), { v: 2 });
      assert.equal(await s.findBy('Session', 'uid', `${k}-u1`), undefined, 'the old lookup is gone');
      assert.deepEqual(await s.findBy('Session', 'uid', `${k}-u2`), { v: 2 });
    });

    test('entries expire: neither found nor found by lookup afterwards, and cleanup removes them', async () => {
      const short = id('short');
      const long = id('long');
      const forever = id('forever');
      await s.upsert('Code', short, { v: 's' }, { expiresIn: 1, lookups: { uid: `${short}-u` } });
      await s.upsert('Code', long, { v: 'l' }, { expiresIn: 3600 });
      await s.upsert('Code', forever, { v: 'f' });
      assert.deepEqual(await s.find('Code', short), { v: 's' });
      await h.advance(1.1);
      assert.equal(await s.find('Code', short), undefined);
      assert.equal(await s.findBy('Code', 'uid', `${short}-u`), undefined);
      assert.deepEqual(await s.find('Code', long), { v: 'l' });
      assert.deepEqual(await s.find('Code', forever), { v: 'f' });
      const removed = await s.cleanup();
      assert.ok(removed >= 0);
      assert.equal(await s.find('Code', short), undefined);
      assert.deepEqual(await s.find('Code', long), { v: 'l' }, 'cleanup keeps live entries');
      assert.deepEqual(await s.find('Code', forever), { v: 'f' });
    });

    test('an entry that expires now (expiresIn ≤ 0) is not stored, and replaces a live one', async () => {
      const k = id('zero');
      await s.upsert('Code', k, { v: 1 }, { expiresIn: 60 });
      await s.upsert('Code', k, { v: 2 }, { expiresIn: 0 });
      assert.equal(await s.find('Code', k), undefined);
      assert.equal(await s.create('Code', id('zero-create'), { v: 1 }, { expiresIn: -5 }), false);
    });

    test('findBy finds by a lookup; destroy removes the entry and its lookups', async () => {
      const k = id('d');
      await s.upsert('Session', k, { accountId: 'a' }, { expiresIn: 60, lookups: { uid: `${k}-uid` } });
      await s.upsert('DeviceCode', k, { userCode: 'ABCD' }, { lookups: { userCode: `${k}-ABCD` } });
      assert.deepEqual(await s.findBy('Session', 'uid', `${k}-uid`), { accountId: 'a' });
      assert.deepEqual(await s.findBy('DeviceCode', 'userCode', `${k}-ABCD`), { userCode: 'ABCD' });
      assert.equal(await s.findBy('DeviceCode', 'uid', `${k}-uid`), undefined, 'lookups are per kind');
      assert.equal(await s.findBy('Session', 'uid', 'nope'), undefined);
      await s.destroy('Session', k);
      assert.equal(await s.find('Session', k), undefined);
      assert.equal(await s.findBy('Session', 'uid', `${k}-uid`), undefined);
      await s.destroy('Session', k); // twice is fine
    });

    test('consume marks the entry and keeps its payload and expiry', async () => {
      const k = id('e');
      await s.upsert('AuthorizationCode', k, { grantId: 'g', scope: 'openid' }, { expiresIn: 1 });
      await s.consume('AuthorizationCode', k, 1_700_000_123);
      assert.deepEqual(await s.find('AuthorizationCode', k), {
        grantId: 'g',
        scope: 'openid',
        consumed: 1_700_000_123,
      });
      await h.advance(1.1);
      assert.equal(await s.find('AuthorizationCode', k), undefined, 'consuming does not extend the lifetime');
      await s.consume('AuthorizationCode', id('absent'), 1); // no entry: nothing happens
      assert.equal(await s.find('AuthorizationCode', id('absent')), undefined);
    });

    test('revokeGrant removes every entry of that grant, of any kind, and nothing else', async () => {
      const g = id('grant');
      const other = id('grant-other');
      const [code, at, rt, keep] = [id('code'), id('at'), id('rt'), id('keep')];
      await s.upsert('AuthorizationCode', code, { grantId: g }, { expiresIn: 60, grantId: g });
      await s.upsert('AccessToken', at, { grantId: g }, { expiresIn: 3600, grantId: g });
      await s.upsert('RefreshToken', rt, { grantId: g }, { grantId: g, lookups: { uid: `${rt}-u` } });
      await s.upsert('AccessToken', keep, { grantId: other }, { expiresIn: 3600, grantId: other });
      await s.revokeGrant(g);
      assert.equal(await s.find('AuthorizationCode', code), undefined);
      assert.equal(await s.find('AccessToken', at), undefined);
      assert.equal(await s.find('RefreshToken', rt), undefined);
      assert.equal(await s.findBy('RefreshToken', 'uid', `${rt}-u`), undefined);
      assert.deepEqual(await s.find('AccessToken', keep), { grantId: other });
      await s.revokeGrant(g); // twice is fine
      await s.revokeGrant(id('never-used'));
    });

    test('listGrant lists the live entries of a grant, any kind, with their payloads; none expired, destroyed or revoked', async () => {
      const g = id('index');
      const [a, b, gone, dead] = [id('la'), id('lb'), id('lgone'), id('ldead')];
      await s.upsert('GatewaySessionUser', a, { at: 1 }, { expiresIn: 60, grantId: g });
      await s.create('Grant', b, { accountId: 'x' }, { expiresIn: 60, grantId: g });
      await s.upsert('GatewaySessionUser', gone, { at: 3 }, { expiresIn: 60, grantId: g });
      await s.upsert('GatewaySessionUser', dead, { at: 4 }, { expiresIn: 1, grantId: g });
      await s.upsert(
        'GatewaySessionUser',
        id('other'),
        { at: 5 },
        { expiresIn: 60, grantId: id('index-other') },
      );
      await s.destroy('GatewaySessionUser', gone);
      await h.advance(1.1);
      const listed = (await s.listGrant(g)).sort((x, y) => x.kind.localeCompare(y.kind));
      assert.deepEqual(listed, [
        { kind: 'GatewaySessionUser', id: a, payload: { at: 1 } },
        { kind: 'Grant', id: b, payload: { accountId: 'x' } },
      ]);
      await s.revokeGrant(g);
      assert.deepEqual(await s.listGrant(g), []);
      assert.deepEqual(await s.listGrant(id('never-used')), []);
    });

    test('create stores only when absent (or expired), and says whether it did', async () => {
      const k = id('f');
      assert.equal(await s.create('Keys', k, { v: 1 }), true);
      assert.equal(await s.create('Keys', k, { v: 2 }), false);
      assert.deepEqual(await s.find('Keys', k), { v: 1 });
      const t = id('f-ttl');
      assert.equal(await s.create('Keys', t, { v: 1 }, { expiresIn: 1, lookups: { uid: `${t}-u` } }), true);
      await h.advance(1.1);
      assert.equal(await s.create('Keys', t, { v: 2 }, { expiresIn: 60 }), true);
      assert.deepEqual(await s.find('Keys', t), { v: 2 });
    });

    test('concurrent creates of one id: exactly one wins', async () => {
      const k = id('race');
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => s.create('Keys', k, { winner: i })),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assert.deepEqual(await s.find('Keys', k), { winner });
    });

    test('swap replaces only the entry that still holds the expected value (compare-and-set)', async () => {
      const k = id('swap');
      assert.equal(
        await s.swap('Ref', k, { field: 'v', value: 'one' }, { v: 'two' }, { expiresIn: 60 }),
        false,
        'no entry: nothing to swap, and nothing is created',
      );
      assert.equal(await s.find('Ref', k), undefined);
      await s.upsert('Ref', k, { v: 'one', other: 1 }, { expiresIn: 60 });
      assert.equal(await s.swap('Ref', k, { field: 'v', value: 'zero' }, { v: 'two' }), false);
      assert.equal(
        await s.swap('Ref', k, { field: 'other', value: '1' }, { v: 'two' }),
        false,
        'strings only',
      );
      assert.deepEqual(await s.find('Ref', k), { v: 'one', other: 1 }, 'a lost swap changes nothing');
      assert.equal(
        await s.swap('Ref', k, { field: 'v', value: 'one' }, { v: 'two' }, { expiresIn: 1 }),
        true,
      );
      assert.deepEqual(await s.find('Ref', k), { v: 'two' });
      assert.equal(
        await s.swap('Ref', k, { field: 'v', value: 'one' }, { v: 'three' }),
        false,
        'the value read before is stale now',
      );
      await h.advance(1.1);
      assert.equal(await s.find('Ref', k), undefined, 'the new expiry applies');
      assert.equal(
        await s.swap('Ref', k, { field: 'v', value: 'two' }, { v: 'four' }),
        false,
        'an expired entry is not swapped back to life',
      );
      assert.equal(await s.find('Ref', k), undefined);
    });

    test('swap after destroy, or with expiresIn ≤ 0 (compare-and-delete)', async () => {
      const k = id('swap-del');
      await s.upsert('Ref', k, { v: 'a' });
      await s.destroy('Ref', k);
      assert.equal(await s.swap('Ref', k, { field: 'v', value: 'a' }, { v: 'late' }), false);
      assert.equal(await s.find('Ref', k), undefined, 'a late write cannot bring a destroyed entry back');
      await s.upsert('Ref', k, { v: 'b' }, { expiresIn: 60 });
      assert.equal(await s.swap('Ref', k, { field: 'v', value: 'x' }, {}, { expiresIn: 0 }), false);
      assert.deepEqual(await s.find('Ref', k), { v: 'b' });
      assert.equal(await s.swap('Ref', k, { field: 'v', value: 'b' }, {}, { expiresIn: 0 }), true);
      assert.equal(await s.find('Ref', k), undefined);
      // An entry with indexes is not for swap: refused, and left as it is.
      const g = id('swap-grant');
      await s.upsert('Ref', g, { v: 'c' }, { grantId: g });
      await assert.rejects(s.swap('Ref', g, { field: 'v', value: 'c' }, { v: 'd' }), /grant or lookups/);
      assert.deepEqual(await s.find('Ref', g), { v: 'c' });
    });

    test('concurrent swaps from one value: exactly one wins', async () => {
      const k = id('swap-race');
      await s.upsert('Ref', k, { v: 'start' }, { expiresIn: 60 });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          s.swap('Ref', k, { field: 'v', value: 'start' }, { v: `w${i}` }, { expiresIn: 60 }),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1);
      assert.deepEqual(await s.find('Ref', k), { v: `w${results.indexOf(true)}` });
    });

    test('create sets the expiry with the entry, and lookups and grant with it', async () => {
      const k = id('create-all');
      const g = id('create-grant');
      assert.equal(
        await s.create('Lock', k, { owner: 'me' }, { expiresIn: 1, grantId: g, lookups: { uid: `${k}-u` } }),
        true,
      );
      assert.deepEqual(await s.findBy('Lock', 'uid', `${k}-u`), { owner: 'me' });
      await h.advance(1.1);
      assert.equal(await s.find('Lock', k), undefined);
      assert.equal(await s.create('Lock', k, { owner: 'next' }, { grantId: g }), true);
      await s.revokeGrant(g);
      assert.equal(await s.find('Lock', k), undefined, 'the grant index knows the created entry');
    });

    test('many writes and reads at once stay consistent', async () => {
      const ids = Array.from({ length: 50 }, (_, i) => id(`bulk${i}`));
      await Promise.all(ids.map((k, i) => s.upsert('Bulk', k, { i }, { expiresIn: 60 })));
      const read = await Promise.all(ids.map((k) => s.find('Bulk', k)));
      assert.deepEqual(
        read,
        ids.map((_, i) => ({ i })),
      );
    });

    test('oidc-provider adapter: upsert/find/findByUid/consume/destroy/revokeByGrantId', async () => {
      const now = () => 1_700_000_000_000;
      const sessions = new StorageAdapter('Session', s, now);
      const codes = new StorageAdapter('AuthorizationCode', s, now);
      const tokens = new StorageAdapter('AccessToken', s, now);
      const interactions = new StorageAdapter('Interaction', s, now);
      const devices = new StorageAdapter('DeviceCode', s, now);
      const [sid, uid, cid, tid, iid, did, grantId] = [
        id('sess'),
        id('uid'),
        id('code'),
        id('tok'),
        id('int'),
        id('dev'),
        id('grant'),
      ];
      await sessions.upsert(sid, { uid, accountId: 'acc' }, 60);
      assert.deepEqual(await sessions.findByUid(uid), { uid, accountId: 'acc' });
      assert.deepEqual(await sessions.find(sid), { uid, accountId: 'acc' });
      await devices.upsert(did, { userCode: `${did}-UC` }, 60);
      assert.deepEqual(await devices.findByUserCode(`${did}-UC`), { userCode: `${did}-UC` });

      await codes.upsert(cid, { grantId, accountId: 'acc' }, 60);
      await tokens.upsert(tid, { grantId }, 60);
      await interactions.upsert(iid, { grantId, uid: iid }, 60);
      await codes.consume(cid);
      assert.equal((await codes.find(cid))?.['consumed'], 1_700_000_000);
      await codes.revokeByGrantId(grantId);
      assert.equal(await codes.find(cid), undefined);
      assert.equal(await tokens.find(tid), undefined, 'every token of the grant goes');
      assert.deepEqual(
        await interactions.find(iid),
        { grantId, uid: iid },
        'an interaction mentioning the grant stays',
      );
      await sessions.destroy(sid);
      assert.equal(await sessions.findByUid(uid), undefined);
    });

    test('a durable store keeps everything across a restart', async (t) => {
      if (h.reopen === undefined) {
        t.skip('not durable (memory)');
        return;
      }
      const k = id('durable');
      const g = id('durable-grant');
      await s.upsert('RefreshToken', k, { grantId: g, v: 1 }, { expiresIn: 3600, grantId: g });
      await s.upsert('Session', k, { uid: `${k}-u` }, { lookups: { uid: `${k}-u` } });
      await s.consume('RefreshToken', k, 1_700_000_999);
      s = await h.reopen();
      assert.deepEqual(await s.find('RefreshToken', k), { grantId: g, v: 1, consumed: 1_700_000_999 });
      assert.deepEqual(await s.findBy('Session', 'uid', `${k}-u`), { uid: `${k}-u` });
      await s.revokeGrant(g);
      assert.equal(await s.find('RefreshToken', k), undefined, 'the grant index survives too');
    });
  });
}
