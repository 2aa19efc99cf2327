// A scripted user agent for integration tests — not a real browser (test/e2e drives Chromium for that).
// It keeps cookies like a browser does (RFC 6265bis: per host, not per port; Path; Max-Age/Expires;
// Secure cookies never sent over http; __Host-/__Secure- prefixes enforced), follows redirects by hand
// and can fill in and submit HTML forms, which is all a login through the dev IdP needs.
import http from 'node:http';
import https from 'node:https';

export interface Cookie {
  name: string;
  value: string;
  /** Lower-case host name (no port): cookies are shared across ports, as in browsers. */
  domain: string;
  /** true without a Domain attribute: sent to exactly `domain`, not its subdomains. */
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: string;
  /** Epoch milliseconds; undefined for a session cookie. */
  expires?: number;
}

export interface BrowserResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The URL of this (final) response. */
  url: string;
  /** Every URL requested, in order, ending with `url`. */
  history: string[];
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
  /** Follow 3xx responses (default true). */
  followRedirects?: boolean;
  maxRedirects?: number;
}

/** Cookie storage with browser semantics. URLs passed to it select the host, path and scheme. */
export class CookieJar {
  #cookies: Cookie[] = [];

  /** Stores one Set-Cookie header value received from `url`. Returns false when a browser would reject it. */
  setFromHeader(url: string | URL, header: string): boolean {
    const u = new URL(url);
    const [pair = '', ...attributes] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq < 0) return false;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!name) return false;
    const cookie: Cookie = {
      name,
      value,
      domain: u.hostname.toLowerCase(),
      hostOnly: true,
      path: defaultPath(u.pathname),
      secure: false,
      httpOnly: false,
    };
    let maxAge: number | undefined;
    let expires: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf('=');
      const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : attribute.slice(i + 1).trim();
      if (key === 'path' && val.startsWith('/')) cookie.path = val;
      else if (key === 'domain' && val) {
        const domain = val.replace(/^\./, '').toLowerCase();
        if (!domainMatch(cookie.domain, domain)) return false;
        cookie.domain = domain;
        cookie.hostOnly = false;
      } else if (key === 'secure') cookie.secure = true;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'samesite') cookie.sameSite = val;
      else if (key === 'max-age' && /^-?\d+$/.test(val)) maxAge = Number(val);
      else if (key === 'expires') {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) expires = t;
      }
    }
    if (name.startsWith('__Secure-') && !cookie.secure) return false;
    if (name.startsWith('__Host-') && (!cookie.secure || !cookie.hostOnly || cookie.path !== '/'))
      return false;
    // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
    if (maxAge !== undefined) cookie.expires = Date.now() + maxAge * 1000;
    else if (expires !== undefined) cookie.expires = expires;
    this.#cookies = this.#cookies.filter(
      (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
    );
    if (cookie.expires === undefined || cookie.expires > Date.now()) this.#cookies.push(cookie);
    return true;
  }

  /** Sets a cookie by hand (tamper tests). Defaults: host-only for `url`'s host, Path=/. */
  set(
    url: string | URL,
    name: string,
    value: string,
    attributes: Partial<Omit<Cookie, 'name' | 'value'>> = {},
  ) {
    const u = new URL(url);
    const cookie: Cookie = {
      name,
      value,
      domain: u.hostname.toLowerCase(),
      hostOnly: true,
      path: '/',
      secure: false,
      httpOnly: false,
      ...attributes,
    };
    this.#cookies = this.#cookies.filter(
      (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
    );
    this.#cookies.push(cookie);
  }

  /** Cookies a request to `url` would carry, most specific path first. */
  cookiesFor(url: string | URL): Cookie[] {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires === undefined || c.expires > now);
    return this.#cookies
      .filter(
        (c) =>
          (c.hostOnly ? c.domain === host : domainMatch(host, c.domain)) &&
          pathMatch(u.pathname, c.path) &&
          (!c.secure || u.protocol === 'https:'),
      )
      .sort((a, b) => b.path.length - a.path.length);
  }

  header(url: string | URL): string {
    return this.cookiesFor(url)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** The cookie named `name`; with `url`, only one that a request to `url` would carry. */
  get(name: string, url?: string | URL): Cookie | undefined {
    return (url ? this.cookiesFor(url) : this.all()).find((c) => c.name === name);
  }

  value(name: string, url?: string | URL): string | undefined {
    return this.get(name, url)?.value;
  }

  names(url?: string | URL): string[] {
    return [...new Set((url ? this.cookiesFor(url) : this.all()).map((c) => c.name))];
  }

  all(): Cookie[] {
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires === undefined || c.expires > now);
    return [...this.#cookies];
  }

  delete(name: string): void {
    this.#cookies = this.#cookies.filter((c) => c.name !== name);
  }

  clear(): void {
    this.#cookies = [];
  }
}

