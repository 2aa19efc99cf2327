/** /metrics: requests by class and status, sign-ins by outcome, upstream and IdP latency, refreshes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Stack, startStack } from '../support/stack.ts';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  test('count requests, sign-ins and latencies', async () => {
    const b = await stack.signIn('alice', '/api/x');
    await b.get(`${stack.url}/api/x`);
    await stack.browser().get(`${stack.url}/api/x`, { followRedirects: false });
    await stack.browser().get(`${stack.url}/oauth2/callback?state=nope&code=x`);
    const r = await fetch(`${stack.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const text = await r.text();
    assert.ok(value(text, 'portcullis_http_requests_total{class="proxy",status="200"}') >= 2);
    assert.ok(value(text, 'portcullis_http_requests_total{class="proxy",status="401"}') >= 1);
    assert.ok(value(text, 'portcullis_http_requests_total{class="login",status="400"}') >= 1);
    assert.equal(value(text, 'portcullis_sign_ins_total{provider="test",outcome="success"}'), 1);
    assert.ok(value(text, 'portcullis_upstream_request_duration_seconds_count{upstream="sample"}') >= 2);
    assert.ok(
      value(text, 'portcullis_idp_request_duration_seconds_count{provider="test",endpoint="token"}') >= 1,
    );
    assert.ok(
      value(text, 'portcullis_idp_request_duration_seconds_count{provider="test",endpoint="discovery"}') >= 1,
    );
  });
});
