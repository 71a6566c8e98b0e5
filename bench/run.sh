#!/usr/bin/env bash
# Quick throughput/latency comparison: the mock upstream directly vs through
# llm-key-proxy. Non-streaming chat, zero-delay upstream, loopback only.
# Usage: bench/run.sh [seconds]   (installs wrk from Debian if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
MOCK_PORT=19001
PROXY_PORT=19000
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet --example mock_upstream --bin llm-key-proxy

work=$(mktemp -d)
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
pids=()
trap cleanup EXIT

target/release/examples/mock_upstream "$MOCK_PORT" >/dev/null &
pids+=($!)
(
  cd "$work"
  export RUST_LOG=warn PROXY_API_KEY=bench-proxy-key-000000
  export BENCH_API_BASE="http://127.0.0.1:$MOCK_PORT/v1"
  export BENCH_API_KEY_1=bench-upstream-key-0001 BENCH_API_KEY_2=bench-upstream-key-0002
  export MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0
  exec "$OLDPWD/target/release/llm-key-proxy" --host 127.0.0.1 --port "$PROXY_PORT" --data-dir "$work/data"
) &
pids+=($!)
sleep 1

run() { # name url model key connections
  local out
  out=$(MODEL="$3" KEY="$4" wrk -t1 -c"$5" -d"${DURATION}s" --latency -s bench/chat.lua "$2")
  printf '%-28s c=%-3s %10s req/s   p50 %-9s p99 %s\n' "$1" "$5" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}

for c in 32 1; do
  run "upstream directly" "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" bench x "$c"
  run "through llm-key-proxy" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" bench/bench bench-proxy-key-000000 "$c"
done
