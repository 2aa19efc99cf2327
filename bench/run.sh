#!/usr/bin/env bash
# npm run bench: what does Portcullis cost per authenticated request, in each of its modes, next to a
# minimal proxy and the peers (nginx, Apache mod_proxy, Apache + mod_auth_openidc)? Issue 14's numbers in
# one command.
#
# Starts, each as its own process (so its CPU time can be read from /proc): the sample upstream app, the
# dev IdP, a minimal undici-Pool reverse proxy without auth (the baseline), Portcullis in each mode (CLI,
# generated configs), nginx (plain and forward-auth) and one Apache with three virtual hosts. Signs in,
# checks every target (identity reaches the app, forged identity headers are dropped), then runs wrk
# (pinned to other CPUs than the servers) against each target in interleaved rounds. Then the phases
# (WebSocket, idle connections, and the other scripts listed in PHASES when present), and one report:
# bench/results/<date>-bench.md (+ .json), with the machine it ran on. See bench/README.md.
#
#   npm run bench                                  # everything, ~15 min
#   QUICK=1 npm run bench                          # one 5 s round, short phases, ~5 min
#   TARGETS="baseline portcullis portcullis-redis" PHASES= REPEAT=1 DURATION=3s npm run bench
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RUN_DIR=$BENCH_DIR/run
# The pinned Node 24 binary itself (not the npx wrapper): the PID we start must be the server's own.
NODE=$REPO/node_modules/.bin/node

# --- knobs --------------------------------------------------------------------------------------
QUICK=${QUICK:-0}               # 1 = one short round and short phases (the defaults below change)
if [[ $QUICK == 1 ]]; then
  : "${DURATION:=5s}" "${WARMUP:=2s}" "${REPEAT:=1}" "${WS_SECONDS:=3}" "${WS_ROUNDS:=1}"
fi
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
# the targets measured, in this order; nginx and Apache are installed with apt-get when missing
ALL_TARGETS="direct baseline portcullis portcullis-redis portcullis-redis-cached portcullis-assertion portcullis-rules nginx nginx-fa
  nginx-fa-cache nginx-fa-bare apache-proxy apache-oidc apache-oidc-cookie"
TARGETS=${TARGETS:-$ALL_TARGETS}
NGINX=${NGINX:-/usr/sbin/nginx}
APACHE=${APACHE:-/usr/sbin/apache2}
FA_CACHE_SECONDS=${FA_CACHE_SECONDS:-10} # forwardAuth.cacheSeconds of the Portcullis behind nginx-fa-cache
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0} # portcullis-redis keeps its sessions here
LOCAL_CACHE_SECONDS=${LOCAL_CACHE_SECONDS:-5}     # portcullis-redis-cached: sessions.localCache.seconds
RULES_PATH=${RULES_PATH:-/team/engineering/}     # portcullis-rules: a path under the last of its 10 routes
# after the wrk rounds, in this order, each when its script exists (bench/<name>.ts or bench/<name>.sh)
PHASES=${PHASES-ws idle-conns memory login-timing workers}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-900}  # seconds one phase may take before it is stopped
WS_CONNECTIONS=${WS_CONNECTIONS:-64} # ws: connections, each in a closed loop
WS_SIZE=${WS_SIZE:-128}              # ws: bytes per message
WS_SECONDS=${WS_SECONDS:-10}         # ws: measured seconds per path and round
WS_ROUNDS=${WS_ROUNDS:-3}            # ws: interleaved rounds (direct, through Portcullis, through nginx)
IDLE_CONNS=${IDLE_CONNS:-10000}      # idle-conns: keep-alive connections opened per target
RESULTS_DIR=${RESULTS_DIR-$BENCH_DIR/results} # where <date>-bench.md and .json go; "" = only bench/run/
NOTE=${NOTE:-}                       # a line for the report, e.g. "other work ran at the same time"

# shellcheck disable=SC2086 # split on purpose: the list may span lines
TARGET_LIST=" $(echo $TARGETS) "
has_target() { [[ $TARGET_LIST == *" $1 "* ]]; }
has_any() { [[ $TARGET_LIST == *" $1"* ]]; } # a target whose name starts with $1

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
if has_any nginx && [[ ! -x $NGINX ]]; then
  log "installing nginx-light (apt-get) for the nginx targets"
  [[ $(id -u) == 0 ]] || die "nginx is missing and installing it needs root: apt-get install nginx-light"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
  # Debian starts the system service on install: the bench runs its own nginx, not that one.
  command -v systemctl >/dev/null && systemctl disable --now nginx >/dev/null 2>&1 || true
