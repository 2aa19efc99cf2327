/**
 * The `html` tag escapes every value unless it is itself `html`, and no page in src/ builds HTML any other
 * way: a scan of src/ finds no template or string that mixes markup and values outside the tag.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { Html, html, rawHtml } from '../../src/http/html.ts';
import { errorPage, signInPage, signOutPage } from '../../src/http/pages.ts';
import { servicesPage } from '../../src/http/services.ts';
import { consentPage, logoutPage } from '../../src/issuer/pages.ts';

const EVIL = `<script>alert("x")</script>&'`;
const ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;';

describe('html tag', () => {
  test('escapes < > & " and \' in values', () => {
    assert.equal(html`<p>${EVIL}</p>`.toString(), `<p>${ESCAPED}</p>`);
  });

  test('a value in an attribute cannot leave it', () => {
    const out = html`<a href="${'x" onclick="alert(1)'}" title='${"y' onmouseover='z"}'>a</a>`.toString();
    assert.equal(out, `<a href="x&quot; onclick=&quot;alert(1)" title='y&#39; onmouseover=&#39;z'>a</a>`);
  });

  test('nested templates are not escaped twice; arrays are joined; nothing for undefined/null/false', () => {
    const items = ['a&b', '<c>'].map((x) => html`<li>${x}</li>`);
    assert.equal(html`<ul>${items}</ul>`.toString(), '<ul><li>a&amp;b</li><li>&lt;c&gt;</li></ul>');
    assert.equal(html`${html`${html`<b>${'&'}</b>`}`}`.toString(), '<b>&amp;</b>');
    assert.equal(html`[${undefined}${null}${false}${0}${'x'}]`.toString(), '[0x]');
  });

  test('a string that looks like markup is still a string; only html and rawHtml make Html', () => {
    assert.equal(html`${'<b>x</b>'}`.toString(), '&lt;b&gt;x&lt;/b&gt;');
    assert.equal(html`${rawHtml('<b>x</b>')}`.toString(), '<b>x</b>');
    const forged = { toString: () => '<b>' } as unknown as Html;
    assert.equal(html`${forged}`.toString(), '&lt;b&gt;', 'an object posing as Html is escaped');
    assert.throws(() => new Html(Symbol('html') as never, '<b>'), TypeError);
  });
});

describe('pages escape what they are given', () => {
  test('sign-in, error, sign-out, services, consent and logout pages', () => {
    const pages = [
      signInPage([{ id: EVIL, name: EVIL, icon: EVIL }], EVIL),
      errorPage({
        status: 403,
        code: EVIL,
        title: EVIL,
        advice: EVIL,
        requestId: EVIL,
        detail: EVIL,
        explanations: [EVIL],
        reasons: [EVIL, EVIL],
        retryHref: EVIL,
      }),
      signOutPage(EVIL),
      servicesPage([{ id: 'x', name: EVIL, url: EVIL, description: EVIL }], EVIL),
      consentPage({
        service: EVIL,
        serviceUrl: 'https://svc.example/',
        description: EVIL,
        scopes: ['openid'],
        user: EVIL,
        confirmAction: EVIL,
        abortAction: EVIL,
        csrf: EVIL,
      }),
      logoutPage('<form id="op.logoutForm"></form>', EVIL),
    ];
    for (const page of pages) {
      assert.ok(!page.includes('<script>'), page);
      assert.ok(!page.includes(`"x")`), 'no raw quote from a value');
      assert.match(page, /&lt;script&gt;/);
    }
    assert.match(pages[1]!, /reasons <code>[^<]+<\/code> <code>/, 'reasons separated by a space');
  });
});

// --- the scan ------------------------------------------------------------------------------------------

const TAG =
  /<\/?(?:!doctype|a|p|h[1-6]|div|span|ul|ol|li|form|input|button|code|strong|small|br|img|table|tr|th|td|pre|html|head|body|main|title|style|script|meta|label|section|em|b|i)\b/i;

interface Literal {
  readonly kind: 'template' | 'string';
  readonly tag: string;
  readonly text: string;
  readonly holes: number;
  readonly line: number;
  /** The previous and next significant characters around a string literal. */
  readonly before: string;
  after: string;
}

