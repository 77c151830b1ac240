#!/usr/bin/env bash
# Học bạ số signing benchmark (issue 22): a 45-student class signed twice — the homeroom teacher,
# then the principal — with `tram hocba sign --out-dir` (the PIN is stretched once per batch, as
# the class action will do). The PDF is a real học bạ printed by the demo server, copied 45 times
# (signing cost depends on the file's size, not its content). Prints each batch's wall time.
# Usage: bench/hocba-sign.sh   (TRAM_BIN=path picks the binary; default target/debug/tram, built)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${TRAM_BIN:-}" ] || cargo build -q --bin tram
BIN=$(realpath "${TRAM_BIN:-${CARGO_TARGET_DIR:-target}/debug/tram}")
work=$(mktemp -d /tmp/tram-hocba-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn TRAM_SIGNING_PIN=58203947
D=$work/data
P=18731
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m); binary $BIN"
$BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$D" \
  --listen 127.0.0.1:$P --bootstrap-listen 127.0.0.1:$((P + 1)) >/dev/null 2>&1 &
for _ in $(seq 1 3000); do curl -fs -o /dev/null http://127.0.0.1:$P/healthz && break; sleep 0.02; done
jar=$work/cookies
curl -fs -c "$jar" -H 'content-type: application/json' \
  -d "{\"username\":\"hieutruong\",\"password\":\"$TRAM_ADMIN_PASSWORD\"}" http://127.0.0.1:$P/api/v1/login >/dev/null
student=$(curl -fs -b "$jar" "http://127.0.0.1:$P/api/v1/students?class=2026-8a1" | grep -o '"id":"hs-[a-z]*' | head -1 | cut -d'"' -f4)
curl -fs -b "$jar" -o "$work/hocba.pdf" "http://127.0.0.1:$P/grades/hocba/$student/pdf"
# The class's homeroom teacher (asked as admin).
admin=$work/admin-cookies
curl -fs -c "$admin" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$TRAM_ADMIN_PASSWORD\"}" http://127.0.0.1:$P/api/v1/login >/dev/null
curl -fs -b "$admin" http://127.0.0.1:$P/api/v1/classes >"$work/classes.json"
curl -fs -b "$admin" http://127.0.0.1:$P/api/v1/accounts >"$work/accounts.json"
homeroom=$(python3 -c '
import json,sys
c=[x for x in json.load(open(sys.argv[1]))["classes"] if x["id"]=="2026-8a1"][0]["homeroom"]
print([a for a in json.load(open(sys.argv[2]))["accounts"] if a["id"]==c][0]["username"])' \
  "$work/classes.json" "$work/accounts.json")
kill -TERM %1; wait %1 || true
mkdir -p "$work/class" "$work/gvcn" "$work/ht"
for i in $(seq -w 1 45); do cp "$work/hocba.pdf" "$work/class/hocba-$i.pdf"; done
echo "one học bạ: $(stat -c %s "$work/hocba.pdf") bytes"
$BIN hocba signer --data-dir "$D" --user hieutruong --role hieu-truong >/dev/null
$BIN hocba signer --data-dir "$D" --user "$homeroom" --role gvcn >/dev/null
t0=$(date +%s.%N)
$BIN hocba sign --data-dir "$D" --user "$homeroom" --out-dir "$work/gvcn" "$work"/class/*.pdf >/dev/null
t1=$(date +%s.%N)
$BIN hocba sign --data-dir "$D" --user hieutruong --out-dir "$work/ht" "$work"/gvcn/*.pdf >/dev/null
t2=$(date +%s.%N)
$BIN hocba verify --data-dir "$D" "$work/ht/hocba-45.pdf" >/dev/null
printf 'first signature, 45 files: %.2f s\nsecond signature, 45 files: %.2f s\nboth: %.2f s\n' \
  "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" "$(echo "$t2 - $t0" | bc -l)"
