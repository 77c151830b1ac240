#!/usr/bin/env bash
# The hub's ingest at province scale (issue 23's write targets): N made-up schools (default
# 2,000) enrol through the relay protocol, then each relays one signed batch of E term results
# (default 6,000) to `tram district serve` on PostgreSQL, C schools at a time (default 64).
# The batches are built before the clock starts (a school builds its own on its box). Prints
# records/s over the sending, the receipt latency p50/p99, the CPU of the hub and of
# PostgreSQL, the load before and after, and checks that every record is stored exactly once.
# Usage: bench/hub-ingest.sh [schools] [entries] [concurrency]
#   (TRAM_BIN=path skips the build; TRAM_BENCH_PG_FSYNC=off for a cluster without fsync)
set -euo pipefail
cd "$(dirname "$0")/.."
schools=${1:-2000}
entries=${2:-6000}
conc=${3:-64}
. bench/pg-common.sh hubingest
pport=18795
fsync=${TRAM_BENCH_PG_FSYNC:-on}
# A province's server would be tuned at least this far: WAL room for a bulk day, so the run
# is not a series of forced checkpoints.
pg_start $pport fsync=$fsync shared_buffers=1GB max_wal_size=8GB
psql() { "$pg_bin/psql" -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -p $pport -U postgres "$@"; }
psql -c 'CREATE DATABASE tramhub'
url="postgres://postgres@127.0.0.1:$pport/tramhub"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on loopback, fsync $fsync, shared_buffers 1GB, max_wal_size 8GB"
port=18794
$BIN district serve --http-only --data-dir "$work/hub" --listen 127.0.0.1:$port --database-url "$url" >"$work/hub.log" 2>&1 &
hub=$!
for _ in $(seq 1 3000); do curl -fs -o /dev/null http://127.0.0.1:$port/healthz && break; sleep 0.05; done
pg_cpu() { # the CPU ticks of every PostgreSQL process of this cluster
  local pm; pm=$(head -1 "$work/pg/data/postmaster.pid")
  { echo "$pm"; pgrep -P "$pm"; } | while read -r p; do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || true; done | awk '{s+=$1} END {print s+0}'
}
echo "load before: $(uptime | sed 's/.*load average: //')"
echo "== $schools schools, one batch of $entries records each, $conc at a time =="
tck=$(getconf CLK_TCK)
cpu0=$(awk '{print $14+$15}' /proc/$hub/stat); pg0=$(pg_cpu); t0=$(date +%s.%N)
$BIN bench-relay-hub --hub http://127.0.0.1:$port --hub-data "$work/hub" --schools "$schools" \
  --batches 1 --entries "$entries" --concurrency "$conc" --database-url "$url"
wall=$(python3 -c "print($(date +%s.%N) - $t0)")
cpu1=$(awk '{print $14+$15}' /proc/$hub/stat); pg1=$(pg_cpu)
echo "load after: $(uptime | sed 's/.*load average: //')"
python3 -c "print(f'  over the whole run (enrolment and batch building included): {$wall:.0f} s wall; hub CPU {($cpu1-$cpu0)/$tck:.0f} s, PostgreSQL CPU {($pg1-$pg0)/$tck:.0f} s; hub RSS {int(open(\"/proc/$hub/status\").read().split(\"VmRSS:\")[1].split()[0])//1024} MB')"
sent=$((schools * entries))
read -r rec rcpt counted <<<"$(psql -d tramhub -At -F ' ' -c "SELECT (SELECT count(*) FROM hub_records), (SELECT count(*) FROM hub_receipts), (SELECT sum(records) FROM hub_schools)")"
echo "  sent $sent records in $schools batches; PostgreSQL holds $rec records, $rcpt receipts, counters $counted; database $(psql -d tramhub -At -c "SELECT pg_size_pretty(pg_database_size('tramhub'))")"
if [ "$rec" = "$sent" ] && [ "$rcpt" = "$schools" ] && [ "$counted" = "$sent" ]; then
  echo "  every record stored exactly once"
else
  echo "  MISMATCH"; exit 1
fi
