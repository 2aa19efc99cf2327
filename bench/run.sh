#!/usr/bin/env bash
# npm run bench: what does Portcullis cost per authenticated request, next to a minimal proxy?
#
# Starts, each as its own process (so its CPU time can be read from /proc): the sample upstream app,
# the dev IdP, a minimal undici-Pool reverse proxy without auth (the baseline) and Portcullis (CLI,
# generated config). Signs in through Portcullis, checks every target, then runs wrk (pinned to other
# CPUs than the servers) against (a) the app directly, (b) the baseline, (c) Portcullis with the
# session cookie, in interleaved rounds, and prints one table (bench/report.ts). See bench/README.md.
#
#   npm run bench
#   DURATION=5s REPEAT=1 npm run bench
#   PIN=0 CONNECTIONS=128 npm run bench
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RUN_DIR=$BENCH_DIR/run
# The pinned Node 24 binary itself (not the npx wrapper): the PID we start must be the server's own.
NODE=$REPO/node_modules/.bin/node

# --- knobs --------------------------------------------------------------------------------------
DURATION=${DURATION:-10s}       # measured wrk run per target and round
WARMUP=${WARMUP:-3s}            # unmeasured wrk run right before it
REPEAT=${REPEAT:-3}             # interleaved rounds; the report shows each target's median round
CONNECTIONS=${CONNECTIONS:-64}  # wrk connections
THREADS=${THREADS:-2}           # wrk threads
PIN=${PIN:-1}                   # 1 = servers on the upper half of the CPUs, wrk on the lower; 0 = no pinning
BENCH_PATH=${BENCH_PATH:-/}     # the path requested from every target (the sample app's fixed-size HTML page)
PROFILE=${PROFILE:-0}           # 1 = run Portcullis with --cpu-prof and summarise it at the end (skews its CPU)
SERVER_CPUS=${SERVER_CPUS:-}    # or explicit taskset CPU lists
WRK_CPUS=${WRK_CPUS:-}
# the targets measured, in this order; the nginx ones need nginx (installed with apt-get when missing)
TARGETS=${TARGETS:-direct baseline portcullis nginx nginx-fa nginx-fa-cache nginx-fa-bare}
NGINX=${NGINX:-/usr/sbin/nginx}
FA_CACHE_SECONDS=${FA_CACHE_SECONDS:-10} # forwardAuth.cacheSeconds of the Portcullis behind nginx-fa-cache

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

[[ -x $NODE ]] || die "missing $NODE: run npm ci first (the bench uses the pinned Node from devDependencies)"
"$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' ||
  die "$NODE is not Node >= 22"

# --- tools --------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  [[ $(id -u) == 0 ]] || die "wrk is missing and installing it needs root: apt-get install wrk"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
if [[ " $TARGETS " == *" nginx"* && ! -x $NGINX ]]; then
  log "installing nginx-light (apt-get) for the nginx targets"
  [[ $(id -u) == 0 ]] || die "nginx is missing and installing it needs root: apt-get install nginx-light"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
  # Debian starts the system service on install: the bench runs its own nginx, not that one.
  command -v systemctl >/dev/null && systemctl disable --now nginx >/dev/null 2>&1 || true
fi
for tool in wrk curl taskset getconf perl; do command -v "$tool" >/dev/null || die "missing $tool"; done
CLK_TCK=$(getconf CLK_TCK)

ncpu=$(nproc)
if [[ $PIN == 1 && -z $SERVER_CPUS && -z $WRK_CPUS ]]; then
  if ((ncpu >= 2)); then
    WRK_CPUS=0-$((ncpu / 2 - 1)) SERVER_CPUS=$((ncpu / 2))-$((ncpu - 1))
    ((ncpu == 2)) && WRK_CPUS=0 SERVER_CPUS=1
  else
    log "only $ncpu CPU: running unpinned (servers and wrk share it; expect noisier figures)"
  fi
fi

