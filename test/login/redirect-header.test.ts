// X-Auth-Request-Redirect (oauth2-proxy's header): the post-login target when the query names no `rd`,
// whole (every query parameter), checked by the same open-redirect rules as `rd`, never one of the
// /oauth2/ pages (nginx sets it on every request there: /oauth2/start as the target would loop).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Stack, startStack } from '../support/stack.ts';

describe('X-Auth-Request-Redirect', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const HEADER = 'X-Auth-Request-Redirect';

  test('sign_in without rd builds its buttons from the header, every parameter kept', async () => {
    const b = stack.browser();
    const page = await b.get(`${stack.url}/oauth2/sign_in`, { headers: { [HEADER]: '/search?x=1&y=2' } });
    assert.equal(page.status, 200);
    assert.match(page.body, /\/oauth2\/start\?provider=test&amp;rd=%2Fsearch%3Fx%3D1%26y%3D2/);
  });

  test('start without rd signs in and lands on the header’s URL, query whole', async () => {
    const b = stack.browser();
    const login = await b.get(`${stack.url}/oauth2/start`, {
      headers: { [HEADER]: '/api/deep?x=1&y=2&z=%2F' },
    });
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200);
    assert.equal(back.url, `${stack.url}/api/deep?x=1&y=2&z=%2F`);
  });

  test('an rd parameter wins over the header', async () => {
    const b = stack.browser();
    const page = await b.get(`${stack.url}/oauth2/sign_in?rd=%2Fmine`, { headers: { [HEADER]: '/theirs' } });
    assert.match(page.body, /rd=%2Fmine"/);
    assert.doesNotMatch(page.body, /theirs/);
  });

  test('the header is checked like rd: another site is refused, and /', async () => {
    const b = stack.browser();
    const login = await b.get(`${stack.url}/oauth2/start`, {
      headers: { [HEADER]: 'https://evil.example/x' },
    });
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.url, `${stack.url}/`);
    assert.ok(
      stack.logs.some(
        (l) => l.msg.startsWith('redirect target rejected') && l['reason'] === 'rd-host-not-allowed',
      ),
    );
  });

  test('a header naming an /oauth2/ page is ignored (no sign-in loop)', async () => {
    for (const target of ['/oauth2/start?provider=test', `${stack.url}/oauth2/sign_in`]) {
      const b = stack.browser();
      const login = await b.get(`${stack.url}/oauth2/start`, { headers: { [HEADER]: target } });
      const back = await b.signInAtDevIdp(login, 'alice', 'alice');
      assert.equal(back.url, `${stack.url}/`, target);
    }
  });
});
