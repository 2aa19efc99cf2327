// The summary lines of bench/report.ts: one or more per goal of issue 14, each with its ratio and PASS/MISS
// (a goal's figure that this run did not measure says so). Targets measured by wrk come from the rows;
// the rest from the phases' JSON: a phase states its own lines as
//   { "summary": [ { "goal": 5, "text": "…", "pass": true | false | null } ] }
// (null: a figure without a target). A phase without `summary` is pointed to instead.

export interface Row {
  target: string;
  description: string;
  rounds: number;
  round: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number;
  appCpuUsPerReq: number;
  partsUsPerReq: Record<string, number>;
  avgBytes: number;
  check: string;
  rpsMin: number;
  rpsMax: number;
  cpuMin: number;
  cpuMax: number;
  p99Min: number;
  p99Max: number;
}

export interface PhaseOut {
  name: string;
  status: 'ok' | 'failed' | 'timeout' | 'absent';
  exit: number;
  md: string;
  json: unknown;
}

interface PhaseSummary {
  goal: number;
  text: string;
  pass: boolean | null;
}

/** Issue 14's targets. */
export const GOALS = {
  forwardAuth: 0.55, // goal 1: nginx-fa req/s >= 0.55x nginx alone
  forwardAuthCached: 0.9, // goal 1: nginx-fa-cache req/s >= 0.9x nginx alone
  vsOidc: 2, // goal 2: apache-oidc CPU/req >= 2x Portcullis's
  vsNodeFloor: 1.1, // goal 2: Portcullis CPU/req <= 1.1x the bare undici proxy's
  redis: 1.2, // goal 5: Redis sessions CPU/req <= 1.2x cookie mode's
};

const PHASE_OF_GOAL: Record<number, string[]> = {
  3: ['workers'],
  4: ['memory'],
  5: ['ws', 'idle-conns'],
  6: ['login-timing'],
};

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');

function phaseSummaries(p: PhaseOut): PhaseSummary[] | undefined {
  const s = (p.json as { summary?: unknown } | undefined)?.summary;
  if (!Array.isArray(s)) return undefined;
  return s.filter(
    (x): x is PhaseSummary =>
      typeof x === 'object' && x !== null && typeof x.goal === 'number' && typeof x.text === 'string',
  );
}

/** The lines a phase gives a goal: its own summary, or why there is none. */
function fromPhases(goal: number, phases: PhaseOut[]): string[] {
  const out: string[] = [];
  for (const name of PHASE_OF_GOAL[goal] ?? []) {
    const p = phases.find((x) => x.name === name);
    if (!p) {
      out.push(`Goal ${goal}: phase ${name} was not run (PHASES)`);
      continue;
    }
    if (p.status === 'absent') {
      out.push(`Goal ${goal}: not measured: bench/${name}.ts or .sh is not on this branch`);
      continue;
    }
    if (p.status !== 'ok') {
      out.push(`Goal ${goal}: phase ${name} ${p.status} (exit ${p.exit}); see its section`);
      continue;
    }
    const lines = phaseSummaries(p)?.filter((s) => s.goal === goal);
    if (!lines || lines.length === 0) {
      out.push(`Goal ${goal}: see phase ${name} below`);
      continue;
    }
    for (const s of lines) {
      const tail =
        typeof s.pass === 'boolean' && !/\b(PASS|MISS)\b/.test(s.text) ? `: ${verdict(s.pass)}` : '';
      out.push(`Goal ${goal}: ${s.text}${tail}`);
    }
  }
  return out;
}