# --- process bookkeeping: everything started is stopped on exit, by PID ---------------------------
declare -A PID_OF=()
STARTED=()
cleanup() {
  local rc=$? pid i
  trap - EXIT
  for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STARTED[@]}"; do
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() { # name cmd... : start in the background pinned to the server CPUs; wait for "ready"
  local name=$1 logfile=$RUN_DIR/$1.log pid i
  shift
  [[ -n $SERVER_CPUS ]] && set -- taskset -c "$SERVER_CPUS" "$@" # taskset execs: same PID
  "$@" >"$logfile" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  PID_OF[$name]=$pid
  for i in $(seq 1 300); do
    grep -q '^ready ' "$logfile" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up: $(tail -n 20 "$logfile")"
    sleep 0.1
  done
  grep -q '^ready ' "$logfile" || die "$name not ready after 30 s: $(tail -n 20 "$logfile")"
  log "started $name (pid $pid)"
}

wait_http() { # name url : poll until it answers at all
  local i
  for i in $(seq 1 300); do
    curl -s -o /dev/null --max-time 2 "$2" && return 0
    kill -0 "${PID_OF[$1]}" 2>/dev/null || die "$1 exited during start-up: $(tail -n 20 "$RUN_DIR/$1.log")"
    sleep 0.1
  done
  die "$1 did not answer at $2 within 30 s"
}

cpu_ticks() { # pid -> utime+stime in clock ticks (fields 14 and 15 of /proc/<pid>/stat; all threads)
  local stat
  stat=$(<"/proc/$1/stat") || die "process $1 is gone"
  stat=${stat##*) } # drop "pid (comm) ": the next field is field 3
  # shellcheck disable=SC2086
  set -- $stat
  echo $((${12} + ${13}))
}

# --- fresh run dir, ports, secrets ------------------------------------------------------------------
mkdir -p "$RUN_DIR"
find "$RUN_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +

# Free loopback ports, picked by the kernel (listen on port 0, note the port, close).
read -r APP_PORT IDP_PORT BASE_PORT GW_PORT GWC_PORT NGX_PORT FA_PORT FAC_PORT BARE_PORT FAB_PORT < <("$NODE" -e '
  const net = require("node:net");
  const servers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(() => net.createServer());
  Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)))))
    .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); });')
[[ -n ${FAB_PORT:-} ]] || die "could not pick free ports"

random_b64url() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }
CLIENT_ID=portcullis-bench
CLIENT_SECRET=$(random_b64url 24)
GW_URL=http://127.0.0.1:$GW_PORT
cat >"$RUN_DIR/portcullis.yaml" <<EOF
# generated by bench/run.sh
publicUrl: $GW_URL
listen: 127.0.0.1:$GW_PORT
cookie:
  secret: $(random_b64url 32)
providers:
  - id: dev
    type: oidc
    issuer: http://127.0.0.1:$IDP_PORT
    clientId: $CLIENT_ID
    clientSecret: $CLIENT_SECRET
upstreams:
  - path: /
    url: http://127.0.0.1:$APP_PORT
logging:
  level: warn
metrics:
  listen: 127.0.0.1:0 # any free port: the default 9180 is the second instance's, or another run's
EOF
# The Portcullis behind nginx-fa-cache: the same (same cookie secret, so alice's cookie is good there too),
# on a port of its own, letting nginx cache an allow answer (forwardAuth.cacheSeconds). The one behind
# nginx-fa is the main one, with the default (no-store).
sed -e "s#^publicUrl: .*#publicUrl: http://127.0.0.1:$GWC_PORT#" -e "s#^listen: .*#listen: 127.0.0.1:$GWC_PORT#" \
  "$RUN_DIR/portcullis.yaml" >"$RUN_DIR/portcullis-cache.yaml"
printf 'forwardAuth:\n  cacheSeconds: %d\n' "$FA_CACHE_SECONDS" >>"$RUN_DIR/portcullis-cache.yaml"

