#!/usr/bin/env bash
# Relay benchmarks (issue 7), real release binaries on loopback (plain HTTP):
#  1. one day of a 1,500-student school — 50,000 result changes (the relayed form of the day's
#     score changes) and 200 lesson-plan events — over 256 kbit/s (32,000 bytes/s each way) with
#     every connection cut every 30 s (bench/badlink.py): must complete; bytes on the wire
#     ≤ 1.15 × the compressed payload; compression ratio; time against the link's minimum;
#  2. 100 schools sending to one hub at once: hub CPU and p99 acknowledgement latency.
# Usage: bench/relay.sh [changes] [schools]   (defaults 50000 100; TRAM_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
changes=${1:-50000}
schools=${2:-100}
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
work=$(mktemp -d /var/tmp/tram-relaybench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
H=$work/hub; S=$work/school; hport=18701; lport=18702; sport=18703
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m)"

$BIN district serve --http-only --data-dir "$H" --listen 127.0.0.1:$hport >/dev/null 2>&1 &
hub=$!
for _ in $(seq 1 500); do curl -fs -o /dev/null http://127.0.0.1:$hport/healthz && break; sleep 0.02; done
python3 bench/badlink.py $lport $hport 32000 30 "$work/link.json" &
for _ in $(seq 1 500); do curl -fs -o /dev/null http://127.0.0.1:$lport/healthz && break; sleep 0.02; done
token=$($BIN district token --data-dir "$H" --school 79000701 | awk '/use once/{print $NF}')
$BIN relay enroll --data-dir "$S" --hub http://127.0.0.1:$lport --token "$token" >/dev/null
# the demo school (its own 600-odd records), then the day's changes and lesson-plan events
$BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$S" --listen 127.0.0.1:$sport \
  --bootstrap-listen 127.0.0.1:18704 --relay-rate 10000000 --relay-school-hours off >/dev/null 2>&1 &
s=$!
for _ in $(seq 1 1500); do curl -fs -o /dev/null http://127.0.0.1:$sport/healthz && break; sleep 0.02; done
kill -TERM $s; wait $s || true
$BIN bench-fill --data-dir "$S" --relay-changes "$changes" --lesson-teachers 30 --lesson-plans 100 >/dev/null
entries=$($BIN relay status --json --data-dir "$S" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queued"])')
echo "== one school day over 256 kbit/s, cut every 30 s: $entries outbox entries =="
t0=$(date +%s.%N)
$BIN serve --http-only --no-mdns --no-backup --data-dir "$S" --listen 127.0.0.1:$sport \
  --bootstrap-listen 127.0.0.1:18704 --relay-rate 10000000 --relay-school-hours off >/dev/null 2>&1 &
s=$!
deadline=$(( $(date +%s) + 1800 ))
while :; do
  q=$($BIN relay status --json --data-dir "$S" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["queued"])' 2>/dev/null || echo x)
  [ "$q" = "0" ] && break
  kill -0 $s 2>/dev/null || { echo "the school server stopped"; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "not done after 30 min:"; $BIN relay status --data-dir "$S"; exit 1; }
  sleep 1
done
t=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
sleep 1.5
python3 - "$work/link.json" "$S/relay-state.json" "$t" <<'PY'
import json, sys
link = json.load(open(sys.argv[1])); st = json.load(open(sys.argv[2])); t = float(sys.argv[3])
payload, raw, wire = st["bytes_sent"], st["raw_bytes"], link["up"]
print(f"  done in {t} s: {st['batches_sent']} batches; {raw} bytes of JSON -> {payload} bytes of batches (zstd: {raw / payload:.1f} x smaller)")
print(f"  on the wire towards the hub: {wire} bytes = {wire / payload:.3f} x the batches (HTTP, resent chunks); {link['down']} bytes back")
print(f"  the link's minimum for the batches: {payload / 32000:.1f} s at 32,000 B/s; took {t / (payload / 32000):.2f} x that; {link['cuts']} cuts, {link['connections']} connections")
PY
kill -TERM $s; wait $s || true

echo "== $schools schools sending to one hub at once (10 batches of 500 records each) =="
cpu0=$(awk '{print $14+$15}' /proc/$hub/stat)
t0=$(date +%s.%N)
$BIN bench-relay-hub --hub http://127.0.0.1:$hport --hub-data "$H" --schools "$schools" --batches 10 --entries 500
wall=$(python3 -c "print($(date +%s.%N) - $t0)")
cpu1=$(awk '{print $14+$15}' /proc/$hub/stat)
tck=$(getconf CLK_TCK)
python3 -c "print(f'  hub CPU: {($cpu1-$cpu0)/$tck:.1f} s over {$wall:.1f} s wall ({($cpu1-$cpu0)/$tck/$wall*100:.0f} % of one core); RSS {int(open(\"/proc/$hub/status\").read().split(\"VmRSS:\")[1].split()[0])//1024} MB')"