fi
if has_any apache && [[ ! -x $APACHE || ! -f /usr/lib/apache2/modules/mod_auth_openidc.so ]]; then
  log "installing apache2 and libapache2-mod-auth-openidc (apt-get) for the apache targets"
  [[ $(id -u) == 0 ]] || die "Apache is missing and installing it needs root: apt-get install apache2 libapache2-mod-auth-openidc"
  # Debian starts (and enables) the system service on install unless policy-rc.d says no: the bench runs
  # its own Apache on loopback ports, never the system one.
  policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, bench/run.sh: no services started during install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2 libapache2-mod-auth-openidc >/dev/null
  ((policy)) && rm -f /usr/sbin/policy-rc.d
  if command -v systemctl >/dev/null; then
    for unit in apache2 apache-htcacheclean; do systemctl disable --now "$unit" >/dev/null 2>&1 || true; done
  fi
fi
for tool in wrk curl taskset getconf perl; do command -v "$tool" >/dev/null || die "missing $tool"; done
if has_any portcullis-redis; then
  command -v redis-cli >/dev/null || die "portcullis-redis needs redis-cli (apt-get install redis-tools)"
  [[ $(redis-cli -u "$REDIS_URL" ping 2>&1) == PONG ]] ||
    die "portcullis-redis: no Redis answers at $REDIS_URL (REDIS_URL); start one or leave portcullis-redis out of TARGETS"
