#!/usr/bin/env bash
# Foundation benchmarks (issue 2): release binary size, idle RSS of `tram serve --demo`,
# cold start to the first 200 on /healthz with a 10,000-student database, and requests per
# second on /healthz and the login page at 64 connections (wrk, loopback, plain HTTP and HTTPS).
# Usage: bench/foundation.sh   (builds the release binary; needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
# TRAM_BIN=path skips the build and measures that binary.
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=${TRAM_BIN:-target/release/tram}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn

wait_up() { # url
  for _ in $(seq 1 2000); do curl -fsk -o /dev/null "$1" && return 0; sleep 0.005; done; return 1
}
now_ms() { date +%s%3N; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m)"
echo "binary size: $(stat -c %s $BIN) bytes"

# idle RSS with the demo school (480 students)
$BIN serve --demo --http-only --no-mdns --data-dir "$work/demo" --listen 127.0.0.1:18601 >/dev/null 2>&1 &
pid=$!
wait_up http://127.0.0.1:18601/healthz
sleep 5
echo "idle RSS (demo, after 5 s): $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"

# requests per second at 64 connections, plain HTTP
for path in /healthz /login; do
  echo "wrk -t2 -c64 -d10s http://127.0.0.1:18601$path"
  wrk -t2 -c64 -d10s --latency "http://127.0.0.1:18601$path" | grep -E "Requests/sec|Latency|99%|Non-2xx|Socket errors" || true
done
echo "RSS after load: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
kill $pid; wait $pid 2>/dev/null || true

# HTTPS
$BIN serve --demo --no-mdns --data-dir "$work/demo" --listen 127.0.0.1:18602 --bootstrap-listen 127.0.0.1:18603 >/dev/null 2>&1 &
pid=$!
wait_up https://127.0.0.1:18602/healthz
for path in /healthz /login; do
  echo "wrk -t2 -c64 -d10s https://127.0.0.1:18602$path"
  wrk -t2 -c64 -d10s --latency "https://127.0.0.1:18602$path" | grep -E "Requests/sec|Latency|99%|Non-2xx|Socket errors" || true
done
kill $pid; wait $pid 2>/dev/null || true

# cold start with 10,000 students: seed once, then time spawn → first 200, five times
$BIN serve --demo --demo-students 10000 --http-only --no-mdns --data-dir "$work/big" --listen 127.0.0.1:18604 >/dev/null 2>&1 &
pid=$!
wait_up http://127.0.0.1:18604/healthz
kill $pid; wait $pid 2>/dev/null || true
echo "database with 10,000 students: $(stat -c %s "$work/big/tram.redb") bytes"
for i in 1 2 3 4 5; do
  t0=$(now_ms)
  $BIN serve --http-only --no-mdns --data-dir "$work/big" --listen 127.0.0.1:18604 >/dev/null 2>&1 &
  pid=$!
  wait_up http://127.0.0.1:18604/healthz
  t1=$(now_ms)
  echo "cold start $i: $((t1 - t0)) ms"
  kill $pid; wait $pid 2>/dev/null || true
done
