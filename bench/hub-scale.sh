#!/usr/bin/env bash
# The district hub at province scale (issue 23's read targets): N schools (default 2,000) of
# 5,000 stored records each (20 classes, 1,000 students, 2,000 term results with 10 subject
# scores, 1,980 lesson plans) written straight into the hub's PostgreSQL tables (no report
# parts: the first start rebuilds them from the records, timed, as an upgraded hub does), then,
# after a restart, the staff's reports read through the running hub: the first (cold) report,
# which reads every school's stored part once, and then at 8 connections the district overview and one school's
# report (p50/p99), the reports' xlsx download, and the province CSDL export (time, size and
# the hub's peak RSS while it is written; then cut to one school and to one grade).
# Usage: bench/hub-scale.sh [schools]   (TRAM_BIN=path skips the build; needs wrk, curl, psql)
#   TRAM_BENCH_WORK=DIR keeps the cluster (see pg-common.sh): a later run with the same DIR
#   skips the writing, and the rebuild of the parts when they are stored already;
#   TRAM_BENCH_PREPARE=1 stops after the writing; TRAM_BENCH_ONLY=csdl skips the reports
#   (first view, wrk, reports xlsx) and measures only the CSDL export (after the parts'
#   rebuild when they are not stored yet, so it does not run beside the export).
set -euo pipefail
cd "$(dirname "$0")/.."
schools=${1:-2000}
for t in wrk curl; do command -v $t >/dev/null || { echo "install $t"; exit 1; }; done
. bench/pg-common.sh hubscale
pport=18797
pg_start $pport shared_buffers=1GB
psql() { "$pg_bin/psql" -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -p $pport -U postgres "$@"; }
[ "$reused" = 1 ] || psql -c 'CREATE DATABASE tramhub'
url="postgres://postgres@127.0.0.1:$pport/tramhub"
port=18796; B=http://127.0.0.1:$port
start_hub() {
  TRAM_LOG=info $BIN district serve --http-only --data-dir "$work/hub" --listen 127.0.0.1:$port --database-url "$url" >>"$work/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 1 3000); do curl -fs -o /dev/null $B/healthz && return; sleep 0.05; done
  echo "the hub did not start"; cat "$work/hub.log"; exit 1
}
if [ "$reused" = 1 ]; then
  echo "== reusing $work: $(psql -d tramhub -At -c 'SELECT count(*) FROM hub_schools') schools, $(psql -d tramhub -At -c 'SELECT count(*) FROM hub_records') records =="
else
start_hub; kill -TERM $hub; wait $hub || true   # creates the tables (migrations)

echo "== writing $schools schools x 5,000 records into PostgreSQL =="
t0=$(date +%s)
psql -d tramhub <<SQL
INSERT INTO hub_schools (code, name, public_key, secret_hash, enrolled_at, last_seq, last_outbox, last_contact, batches, records)
  SELECT '79' || lpad(i::text, 6, '0'), 'Trường THCS số ' || i, repeat('0', 64), 'bench', '2026-09-01T00:00:00Z',
         1, 5000, '2026-12-01T00:00:00Z', 1, 5000
  FROM generate_series(1, $schools) i;
INSERT INTO hub_records (school, kind, key, op, record, outbox_seq, at)
  SELECT s.code, 'class', 'c' || c, 'update',
         jsonb_build_object('id', 'c' || c, 'grade', 6 + c % 4, 'year', '2026-2027', 'name', (6 + c % 4) || 'A' || c),
         c + 1, 't'
  FROM hub_schools s, generate_series(0, 19) c;
INSERT INTO hub_records (school, kind, key, op, record, outbox_seq, at)
  SELECT s.code, 'student', 'hs' || n, 'update',
         jsonb_build_object('id', 'hs' || n, 'class_id', 'c' || n % 20, 'full_name', 'Học sinh ' || n),
         100 + n, 't'
  FROM hub_schools s, generate_series(0, 999) n;
INSERT INTO hub_records (school, kind, key, op, record, outbox_seq, at)
  SELECT s.code, 'result', 'hs' || n || '/' || t, 'update',
         jsonb_build_object('mahocsinh', 'hs' || n, 'malop', 'c' || n % 20, 'makhoi', 6 + (n % 20) % 4, 'hocky', t,
           'mahocluc', 1 + n % 4, 'mahanhkiem', 1 + (n / 4) % 4,
           'diemmon', jsonb_build_object('toan', (4 + n % 7) || '.0', 'ngu-van', (5 + n % 5) || '.5', 'tieng-anh', (3 + n % 8) || '.0',
             'khtn', (6 + n % 4) || '.0', 'lich-su-dia-li', (5 + n % 6) || '.0', 'gdcd', 'Đ', 'tin-hoc', (7 + n % 3) || '.0',
             'cong-nghe', (6 + n % 4) || '.5', 'gdtc', 'Đ', 'nghe-thuat', 'Đ')),
         2000 + n * 2 + (t = '2')::int, 't'
  FROM hub_schools s, generate_series(0, 999) n, (VALUES ('1'), ('2')) AS terms(t);
