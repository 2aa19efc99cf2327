// The peer benchmark's scripted browser (../shared/peer-bench/apps/login.mjs, copied unchanged up to
// `stats`) timing several targets INTERLEAVED: login i of every target, then login i+1 of every target,
// so a slow phase of the shared machine hits all targets alike (run.sh times one target after the other).
//
//   node bench/peer-login.mjs --times 40 [--warmup 10] --json --url http://127.0.0.1:18082/ --url http://127.0.0.1:18085/
//
// Per target: `--times` fresh logins (new cookie jar each) and as many SSO re-logins (the OP session
// kept, the target's cookies dropped), in the order fresh(t1) sso(t1) fresh(t2) sso(t2) … per round.
// Prints one JSON object per target (as login.mjs --json does) with the raw samples added.
// Used for bench/results/2026-12-05-login.md; run it against a peer-bench run held with HOLD=1.
//
// -------------------------------------------------------------------------------------------------
// Scripted browser login through an OIDC-authenticating proxy (no browser).
//
// Starts at a protected URL, follows redirects by hand with a cookie jar
// (proxy -> OP /auth -> OP login form -> credentials POST -> OP -> proxy
// redirect_uri -> original URL) and stops at the first 200 from the proxy's
// origin that is not a login form. Works for any relying party that uses the
// bench OP (apps/op.mjs), e.g. mod_auth_openidc or "our gateway".
//
//   node apps/login.mjs --url http://127.0.0.1:18082/ [--out cookie.txt]
//       one login; prints (or writes) the Cookie header value for --url
//   node apps/login.mjs --url ... --times 20 [--json]
//       timing: 20 full logins (fresh cookie jar each: login form + POST),
//       then 20 SSO re-logins (OP session cookie kept, proxy cookies dropped)
//   node apps/login.mjs --url ... --sessions 500
//       just create 500 more proxy sessions (one login, then SSO re-logins),
//       to benchmark a proxy that holds many live sessions
//
// Options: --user bench-user --password bench-pass --max-steps 20 --verbose
//
// Cookie jar note: cookies are kept per origin (scheme://host:port), not per
// host as RFC 6265 says. The proxies and the OP all live on 127.0.0.1 on
// different ports; keeping them apart means the Cookie header we hand to wrk
// holds only the proxy's own session cookie(s), which is what a benchmark wants.

const args = process.argv.slice(2);
const opt = {
  user: process.env.BENCH_USER || 'bench-user',
  password: process.env.BENCH_PASSWORD || 'bench-pass',
  maxSteps: 20,
  times: 0,
  warmup: 10,
  json: false,
  verbose: false,
};
for (let i = 0; i < args.length; i += 1) {
  const a = args[i];
  const next = () => args[++i];
  if (a === '--url') {
    opt.url = next();
    opt.urls = [...(opt.urls ?? []), opt.url];
  } else if (a === '--out') opt.out = next();
  else if (a === '--user') opt.user = next();
  else if (a === '--password') opt.password = next();
  else if (a === '--times') opt.times = Number(next());
  else if (a === '--warmup') opt.warmup = Number(next());
  else if (a === '--sessions') opt.sessions = Number(next());
  else if (a === '--max-steps') opt.maxSteps = Number(next());
  else if (a === '--json') opt.json = true;
  else if (a === '--verbose') opt.verbose = true;
  else {
    console.error(`login: unknown argument ${a}`);
    process.exit(2);
  }
}
if (!opt.url) {
  console.error('login: --url is required');
  process.exit(2);
}

import http from 'node:http';

// Keep-alive like a browser: connections are reused across the login steps.
const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });

