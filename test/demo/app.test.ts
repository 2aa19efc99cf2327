import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';

let app: SampleApp;

before(async () => {
  app = await startSampleApp({});
});

after(async () => {
  await app.close();
});

describe('sample app', () => {
  test('JSON echo of method, raw path and every header under /api/', async () => {
    const res = await fetch(`${app.url}/api/things?x=1&y=%2F`, {
      headers: { 'X-Forwarded-User': 'alice', 'X-Custom': 'a b' },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const echo = (await res.json()) as {
      method: string;
      path: string;
      headers: Record<string, string>;
      rawHeaders: [string, string][];
    };
    assert.equal(echo.method, 'GET');
    assert.equal(echo.path, '/api/things?x=1&y=%2F');
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    assert.equal(echo.headers['x-custom'], 'a b');
    assert.ok(echo.rawHeaders.some(([k, v]) => k.toLowerCase() === 'x-forwarded-user' && v === 'alice'));
  });

  test('JSON when Accept prefers it, HTML otherwise', async () => {
    const json = await fetch(`${app.url}/anything`, { headers: { accept: 'application/json' } });
    assert.match(json.headers.get('content-type') ?? '', /application\/json/);
    await json.body?.cancel();
    const html = await fetch(`${app.url}/anything`, {
      headers: { accept: 'text/html,application/json;q=0.9' },
    });
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    await html.body?.cancel();
  });

  test('HTML page shows the forwarded identity escaped, and never token values', async () => {
    const res = await fetch(`${app.url}/some/page?q=<x>`, {
      headers: {
        accept: 'text/html',
        'x-forwarded-user': '<b>alice</b>',
        'x-forwarded-provider': 'demo',
        'x-forwarded-email': 'alice@example.com',
        'x-forwarded-preferred-username': 'alice',
        'x-forwarded-groups': 'admins,engineering',
        authorization: 'Bearer secret-token-value',
      },
    });
    const body = await res.text();
    assert.match(body, /<title>Sample app behind Portcullis<\/title>/);
    assert.match(body, /&lt;b&gt;alice&lt;\/b&gt;/);
    assert.ok(!body.includes('<b>alice</b>'));
    assert.match(body, /alice@example\.com/);
    assert.match(body, /X-Forwarded-Provider\)<\/th><td>demo</);
    assert.match(body, /admins,engineering/);
    assert.ok(!body.includes('secret-token-value'));
    assert.match(body, /present \(25 chars\)/);
    assert.match(body, /X-Portcullis-Assertion<\/th><td>absent/);
    assert.match(body, /GET \/some\/page\?q=/);
  });

  test('POST /echo streams the body back: the first chunk returns before the request ends', async () => {
    const url = new URL(`${app.url}/echo`);
    const received: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], 'text/plain');
        res.on('data', (chunk: Buffer) => {
          received.push(chunk);
          // Only once the first chunk has come back is the second one sent: proof of streaming.
          if (received.length === 1) req.end('second');
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.write('first;');
    });
    assert.equal(Buffer.concat(received).toString(), 'first;second');
  });

  test('POST /echo returns binary bodies unchanged', async () => {
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
    const res = await fetch(`${app.url}/echo`, { method: 'POST', body });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
  });

  test('GET /slow waits', async () => {
    const started = performance.now();
    const res = await fetch(`${app.url}/slow?ms=150`);
    assert.deepEqual(await res.json(), { slept: 150 });
    assert.ok(performance.now() - started >= 140);
  });

  test('WebSocket echo with the global WebSocket client', async () => {
    const ws = new WebSocket(`${app.url.replace('http:', 'ws:')}/ws`, ['echo.v1']);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('error', () => reject(new Error('websocket error')));
      ws.addEventListener('open', () => {
        assert.equal(ws.protocol, 'echo.v1');
        ws.send('hello');
        ws.send('x'.repeat(70_000));
        ws.send('__headers__');
      });
      ws.addEventListener('message', (event) => {
        messages.push(String(event.data));
        if (messages.length === 3) ws.close(1000, 'done');
      });
      ws.addEventListener('close', (event) => {
        assert.equal(event.code, 1000);
        resolve();
      });
    });
    assert.equal(messages[0], 'hello');
    assert.equal(messages[1], 'x'.repeat(70_000));
    const headers = JSON.parse(messages[2]!) as Record<string, string>;
    assert.equal(headers['upgrade'], 'websocket');
  });

  test('other upgrade paths are refused', async () => {
    const ws = new WebSocket(`${app.url.replace('http:', 'ws:')}/nope`);
    const outcome = await new Promise<string>((resolve) => {
      ws.addEventListener('open', () => resolve('open'));
      ws.addEventListener('error', () => resolve('error'));
    });
    assert.equal(outcome, 'error');
  });
});