export interface BrowserOptions {
  maxRedirects?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Verify TLS certificates (default false: tests use self-signed ones). */
  rejectUnauthorized?: boolean;
  ca?: string | Buffer;
  /**
   * The connection pool (default none: a new connection per request). A keep-alive agent reuses
   * connections as a browser does; bench/login-timing.ts times sign-ins with one.
   */
  agent?: http.Agent;
  /** Called after each request and response with how long it took (bench/login-timing.ts). */
  onExchange?: (e: Exchange) => void;
}

/** One request and its response, as a browser's network panel shows it. */
export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  /** From sending the request to the end of the response body. */
  readonly ms: number;
}

export class Browser {
  readonly jar = new CookieJar();
  readonly options: BrowserOptions;

  constructor(options: BrowserOptions = {}) {
    this.options = options;
  }

  get(url: string | URL, options: Omit<RequestOptions, 'method' | 'body'> = {}): Promise<BrowserResponse> {
    return this.request(url, { ...options, method: 'GET' });
  }

  /** POSTs an urlencoded form, like a browser submitting one. */
  post(
    url: string | URL,
    form: Record<string, string> | URLSearchParams,
    options: Omit<RequestOptions, 'method' | 'body'> = {},
  ): Promise<BrowserResponse> {
    const body = form instanceof URLSearchParams ? form : new URLSearchParams(form);
    return this.request(url, { ...options, method: 'POST', body });
  }

