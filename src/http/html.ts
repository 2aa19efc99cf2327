/**
 * HTML built so that an unescaped value cannot happen: `html\`…\`` escapes every interpolated value
 * unless it is itself the result of `html` (so nested templates are not escaped twice); arrays are joined;
 * `undefined`, `null` and `false` render as nothing (for `${cond && html\`…\`}`). The literal parts of a
 * template are the only markup a page writes, and they are in the source.
 *
 * Escaping `& < > " '` makes a value safe in element content and in a quoted attribute value (the
 * templates always quote attributes), per the HTML standard's character references. It does not make a
 * value safe inside <script> or <style>, or as a URL's scheme: pages put no values there (URLs that come
 * from configuration are validated as http(s) where they are loaded).
 */

const ESC: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const SPECIAL = /[&<>"']/g;

/** Only this module holds it, so only `html` and `rawHtml` can make an Html. */
const MINT: unique symbol = Symbol('html');

/** Markup that is safe as it is: only `html` and `rawHtml` make one. */
export class Html {
  readonly #markup: string;

  constructor(mint: typeof MINT, markup: string) {
    if (mint !== MINT) throw new TypeError('Html values come from the html tag');
    this.#markup = markup;
  }

  toString(): string {
    return this.#markup;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.toString();
  if (value === undefined || value === null || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return String(value).replace(SPECIAL, (c) => ESC[c]!);
}

/** The tag: `html\`<p>${value}</p>\``. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(MINT, out);
}

/**
 * Markup from a source that is trusted to produce HTML, not from a value: a constant stylesheet, or
 * oidc-provider's logout form (which it escapes itself). Never for anything a user or IdP supplied.
 */
export function rawHtml(markup: string): Html {
  return new Html(MINT, markup);
}