fi
CLK_TCK=$(getconf CLK_TCK)
# 10,000 idle connections (phase idle-conns) need descriptors: the servers inherit this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

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
stop_servers() { # every process started, by PID: TERM, up to 10 s, then KILL
  local pid i
  for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STARTED[@]}"; do
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  STARTED=()
}
REDIS_PREFIX=portcullis-bench-$$:sessions: # portcullis-redis[-cached]'s own keys in the shared Redis
cleanup() {
  local rc=$?
  trap - EXIT
  stop_servers
  if has_any portcullis-redis && command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX*" 2>/dev/null |
      xargs -r -n 100 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
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
proc_ticks() { # name -> CPU ticks of that started process; Apache's: the main process and its workers
  local t child
  t=$(cpu_ticks "${PID_OF[$1]}")
  if [[ $1 == apache ]]; then
    for child in $(ps -o pid= --ppid "${PID_OF[$1]}"); do t=$((t + $(cpu_ticks "$child"))); done
  fi
  echo "$t"
}

# --- fresh run dir, ports, secrets ------------------------------------------------------------------
mkdir -p "$RUN_DIR"
find "$RUN_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +

# Free loopback ports below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by
# default): a port picked with listen(0) lies in that range, and between picking it and the server binding
# it, an outgoing connection (to Redis, the IdP, an upstream) may take it as its source port; nginx then
# fails with "Address already in use" (seen once here). Random ports in 20000-32767, each checked by binding.
PORT_NAMES=(APP_PORT IDP_PORT BASE_PORT GW_PORT GWC_PORT NGX_PORT FA_PORT FAC_PORT BARE_PORT FAB_PORT
  GWR_PORT GWRC_PORT GWA_PORT GWL_PORT AP_PORT AO_PORT AOC_PORT)
read -r "${PORT_NAMES[@]}" < <("$NODE" -e '
  const net = require("node:net");
  const want = Number(process.argv[1]);
  const ports = [];
  const tryOne = () => {
    if (ports.length === want) return console.log(ports.join(" "));
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (ports.includes(port)) return tryOne();
    const s = net.createServer();
    s.once("error", tryOne);
    s.listen(port, "127.0.0.1", () => { ports.push(port); s.close(tryOne); });
  };
  tryOne();' "${#PORT_NAMES[@]}")
[[ -n ${AOC_PORT:-} ]] || die "could not pick free ports"

random_b64url() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }
CLIENT_ID=portcullis-bench
CLIENT_SECRET=$(random_b64url 24)
GW_URL=http://127.0.0.1:$GW_PORT
GWR_URL=http://127.0.0.1:$GWR_PORT
GWRC_URL=http://127.0.0.1:$GWRC_PORT
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
server:
  maxConnections: $((IDLE_CONNS + 2000)) # phase idle-conns holds $IDLE_CONNS idle connections open
logging:
  level: warn
metrics:
  listen: 127.0.0.1:0 # any free port: the default 9180 is the second instance's, or another run's
EOF
# The other Portcullis instances: the same configuration (the same cookie secret, so alice's cookie is good
# there too, except with server-side sessions) on a port of their own, plus one setting each.
variant() { # name port -> the main config with publicUrl and listen moved to the port
  sed -e "s#^publicUrl: .*#publicUrl: http://127.0.0.1:$2#" -e "s#^listen: .*#listen: 127.0.0.1:$2#" \
    "$RUN_DIR/portcullis.yaml" >"$RUN_DIR/$1.yaml"
}
# portcullis-cache (behind nginx-fa-cache): lets nginx cache an allow answer (forwardAuth.cacheSeconds).
# The one behind nginx-fa is the main one, with the default (no-store).
variant portcullis-cache "$GWC_PORT"
printf 'forwardAuth:\n  cacheSeconds: %d\n' "$FA_CACHE_SECONDS" >>"$RUN_DIR/portcullis-cache.yaml"
# portcullis-redis: server-side sessions in Redis under a key prefix of this run's own.
variant portcullis-redis "$GWR_PORT"
printf 'sessions:\n  store: redis\n  url: %s\n  keyPrefix: "%s"\n' "$REDIS_URL" "$REDIS_PREFIX" \
  >>"$RUN_DIR/portcullis-redis.yaml"
# portcullis-redis-cached: the same, with the opt-in per-process session cache (sessions.localCache),
# invalidated over Redis pub/sub: a request with a cached session does not read Redis.
variant portcullis-redis-cached "$GWRC_PORT"
printf 'sessions:\n  store: redis\n  url: %s\n  keyPrefix: "%s"\n  localCache:\n    seconds: %d\n' \
  "$REDIS_URL" "$REDIS_PREFIX" "$LOCAL_CACHE_SECONDS" >>"$RUN_DIR/portcullis-redis-cached.yaml"
# portcullis-assertion: the signed identity assertion (X-Portcullis-Assertion) on the upstream; its keys in
# a sqlite file of this run.
variant portcullis-assertion "$GWA_PORT"
perl -0pi -e 's#(    url: http://127\.0\.0\.1:\d+\n)#$1    assertion: {}\n#' "$RUN_DIR/portcullis-assertion.yaml"
printf 'storage:\n  type: sqlite\n  path: %s\n' "$RUN_DIR/portcullis-assertion.db" >>"$RUN_DIR/portcullis-assertion.yaml"
# portcullis-rules: a top-level rule and ten routes with groups / e-mail rules, as a company might write
# them; the measured request ($RULES_PATH) falls under the last one. alice is in admins and engineering.
variant portcullis-rules "$GWL_PORT"
cat >>"$RUN_DIR/portcullis-rules.yaml" <<'EOF'
allow:
  emailDomains: [example.com, .corp.example.com, example.org]
routes:
  - { path: /public/, public: true }
  - { path: /finance/, allow: { groups: [finance] } }
  - { path: /hr/, allow: { groups: [hr], emails: [carol@example.org] } }
  - { path: /admin/, allow: { groups: [admins] } }
  - { path: /admin/billing/, allow: { groups: [finance] } }
  - { path: /ops/, allow: { groups: [sre, platform] } }
  - { path: /reports/, allow: { emailDomains: [example.com], groups: [analysts, engineering] } }
  - { path: /partners/, allow: { emails: [pat@partner.example, bob@example.com] } }
  - { path: /api/, api: true, allow: { groups: [engineering] } }
  - { path: /team/engineering/, allow: { groups: [engineering], emailDomains: [example.com] } }
EOF
grep -q '^    assertion: {}' "$RUN_DIR/portcullis-assertion.yaml" || die "portcullis-assertion: no assertion section"

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
worker_rlimit_nofile $(ulimit -n);
events { worker_connections $((IDLE_CONNS + 4096)); } # phase idle-conns holds $IDLE_CONNS open on nginx
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
REDIRECT_URIS=$GW_URL/oauth2/callback,$GWR_URL/oauth2/callback,$GWRC_URL/oauth2/callback
REDIRECT_URIS+=,http://127.0.0.1:$AO_PORT/oidc/redirect_uri,http://127.0.0.1:$AOC_PORT/oidc/redirect_uri
start_server idp "$NODE" bench/servers/idp.ts "$IDP_PORT" "$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URIS"
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
if has_target nginx-fa-cache; then
  start_portcullis portcullis-cache "$RUN_DIR/portcullis-cache.yaml" "http://127.0.0.1:$GWC_PORT"
fi
declare -A GW_PORT_OF=([portcullis-redis]=$GWR_PORT [portcullis-redis-cached]=$GWRC_PORT
  [portcullis-assertion]=$GWA_PORT [portcullis-rules]=$GWL_PORT)
for id in portcullis-redis portcullis-redis-cached portcullis-assertion portcullis-rules; do
  if has_target "$id"; then start_portcullis "$id" "$RUN_DIR/$id.yaml" "http://127.0.0.1:${GW_PORT_OF[$id]}"; fi
done
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
if has_any apache; then # one Apache, three virtual hosts (bench/servers/apache.conf)
  mkdir -p "$RUN_DIR/apache-rt"
  chmod 755 "$RUN_DIR" "$RUN_DIR/apache-rt" # its workers run as www-data
  export BENCH_RUN_DIR=$RUN_DIR BENCH_APP_PORT=$APP_PORT BENCH_APACHE_PROXY_PORT=$AP_PORT
  export BENCH_APACHE_OIDC_PORT=$AO_PORT BENCH_APACHE_COOKIE_PORT=$AOC_PORT
  export BENCH_IDP_ISSUER=http://127.0.0.1:$IDP_PORT BENCH_CLIENT_ID=$CLIENT_ID BENCH_CLIENT_SECRET=$CLIENT_SECRET
  BENCH_CRYPTO_PASSPHRASE=$(random_b64url 32) BENCH_APACHE_PROCS=$ncpu BENCH_APACHE_MAX_WORKERS=$((ncpu * 64))
  export BENCH_CRYPTO_PASSPHRASE BENCH_APACHE_PROCS BENCH_APACHE_MAX_WORKERS
  "$APACHE" -t -f "$BENCH_DIR/servers/apache.conf" >"$RUN_DIR/apache-configtest.log" 2>&1 ||
    die "apache: config test failed: $(cat "$RUN_DIR/apache-configtest.log")"
  cmd=()
  [[ -n $SERVER_CPUS ]] && cmd=(taskset -c "$SERVER_CPUS")
  "${cmd[@]}" "$APACHE" -f "$BENCH_DIR/servers/apache.conf" -DFOREGROUND >"$RUN_DIR/apache.log" 2>&1 &
  PID_OF[apache]=$!
  STARTED+=("${PID_OF[apache]}")
  for port in "$AP_PORT" "$AO_PORT" "$AOC_PORT"; do wait_http apache "http://127.0.0.1:$port/"; done
  log "started apache (pid ${PID_OF[apache]}, $("$APACHE" -v | sed -n 's/^Server version: //p'), mod_auth_openidc $(dpkg-query -W -f '${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?'))"
fi

declare -A URL=(
  [direct]=http://127.0.0.1:$APP_PORT$BENCH_PATH
  [baseline]=http://127.0.0.1:$BASE_PORT$BENCH_PATH
  [portcullis]=$GW_URL$BENCH_PATH
  [nginx]=http://127.0.0.1:$NGX_PORT$BENCH_PATH
  [nginx-fa]=http://127.0.0.1:$FA_PORT$BENCH_PATH
  [nginx-fa-cache]=http://127.0.0.1:$FAC_PORT$BENCH_PATH
  [nginx-fa-bare]=http://127.0.0.1:$FAB_PORT$BENCH_PATH
  [portcullis-redis]=$GWR_URL$BENCH_PATH
  [portcullis-redis-cached]=$GWRC_URL$BENCH_PATH
  [portcullis-assertion]=http://127.0.0.1:$GWA_PORT$BENCH_PATH
  [portcullis-rules]=http://127.0.0.1:$GWL_PORT$RULES_PATH
  [apache-proxy]=http://127.0.0.1:$AP_PORT$BENCH_PATH
  [apache-oidc]=http://127.0.0.1:$AO_PORT$BENCH_PATH
  [apache-oidc-cookie]=http://127.0.0.1:$AOC_PORT$BENCH_PATH
)
# The processes whose CPU time is the target's: for forward-auth, nginx and the Portcullis it asks.
declare -A CPU_PROC=([direct]=app [baseline]=baseline [portcullis]=portcullis [nginx]=nginx
  [nginx-fa]="nginx-fa portcullis" [nginx-fa-cache]="nginx-fa-cache portcullis-cache"
  [nginx-fa-bare]="nginx-fa-bare bare-auth" [portcullis-redis]=portcullis-redis
  [portcullis-redis-cached]=portcullis-redis-cached [portcullis-assertion]=portcullis-assertion
  [portcullis-rules]=portcullis-rules [apache-proxy]=apache [apache-oidc]=apache [apache-oidc-cookie]=apache)
read -r -a TARGETS <<<"$TARGET_LIST" # one line (the default spans two)
for id in "${TARGETS[@]}"; do [[ -n ${URL[$id]:-} ]] || die "unknown target $id (TARGETS)"; done

# --- sign in ----------------------------------------------------------------------------------------
COOKIE=$("$NODE" bench/login.ts "$GW_URL" alice alice) || die "sign-in through Portcullis failed"
[[ -n $COOKIE ]] || die "sign-in returned no cookie"
printf '%s\n' "$COOKIE" >"$RUN_DIR/cookie.txt"
log "signed in as alice through Portcullis (Cookie header: ${#COOKIE} bytes, ${COOKIE%%=*}...)"
# The Cookie header wrk sends to each target: alice's Portcullis cookie (good on every cookie-session
# Portcullis, which share the secret; an ordinary header elsewhere), or the target's own session.
declare -A COOKIE_OF=()
for id in "${TARGETS[@]}"; do COOKIE_OF[$id]=$COOKIE; done
for id in portcullis-redis portcullis-redis-cached; do # each its own session, in Redis
  has_target "$id" || continue
  COOKIE_OF[$id]=$("$NODE" bench/login.ts "${URL[$id]%"$BENCH_PATH"}" alice alice) || die "sign-in through $id failed"
  log "signed in as alice through $id (Cookie header: ${#COOKIE_OF[$id]} bytes)"
done
apache_login() { # id: a fresh mod_auth_openidc session for that target
  local url=${URL[$1]%"$BENCH_PATH"}
  COOKIE_OF[$1]=$("$NODE" bench/login.ts "$url" alice alice --apache) || die "sign-in through $1 failed"
  printf '%s\n' "${COOKIE_OF[$1]}" >"$RUN_DIR/cookie-$1.txt"
}
for id in apache-oidc apache-oidc-cookie; do
  has_target "$id" || continue
  apache_login "$id"
  log "signed in as alice through $id (Cookie header: ${#COOKIE_OF[$id]} bytes)"
done

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
for id in direct baseline nginx apache-proxy; do
  has_target "$id" || continue
  probe "${URL[$id]}" "Cookie: $COOKIE"
  [[ $P_STATUS == 200 ]] || die "$id: got $P_STATUS, expected 200"
  grep -qF "${USER_ROW}—</td>" "$RUN_DIR/probe-body.html" || die "$id: not the sample app's page, or it saw an identity"
  EXPECTED_BYTES[$id]=$P_SIZE
  log "checked $id: 200, sample app page without identity ($P_SIZE bytes)"
done
# A gateway that signs in (Portcullis in each mode, Apache + mod_auth_openidc): without a cookie it sends the
# browser to sign in; with it (and a forged X-Forwarded-User) the app sees alice.
check_gateway() { # id statuses-without-cookie
  local id=$1 without
  probe "${URL[$id]}"
  [[ " $2 " == *" $P_STATUS "* ]] || die "$id without the cookie: got $P_STATUS, expected $2"
  without=$P_STATUS
  probe "${URL[$id]}" "Cookie: ${COOKIE_OF[$id]}" 'X-Forwarded-User: mallory'
  [[ $P_STATUS == 200 ]] || die "$id with the cookie (and a forged X-Forwarded-User): got $P_STATUS"
  grep -qF "${USER_ROW}alice</td>" "$RUN_DIR/probe-body.html" ||
    die "$id: the app did not see X-Forwarded-User: alice ($(grep -o "${USER_ROW}[^<]*" "$RUN_DIR/probe-body.html"))"
  probe "${URL[$id]}" "Cookie: ${COOKIE_OF[$id]}"
  [[ $P_STATUS == 200 ]] || die "$id with the cookie: got $P_STATUS"
  EXPECTED_BYTES[$id]=$P_SIZE
  log "checked $id: $P_STATUS with the cookie, app sees X-Forwarded-User: alice, forged copy dropped; without it $without ($P_SIZE bytes)"
}
for id in portcullis portcullis-redis portcullis-redis-cached portcullis-assertion portcullis-rules; do
  if has_target "$id" || [[ $id == portcullis ]]; then check_gateway "$id" 302; fi
done
for id in apache-oidc apache-oidc-cookie; do
  if has_target "$id"; then check_gateway "$id" "302 401"; fi
done
if has_any portcullis-redis; then # the session is in Redis, under this run's prefix
  n=$(redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX*" | wc -l)
  ((n >= 1)) || die "portcullis-redis: no session key under $REDIS_PREFIX in $REDIS_URL"
  log "checked portcullis-redis: $n session key(s) under $REDIS_PREFIX in $REDIS_URL"
fi
if has_target portcullis-assertion; then # signed, verifiable against its JWKS; a forged one is replaced
  "$NODE" "$BENCH_DIR/check-assertion.ts" "http://127.0.0.1:$GWA_PORT" "http://127.0.0.1:$APP_PORT" \
    "${COOKIE_OF[portcullis-assertion]}" >&2 || die "portcullis-assertion: the assertion check failed"
  probe "${URL[portcullis-assertion]}" "Cookie: ${COOKIE_OF[portcullis-assertion]}"
  grep -q '<th>X-Portcullis-Assertion</th><td>present' "$RUN_DIR/probe-body.html" ||
    die "portcullis-assertion: the app page shows no assertion"
fi
if has_target portcullis-rules; then # the rules are on: alice (not in finance) is refused under /finance/
  probe "http://127.0.0.1:$GWL_PORT/finance/" "Cookie: $COOKIE"
  [[ $P_STATUS == 403 ]] || die "portcullis-rules: alice under /finance/ got $P_STATUS, expected 403"
  log "checked portcullis-rules: alice refused under /finance/ (403), let in under $RULES_PATH"
fi
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
version_of() { "$@" 2>&1 | head -n1 || true; }
# The run's settings and the machine it ran on, as one JSON line (node builds it: no quoting by hand).
M_DATE=$(date -u +%FT%TZ) M_NODE=$("$NODE" --version) M_WRK=$(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2) \
  M_CPUS=$ncpu M_SERVER_CPUS=${SERVER_CPUS:-} M_WRK_CPUS=${WRK_CPUS:-} M_THREADS=$THREADS \
  M_CONNECTIONS=$CONNECTIONS M_DURATION=$DURATION M_WARMUP=$WARMUP M_REPEAT=$REPEAT M_PATH=$BENCH_PATH \
  M_RULES_PATH=$RULES_PATH M_CLK_TCK=$CLK_TCK M_QUICK=$QUICK M_NOTE=$NOTE \
  M_CPU_MODEL=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1) M_KERNEL=$(uname -sr) \
  M_OS=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}") \
  M_MEM_MB=$(($(sed -n 's/^MemTotal:\s*\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024)) \
  M_LOAD=$(cut -d' ' -f1-3 /proc/loadavg) M_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') \
  M_NGINX=$(version_of "$NGINX" -v | sed 's/^nginx version: //') \
  M_APACHE=$(version_of "$APACHE" -v | sed 's/^Server version: //') \
  M_OIDC=$(dpkg-query -W -f '${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '') \
  M_REDIS=$(redis-cli -u "$REDIS_URL" info server 2>/dev/null | sed -n 's/^redis_version:\([^\r]*\).*/\1/p') \
  "$NODE" -e '
    const e = process.env;
    console.log(JSON.stringify({ kind: "meta", date: e.M_DATE, node: e.M_NODE, wrk: e.M_WRK, cpus: Number(e.M_CPUS),
      server_cpus: e.M_SERVER_CPUS, wrk_cpus: e.M_WRK_CPUS, threads: Number(e.M_THREADS),
      connections: Number(e.M_CONNECTIONS), duration: e.M_DURATION, warmup: e.M_WARMUP, repeat: Number(e.M_REPEAT),
      path: e.M_PATH, rules_path: e.M_RULES_PATH, clk_tck: Number(e.M_CLK_TCK), quick: e.M_QUICK === "1",
      note: e.M_NOTE, machine: { cpu_model: e.M_CPU_MODEL, kernel: e.M_KERNEL, os: e.M_OS, mem_mb: Number(e.M_MEM_MB),
      loadavg_start: e.M_LOAD, commit: e.M_COMMIT, nginx: e.M_NGINX, apache: e.M_APACHE, mod_auth_openidc: e.M_OIDC,
      redis: e.M_REDIS } }));' >"$RESULTS"

