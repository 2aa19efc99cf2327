/**
 * The rule-based AccessPolicy: three layers that must all pass — the top-level `allow`, the `allow` (and
 * restrictions) of the provider the user signed in with, and the `allow` of the longest route prefix
 * that has one. Decisions are cached per session object and route, so a busy session costs a WeakMap
 * lookup per request; an `emailsFile` that changes (watched off the request path) empties the cache.
 */
import type { EmailsFile } from './criteria/emails.ts';
import type { Criterion, Failure } from './criterion.ts';
import {
  type AccessPolicy,
  ALLOW,
  type Decision,
  type DecisionTrace,
  type Layer,
  type Principal,
} from './decision.ts';
import { PrefixTable } from './routes.ts';

export interface ProviderRules {
  readonly type: string;
  readonly criteria: readonly Criterion[];
}

export interface RouteRules {
  readonly path: string;
  readonly criteria: readonly Criterion[];
}

export interface RulesPolicyOptions {
  readonly global: readonly Criterion[];
  readonly providers: ReadonlyMap<string, ProviderRules>;
  readonly routes: readonly RouteRules[];
  readonly files: readonly EmailsFile[];
  /** Watch the files (default true); false: only checkFiles() looks (tests trigger it deterministically). */
  readonly watch?: boolean;
}

interface Slot extends RouteRules {
  /** Index into a session's cached decisions; 0 and 1 are "no route rules" (see decide). */
  readonly slot: number;
}

const UNKNOWN_PROVIDER: Decision = Object.freeze({
  allow: false,
  reasons: Object.freeze(['provider-unknown']),
  explanations: Object.freeze([
    'The sign-in method you used is no longer offered here. Sign out and sign in again.',
  ]),
});

const CLIENT_UNLISTED: Failure = Object.freeze({
  reason: 'client-not-allowed',
  explain: 'Services are let in only where allow.clients lists them.',
});

export class RulesPolicy implements AccessPolicy {
  readonly #global: readonly Criterion[];
  readonly #providers: ReadonlyMap<string, ProviderRules>;
  readonly #routes: PrefixTable<Slot>;
  readonly #files: readonly EmailsFile[];
  #cache = new WeakMap<Principal, (Decision | undefined)[]>();

  constructor(o: RulesPolicyOptions) {
    this.#global = o.global;
    this.#providers = o.providers;
    this.#routes = new PrefixTable(o.routes.map((r, i) => ({ ...r, slot: i + 2 })));
    this.#files = o.files;
    for (const f of this.#files) {
      f.onChange(() => {
        this.#cache = new WeakMap();
      });
      if (o.watch !== false) f.watch();
    }
  }

  /** Looks at every emailsFile now (what the watchers do when the files change). */
  checkFiles(): void {
    for (const f of this.#files) f.check();
  }

  /** Stops watching the files: the policy of a configuration that was replaced or closed. */
  close(): void {
    for (const f of this.#files) f.close();
  }

  decide(session: Principal, path: string | undefined, trace?: DecisionTrace): Decision {
    const route = path === undefined ? undefined : this.#routes.match(path);
    // Traced: decided afresh, so every criterion is reported (the cache holds the same outcome).
    if (trace !== undefined) return this.#evaluate(session, route, path !== undefined, trace);
    // 0: no path (the gateway at all); 1: a path no route rule covers (they differ for machines).
    const slot = route !== undefined ? route.slot : path === undefined ? 0 : 1;
    let cached = this.#cache.get(session);
    const hit = cached?.[slot];
    if (hit !== undefined) return hit;
    const d = this.#evaluate(session, route, path !== undefined);
    if (cached === undefined) {
      cached = [];
      this.#cache.set(session, cached);
    }
    cached[slot] = d;
    return d;
  }

  #evaluate(session: Principal, route: Slot | undefined, forPath: boolean, trace?: DecisionTrace): Decision {
    const provider = this.#providers.get(session.provider);
    if (provider === undefined) return UNKNOWN_PROVIDER;
    const input = { identity: session.identity, providerType: provider.type };
    const machine = session.identity.client !== undefined;
    const failures: Failure[] = [];
    let listed = false;
    const run = (layer: Layer, criteria: readonly Criterion[], at?: string) => {
      trace?.layer(layer, at);
      for (const c of criteria) {
        // Person rules do not describe machines, nor allow.clients people: each kind has its own.
        if ((c.machine === true) !== machine) {
          trace?.criterion(c, undefined, input);
          continue;
        }
        const f = c.check(input);
        trace?.criterion(c, f, input);
        if (f.length > 0) failures.push(...f);
        else if (machine) listed = true;
      }
    };
    run('allow', this.#global);
    run('provider', provider.criteria);
    if (route !== undefined) run('route', route.criteria, route.path);
    // A machine reaches a path only where some layer lists it: no rule at all is not a welcome. (Without a
    // path the question is whether anything refuses it outright; the path's decision follows.)
    if (machine && forPath && !listed && failures.length === 0) failures.push(CLIENT_UNLISTED);
    if (failures.length === 0) return ALLOW;
    // The same criterion in two layers fails once on the page.
    const seen = new Set<string>();
    const unique = failures.filter((f) => {
      const k = `${f.reason}\n${f.explain}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    return Object.freeze({
      allow: false,
      reasons: Object.freeze(unique.map((f) => f.reason)),
      explanations: Object.freeze(unique.map((f) => f.explain)),
    });
  }
}
