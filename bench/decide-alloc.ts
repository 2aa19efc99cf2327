/**
 * Allocation on the hot path of a decision: 5 million `authorize` calls for a signed-in user on a route
 * with rules (the cached path every proxied request takes), counting garbage collections — a call that
 * allocates shows up as scavenges. Run against two checkouts to compare (issue 15: the decision trace
 * must cost nothing when absent):
 *   node bench/decide-alloc.ts /work/main; node bench/decide-alloc.ts .
 */
import { resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { Writable } from 'node:stream';

const root = resolve(process.argv[2] ?? '.');
const load = (await import(`${root}/src/config/load.ts`)) as typeof import('../src/config/load.ts');
const compile = (await import(`${root}/src/policy/compile.ts`)) as typeof import('../src/policy/compile.ts');
const authorize = (await import(
  `${root}/src/policy/authorize.ts`
)) as typeof import('../src/policy/authorize.ts');
const log = (await import(
  `${root}/src/observability/log.ts`
)) as typeof import('../src/observability/log.ts');
const metrics = (await import(
  `${root}/src/observability/metrics.ts`
)) as typeof import('../src/observability/metrics.ts');

const config = load.resolveConfig({
  publicUrl: 'http://127.0.0.1:4180',
  cookie: { secret: 'k'.repeat(43) },
  upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
  providers: [
    { id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's' },
  ],
  allow: { emailDomains: ['example.com'] },
  routes: [{ path: '/admin/', allow: { groups: ['admins'] } }],
});
const quiet = new Writable({ write: (_chunk, _enc, cb) => cb() });
const authz = new authorize.Authorizer(
  compile.compilePolicy(config, { watch: false }),
  log.createLogger('error', quiet),
  new metrics.Metrics({ defaultMetrics: false }),
);
const principal = { provider: 'corp', identity: { sub: 'a', email: 'a@example.com', groups: ['admins'] } };
const request = { surface: 'request' as const, principal, paths: ['/admin/x'] };
for (let i = 0; i < 100_000; i++) authz.authorize(request);

let gcs = 0;
const observer = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
observer.observe({ entryTypes: ['gc'] });
const start = process.hrtime.bigint();
for (let i = 0; i < 5_000_000; i++) authz.authorize(request);
const ms = Number(process.hrtime.bigint() - start) / 1e6;
await new Promise((r) => setTimeout(r, 50));
observer.disconnect();
console.log(JSON.stringify({ root, calls: 5_000_000, gcs, ms: Math.round(ms) }));