  /** A navigation: follows redirects (303, and 301/302 after POST, become GET; 307/308 repeat the request). */
  async request(url: string | URL, options: RequestOptions = {}): Promise<BrowserResponse> {
    const maxRedirects = options.maxRedirects ?? this.options.maxRedirects ?? 20;
    let method = (options.method ?? 'GET').toUpperCase();
    let body = options.body === undefined ? undefined : String(options.body);
    let contentType =
      options.body instanceof URLSearchParams ? 'application/x-www-form-urlencoded' : undefined;
    let current = new URL(url);
    const extraHeaders = lowerCaseKeys(options.headers);
    const history: string[] = [];
    for (;;) {
      history.push(current.href);
      const headers: Record<string, string> = {
        accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
        'user-agent': 'portcullis-test-browser/1',
        ...lowerCaseKeys(this.options.headers),
        ...extraHeaders,
      };
      if (contentType && body !== undefined) headers['content-type'] ??= contentType;
      const cookie = this.jar.header(current);
      if (cookie) headers['cookie'] ??= cookie;
      const t0 = performance.now();
      const response = await this.#send(current, method, headers, body);
      this.options.onExchange?.({
        method,
        url: current.href,
        status: response.status,
        ms: performance.now() - t0,
      });
      for (const setCookie of response.headers['set-cookie'] ?? [])
        this.jar.setFromHeader(current, setCookie);

      const location = response.headers.location;
      if (options.followRedirects === false || !isRedirect(response.status) || !location) {
        return { ...response, url: current.href, history };
      }
      if (history.length > maxRedirects) {
        throw new Error(`too many redirects (more than ${maxRedirects}): ${history.join(' -> ')}`);
      }
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        contentType = undefined;
        delete extraHeaders['origin'];
      }
      current = new URL(location, current);
    }
  }

  /**
   * Submits a form found in `html` (a page fetched from `baseUrl`), as a browser would: hidden and filled-in
   * inputs, overridden by `values`. Picks the first form unless `formId` or `having` (an input name) is given.
   */
  submitForm(
    html: string,
    baseUrl: string | URL,
    options: {
      formId?: string;
      having?: string;
      values?: Record<string, string>;
      followRedirects?: boolean;
    } = {},
  ): Promise<BrowserResponse> {
    const forms = parseForms(html, baseUrl);
    const form = forms.find(
      (f) =>
        (options.formId === undefined || f.id === options.formId) &&
        (options.having === undefined || f.fields.some(([name]) => name === options.having)),
    );
    if (!form) {
      throw new Error(
        `no matching form on ${String(baseUrl)} (found ${forms.length}): ${html.slice(0, 500)}`,
      );
    }
    const follow = options.followRedirects === undefined ? {} : { followRedirects: options.followRedirects };
    const values = options.values ?? {};
    const fields = new URLSearchParams(form.fields.filter(([name]) => !Object.hasOwn(values, name)));
    for (const [name, value] of Object.entries(values)) fields.append(name, value);
    if (form.method === 'GET') {
      const target = new URL(form.action);
      target.search = fields.toString();
      return this.request(target, { method: 'GET', ...follow });
    }
    // Browsers send Origin on POST navigations; gateways may rely on it against CSRF.
    const origin = new URL(baseUrl).origin;
    return this.request(form.action, { method: 'POST', body: fields, headers: { origin }, ...follow });
  }

  /**
   * Signs out of a Portcullis gateway as a user does: the confirmation page (GET /oauth2/sign_out, with `rd`
   * if given), then its button — a POST from that page, with its Origin. `gateway` is the public URL:
   * the origin, or the origin and the path Portcullis is served under.
   */
  async signOut(
    gateway: string,
    o: { rd?: string; followRedirects?: boolean } = {},
  ): Promise<BrowserResponse> {
    const url = new URL(`${gateway.replace(/\/+$/, '')}/oauth2/sign_out`);
    if (o.rd !== undefined) url.searchParams.set('rd', o.rd);
    const page = await this.get(url);
    if (page.status !== 200) {
      throw new Error(
        `expected the sign-out page, got ${page.status} at ${page.url}: ${page.body.slice(0, 300)}`,
      );
    }
    const follow = o.followRedirects === undefined ? {} : { followRedirects: o.followRedirects };
    return this.submitForm(page.body, page.url, { formId: 'sign-out', ...follow });
  }

  /**
   * Signs in on the dev IdP's login page (`response` is that page, e.g. where a login redirect ended up),
   * then follows the redirects back to the relying party.
   */
  signInAtDevIdp(response: BrowserResponse, username: string, password: string): Promise<BrowserResponse> {
    if (!/<form[^>]*id="login"/.test(response.body)) {
      throw new Error(
        `expected the dev IdP login page, got ${response.status} at ${response.url}: ${response.body.slice(0, 300)}`,
      );
    }
    return this.submitForm(response.body, response.url, { formId: 'login', values: { username, password } });
  }

  #send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const isHttps = url.protocol === 'https:';
    const request = isHttps ? https.request : http.request;
    const tls = isHttps
      ? {
          rejectUnauthorized: this.options.rejectUnauthorized ?? false,
          ...(this.options.ca ? { ca: this.options.ca } : {}),
        }
      : {};
    return new Promise((resolve, reject) => {
      const agent = isHttps ? false : (this.options.agent ?? false);
      const req = request(url, { method, headers, agent, ...tls }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

export interface ParsedForm {
  id: string | undefined;
  method: 'GET' | 'POST';
  /** Absolute URL. */
  action: string;
  /** Successful controls in document order: named inputs (not buttons, not unchecked boxes), textareas, selects. */
  fields: [string, string][];
}

/** Extracts forms from HTML with regular expressions: enough for the pages our own servers render. */
export function parseForms(html: string, baseUrl: string | URL): ParsedForm[] {
  const forms: ParsedForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = parseAttributes(match[1] ?? '');
    const inner = match[2] ?? '';
    const fields: [string, string][] = [];
    for (const control of inner.matchAll(/<(input|textarea|select)\b([^>]*)>([\s\S]*?<\/\1>)?/gi)) {
      const tag = (control[1] ?? '').toLowerCase();
      const a = parseAttributes(control[2] ?? '');
      const name = a['name'];
      if (!name || 'disabled' in a) continue;
      if (tag === 'input') {
        const type = (a['type'] ?? 'text').toLowerCase();
        if (['submit', 'button', 'image', 'reset', 'file'].includes(type)) continue;
        if ((type === 'checkbox' || type === 'radio') && !('checked' in a)) continue;
        fields.push([name, a['value'] ?? (type === 'checkbox' || type === 'radio' ? 'on' : '')]);
      } else if (tag === 'textarea') {
        fields.push([name, decodeEntities((control[3] ?? '').replace(/<\/textarea>$/i, ''))]);
      } else {
        const options = [...(control[3] ?? '').matchAll(/<option\b([^>]*)>([^<]*)/gi)];
        const chosen = options.find((o) => 'selected' in parseAttributes(o[1] ?? '')) ?? options[0];
        if (chosen)
          fields.push([name, parseAttributes(chosen[1] ?? '')['value'] ?? decodeEntities(chosen[2] ?? '')]);
      }
    }
    forms.push({
      id: attrs['id'],
      method: (attrs['method'] ?? 'get').toLowerCase() === 'post' ? 'POST' : 'GET',
      action: new URL(attrs['action'] || String(baseUrl), baseUrl).href,
      fields,
    });
  }
  return forms;
}

function parseAttributes(source: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of source.matchAll(/([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g)) {
    const key = (m[1] ?? '').toLowerCase();
    if (!(key in attrs)) attrs[key] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
};

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity[0] === '#') {
      const code =
        entity[1] === 'x' || entity[1] === 'X'
          ? Number.parseInt(entity.slice(2), 16)
          : Number(entity.slice(1));
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function lowerCaseKeys(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

// RFC 6265 §5.1.4: the directory of the request path.
function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) return '/';
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

function pathMatch(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function domainMatch(host: string, domain: string): boolean {
  if (host === domain) return true;
  // Only names, not IP addresses, have subdomains.
  return host.endsWith(`.${domain}`) && !/^[\d.]+$|:/.test(host);
}
