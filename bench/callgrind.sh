#!/usr/bin/env bash
# Instructions per request of the proxy's non-streaming path, under
# callgrind: starts the mock upstream and the release proxy (run under
# valgrind), warms up, then counts REQUESTS requests only.
# With STREAM=1: each request is a 200-event stream (model bench/stream200),
# and the count per event is printed too.
# Usage: [STREAM=1] bench/callgrind.sh OUT_FILE [REQUESTS]
# Needs valgrind and python3, and a release build with symbols, e.g.
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release \
#     --example mock_upstream --bin llm-key-proxy
# Then: callgrind_annotate OUT_FILE | head -60
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(realpath -m "$1")"
N="${2:-2000}"
TARGET="$(realpath "${CARGO_TARGET_DIR:-target}")"
PROXY_PORT=19010
MOCK_PORT=19011
PROXY_KEY=bench-proxy-key-000000
URL="http://127.0.0.1:$PROXY_PORT/v1/chat/completions"
MODEL=bench/bench
EVENTS=0
if [[ "${STREAM:-}" == 1 ]]; then
  MODEL=bench/stream200
  EVENTS=200
fi

work=$(mktemp -d)
pids=()
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

"$TARGET/release/examples/mock_upstream" "$MOCK_PORT" >/dev/null &
pids+=($!)
(
  cd "$work"
  export RUST_LOG=warn PROXY_API_KEY="$PROXY_KEY"
  export BENCH_API_BASE="http://127.0.0.1:$MOCK_PORT/v1"
  export BENCH_API_KEY_1=bench-upstream-key-0001 BENCH_API_KEY_2=bench-upstream-key-0002
  export MAX_CONCURRENT_REQUESTS_PER_KEY_BENCH=0
  exec valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$TARGET/release/llm-key-proxy" --host 127.0.0.1 --port "$PROXY_PORT" \
    --data-dir "$work/data" 2>"$work/valgrind.log"
) &
vg=$!
pids+=($vg)
wait_port "$MOCK_PORT"
wait_port "$PROXY_PORT"
python3 bench/drive.py "$URL" "$PROXY_KEY" "$MODEL" 200 4
callgrind_control -z "$vg" >/dev/null 2>&1
python3 bench/drive.py "$URL" "$PROXY_KEY" "$MODEL" "$N" 4
callgrind_control -d "$vg" >/dev/null 2>&1
for _ in $(seq 50); do [[ -s "$work/cg.out.1" ]] && break; sleep 0.2; done
sleep 0.5
cp "$work/cg.out.1" "$OUT"
total=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "instructions: $total for $N requests = $((total / N)) per request"
if ((EVENTS)); then
  echo "= $((total / (N * EVENTS))) per event ($EVENTS events a request)"
fi
