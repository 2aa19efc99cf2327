/**
 * Log lines the docs quote are lines the code prints. Each entry runs the code that words the message
 * (the same functions `serve` and `check` call: test/doctor/agreement.test.ts shows them in a real log)
 * and holds every page that quotes it to the quote; `…` in a quote stands for any text. Wording once
 * quoted but no longer printed must not come back.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { discoveryRedirect, issuerMismatch } from '../../src/config/idp-urls.ts';

interface Quote {
  readonly quote: string;
  readonly printed: string;
  readonly pages: readonly string[];
}

const QUOTES: Quote[] = [
  {
    quote: 'the IdP publishes issuer "…", not the configured "…"',
    printed: issuerMismatch('https://a.example/x', 'https://a.example/x/'),
    pages: ['docs/providers/oidc.md', 'docs/reference/errors.md', 'docs/troubleshooting.md'],
  },
  {
    quote: '… answered HTTP 301 to …; discovery does not follow redirects',
    printed: discoveryRedirect('https://a.example/.well-known/openid-configuration', 301, '/x/'),
    pages: ['docs/providers/oidc.md', 'docs/reference/errors.md', 'docs/troubleshooting.md'],
  },
];

/** Said once by the docs, printed by nothing Portcullis runs. */
const NEVER_PRINTED = ['"issuer" property does not match the expected value'];

function pattern(quote: string): RegExp {
  const parts = quote.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`, 's');
}

for (const q of QUOTES) {
  test(`quoted: ${q.quote}`, () => {
    assert.match(q.printed, pattern(q.quote), 'the code prints what the docs quote');
    for (const page of q.pages) {
      assert.ok(readFileSync(page, 'utf8').includes(`\`${q.quote}\``), `${page} quotes it`);
    }
  });
}

test('no page quotes a message the code no longer prints', () => {
  const pages = [
    'docs/providers/oidc.md',
    'docs/reference/errors.md',
    'docs/troubleshooting.md',
    'docs/check.md',
  ];
  for (const page of pages) {
    const text = readFileSync(page, 'utf8');
    for (const stale of NEVER_PRINTED) assert.ok(!text.includes(stale), `${page} still quotes ${stale}`);
  }
});