# nginx, one process per target (master_process off: the PID is the only process serving, so its CPU
# time is the target's), each with keep-alive connections to the app like the peer bench's nginx.
# nginx (the floor): proxies the app, no auth. nginx-fa and nginx-fa-cache: examples/nginx-cached.conf
# itself (ports substituted), without its cache lines for nginx-fa.
nginx_conf() { # name server-block-file
  mkdir -p "$RUN_DIR/$1-tmp"
  cat <<NGINXCONF
daemon off;
master_process off;
pid $RUN_DIR/$1.pid;
error_log $RUN_DIR/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 65s;
  keepalive_requests 1000000;   # do not recycle wrk's connections mid-run
  client_body_temp_path $RUN_DIR/$1-tmp/body;
  proxy_temp_path $RUN_DIR/$1-tmp/proxy;
  fastcgi_temp_path $RUN_DIR/$1-tmp/fastcgi;
  uwsgi_temp_path $RUN_DIR/$1-tmp/uwsgi;
  scgi_temp_path $RUN_DIR/$1-tmp/scgi;
  upstream bench_app { server 127.0.0.1:$APP_PORT; keepalive 64; }
$(cat "$2")
}
NGINXCONF
}
cat >"$RUN_DIR/nginx-server.conf" <<NGINXCONF
server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
        proxy_pass http://bench_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
}
NGINXCONF
example_server() { # listen-port portcullis-port cache-dir|"" -> examples/nginx-cached.conf for the bench
  local app='proxy_pass http://bench_app; proxy_http_version 1.1; proxy_set_header Connection "";'
  local conf
  conf=$(PC=127.0.0.1:$2 LISTEN=127.0.0.1:$1 CACHE=$3 APP=$app perl -pe '
    s/^(\s*)server 127\.0\.0\.1:4180;/$1server $ENV{PC};/;
    s/listen 443 ssl;/listen $ENV{LISTEN};/;
    s#proxy_pass http://127\.0\.0\.1:8080;#$ENV{APP}#;
    s#/var/cache/nginx/portcullis-auth#$ENV{CACHE}#;' "$REPO/examples/nginx-cached.conf")
  # nginx-fa: the same without the cache (the proxy_cache_path statement and every proxy_cache* line).
  [[ -n $3 ]] || conf=$(perl -0pe 's/^proxy_cache_path[^;]*;\n//m; s/^\s*proxy_cache\S*\s[^\n]*\n//mg' <<<"$conf")
  printf '%s\n' "$conf"
}
example_server "$FA_PORT" "$GW_PORT" "" >"$RUN_DIR/nginx-fa-server.conf"
example_server "$FAC_PORT" "$GWC_PORT" "$RUN_DIR/nginx-fa-cache-tmp/auth" >"$RUN_DIR/nginx-fa-cache-server.conf"
# nginx-fa-bare: nginx-fa asking bench/servers/bare-auth.ts (node:http's bare 202) instead of Portcullis.
example_server "$FAB_PORT" "$BARE_PORT" "" >"$RUN_DIR/nginx-fa-bare-server.conf"
grep -qE '^\s*proxy_cache' "$RUN_DIR/nginx-fa-server.conf" && die "nginx-fa: the cache lines were not removed"
grep -q 'proxy_cache_key' "$RUN_DIR/nginx-fa-cache-server.conf" || die "nginx-fa-cache: no proxy_cache_key"
nginx_conf nginx "$RUN_DIR/nginx-server.conf" >"$RUN_DIR/nginx.conf"
nginx_conf nginx-fa "$RUN_DIR/nginx-fa-server.conf" >"$RUN_DIR/nginx-fa.conf"
nginx_conf nginx-fa-cache "$RUN_DIR/nginx-fa-cache-server.conf" >"$RUN_DIR/nginx-fa-cache.conf"
nginx_conf nginx-fa-bare "$RUN_DIR/nginx-fa-bare-server.conf" >"$RUN_DIR/nginx-fa-bare.conf"

# --- start ------------------------------------------------------------------------------------------
log "node $("$NODE" --version), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2), $ncpu CPUs;" \
  "servers on CPU ${SERVER_CPUS:-any}, wrk on CPU ${WRK_CPUS:-any}"
cd "$REPO"
start_server app "$NODE" bench/servers/app.ts "$APP_PORT"
start_server idp "$NODE" bench/servers/idp.ts "$IDP_PORT" "$CLIENT_ID" "$CLIENT_SECRET" "$GW_URL/oauth2/callback"
start_server baseline "$NODE" bench/servers/baseline.ts "$BASE_PORT" "http://127.0.0.1:$APP_PORT"
# Portcullis logs nothing at warn on start-up: wait for /ping instead of a "ready" line.
start_portcullis() { # name config url [profile]
  local cmd=()
  [[ -n $SERVER_CPUS ]] && cmd=(taskset -c "$SERVER_CPUS")
  cmd+=("$NODE")
  [[ ${4:-0} == 1 ]] && cmd+=(--cpu-prof --cpu-prof-dir="$RUN_DIR/profile")
  cmd+=(src/cli/main.ts serve --config "$2")
  "${cmd[@]}" >"$RUN_DIR/$1.log" 2>&1 &
  PID_OF[$1]=$!
  STARTED+=("${PID_OF[$1]}")
  wait_http "$1" "$3/ping"
  log "started $1 (pid ${PID_OF[$1]})"
}
start_portcullis portcullis "$RUN_DIR/portcullis.yaml" "$GW_URL" "$PROFILE"
TARGET_LIST=" $TARGETS "
has_target() { [[ $TARGET_LIST == *" $1 "* ]]; }
if has_target nginx-fa-cache; then
  start_portcullis portcullis-cache "$RUN_DIR/portcullis-cache.yaml" "http://127.0.0.1:$GWC_PORT"
fi
if has_target nginx-fa-bare; then start_server bare-auth "$NODE" bench/servers/bare-auth.ts "$BARE_PORT"; fi
start_nginx() { # name port
  local cmd=() i
  [[ -n $SERVER_CPUS ]] && cmd=(taskset -c "$SERVER_CPUS")
  cmd+=("$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/$1.conf")
  "${cmd[@]}" >"$RUN_DIR/$1.log" 2>&1 &
  PID_OF[$1]=$!
  STARTED+=("${PID_OF[$1]}")
  for i in $(seq 1 100); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$2/" && break
    kill -0 "${PID_OF[$1]}" 2>/dev/null || die "$1 exited during start-up: $(tail -n 20 "$RUN_DIR/$1.log")"
    sleep 0.1
  done
  log "started $1 (pid ${PID_OF[$1]}, $("$NGINX" -v 2>&1 | cut -d' ' -f3))"
}
declare -A NGINX_PORT_OF=([nginx]=$NGX_PORT [nginx-fa]=$FA_PORT [nginx-fa-cache]=$FAC_PORT [nginx-fa-bare]=$FAB_PORT)
for id in nginx nginx-fa nginx-fa-cache nginx-fa-bare; do
  if has_target "$id"; then start_nginx "$id" "${NGINX_PORT_OF[$id]}"; fi
done

declare -A URL=(
  [direct]=http://127.0.0.1:$APP_PORT$BENCH_PATH
  [baseline]=http://127.0.0.1:$BASE_PORT$BENCH_PATH
  [portcullis]=$GW_URL$BENCH_PATH
  [nginx]=http://127.0.0.1:$NGX_PORT$BENCH_PATH
  [nginx-fa]=http://127.0.0.1:$FA_PORT$BENCH_PATH
  [nginx-fa-cache]=http://127.0.0.1:$FAC_PORT$BENCH_PATH
  [nginx-fa-bare]=http://127.0.0.1:$FAB_PORT$BENCH_PATH
)
# The processes whose CPU time is the target's: for forward-auth, nginx and the Portcullis it asks.
declare -A CPU_PROC=([direct]=app [baseline]=baseline [portcullis]=portcullis [nginx]=nginx
  [nginx-fa]="nginx-fa portcullis" [nginx-fa-cache]="nginx-fa-cache portcullis-cache"
  [nginx-fa-bare]="nginx-fa-bare bare-auth")
read -r -a TARGETS <<<"$TARGETS"
for id in "${TARGETS[@]}"; do [[ -n ${URL[$id]:-} ]] || die "unknown target $id (TARGETS)"; done

# --- sign in ----------------------------------------------------------------------------------------
COOKIE=$("$NODE" bench/login.ts "$GW_URL" alice alice) || die "sign-in through Portcullis failed"
[[ -n $COOKIE ]] || die "sign-in returned no cookie"
printf '%s\n' "$COOKIE" >"$RUN_DIR/cookie.txt"
log "signed in as alice through Portcullis (Cookie header: ${#COOKIE} bytes, ${COOKIE%%=*}...)"

# --- checks -----------------------------------------------------------------------------------------
# probe url ['Name: value'...] -> P_STATUS, P_SIZE (the response's bytes on the wire, as wrk counts them);
# the body goes to probe-body.html
probe() {
  local out
  out=$("$NODE" "$BENCH_DIR/probe.ts" "$1" "$RUN_DIR/probe-body.html" "${@:2}") || true
  read -r P_STATUS P_SIZE <<<"$out"
}
USER_ROW='<th>User (X-Forwarded-User)</th><td>'
declare -A EXPECTED_BYTES=()
for id in direct baseline nginx; do
  has_target "$id" || continue
  probe "${URL[$id]}" "Cookie: $COOKIE"
  [[ $P_STATUS == 200 ]] || die "$id: got $P_STATUS, expected 200"
  grep -qF "${USER_ROW}—</td>" "$RUN_DIR/probe-body.html" || die "$id: not the sample app's page, or it saw an identity"
  EXPECTED_BYTES[$id]=$P_SIZE
  log "checked $id: 200, sample app page without identity ($P_SIZE bytes)"
done
probe "${URL[portcullis]}"
[[ $P_STATUS == 302 ]] || die "portcullis without the cookie: got $P_STATUS, expected 302"
probe "${URL[portcullis]}" "Cookie: $COOKIE" 'X-Forwarded-User: mallory'
[[ $P_STATUS == 200 ]] || die "portcullis with the cookie (and a forged X-Forwarded-User): got $P_STATUS"
grep -qF "${USER_ROW}alice</td>" "$RUN_DIR/probe-body.html" ||
  die "portcullis: the app did not see X-Forwarded-User: alice ($(grep -o "${USER_ROW}[^<]*" "$RUN_DIR/probe-body.html"))"
probe "${URL[portcullis]}" "Cookie: $COOKIE"
[[ $P_STATUS == 200 ]] || die "portcullis with the cookie: got $P_STATUS"
EXPECTED_BYTES[portcullis]=$P_SIZE
log "checked portcullis: 302 without the cookie; 200 with it, app sees X-Forwarded-User: alice, forged copy dropped ($P_SIZE bytes)"
for id in nginx-fa nginx-fa-cache; do
  has_target "$id" || continue
  probe "${URL[$id]}"
  [[ $P_STATUS == 200 ]] || die "$id without the cookie: got $P_STATUS, expected 200 (the sign-in page, error_page 401)"
  grep -q 'Sign in' "$RUN_DIR/probe-body.html" || die "$id without the cookie: not the sign-in page"
  probe "${URL[$id]}" "Cookie: $COOKIE" 'X-Forwarded-User: mallory'
  [[ $P_STATUS == 200 ]] || die "$id with the cookie (and a forged X-Forwarded-User): got $P_STATUS"
  grep -qF "${USER_ROW}alice</td>" "$RUN_DIR/probe-body.html" ||
    die "$id: the app did not see X-Forwarded-User: alice ($(grep -o "${USER_ROW}[^<]*" "$RUN_DIR/probe-body.html"))"
  probe "${URL[$id]}" "Cookie: $COOKIE"
  [[ $P_STATUS == 200 ]] || die "$id with the cookie: got $P_STATUS"
  EXPECTED_BYTES[$id]=$P_SIZE
  log "checked $id: the sign-in page without the cookie; 200 with it, app sees X-Forwarded-User: alice, forged copy dropped ($P_SIZE bytes)"
done
if has_target nginx-fa-bare; then # lets everyone in as alice: only the answer's size is checked
  probe "${URL[nginx-fa-bare]}" "Cookie: $COOKIE"
  [[ $P_STATUS == 200 ]] || die "nginx-fa-bare: got $P_STATUS"
  grep -qF "${USER_ROW}alice</td>" "$RUN_DIR/probe-body.html" || die "nginx-fa-bare: the app did not see alice"
  EXPECTED_BYTES[nginx-fa-bare]=$P_SIZE
  log "checked nginx-fa-bare: 200, app sees X-Forwarded-User: alice ($P_SIZE bytes)"
fi

# --- wrk --------------------------------------------------------------------------------------------
RESULTS=$RUN_DIR/results.jsonl
printf '{"kind":"meta","date":"%s","node":"%s","wrk":"%s","cpus":%d,"server_cpus":"%s","wrk_cpus":"%s","threads":%d,"connections":%d,"duration":"%s","warmup":"%s","repeat":%d,"path":"%s","clk_tck":%d}\n' \
  "$(date -u +%FT%TZ)" "$("$NODE" --version)" "$(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)" "$ncpu" \
  "${SERVER_CPUS:-}" "${WRK_CPUS:-}" "$THREADS" "$CONNECTIONS" "$DURATION" "$WARMUP" "$REPEAT" "$BENCH_PATH" \
  "$CLK_TCK" >"$RESULTS"

wrk_run() { # id duration outfile
  local cmd=()
  [[ -n $WRK_CPUS ]] && cmd=(taskset -c "$WRK_CPUS")
  cmd+=(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2" --timeout 10s --latency -s "$BENCH_DIR/wrk-report.lua"
    -H "Cookie: $COOKIE" "${URL[$1]}")
  "${cmd[@]}" >"$3" 2>&1 || die "wrk failed for $1: $(tail -n 5 "$3")"
}

bench_target() { # id round
  local id=$1 round=$2 out=$RUN_DIR/wrk-$1.r$2.txt p0 p1 a0 a1 json proc parts=()
  local -A c0=()
  log "round $round/$REPEAT: $id: warm-up $WARMUP, then $DURATION ($THREADS threads, $CONNECTIONS connections)"
  wrk_run "$id" "$WARMUP" "$RUN_DIR/wrk-$id.r$round-warmup.txt"
  for proc in ${CPU_PROC[$id]}; do c0[$proc]=$(cpu_ticks "${PID_OF[$proc]}"); done
  a0=$(cpu_ticks "${PID_OF[app]}")
  wrk_run "$id" "$DURATION" "$out"
  a1=$(cpu_ticks "${PID_OF[app]}")
  p0=0 p1=0
  for proc in ${CPU_PROC[$id]}; do # the target's CPU: the sum over its processes, each also recorded
    p0=$(cpu_ticks "${PID_OF[$proc]}")
    parts+=("\"$proc\":$((p0 - c0[$proc]))")
    p1=$((p1 + p0 - c0[$proc]))
  done
  p0=0
  json=$(sed -n 's/^WRKJSON //p' "$out")
  [[ -n $json ]] || die "no wrk result for $id (see $out)"
  if [[ $id == portcullis || $id == nginx-fa* ]]; then # the session must still be good after the run
    probe "${URL[$id]}" "Cookie: $COOKIE"
    [[ $P_STATUS == 200 ]] || die "portcullis: the session no longer works after the run ($P_STATUS)"
  fi
  printf '{"kind":"wrk","target":"%s","round":%d,"url":"%s","wrk":%s,"cpu_ticks":{"target":%d,"app":%d,"parts":{%s}},"cpu_proc":"%s","expected_bytes":%d}\n' \
    "$id" "$round" "${URL[$id]}" "$json" $((p1 - p0)) $((a1 - a0)) "$(IFS=,; echo "${parts[*]}")" "${CPU_PROC[$id]}" "${EXPECTED_BYTES[$id]}" \
    >>"$RESULTS"
  sleep 1
}

# Interleaved (all targets, then all again, ...) so that a drift of the machine favours none of them.
for ((round = 1; round <= REPEAT; round++)); do
  for id in "${TARGETS[@]}"; do bench_target "$id" "$round"; done
done

echo
"$NODE" "$BENCH_DIR/report.ts" "$RESULTS" "$RUN_DIR"
echo
if [[ $PROFILE == 1 ]]; then # Portcullis writes its profile when it exits
  pid=${PID_OF[portcullis]}
  kill -TERM "$pid"
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  for f in "$RUN_DIR"/profile/*.cpuprofile; do
    [[ -f $f ]] || die "PROFILE=1 but Portcullis wrote no profile (see $RUN_DIR/portcullis.log)"
    "$NODE" "$BENCH_DIR/profile-summary.ts" "$f" 25 | tee "$RUN_DIR/profile-summary.txt"
  done
  echo "(PROFILE=1: Portcullis ran under the profiler, so its CPU figures above are inflated)"
  echo
fi
log "details in $RUN_DIR (wrk outputs, server logs, results.md, results.json); stopping everything started"
