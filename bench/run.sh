#!/usr/bin/env bash
# Throughput, latency and memory of llm-key-proxy on loopback:
#  1. non-streaming chat against a zero-delay upstream (the mock example),
#     directly, through nginx as a plain keep-alive reverse proxy, and
#     through llm-key-proxy, with wrk at concurrency 32 and 1; the ratio
#     proxy/nginx throughput at c=32;
#  2. time to the response headers and to the first SSE event of a stream
#     at concurrency 1: directly, through nginx, through the proxy;
#  3. the proxy's resident memory (VmRSS) idle, after the wrk load, and
#     with STREAMS (default 1000) streams open at once. Those streams come
#     from bench/slow_upstream.py (one event a second), because the mock
#     sends its whole stream at once;
#  4. the same non-streaming load through a second proxy sharing its key
#     state in Redis (STATE_BACKEND=redis, a throwaway redis-server): its
#     throughput against the sled proxy's (target >= 0.5), the latency it
#     adds, and Redis round trips per request (target <= 2);
#  5. the request path's cost: CPU per request (from /proc, utime + stime)
#     of nginx and the proxy at c=32; whole 200-event streams per second at
#     c=32 and CPU per event; a third proxy with 10,000 keys against the
#     2-key one (throughput, p99: medians of three rounds); and RSS while
#     32 requests of 1 MB each are in flight, then after they end.
# nginx and the proxy run WORKERS workers each (default 1, the fair pairing;
# the mock always has one).
# Usage: [WORKERS=n] [PROXY_BIN=path] bench/run.sh [seconds per wrk run]
# Builds into (and runs from) $CARGO_TARGET_DIR when it is set.
# Installs wrk, nginx and python3 from Debian if missing. Everything listens
# on 127.0.0.1 and is stopped on exit. The key pool's own micro-benchmarks:
#   cargo bench --bench keypool -- --warm-up-time 1 --measurement-time 3
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
STREAMS="${STREAMS:-1000}"
WORKERS="${WORKERS:-1}"
PROXY_PORT=19000
MOCK_PORT=19001
NGINX_PORT=19002
SLOW_PORT=19003
REDIS_PORT=19004
REDIS_PROXY_PORT=19005
MANY_KEYS_PORT=19006
PROXY_KEY=bench-proxy-key-000000

