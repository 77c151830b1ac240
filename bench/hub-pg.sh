#!/usr/bin/env bash
# The hub on redb and on PostgreSQL side by side (issue 23): the same run as bench/relay.sh's
# second part — N schools sending to one hub at once, 10 batches of 500 records each — against
# `tram district serve` on its data directory's redb, then on PostgreSQL (a throw-away cluster
# on loopback, or TRAM_BENCH_DATABASE_URL). Prints batches/s, acknowledgement p50/p99 and the
# hub's CPU for each.
# Usage: bench/hub-pg.sh [schools]   (default 100; TRAM_BIN=path skips the build — a debug
# binary is fine for a comparison, label the numbers)
set -euo pipefail
cd "$(dirname "$0")/.."
schools=${1:-100}
. bench/pg-common.sh hubpg

url=${TRAM_BENCH_DATABASE_URL:-}
if [ -z "$url" ]; then
  pport=18799
  # Durable as in production (fsync on): the comparison is with redb's Durability::Immediate.
  pg_start $pport
  "$pg_bin/psql" -q -h 127.0.0.1 -p $pport -U postgres -c 'CREATE DATABASE tramhub'
  url="postgres://postgres@127.0.0.1:$pport/tramhub"
  echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on loopback, fsync on"
fi

run() { # run LABEL PORT [--database-url URL]
  local label=$1 port=$2; shift 2
  local H=$work/hub-$label
  $BIN district serve --http-only --data-dir "$H" --listen 127.0.0.1:$port "$@" >"$work/$label.log" 2>&1 &
  local hub=$!
  for _ in $(seq 1 500); do curl -fs -o /dev/null http://127.0.0.1:$port/healthz && break; sleep 0.02; done
  echo "== $label: $schools schools sending to one hub at once (10 batches of 500 records each) =="
  local cpu0 cpu1 t0 wall tck
  cpu0=$(awk '{print $14+$15}' /proc/$hub/stat)
  t0=$(date +%s.%N)
  $BIN bench-relay-hub --hub http://127.0.0.1:$port --hub-data "$H" --schools "$schools" --batches 10 --entries 500 "$@"
  wall=$(python3 -c "print($(date +%s.%N) - $t0)")
  cpu1=$(awk '{print $14+$15}' /proc/$hub/stat)
  tck=$(getconf CLK_TCK)
  python3 -c "print(f'  hub CPU: {($cpu1-$cpu0)/$tck:.1f} s over {$wall:.1f} s wall ({($cpu1-$cpu0)/$tck/$wall*100:.0f} % of one core); RSS {int(open(\"/proc/$hub/status\").read().split(\"VmRSS:\")[1].split()[0])//1024} MB')"
  kill -TERM $hub; wait $hub || true
}
run redb 18791
run postgresql 18792 --database-url "$url"
"$pg_bin/psql" -At "$url" -c "SELECT 'stored in PostgreSQL: ' || (SELECT count(*) FROM hub_receipts) || ' receipts, ' || (SELECT count(*) FROM hub_records) || ' records'"