/** A small lexer for TypeScript: comments, strings, regex literals and (nested) template literals. */
function literals(src: string): Literal[] {
  const out: Literal[] = [];
  let i = 0;
  let prev = ''; // last significant character
  let prevWord = '';
  const line = (at: number) => src.slice(0, at).split('\n').length;
  const pendingAfter: Literal[] = [];
  const significant = (c: string, word = '') => {
    for (const l of pendingAfter.splice(0)) l.after = c;
    prev = c;
    prevWord = word;
  };
  const readTemplate = (start: number, tag: string): number => {
    let j = start + 1;
    let text = '';
    let holes = 0;
    while (j < src.length && src[j] !== '`') {
      if (src[j] === '\\') {
        text += src.slice(j, j + 2);
        j += 2;
      } else if (src[j] === '$' && src[j + 1] === '{') {
        holes++;
        significant('{');
        j = readCode(j + 2, '}');
      } else text += src[j++];
    }
    out.push({ kind: 'template', tag, text, holes, line: line(start), before: '', after: '' });
    return j + 1;
  };
  const readCode = (start: number, until: string | undefined): number => {
    let depth = 0;
    i = start;
    while (i < src.length) {
      const c = src[i]!;
      if (c === '/' && src[i + 1] === '/')
        i = src.indexOf('\n', i) === -1 ? src.length : src.indexOf('\n', i);
      else if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) + 2;
      else if (/\s/.test(c)) i++;
      else if (c === "'" || c === '"') {
        let j = i + 1;
        while (src[j] !== c) j += src[j] === '\\' ? 2 : 1;
        const lit: Literal = {
          kind: 'string',
          tag: '',
          text: src.slice(i + 1, j),
          holes: 0,
          line: line(i),
          before: prev,
          after: '',
        };
        out.push(lit);
        i = j + 1;
        significant(c);
        pendingAfter.push(lit);
      } else if (c === '`') {
        const keyword = ['return', 'yield', 'await', 'typeof', 'case', 'in', 'of'].includes(prevWord);
        const tag = /[\w$.]$/.test(prev) && !keyword ? prevWord : '';
        const end = readTemplate(i, tag);
        i = end;
        significant('`');
      } else if (
        c === '/' &&
        (/[(,=:[!&|?{};+\-*%<>~^]/.test(prev) || prev === '' || prevWord === 'return')
      ) {
        // A regex literal.
        let j = i + 1;
        let cls = false;
        while (j < src.length && (cls || src[j] !== '/')) {
          if (src[j] === '\\') j++;
          else if (src[j] === '[') cls = true;
          else if (src[j] === ']') cls = false;
          j++;
        }
        i = j + 1;
        while (/[a-z]/.test(src[i] ?? '')) i++;
        significant('/');
      } else if (/[\w$]/.test(c)) {
        const m = /^[\w$]+/.exec(src.slice(i, i + 200))!;
        i += m[0].length;
        significant(m[0].at(-1)!, m[0]);
      } else {
        if (until !== undefined && c === until && depth === 0) return i + 1;
        if (c === '{') depth++;
        if (c === '}') depth--;
        i++;
        significant(c);
      }
    }
    return i;
  };
  readCode(0, undefined);
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Where `source` builds markup from values without the html tag. */
function unescapedMarkup(source: string): string[] {
  const found: string[] = [];
  for (const l of literals(source)) {
    if (!TAG.test(l.text)) continue;
    if (l.kind === 'template' && l.holes > 0 && l.tag !== 'html')
      found.push(`line ${l.line}: template with values${l.tag ? ` tagged ${l.tag}` : ''}`);
    if (l.kind === 'string' && (l.before === '+' || l.after === '+'))
      found.push(`line ${l.line}: markup joined with +`);
  }
  return found;
}

describe('src/ builds HTML only with the html tag', () => {
  test('the scan finds markup built from values (control cases)', () => {
    assert.deepEqual(unescapedMarkup('const a = `<p>${x}</p>`;').length, 1);
    assert.deepEqual(unescapedMarkup("const a = '<p>' + x + '</p>';").length, 2);
    assert.deepEqual(unescapedMarkup('const a = html`<p>${`<b>${x}</b>`}</p>`;').length, 1, 'nested');
    assert.deepEqual(unescapedMarkup('const a = /[<>"\']/g; const b = `<p>${x}</p>`;').length, 1);
    assert.deepEqual(unescapedMarkup('const a = html`<p>${x}</p>`; const b = `no markup ${x}`;'), []);
  });

  test('no file but src/http/html.ts escapes by hand, and none mixes markup and values outside the tag', () => {
    const root = join(import.meta.dirname, '../../src');
    const problems: string[] = [];
    for (const file of sourceFiles(root)) {
      const name = relative(root, file);
      if (name === join('http', 'html.ts')) continue;
      const source = readFileSync(file, 'utf8');
      if (/\besc(?:ape)?(?:Html)?\(/.test(source) || /replace\(\/\[&<>/.test(source))
        problems.push(`${name}: escapes by hand`);
      for (const p of unescapedMarkup(source)) problems.push(`${name}: ${p}`);
    }
    assert.deepEqual(problems, []);
  });
});