wrk_run() { # id duration outfile
  local cmd=()
  [[ -n $WRK_CPUS ]] && cmd=(taskset -c "$WRK_CPUS")
  cmd+=(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2" --timeout 10s --latency -s "$BENCH_DIR/wrk-report.lua"
    -H "Cookie: ${COOKIE_OF[$1]}" "${URL[$1]}")
  "${cmd[@]}" >"$3" 2>&1 || die "wrk failed for $1: $(tail -n 5 "$3")"
}

bench_target() { # id round
  local id=$1 round=$2 out=$RUN_DIR/wrk-$1.r$2.txt p0 p1 a0 a1 json proc parts=()
  local -A c0=()
  # mod_auth_openidc re-issues its session cookie once it is 60 s old (inactivity bookkeeping), and wrk
  # replays one fixed Cookie header: a fresh session right before each run, as the peer bench does.
  if [[ $id == apache-oidc* ]]; then apache_login "$id"; fi
  log "round $round/$REPEAT: $id: warm-up $WARMUP, then $DURATION ($THREADS threads, $CONNECTIONS connections)"
  wrk_run "$id" "$WARMUP" "$RUN_DIR/wrk-$id.r$round-warmup.txt"
  for proc in ${CPU_PROC[$id]}; do c0[$proc]=$(proc_ticks "$proc"); done
  a0=$(proc_ticks app)
  wrk_run "$id" "$DURATION" "$out"
  a1=$(proc_ticks app)
  p0=0 p1=0
  for proc in ${CPU_PROC[$id]}; do # the target's CPU: the sum over its processes, each also recorded
    p0=$(proc_ticks "$proc")
    parts+=("\"$proc\":$((p0 - c0[$proc]))")
    p1=$((p1 + p0 - c0[$proc]))
  done
  p0=0
  json=$(sed -n 's/^WRKJSON //p' "$out")
  [[ -n $json ]] || die "no wrk result for $id (see $out)"
  case $id in # the session must still be good after the run
    portcullis* | nginx-fa | nginx-fa-cache | apache-oidc*)
      probe "${URL[$id]}" "Cookie: ${COOKIE_OF[$id]}"
      [[ $P_STATUS == 200 ]] || die "$id: the session no longer works after the run ($P_STATUS)"
      ;;
  esac
  printf '{"kind":"wrk","target":"%s","round":%d,"url":"%s","wrk":%s,"cpu_ticks":{"target":%d,"app":%d,"parts":{%s}},"cpu_proc":"%s","expected_bytes":%d}\n' \
    "$id" "$round" "${URL[$id]}" "$json" $((p1 - p0)) $((a1 - a0)) "$(IFS=,; echo "${parts[*]}")" "${CPU_PROC[$id]}" "${EXPECTED_BYTES[$id]}" \
    >>"$RESULTS"
  sleep 1
}

