#!/usr/bin/env bash
# Relay benchmarks (issue 7), real release binaries on loopback (plain HTTP):
#  1. one day of a 1,500-student school — 50,000 result changes (the relayed form of the day's
#     score changes) and 200 lesson-plan events — over 256 kbit/s (32,000 bytes/s each way) with
#     every connection cut every 30 s, and again cut every 3–8 s (bench/badlink.py): must
#     complete; bytes on the wire ≤ 1.15 × the compressed payload (both links); compression
#     ratio; time against the link's minimum;
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
H=$work/hub; hport=18701; lport=18702; sport=18703
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m)"

$BIN district serve --http-only --data-dir "$H" --listen 127.0.0.1:$hport >/dev/null 2>&1 &
hub=$!
for _ in $(seq 1 500); do curl -fs -o /dev/null http://127.0.0.1:$hport/healthz && break; sleep 0.02; done

# day CUT CODE: a fresh school (code CODE) relays its day through a link cut every CUT seconds
day() {
  local cut=$1 code=$2 S=$work/school-$2 link proxy s
  link=$work/link-$code.json
  python3 bench/badlink.py $lport $hport 32000 "$cut" "$link" &
  proxy=$!
  for _ in $(seq 1 500); do curl -fs -o /dev/null http://127.0.0.1:$lport/healthz && break; sleep 0.02; done
  token=$($BIN district token --data-dir "$H" --school "$code" | awk '/use once/{print $NF}')
  $BIN relay enroll --data-dir "$S" --hub http://127.0.0.1:$lport --token "$token" >/dev/null
  # the demo school (its own 600-odd records), then the day's changes and lesson-plan events
  $BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$S" --listen 127.0.0.1:$sport \
    --bootstrap-listen 127.0.0.1:18704 --relay-rate 10000000 --relay-school-hours off >/dev/null 2>&1 &
  s=$!
  for _ in $(seq 1 1500); do curl -fs -o /dev/null http://127.0.0.1:$sport/healthz && break; sleep 0.02; done
  kill -TERM $s; wait $s || true
  $BIN bench-fill --data-dir "$S" --relay-changes "$changes" --lesson-teachers 30 --lesson-plans 100 >/dev/null
  entries=$($BIN relay status --json --data-dir "$S" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queued"])')
  echo "== one school day over 256 kbit/s, cut every $cut s: $entries outbox entries =="
  # counted from here: the enrolment's and the first round's bytes are not the day's
  python3 -c "import json; d=json.load(open('$link')); json.dump(d, open('$link.0','w'))"
  cp "$S/relay-state.json" "$S/relay-state.json.0" 2>/dev/null || echo '{"bytes_sent":0,"raw_bytes":0,"batches_sent":0}' > "$S/relay-state.json.0"
  t0=$(date +%s.%N)
  $BIN serve --http-only --no-mdns --no-backup --data-dir "$S" --listen 127.0.0.1:$sport \
    --bootstrap-listen 127.0.0.1:18704 --relay-rate 10000000 --relay-school-hours off >"$work/school-$code.log" 2>&1 &
  s=$!
  deadline=$(( $(date +%s) + 1800 ))
  while :; do
    q=$($BIN relay status --json --data-dir "$S" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["queued"])' 2>/dev/null || echo x)
    [ "$q" = "0" ] && break
    kill -0 $s 2>/dev/null || { echo "the school server stopped:"; tail -20 "$work/school-$code.log"; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "not done after 30 min:"; $BIN relay status --data-dir "$S"; exit 1; }
    sleep 1
  done
  t=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
  sleep 1.5
  python3 - "$link" "$S/relay-state.json" "$t" <<'PY'
import json, sys
link = json.load(open(sys.argv[1])); base = json.load(open(sys.argv[1] + ".0"))
st = json.load(open(sys.argv[2])); st0 = json.load(open(sys.argv[2] + ".0")); t = float(sys.argv[3])
for k in ("bytes_sent", "raw_bytes", "batches_sent"):
    st[k] -= st0.get(k, 0)
payload, raw = st["bytes_sent"], st["raw_bytes"]
wire, down = link["up"] - base["up"], link["down"] - base["down"]
cuts, conns = link["cuts"] - base["cuts"], link["connections"] - base["connections"]
print(f"  done in {t} s: {st['batches_sent']} batches; {raw} bytes of JSON -> {payload} bytes of batches (zstd: {raw / payload:.1f} x smaller)")
print(f"  on the wire towards the hub: {wire} bytes = {wire / payload:.3f} x the batches (HTTP, bytes in flight at a cut); {down} bytes back")
print(f"  the link's minimum for the batches: {payload / 32000:.1f} s at 32,000 B/s; took {t / (payload / 32000):.2f} x that; {cuts} cuts, {conns} connections")
PY
  kill -TERM $s; wait $s || true
  kill $proxy; wait $proxy 2>/dev/null || true
}
[ -n "${ONLY_CUT:-}" ] || day 30 79000701
day 3-8 79000702

echo "== $schools schools sending to one hub at once (10 batches of 500 records each) =="
cpu0=$(awk '{print $14+$15}' /proc/$hub/stat)
t0=$(date +%s.%N)
$BIN bench-relay-hub --hub http://127.0.0.1:$hport --hub-data "$H" --schools "$schools" --batches 10 --entries 500
wall=$(python3 -c "print($(date +%s.%N) - $t0)")
cpu1=$(awk '{print $14+$15}' /proc/$hub/stat)
tck=$(getconf CLK_TCK)
python3 -c "print(f'  hub CPU: {($cpu1-$cpu0)/$tck:.1f} s over {$wall:.1f} s wall ({($cpu1-$cpu0)/$tck/$wall*100:.0f} % of one core); RSS {int(open(\"/proc/$hub/status\").read().split(\"VmRSS:\")[1].split()[0])//1024} MB')"