function request(url, { method, headers, body }) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'http:') {
      reject(new Error(`only http:// URLs are supported here (got ${u.protocol})`));
      return;
    }
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = http.request(u, { method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          location: res.headers.location,
          setCookies: res.headers['set-cookie'] || [],
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------
// A small cookie jar: per origin, path-prefix match, honours Max-Age/Expires.
// ---------------------------------------------------------------------------
class Jar {
  constructor() {
    this.store = new Map();
  } // origin -> Map(name -> {value, path, expires})

  set(url, setCookieHeaders) {
    const { origin, pathname } = new URL(url);
    if (!this.store.has(origin)) this.store.set(origin, new Map());
    const cookies = this.store.get(origin);
    for (const header of setCookieHeaders) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = pathname.replace(/\/[^/]*$/, '') || '/';
      let expires = Infinity;
      for (const attr of attrs) {
        const [k, ...rest] = attr.split('=');
        const key = k.trim().toLowerCase();
        const val = rest.join('=').trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        else if (key === 'max-age') expires = Date.now() + Number(val) * 1000;
        else if (key === 'expires' && expires === Infinity) expires = Date.parse(val);
      }
      if (value === '' || expires <= Date.now()) cookies.delete(name);
      else cookies.set(name, { value, path, expires });
    }
  }

  header(url) {
    const { origin, pathname } = new URL(url);
    const cookies = this.store.get(origin);
    if (!cookies) return '';
    const out = [];
    for (const [name, c] of cookies) {
      if (c.expires <= Date.now()) continue;
      const p = c.path.endsWith('/') ? c.path : `${c.path}/`;
      if (pathname === c.path || pathname.startsWith(p)) out.push(`${name}=${c.value}`);
    }
    return out.join('; ');
  }

  dropOrigin(origin) {
    this.store.delete(origin);
  }
}

// ---------------------------------------------------------------------------
// Minimal HTML form handling: first <form>, its inputs, credentials filled in.
// ---------------------------------------------------------------------------
const decodeEntities = (s) =>
  s
    .replace(/&#(\d+);/g, (_, d) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
const attr = (tag, name) => {
  const m = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m ? decodeEntities(m[2] ?? m[3] ?? m[4]) : undefined;
};

function parseForm(html) {
  const formMatch = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!formMatch) return undefined;
  const tag = formMatch[0].slice(0, formMatch[0].indexOf('>') + 1);
  const fields = {};
  for (const input of formMatch[1].match(/<input\b[^>]*>/gi) || []) {
    const name = attr(input, 'name');
    if (name) fields[name] = attr(input, 'value') ?? '';
  }
  return { action: attr(tag, 'action') || '', method: (attr(tag, 'method') || 'get').toUpperCase(), fields };
}

function fillCredentials(fields) {
  const filled = { ...fields };
  let hasUser = false;
  let hasPassword = false;
  for (const name of Object.keys(filled)) {
    if (/^(username|user|login|email)$/i.test(name)) {
      filled[name] = opt.user;
      hasUser = true;
    }
    if (/^(password|pass)$/i.test(name)) {
      filled[name] = opt.password;
      hasPassword = true;
    }
  }
  return hasUser && hasPassword ? filled : undefined;
}

// ---------------------------------------------------------------------------
// One login. Returns { cookie, ms, steps, trace }.
// ---------------------------------------------------------------------------
async function login(startUrl, jar = new Jar()) {
  const start = new URL(startUrl);
  const trace = [];
  const timings = [];
  let url = start.href;
  let method = 'GET';
  let body;
  let formsPosted = 0;
  const t0 = process.hrtime.bigint();

  for (let step = 0; step < opt.maxSteps; step += 1) {
    // Look like a top-level browser navigation: mod_auth_openidc answers 401
    // instead of redirecting to the OP when a request looks like XHR/fetch
    // (that is also why this uses node:http, not fetch(): undici always sends
    // sec-fetch-mode: cors).
    const headers = {
      accept: 'text/html,application/xhtml+xml',
      'user-agent': 'bench-login/1.0',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
    };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const t = process.hrtime.bigint();
    const res = await request(url, { method, headers, body });
    timings.push(Number(process.hrtime.bigint() - t) / 1e6);
    jar.set(url, res.setCookies);
    const { text } = res;
    trace.push(`${method} ${url} -> ${res.status}`);

    if (res.status >= 300 && res.status < 400) {
      const { location } = res;
      if (!location) throw Object.assign(new Error(`redirect without Location from ${url}`), { trace });
      url = new URL(location, url).href;
      method = 'GET';
      body = undefined;
      continue;
    }

    const form = res.status === 200 || res.status === 401 ? parseForm(text) : undefined;
    const credentials = form && fillCredentials(form.fields);
    if (credentials) {
      if (formsPosted >= 2)
        throw Object.assign(new Error('login form shown again: credentials rejected?'), { trace });
      formsPosted += 1;
      const action = new URL(form.action || url, url);
      method = form.method === 'POST' ? 'POST' : 'GET';
      if (method === 'POST') {
        body = new URLSearchParams(credentials).toString();
      } else {
        for (const [k, v] of Object.entries(credentials)) action.searchParams.set(k, v);
        body = undefined;
      }
      url = action.href;
      continue;
    }

    if (res.status === 200 && new URL(url).origin === start.origin) {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { cookie: jar.header(start.href), ms, steps: trace.length, formsPosted, trace, jar, timings };
    }
    throw Object.assign(new Error(`unexpected ${res.status} at ${url}: ${text.slice(0, 300)}`), { trace });
  }
  throw Object.assign(new Error(`no success after ${opt.maxSteps} steps`), { trace });
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  const r = (v) => Math.round(v * 100) / 100;
  return {
    n: s.length,
    median_ms: r(s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2),
    p90_ms: r(q(90)),
    min_ms: r(s[0]),
    max_ms: r(s[s.length - 1]),
  };
};

async function main() {
  const urls = opt.urls;
  const fresh = new Map(urls.map((u) => [u, []]));
  const sso = new Map(urls.map((u) => [u, []]));
  const steps = new Map();
  const perStep = new Map(urls.map((u) => [u, { fresh: [], sso: [] }]));
  const ssoJars = new Map();
  // Unmeasured logins per target first (connections, JIT: a process that has not served yet would be
  // timed cold), interleaved too; the last one's jar keeps the OP session for the SSO re-logins.
  for (let i = 0; i < Math.max(1, opt.warmup); i += 1) {
    for (const url of urls) {
      const { jar } = await login(url, new Jar());
      jar.dropOrigin(new URL(url).origin);
      ssoJars.set(url, (await login(url, jar)).jar);
    }
  }
  for (let i = 0; i < opt.times; i += 1) {
    for (const url of urls) {
      const r = await login(url, new Jar());
      if (r.formsPosted !== 1) throw new Error(`${url}: fresh login ${i} posted ${r.formsPosted} forms`);
      fresh.get(url).push(r.ms);
      const jar = ssoJars.get(url);
      jar.dropOrigin(new URL(url).origin); // proxy session gone, OP session cookie kept
      const s = await login(url, jar);
      if (s.formsPosted !== 0) throw new Error(`${url}: SSO re-login ${i} showed a login form`);
      sso.get(url).push(s.ms);
      steps.set(url, { fresh: r.steps, sso: s.steps });
      perStep.get(url).fresh.push({ trace: r.trace, timings: r.timings });
      perStep.get(url).sso.push({ trace: s.trace, timings: s.timings });
    }
  }
  const r2 = (v) => Math.round(v * 100) / 100;
  // Per step: the request (ids, codes and query left out) and the median of its times.
  const stepMedians = (logins) =>
    logins[0].trace.map((t, i) => ({
      step: t.replace(/\?.*? ->/, ' ->').replace(/\/[A-Za-z0-9_-]{16,}/g, '/:id'),
      median_ms: r2(stats(logins.map((l) => l.timings[i] ?? 0)).median_ms),
    }));
  for (const url of urls) {
    const result = {
      url,
      fresh: {
        ...stats(fresh.get(url)),
        browser_requests: steps.get(url).fresh,
        samples: fresh.get(url).map(r2),
        steps: stepMedians(perStep.get(url).fresh),
      },
      sso: {
        ...stats(sso.get(url)),
        browser_requests: steps.get(url).sso,
        samples: sso.get(url).map(r2),
        steps: stepMedians(perStep.get(url).sso),
      },
    };
    console.log(opt.json ? JSON.stringify(result) : result);
  }
}

main().catch((err) => {
  console.error(`login: FAILED: ${err.message}`);
  if (err.trace) console.error(`  trace:\n    ${err.trace.join('\n    ')}`);
  if (err.cause) console.error('  cause:', err.cause.message || err.cause);
  process.exit(1);
});
