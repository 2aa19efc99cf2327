#!/usr/bin/env bash
# Sign-in timing beside Apache + mod_auth_openidc, in one run: the peer benchmark (../shared/peer-bench,
# a writable copy) brings up its OP, app, Apache (shm and client-cookie sessions) and Portcullis
# (peer-gateway.env) and holds them (HOLD=1); then bench/peer-login.mjs times fresh and SSO logins of all
# of them interleaved, and this script stops the harness by its PID.
#
#   PEER_BENCH=/tmp/peer-bench LOGINS=100 bash bench/peer-login.sh          # run as root (Apache)
#   BASE=/tmp/portcullis-main bash bench/peer-login.sh                      # also time another checkout
#
# BASE: a second Portcullis checkout (e.g. `git archive main | tar -x -C DIR`, node_modules linked) run
# with the same configuration on BENCH_GATEWAY_PORT+1, to compare two versions in the same run.
# Writes the JSON lines to BENCH_OUT (default $PEER_BENCH/run/peer-login.jsonl) and prints a table.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER_BENCH=${PEER_BENCH:?set PEER_BENCH to a writable copy of the peer benchmark}
LOGINS=${LOGINS:-60}
BASE=${BASE:-}
export BENCH_UPSTREAM_PORT=${BENCH_UPSTREAM_PORT:-18080} BENCH_NGINX_PORT=${BENCH_NGINX_PORT:-18081}
export BENCH_APACHE_OIDC_PORT=${BENCH_APACHE_OIDC_PORT:-18082} BENCH_APACHE_PROXY_PORT=${BENCH_APACHE_PROXY_PORT:-18083}
export BENCH_APACHE_OIDC_COOKIE_PORT=${BENCH_APACHE_OIDC_COOKIE_PORT:-18084}
export BENCH_GATEWAY_PORT=${BENCH_GATEWAY_PORT:-18085} BENCH_OP_PORT=${BENCH_OP_PORT:-18090}
BASE_PORT=$((BENCH_GATEWAY_PORT + 1))
RUN=$PEER_BENCH/run
OUT=${BENCH_OUT:-$RUN/peer-login.jsonl}
log() { printf '[peer-login %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The gateway slot as peer-gateway.env fills it, plus the second checkout's redirect URI at the OP
# (BENCH_REDIRECT_URIS is space separated; GATEWAY_REDIRECT_URI is appended to it as it is).
env_file=$(mktemp /tmp/peer-login-env.XXXXXX)
base_pid=
harness=
cleanup() {
  [[ -n $base_pid ]] && kill "$base_pid" 2>/dev/null || true
  [[ -n $harness ]] && kill "$harness" 2>/dev/null && wait "$harness" 2>/dev/null || true
  rm -f "$env_file"
}
trap cleanup EXIT
{
  echo "source '$HERE/peer-gateway.env'"
  [[ -n $BASE ]] && echo "GATEWAY_REDIRECT_URI+=' http://127.0.0.1:$BASE_PORT/oauth2/callback'"
} >"$env_file"

log "peer-bench: OP, app, Apache (shm, cookie), Portcullis; held"
(cd "$PEER_BENCH" && GATEWAY_ENV=$env_file ONLY="apache-oidc apache-oidc-cookie gateway" LOGINS=0 \
  REPEAT=1 DURATION=1s WARMUP=1s HOLD=1 exec bash run.sh) >"$RUN.peer-login.log" 2>&1 &
harness=$!
for _ in $(seq 600); do
  grep -q 'HOLD=1: everything stays up' "$RUN.peer-login.log" 2>/dev/null && break
  kill -0 "$harness" 2>/dev/null || { tail -20 "$RUN.peer-login.log" >&2; exit 1; }
  sleep 0.5
done
grep -q 'HOLD=1: everything stays up' "$RUN.peer-login.log" || { log "peer-bench did not come up"; exit 1; }

urls=(--url "http://127.0.0.1:$BENCH_APACHE_OIDC_PORT/" --url "http://127.0.0.1:$BENCH_APACHE_OIDC_COOKIE_PORT/"
  --url "http://127.0.0.1:$BENCH_GATEWAY_PORT/")
if [[ -n $BASE ]]; then
  # The same configuration as the held Portcullis (its file, with the port changed), the other code.
  sed "s/127.0.0.1:$BENCH_GATEWAY_PORT/127.0.0.1:$BASE_PORT/g" "$RUN/portcullis.yaml" >"$RUN/portcullis-base.yaml"
  (cd "$BASE" && exec "$BASE/node_modules/.bin/node" src/cli/main.ts serve --config "$RUN/portcullis-base.yaml") \
    >"$RUN/portcullis-base.log" 2>&1 &
  base_pid=$!
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$BASE_PORT/ping" >/dev/null && break; sleep 0.1; done
  urls+=(--url "http://127.0.0.1:$BASE_PORT/")
fi

# CPU time (ms, user + system) of each server's process tree, read from /proc: robust where the machine's
# load makes wall times noisy. Apache's one process tree serves both of its targets.
tree_cpu() {
  node -e '
const fs = require("node:fs");
const tck = Number(process.argv[1]);
const stat = new Map();
for (const d of fs.readdirSync("/proc")) {
  if (!/^\d+$/.test(d)) continue;
  try {
    const text = fs.readFileSync(`/proc/${d}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    stat.set(Number(d), { ppid: Number(f[1]), cpu: Number(f[11]) + Number(f[12]) });
  } catch {}
}
const out = {};
for (const arg of process.argv.slice(2)) {
  const [name, root] = arg.split("=");
  let total = 0;
  const todo = [Number(root)];
  while (todo.length) {
    const p = todo.pop();
    total += stat.get(p)?.cpu ?? 0;
    for (const [c, s] of stat) if (s.ppid === p) todo.push(c);
  }
  out[name] = (total * 1000) / tck;
}
console.log(JSON.stringify(out));
' "$(getconf CLK_TCK)" "$@"
}
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$RUN/pids" | tail -1; }
procs=("apache=$(pid_of apache)" "portcullis=$(pid_of gateway)" "op=$(pid_of op)")
[[ -n $base_pid ]] && procs+=("base=$base_pid")

log "timing $LOGINS fresh + $LOGINS SSO logins per target, interleaved"
cpu0=$(tree_cpu "${procs[@]}")
node "$HERE/peer-login.mjs" --times "$LOGINS" --warmup "${WARMUP_LOGINS:-10}" --json "${urls[@]}" >"$OUT"
cpu1=$(tree_cpu "${procs[@]}")
node -e '
const [a, b, n] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2]), Number(process.argv[3])];
const per = { apache: 2 * n, portcullis: n, base: n, op: Number(process.argv[4]) * n };
console.log(JSON.stringify({ kind: "cpu", ms_per_login_pair: Object.fromEntries(Object.keys(b).map((k) => [k, Math.round(((b[k] - a[k]) / per[k]) * 100) / 100])) }));
' "$cpu0" "$cpu1" "$LOGINS" "$((${#urls[@]} / 2))" >>"$OUT"
node -e '
const names = { [process.argv[2]]: "Apache + mod_auth_openidc (shm)", [process.argv[3]]: "Apache + mod_auth_openidc (cookie)",
  [process.argv[4]]: "Portcullis", [process.argv[5]]: "Portcullis (BASE)" };
const lines = require("node:fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const rows = lines.filter((l) => l.kind !== "cpu");
const cpu = lines.find((l) => l.kind === "cpu");
console.log("| target | fresh requests | fresh median ms | fresh p90 ms | SSO requests | SSO median ms | SSO p90 ms |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${names[new URL(r.url).port] ?? r.url} | ${r.fresh.browser_requests} | ${r.fresh.median_ms} | ${r.fresh.p90_ms} | ${r.sso.browser_requests} | ${r.sso.median_ms} | ${r.sso.p90_ms} |`);
console.log("\n| target | login | step | median ms |\n|---|---|---|---|");
for (const r of rows) for (const kind of ["fresh", "sso"]) for (const s of r[kind].steps)
  console.log(`| ${names[new URL(r.url).port] ?? r.url} | ${kind} | ${s.step.replace(/http:\/\/127\.0\.0\.1:/, ":")} | ${s.median_ms} |`);
console.log("\nCPU ms per fresh + SSO login pair (process trees, /proc; Apache serves both of its targets: halved; the OP: per target):");
console.log(JSON.stringify(cpu.ms_per_login_pair));
' "$OUT" "$BENCH_APACHE_OIDC_PORT" "$BENCH_APACHE_OIDC_COOKIE_PORT" "$BENCH_GATEWAY_PORT" "$BASE_PORT"