INSERT INTO hub_records (school, kind, key, op, record, outbox_seq, at)
  SELECT s.code, 'lesson_plan', 'kh' || p, 'update',
         jsonb_build_object('id', 'kh' || p, 'grade', 6 + p % 4, 'teach_on', '2026-' || lpad((9 + p % 4)::text, 2, '0') || '-' || lpad((1 + p % 28)::text, 2, '0'),
           'state', CASE WHEN p % 5 = 0 THEN 'draft' ELSE 'approved' END,
           'approved_version', CASE WHEN p % 5 = 0 THEN NULL ELSE 1 END),
         5000 + p, 't'
  FROM hub_schools s, generate_series(0, 1979) p;
ANALYZE;
SQL
echo "  $(psql -d tramhub -At -c 'SELECT count(*) FROM hub_records') records in $(( $(date +%s) - t0 )) s; database $(psql -d tramhub -At -c "SELECT pg_size_pretty(pg_database_size('tramhub'))")"
fi
[ -z "${TRAM_BENCH_PREPARE:-}" ] || exit 0
echo "load: $(uptime | sed 's/.*load average: //')"

echo "== the one-time rebuild of the report parts (a hub upgraded from before they were stored) =="
t0=$(date +%s.%N)
from=$(( $(wc -l <"$work/hub.log") + 1 ))   # this start's lines only: the log is appended to
start_hub
until tail -n +$from "$work/hub.log" | grep -qE "parts are built|parts stopped|sums are ready"; do
  kill -0 $hub 2>/dev/null || { echo "the hub stopped"; cat "$work/hub.log"; exit 1; }
  sleep 1
done
echo "  $(echo "$(date +%s.%N) - $t0" | bc) s for $schools schools ($(tail -n +$from "$work/hub.log" | grep -c "parts from the stored records") progress lines); RSS $(( $(awk '/VmRSS/{print $2}' /proc/$hub/status) / 1024 )) MB"
kill -TERM $hub; wait $hub || true

echo "== a hub start with the parts stored =="
start_hub
curl -fs -c "$work/jar" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"bench-password-1"}' $B/api/v1/login >/dev/null
cookie=$(awk '$6=="tram_session"{print $7}' "$work/jar")
timed() { curl -fs -o /dev/null -b "$work/jar" -w '%{time_total}' "$1"; }
if [ "${TRAM_BENCH_ONLY:-}" != csdl ]; then
echo "== the first report after start (reads every school's stored part once) =="
echo "  GET /district: $(timed $B/district) s; RSS $(( $(awk '/VmRSS/{print $2}' /proc/$hub/status) / 1024 )) MB"
for path in "/district" "/district?school=79000001" "/district?grade=7&term=2"; do
  out=$(wrk -t2 -c8 -d15s --latency -H "Cookie: tram_session=$cookie" "$B$path")
  printf '  %-28s %8s req/s  p50 %8s  p99 %8s\n' "$path" \
    "$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
    "$(echo "$out" | awk '/ 50%/{print $2}')" "$(echo "$out" | awk '/ 99%/{print $2}')"
  if echo "$out" | grep -q Non-2xx; then echo "  $(echo "$out" | grep Non-2xx)"; fi
done
echo "  reports xlsx (/district/district.xlsx): $(timed $B/district/district.xlsx) s"
echo "  RSS after: $(( $(awk '/VmRSS/{print $2}' /proc/$hub/status) / 1024 )) MB"
fi
echo "== the province CSDL ngành export (/district/csdl.xlsx, every school, one year) =="
# VmHWM is the process's peak RSS; writing 5 to clear_refs resets it (Linux >= 4.0), so the
# figure is the export's own peak, not the reports' above.
if { echo 5 >/proc/$hub/clear_refs; } 2>/dev/null; then hwm_note=""; else hwm_note=" (not reset: includes the reports above)"; fi
read -r secs bytes < <(curl -fs -o "$work/csdl.xlsx" -b "$work/jar" -w '%{time_total} %{size_download}\n' \
  "$B/district/csdl.xlsx?year=2026-2027")
[ -z "${TRAM_BENCH_KEEP_XLSX:-}" ] || cp "$work/csdl.xlsx" "$TRAM_BENCH_KEEP_XLSX"
echo "  $secs s, $(( bytes / 1000000 )) MB; hub peak RSS (VmHWM) $(( $(awk '/VmHWM/{print $2}' /proc/$hub/status) / 1024 )) MB$hwm_note"
rm -f "$work/csdl.xlsx"
# Cut by the page's filters (issue 23): one school is the only one read; one grade is applied
# as each school's records are parsed.
for q in "school=79000001" "grade=7"; do
  read -r secs bytes < <(curl -fs -o /dev/null -b "$work/jar" -w '%{time_total} %{size_download}\n' \
    "$B/district/csdl.xlsx?year=2026-2027&$q")
  echo "  ?$q: $secs s, $(( bytes / 1000 )) kB"
done
echo "load after: $(uptime | sed 's/.*load average: //')"