# Interleaved (all targets, then all again, ...) so that a drift of the machine favours none of them.
for ((round = 1; round <= REPEAT; round++)); do
  for id in "${TARGETS[@]}"; do bench_target "$id" "$round"; done
done

if [[ $PROFILE == 1 ]]; then # Portcullis writes its profile when it exits
  pid=${PID_OF[portcullis]}
  kill -TERM "$pid"
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  for f in "$RUN_DIR"/profile/*.cpuprofile; do
    [[ -f $f ]] || die "PROFILE=1 but Portcullis wrote no profile (see $RUN_DIR/portcullis.log)"
    "$NODE" "$BENCH_DIR/profile-summary.ts" "$f" 25 | tee "$RUN_DIR/profile-summary.txt"
  done
  echo "(PROFILE=1: Portcullis ran under the profiler, so its CPU figures above are inflated; phases skipped)"
  echo
  PHASES=
fi

# --- phases -----------------------------------------------------------------------------------------
# Each phase is bench/<name>.ts (run with the pinned Node) or bench/<name>.sh (bash), run only when the file
# exists. It prints markdown (kept as run/phase-<name>.md) and writes JSON to $BENCH_OUT
# (run/phase-<name>.json); QUICK=1 is passed on. ws and idle-conns use the servers started above; the
# others start their own, so everything started above is stopped before them. A phase that fails or
# times out is reported as such, and the run goes on.
run_phase() { # name cmd... : one line per phase in results.jsonl
  local name=$1 rc=0 status=ok
  shift
  log "phase $name"
  BENCH_OUT=$RUN_DIR/phase-$name.json QUICK=$QUICK BENCH_COOKIE=$COOKIE timeout "$PHASE_TIMEOUT" "$@" \
    >"$RUN_DIR/phase-$name.md" 2> >(tee "$RUN_DIR/phase-$name.log" >&2) || rc=$?
  if ((rc != 0)); then
    status=failed
    ((rc == 124)) && status=timeout
    log "phase $name: $status (exit $rc), see $RUN_DIR/phase-$name.log"
  fi
  printf '{"kind":"phase","name":"%s","status":"%s","exit":%d}\n' "$name" "$status" "$rc" >>"$RESULTS"
}
phase_file() { # name -> the phase's script, if present
  local f
  for f in "$BENCH_DIR/$1.ts" "$BENCH_DIR/$1.sh"; do [[ -f $f ]] && echo "$f" && return 0; done
  return 1
}
client_cmd() { if [[ -n $WRK_CPUS ]]; then printf "%s\n" taskset -c "$WRK_CPUS"; fi; } # clients run where wrk ran
read -r -a PHASE_LIST <<<"$(echo $PHASES)"
stopped=0
for name in "${PHASE_LIST[@]}"; do
  if ! file=$(phase_file "$name"); then
    log "phase $name: bench/$name.ts or .sh is not there, skipped"
    printf '{"kind":"phase","name":"%s","status":"absent","exit":0}\n' "$name" >>"$RESULTS"
    continue
  fi
  mapfile -t client < <(client_cmd)
  case $name in
    ws)
      ws_args=(--via "portcullis=ws://127.0.0.1:$GW_PORT/ws" --pid "app=${PID_OF[app]}"
        --pid "portcullis=${PID_OF[portcullis]}")
      # The peer: nginx relaying the same WebSocket (nginx.org/en/docs/http/websocket.html), no auth, on the
      # server CPUs like Portcullis: what a relay costs on this shape, where it shares the app's core.
      if [[ -x $NGINX ]]; then
        NGX_WS_PORT=$("$NODE" -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => {
          console.log(s.address().port); s.close(); });')
        cat >"$RUN_DIR/nginx-ws-server.conf" <<NGINXCONF
map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
server {
    listen 127.0.0.1:$NGX_WS_PORT;
    location / {
        proxy_pass http://bench_app;
        proxy_http_version 1.1;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$connection_upgrade;
        proxy_set_header Host \$host;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }
}
NGINXCONF
        nginx_conf nginx-ws "$RUN_DIR/nginx-ws-server.conf" >"$RUN_DIR/nginx-ws.conf"
        start_nginx nginx-ws "$NGX_WS_PORT"
        ws_args+=(--via "nginx=ws://127.0.0.1:$NGX_WS_PORT/ws" --pid "nginx=${PID_OF[nginx-ws]}")
      else
        log "phase ws: no nginx at $NGINX, so no nginx peer (install nginx-light or set NGINX)"
      fi
      run_phase ws "${client[@]}" "$NODE" "$file" --direct "ws://127.0.0.1:$APP_PORT/ws" "${ws_args[@]}" \
        --connections "$WS_CONNECTIONS" --size "$WS_SIZE" --duration "$WS_SECONDS" --rounds "$WS_ROUNDS"
      ;;
    idle-conns)
      targets=(--target "portcullis=$GW_URL$BENCH_PATH=${PID_OF[portcullis]}")
      has_target nginx && targets+=(--target "nginx=${URL[nginx]}=${PID_OF[nginx]}")
      run_phase idle-conns "${client[@]}" "$NODE" "$file" "${targets[@]}" --count "$IDLE_CONNS"
      ;;
    *)
      if ((stopped == 0)); then
        log "stopping the servers before the phases that start their own"
        stop_servers
        stopped=1
      fi
      if [[ $file == *.ts ]]; then run_phase "$name" "$NODE" "$file"; else run_phase "$name" bash "$file"; fi
      ;;
  esac
done

# --- report -----------------------------------------------------------------------------------------
printf '{"kind":"end","date":"%s","loadavg_end":"%s"}\n' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS"
echo
RESULT_BASE=
if [[ -n $RESULTS_DIR ]]; then
  mkdir -p "$RESULTS_DIR"
  RESULT_BASE=$RESULTS_DIR/$(date -u +%F)-bench
fi
"$NODE" "$BENCH_DIR/report.ts" "$RESULTS" "$RUN_DIR" $RESULT_BASE
echo
log "details in $RUN_DIR (wrk outputs, server logs, phase-*.md/json, results.md/json)${RESULT_BASE:+; results: $RESULT_BASE.md}"