export function goalLines(
  rows: Row[],
  phases: PhaseOut[],
  perRound: (target: string, base: string) => number[],
): string[] {
  const row = (t: string) => rows.find((r) => r.target === t);
  const rounds = (t: string, b: string) => {
    const r = perRound(t, b);
    return r.length > 1 ? ` (per round ${r.map((x) => `${f2(x)}x`).join(', ')})` : '';
  };
  const out: string[] = [];
  const pc = row('portcullis');
  const base = row('baseline');

  // Goal 1: forward-auth behind nginx.
  const nginx = row('nginx');
  for (const [t, goal] of [
    ['nginx-fa', GOALS.forwardAuth],
    ['nginx-fa-cache', GOALS.forwardAuthCached],
  ] as const) {
    const r = row(t);
    if (!r || !nginx) {
      out.push(`Goal 1: ${t} not measured (TARGETS)`);
      continue;
    }
    const ratio = r.rps / nginx.rps;
    const parts = Object.entries(r.partsUsPerReq)
      .map(([k, v]) => `${k} ${f1(v)}`)
      .join(' + ');
    out.push(
      `Goal 1: ${t} ${int(r.rps)} req/s = ${f2(ratio)}x nginx alone's ${int(nginx.rps)} (goal >= ${goal}x): ${verdict(ratio >= goal)}; CPU ${f1(r.cpuUsPerReq)} us/req (${parts}) vs nginx's ${f1(nginx.cpuUsPerReq)}`,
    );
  }
  const bare = row('nginx-fa-bare');
  const fa = row('nginx-fa');
  const pcAuth = fa?.partsUsPerReq['portcullis'];
  const bareAuth = bare?.partsUsPerReq['bare-auth'];
  if (pcAuth !== undefined && bareAuth !== undefined)
    out.push(
      `Goal 1: /oauth2/auth costs Portcullis ${f1(pcAuth)} us/req vs a bare node:http 202's ${f1(bareAuth)} (${f2(pcAuth / bareAuth)}x)`,
    );

  // Goal 2: proxy mode against mod_auth_openidc and the Node floor.
  const oidc = row('apache-oidc');
  if (pc && oidc) {
    const ratio = oidc.cpuUsPerReq / pc.cpuUsPerReq;
    out.push(
      `Goal 2: Apache + mod_auth_openidc (shm) ${f1(oidc.cpuUsPerReq)} us/req / Portcullis ${f1(pc.cpuUsPerReq)} = ${f2(ratio)}x (goal >= ${GOALS.vsOidc}x): ${verdict(ratio >= GOALS.vsOidc)}; req/s ${int(pc.rps)} vs ${int(oidc.rps)} (${f2(pc.rps / oidc.rps)}x)${rounds('apache-oidc', 'portcullis')}`,
    );
  } else out.push('Goal 2: apache-oidc or portcullis not measured (TARGETS)');
  const cookie = row('apache-oidc-cookie');
  if (pc && cookie)
    out.push(
      `Goal 2: (client-cookie sessions) mod_auth_openidc ${f1(cookie.cpuUsPerReq)} us/req = ${f2(cookie.cpuUsPerReq / pc.cpuUsPerReq)}x Portcullis; req/s ${int(pc.rps)} vs ${int(cookie.rps)}`,
    );
  if (pc && base) {
    const ratio = pc.cpuUsPerReq / base.cpuUsPerReq;
    out.push(
      `Goal 2: Portcullis ${f1(pc.cpuUsPerReq)} us/req = ${f2(ratio)}x the bare undici proxy's ${f1(base.cpuUsPerReq)} (goal <= ${GOALS.vsNodeFloor}x): ${verdict(ratio <= GOALS.vsNodeFloor)}${rounds('portcullis', 'baseline')}`,
    );
  }

  out.push(...fromPhases(3, phases), ...fromPhases(4, phases));

  // Goal 5: every mode has a number. Redis sessions against the target both by default (a Redis read per
  // request, revocation at the very next request) and with the opt-in local cache (sessions.localCache).
  for (const [t, what] of [
    ['portcullis-redis', 'Redis sessions'],
    ['portcullis-redis-cached', 'Redis sessions with sessions.localCache'],
  ] as const) {
    const redis = row(t);
    if (pc && redis) {
      const ratio = redis.cpuUsPerReq / pc.cpuUsPerReq;
      out.push(
        `Goal 5: ${what} ${f1(redis.cpuUsPerReq)} us/req = ${f2(ratio)}x cookie mode (goal <= ${GOALS.redis}x): ${verdict(ratio <= GOALS.redis)}${rounds(t, 'portcullis')}`,
      );
    } else out.push(`Goal 5: ${t} not measured (TARGETS)`);
  }
  for (const [t, what] of [
    ['portcullis-assertion', 'signed assertion on'],
    ['portcullis-rules', 'route rules on (10 routes)'],
  ] as const) {
    const r = row(t);
    out.push(
      pc && r
        ? `Goal 5: ${what}: ${f1(r.cpuUsPerReq)} us/req = ${f2(r.cpuUsPerReq / pc.cpuUsPerReq)}x cookie mode, ${int(r.rps)} req/s (no target: the number)`
        : `Goal 5: ${t} not measured (TARGETS)`,
    );
  }
  out.push(...fromPhases(5, phases), ...fromPhases(6, phases));
  return out;
}
