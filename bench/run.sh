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
#     adds, and Redis round trips per request (target <= 2).
# Usage: bench/run.sh [seconds per wrk run]
# Builds into (and runs from) $CARGO_TARGET_DIR when it is set.
# Installs wrk, nginx and python3 from Debian if missing. Everything listens
# on 127.0.0.1 and is stopped on exit. The key pool's own micro-benchmarks:
#   cargo bench --bench keypool -- --warm-up-time 1 --measurement-time 3
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
STREAMS="${STREAMS:-1000}"
PROXY_PORT=19000
MOCK_PORT=19001
NGINX_PORT=19002
SLOW_PORT=19003
REDIS_PORT=19004
REDIS_PROXY_PORT=19005
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
worker_processes 2;
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
pids+=($!)

# --- llm-key-proxy ---------------------------------------------------------
(
  cd "$work"
  export RUST_LOG=warn PROXY_API_KEY="$PROXY_KEY"
  export BENCH_API_BASE="http://127.0.0.1:$MOCK_PORT/v1"
  export BENCH_API_KEY_1=bench-upstream-key-0001 BENCH_API_KEY_2=bench-upstream-key-0002
  export MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0
  export SLOW_API_BASE="http://127.0.0.1:$SLOW_PORT/v1"
  export SLOW_API_KEY_1=slow-upstream-key-0001 MAX_CONCURRENT_REQUESTS_PER_KEY_SLOW=0
  exec "$TARGET/release/llm-key-proxy" --host 127.0.0.1 --port "$PROXY_PORT" --data-dir "$work/data"
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
  export RUST_LOG=warn PROXY_API_KEY="$PROXY_KEY"
  export BENCH_API_BASE="http://127.0.0.1:$MOCK_PORT/v1"
  export BENCH_API_KEY_1=bench-upstream-key-0001 BENCH_API_KEY_2=bench-upstream-key-0002
  export MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0
  export STATE_BACKEND=redis REDIS_URL="redis://127.0.0.1:$REDIS_PORT" STATE_NAMESPACE=bench
  exec "$TARGET/release/llm-key-proxy" --host 127.0.0.1 --port "$REDIS_PROXY_PORT"
) &
pids+=($!)
for p in $MOCK_PORT $SLOW_PORT $NGINX_PORT $PROXY_PORT $REDIS_PROXY_PORT; do wait_port "$p"; done
sleep 1
rss_idle=$(rss_mb "$proxy_pid")

# --- 1. non-streaming throughput and latency -------------------------------
declare -A rps p50 p99 total
ms() { # wrk's latency ("850.00us", "1.20ms", "2.01s") in ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; print n }'
}
run() { # name url model key connections
  local out r
  out=$(MODEL="$3" KEY="$4" wrk -t1 -c"$5" -d"${DURATION}s" --latency -s bench/chat.lua "$2")
  r=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  rps["$1/$5"]=$r
  p50["$1/$5"]=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99["$1/$5"]=$(awk '$1=="99%" {print $2}' <<<"$out")
  total["$1/$5"]=$(awk '/requests in/ {print $1}' <<<"$out")
  printf '%-28s c=%-3s %10s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$5" "$r" \
    "${p50["$1/$5"]}" "${p99["$1/$5"]}" \
    "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}

echo "== non-streaming chat, ${DURATION}s per run, wrk -t1"
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
