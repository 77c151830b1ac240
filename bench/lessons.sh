#!/usr/bin/env bash
# Lesson-plan benchmarks (issue 4), against the real release binary on loopback (plain HTTP):
#  - approving a month batch of 300 reviewed plans in one action (POST /api/v1/lessons/approve-month:
#    unlock the principal's key, sign and store each plan, one transaction): target ≤ 2 s;
#  - the BGH dashboard for 60 teachers' month (the page and its JSON) at 64 connections
#    (wrk -c64 -d10s), while the plans change: target p99 ≤ 50 ms;
#  - `tram lessons verify` over every signature.
# Usage: bench/lessons.sh [teachers] [plans]   (defaults 60 300; TRAM_BIN=path skips the build;
#        needs wrk and curl: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
teachers=${1:-60}
plans=${2:-300}
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
for t in wrk curl; do command -v $t >/dev/null || { echo "install $t"; exit 1; }; done
work=$(mktemp -d /var/tmp/tram-lessonbench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
port=18631; B=http://127.0.0.1:$port
D=$work/d

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m)"
start() {
  $BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$D" --listen 127.0.0.1:$port --bootstrap-listen 127.0.0.1:18632 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do curl -fs -o /dev/null $B/healthz && return; sleep 0.01; done
  echo "server did not start"; exit 1
}
start; kill -TERM $pid; wait $pid || true
t0=$(date +%s.%N)
$BIN bench-fill --data-dir "$D" --lesson-teachers "$teachers" --lesson-plans "$plans"
echo "filled: $teachers teachers, $plans reviewed plans this month in $(python3 -c "print(round($(date +%s.%N)-$t0,1))") s"
start
login() { # user jar
  curl -fs -c "$2" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"bench-password-1\"}" $B/api/v1/login >/dev/null
  awk '$6=="tram_session"{print $7}' "$2"
}
cookie=$(login hieutruong "$work/jar")
month=$(curl -fs -b "$work/jar" $B/api/v1/lessons/dashboard | python3 -c 'import json,sys; print(json.load(sys.stdin)["month"])')
curl -fs -b "$work/jar" "$B/api/v1/lessons/dashboard" | python3 -c '
import json,sys; d=json.load(sys.stdin)
n=sum(len(x["teachers"]) for x in d["departments"])
print("dashboard", d["month"] + ":", n, "teachers, states", d["totals"], "(draft, submitted, reviewed, returned, approved)")'

echo "== dashboard at 64 connections (wrk -t2 -c64 -d10s) =="
for path in "/lessons/dashboard" "/api/v1/lessons/dashboard"; do
  out=$(wrk -t2 -c64 -d10s --latency -H "Cookie: tram_session=$cookie" "$B$path")
  echo "  $path: $(echo "$out" | awk '/Requests\/sec/{print $2}') req/s, p50 $(echo "$out" | awk '/ 50%/{print $2}'), p99 $(echo "$out" | awk '/ 99%/{print $2}'), non-2xx $(echo "$out" | awk '/Non-2xx/{print $NF}')"
done

echo "== dashboard at 64 connections while a teacher edits a plan every 100 ms (cache invalidated) =="
tjar=$work/tjar; login bgv60 "$tjar" >/dev/null || login gv05 "$tjar" >/dev/null
id=$(curl -fs -b "$tjar" "$B/api/v1/lessons/plans?state=draft" | python3 -c 'import json,sys; print(json.load(sys.stdin)["plans"][0]["id"])')
body=$(curl -fs -b "$tjar" "$B/api/v1/lessons/plans/$id" | python3 -c '
import json,sys; v=json.load(sys.stdin)["versions"][-1]
print(json.dumps({k: v[k] for k in ["title","subject","grade","periods","teach_on","fields"]}))')
( for i in $(seq 1 100); do curl -fs -o /dev/null -b "$tjar" -X PUT -H 'content-type: application/json' -d "$body" "$B/api/v1/lessons/plans/$id"; sleep 0.1; done ) &
editor=$!
out=$(wrk -t2 -c64 -d10s --latency -H "Cookie: tram_session=$cookie" "$B/lessons/dashboard")
kill $editor 2>/dev/null || true
echo "  /lessons/dashboard: $(echo "$out" | awk '/Requests\/sec/{print $2}') req/s, p50 $(echo "$out" | awk '/ 50%/{print $2}'), p99 $(echo "$out" | awk '/ 99%/{print $2}')"

echo "== approve the month: $plans plans in one action =="
# The body names the plans the form lists (id and version), read here from the plan list.
# The demo's signing PIN (appliance/src/demo/plans.rs, DEMO_PIN).
pin=${TRAM_DEMO_PIN:-50718394}
curl -fs -b "$work/jar" "$B/api/v1/lessons/plans?month=$month&state=reviewed&limit=5000" | python3 -c '
import json,sys
plans=[{"id": p["id"], "version": p["version"]} for p in json.load(sys.stdin)["plans"]]
print(json.dumps({"month": sys.argv[1], "secret": sys.argv[2], "plans": plans}))' "$month" "$pin" > "$work/batch.json"
for _ in 1; do
  t=$(curl -fs -o "$work/out.json" -w '%{time_total}' -b "$work/jar" -H 'content-type: application/json' \
      -d "@$work/batch.json" $B/api/v1/lessons/approve-month)
  n=$(python3 -c "import json; print(len(json.load(open('$work/out.json'))['approved']))")
  echo "  approved and signed $n plans in $t s (including the PIN's argon2id unlock)"
done
rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
echo "  server RSS $((rss / 1024)) MB"

echo "== tram lessons verify (every signature; asks the running server) =="
t0=$(date +%s.%N)
$BIN lessons verify --data-dir "$D"
echo "  in $(python3 -c "print(round($(date +%s.%N)-$t0,2))") s"
