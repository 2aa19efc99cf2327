/**
 * /metrics: requests by class and status, sign-ins by outcome, upstream and IdP latency, refreshes — served
 * on a listener of their own (loopback by default), not on the main one unless an operator opts in.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/log.ts';
import { buildContext } from '../../src/server/context.ts';
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
    const r = await fetch(`${stack.gw.metricsUrl}/metrics`);
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

describe('where /metrics is served', () => {
  test('by default on its own loopback listener, and /metrics on the main listener is the upstream’s', () => {
    const c = resolveConfig({
      publicUrl: 'http://127.0.0.1:4180',
      cookie: { secret: randomBytes(32).toString('base64url') },
      providers: [{ id: 't', type: 'oidc', issuer: 'http://127.0.0.1:9/', clientId: 'x', clientSecret: 'y' }],
      upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
    } as RawConfig);
    assert.equal(c.metrics.listen, '127.0.0.1:9180');
    assert.equal(c.metrics.insecureOnMainListener, false);
    assert.equal(buildContext(c, createLogger('silent')).metricsOnMain, false);
  });

  test('the metrics listener serves /metrics only; the main listener passes /metrics to the upstream', async () => {
    assert.match(stack.gw.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(stack.gw.metricsUrl, stack.url);
    assert.equal((await fetch(`${stack.gw.metricsUrl}/ping`)).status, 404);
    // Anonymous: the main listener treats /metrics like any app path (sign in first), never as metrics.
    const anon = await fetch(`${stack.url}/metrics`, { headers: { accept: 'application/json' } });
    assert.equal(anon.status, 401);
    assert.doesNotMatch(await anon.text(), /portcullis_/);
    const b = await stack.signIn('alice', '/');
    const page = await b.get(`${stack.url}/metrics`);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.body, /portcullis_http_requests_total/);
  });

  test('metrics.insecureOnMainListener serves them on the main listener and opens no metrics listener', async (t) => {
    const main = await startStack({
      config: (c) => ({ ...c, metrics: { insecureOnMainListener: true } }),
    });
    t.after(() => main.close());
    assert.equal(main.gw.metricsUrl, undefined);
    const r = await fetch(`${main.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /portcullis_http_requests_total/);
  });
});