export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx)
command -v python3 >/dev/null || missing+=(python3)
command -v redis-server >/dev/null || missing+=(redis-server)
if ((${#missing[@]})); then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# 1,000 streams take ~2,000 descriptors in the proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --example mock_upstream --bin llm-key-proxy
TARGET="$(realpath "${CARGO_TARGET_DIR:-target}")"
# PROXY_BIN: another build of the proxy to measure (e.g. a base commit's,
# for before/after figures); the mock and the scripts stay this checkout's.
PROXY_BIN="${PROXY_BIN:-$TARGET/release/llm-key-proxy}"

work=$(mktemp -d)
pids=()
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port: up to 10 s for something to listen
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f MB", $2/1024}' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # pid...: user + system CPU ticks of every process given
  for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s + 0}'
}

# --- upstreams ----------------------------------------------------------
"$TARGET/release/examples/mock_upstream" "$MOCK_PORT" >/dev/null &
pids+=($!)
python3 bench/slow_upstream.py "$SLOW_PORT" 1.0 60 >/dev/null &
pids+=($!)

# --- nginx: plain reverse proxy, keep-alive to the mock ------------------
mkdir -p "$work/nginx"
user_line=""
[[ $(id -u) == 0 ]] && user_line="user $(id -un);"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes $WORKERS;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
pids+=($nginx_pid)

# --- llm-key-proxy ---------------------------------------------------------
(
  cd "$work"
  export RUST_LOG=warn PROXY_API_KEY="$PROXY_KEY" PROXY_WORKERS="$WORKERS"
  export BENCH_API_BASE="http://127.0.0.1:$MOCK_PORT/v1"
  export BENCH_API_KEY_1=bench-upstream-key-0001 BENCH_API_KEY_2=bench-upstream-key-0002
  export MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0
  export SLOW_API_BASE="http://127.0.0.1:$SLOW_PORT/v1"
  export SLOW_API_KEY_1=slow-upstream-key-0001 MAX_CONCURRENT_REQUESTS_PER_KEY_SLOW=0
  exec "$PROXY_BIN" --host 127.0.0.1 --port "$PROXY_PORT" --data-dir "$work/data"
) &
proxy_pid=$!
pids+=($proxy_pid)
# --- Redis, and a second proxy sharing its key state there ----------------
mkdir -p "$work/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work/redis" >/dev/null &
pids+=($!)
wait_port "$REDIS_PORT"
(
  mkdir -p "$work/redis-proxy" && cd "$work/redis-proxy"
  export RUST_LOG=warn PROXY_API_KEY="$PROXY_KEY" PROXY_WORKERS="$WORKERS"
  export BENCH_API_BASE="http://127.0.0.1:$MOCK_PORT/v1"
  export BENCH_API_KEY_1=bench-upstream-key-0001 BENCH_API_KEY_2=bench-upstream-key-0002
  export MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0
  export STATE_BACKEND=redis REDIS_URL="redis://127.0.0.1:$REDIS_PORT" STATE_NAMESPACE=bench
  exec "$PROXY_BIN" --host 127.0.0.1 --port "$REDIS_PROXY_PORT"
) &
pids+=($!)
# --- a third proxy, with 10,000 keys (from its .env) ------------------------
mkdir -p "$work/many-keys"
{
  echo "BENCH_API_BASE=http://127.0.0.1:$MOCK_PORT/v1"
  echo "MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0"
  for i in $(seq 10000); do printf 'BENCH_API_KEY_%d=bench-upstream-key-%05d\n' "$i" "$i"; done
} >"$work/many-keys/.env"
(
  cd "$work/many-keys"
  export RUST_LOG=warn PROXY_API_KEY="$PROXY_KEY" PROXY_WORKERS="$WORKERS"
  exec "$PROXY_BIN" --host 127.0.0.1 --port "$MANY_KEYS_PORT" --data-dir "$work/many-keys/data"
) &
pids+=($!)
for p in $MOCK_PORT $SLOW_PORT $NGINX_PORT $PROXY_PORT $REDIS_PROXY_PORT $MANY_KEYS_PORT; do wait_port "$p"; done
sleep 1
rss_idle=$(rss_mb "$proxy_pid")

# --- 1. non-streaming throughput and latency -------------------------------
declare -A rps p50 p99 total
ms() { # wrk's latency ("850.00us", "1.20ms", "2.01s") in ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; print n }'
}
declare -A cpu_us
run() { # name url model key connections [pid... whose CPU per request to show]
  local out r before
  before=$(cpu_ticks "${@:6}")
  out=$(MODEL="$3" KEY="$4" wrk -t1 -c"$5" -d"${DURATION}s" --latency -s bench/chat.lua "$2")
  r=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  rps["$1/$5"]=$r
  p50["$1/$5"]=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99["$1/$5"]=$(awk '$1=="99%" {print $2}' <<<"$out")
  total["$1/$5"]=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_us["$1/$5"]=""
  if (($# > 5)); then
    cpu_us["$1/$5"]=$(awk -v t="$(($(cpu_ticks "${@:6}") - before))" -v hz="$CLK_TCK" \
      -v n="${total["$1/$5"]}" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
  fi
  printf '%-28s c=%-3s %10s req/s   p50 %-9s p99 %-9s non-2xx %s%s\n' "$1" "$5" "$r" \
    "${p50["$1/$5"]}" "${p99["$1/$5"]}" \
    "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)" \
    "${cpu_us["$1/$5"]:+   cpu ${cpu_us["$1/$5"]} us/req}"
}

echo "== non-streaming chat, ${DURATION}s per run, wrk -t1, $WORKERS worker(s) for nginx and the proxy"
for c in 32 1; do
  run "upstream directly" "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" bench x "$c"
  run "through nginx" "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" bench x "$c"
  run "through llm-key-proxy" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" "$c"
done
awk -v p="${rps[through llm-key-proxy/32]}" -v n="${rps[through nginx/32]}" \
  'BEGIN { printf "ratio proxy/nginx throughput at c=32: %.2f (target >= 0.7)\n", p / n }'
rss_loaded=$(rss_mb "$proxy_pid")

# --- 2. stream time to first byte at c=1 -----------------------------------
echo "== streaming chat, c=1, 500 requests on one connection (mock: 3 events at once)"
ttfb() { # name url model key [quickack]
  printf '%-28s %s\n' "$1" "$(timeout 120 python3 bench/streams.py ttfb "$2" "$4" "$3" 500 "${@:5}")"
}
ttfb "upstream directly" "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" bench x
ttfb "through nginx" "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" bench x
ttfb "through llm-key-proxy" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY"
# The same with a client that ACKs at once: a gap between the two lines means
# the proxy's sockets lack TCP_NODELAY (see bench/streams.py).
ttfb "  same, client TCP_QUICKACK" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" quickack

# --- 3. memory -------------------------------------------------------------
echo "== llm-key-proxy resident memory (VmRSS)"
held=$(timeout 120 python3 bench/streams.py hold "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" \
  "$PROXY_KEY" slow/slow "$STREAMS" "$proxy_pid" 3) || held="hold failed (exit $?)"
sleep 1
printf '%-36s %s\n' "idle, at start" "$rss_idle (target <= 30 MB)" \
  "after the wrk runs" "$rss_loaded" \
  "with $STREAMS streams open (peak)" "$held (target <= 150 MB)" \
  "after the streams closed" "$(rss_mb "$proxy_pid")"

# --- 4. key state in Redis --------------------------------------------------
echo "== non-streaming chat, key state in Redis (STATE_BACKEND=redis), ${DURATION}s per run"
redis_cli() { redis-cli -p "$REDIS_PORT" "$@"; } # redis-tools comes with redis-server
redis_cli CONFIG RESETSTAT >/dev/null
for c in 32 1; do
  run "through llm-key-proxy" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" "$c"
  run "  same, state in Redis" "http://127.0.0.1:$REDIS_PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" "$c"
done
for c in 32 1; do
  awk -v r="${rps[  same, state in Redis/$c]}" -v s="${rps[through llm-key-proxy/$c]}" \
    -v a50="$(ms "${p50[  same, state in Redis/$c]}")" -v s50="$(ms "${p50[through llm-key-proxy/$c]}")" \
    -v a99="$(ms "${p99[  same, state in Redis/$c]}")" -v s99="$(ms "${p99[through llm-key-proxy/$c]}")" -v c="$c" \
    'BEGIN { printf "c=%-3s ratio redis/sled throughput %.2f (target >= 0.5); added latency p50 %+.2f ms, p99 %+.2f ms\n", c, r / s, a50 - s50, a99 - s99 }'
done
evalsha=$(redis_cli INFO commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
served=$(( ${total[  same, state in Redis/32]} + ${total[  same, state in Redis/1]} ))
awk -v e="${evalsha:-0}" -v n="$served" \
  'BEGIN { printf "Redis script calls per request: %.2f (target <= 2; usage batches included)\n", (n ? e / n : 0) }'

# --- 5. the request path's cost (issue 15) ---------------------------------
echo "== the request path's cost, $WORKERS worker(s) each, ${DURATION}s per run"
nginx_pids=("$nginx_pid" $(pgrep -P "$nginx_pid"))
run "through nginx" "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" bench x 32 "${nginx_pids[@]}"
run "through llm-key-proxy" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" 32 "$proxy_pid"
awk -v p="${rps[through llm-key-proxy/32]}" -v n="${rps[through nginx/32]}" \
  -v pc="${cpu_us[through llm-key-proxy/32]}" -v nc="${cpu_us[through nginx/32]}" \
  -v d50="$(ms "${p50[upstream directly/1]}")" -v x50="$(ms "${p50[through llm-key-proxy/1]}")" \
  -v n50="$(ms "${p50[through nginx/1]}")" \
  'BEGIN { printf "non-streaming: throughput %.2fx nginx (target >= 0.8), CPU per request %.2fx nginx (target <= 1.6); p50 at c=1 adds %.0f us over the upstream, %.0f us over nginx (target <= 60)\n", p / n, pc / nc, (x50 - d50) * 1000, (x50 - n50) * 1000 }'

STREAM=1 run "200-event streams, nginx" "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" stream200 x 32 "${nginx_pids[@]}"
STREAM=1 run "200-event streams, proxy" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/stream200 "$PROXY_KEY" 32 "$proxy_pid"
awk -v p="${rps[200-event streams, proxy/32]}" -v n="${rps[200-event streams, nginx/32]}" \
  -v pc="${cpu_us[200-event streams, proxy/32]}" -v nc="${cpu_us[200-event streams, nginx/32]}" \
  'BEGIN { printf "streaming: %.2fx nginx in whole streams per second (target >= 0.5); CPU per event %.2f us (nginx %.2f; target <= 1)\n", p / n, pc / 200, nc / 200 }'

# One run of each moves by up to ~10% on a shared VM: three rounds, taking
# turns, and the medians compared.
declare -a keys2_rps keys10k_rps keys2_p99 keys10k_p99
for round in 1 2 3; do
  run "2 keys" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" 32
  run "10,000 keys" "http://127.0.0.1:$MANY_KEYS_PORT/v1/chat/completions" bench/bench "$PROXY_KEY" 32
  keys2_rps+=("${rps[2 keys/32]}") keys10k_rps+=("${rps[10,000 keys/32]}")
  keys2_p99+=("$(ms "${p99[2 keys/32]}")") keys10k_p99+=("$(ms "${p99[10,000 keys/32]}")")
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
awk -v r="$(median "${keys10k_rps[@]}")" -v s="$(median "${keys2_rps[@]}")" \
  -v a="$(median "${keys10k_p99[@]}")" -v b="$(median "${keys2_p99[@]}")" \
  'BEGIN { printf "10,000 keys, medians of 3: throughput %.0f vs %.0f req/s, %.2fx the 2-key proxy (target >= 0.95); p99 %.2f vs %.2f ms, %.2fx (target <= 1.5)\n", r, s, r / s, a, b, a / b }'

before_kb=$(rss_kb "$proxy_pid")
bodies=$(timeout 120 python3 bench/streams.py hold "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" \
  "$PROXY_KEY" slow/slow 32 "$proxy_pid" 3 1048576) || bodies="hold failed (exit $?)"
sleep 2
printf '%-36s %s\n' "RSS before 32 bodies of 1 MB" "$((before_kb / 1024)) MB" \
  "  while in flight (peak)" "$bodies (target: <= before + 48 MB)" \
  "  2 s after they ended" "$(rss_mb "$proxy_pid") (target: near before)"
