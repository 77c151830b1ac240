#!/usr/bin/env bash
# A whole school at once (issue 9), against the release binary on loopback (plain HTTP):
#  1. idle RSS of the demo school (480 students, 33 staff, lesson plans in every state) with a
#     2,000-item catalogue and a 64 MB video;
#  2. the school day: SESSIONS concurrent staff sessions for SECONDS (examples/schoolday.rs:
#     score sheets and score entry, library search and pages, video ranges, lesson-plan pages,
#     plans created and submitted with the PIN, heads reviewing, the principal approving) —
#     throughput, p50/p99 per endpoint, errors, RSS every 5 s, the run in twelve windows, the
#     RSS slope after warm-up and a pass/FAIL line per target of issue 9;
#  3. side by side: the same static file from nginx and from Trạm (wrk -t2 -c64 -d10s).
# Usage: bench/schoolday.sh [SESSIONS] [SECONDS]   (defaults 500 180;
#        the soak: FILL="--db-mb 150" bench/schoolday.sh 500 1800)
#        TRAM_BIN=path skips the build; needs wrk, curl, nginx.
#        FILL="--db-mb 150 --lesson-plans 3000" starts from a school in mid-year (a database
#        many times the page cache, thousands of plans waiting): `tram bench-fill` flags.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-500}
secs=${2:-180}
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
cargo build --release -q --example schoolday
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
for t in wrk curl nginx; do command -v $t >/dev/null || { echo "install $t"; exit 1; }; done
work=$(mktemp -d /var/tmp/tram-schoolday.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
ulimit -n "$(ulimit -Hn)" || true
port=18700; B=http://127.0.0.1:$port; D=$work/d

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m), $(nginx -v 2>&1)"
start() {
  $BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$D" --listen 127.0.0.1:$port --bootstrap-listen 127.0.0.1:18701 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do curl -fs -o /dev/null $B/healthz && return; sleep 0.01; done
  echo "server did not start"; exit 1
}
start; kill -TERM $pid; wait $pid || true
# shellcheck disable=SC2086  # FILL is a list of flags
$BIN bench-fill --data-dir "$D" --library-items 2000 --video-mb 64 ${FILL:-} 2>/dev/null
echo "database before the load: $(du -m "$D/tram.redb" | cut -f1) MB${FILL:+ (bench-fill $FILL)}"
start
sleep 10
idle=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
echo "idle RSS (10 s after start): $idle kB — target ≤ 30 MB: $([ "$idle" -le 30720 ] && echo pass || echo FAIL)"

echo "== school day: $sessions sessions, $secs s"
target/release/examples/schoolday --base $B --password bench-password-1 --sessions "$sessions" \
  --seconds "$secs" --pid $pid --video li-b9999999
sleep 10
echo "RSS 10 s after the load: $(awk '/VmRSS/{print $2}' /proc/$pid/status) kB"

echo "== side by side: web/static/app.css from nginx and from Trạm (wrk -t2 -c64 -d10s)"
mkdir -p "$work/www/static" "$work/ngx"; cp web/static/app.css "$work/www/static/app.css"
cat > "$work/nginx.conf" <<NGX
user root; worker_processes 2; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; default_type text/css;
  client_body_temp_path $work/ngx; proxy_temp_path $work/ngx; fastcgi_temp_path $work/ngx;
  uwsgi_temp_path $work/ngx; scgi_temp_path $work/ngx;
  server { listen 127.0.0.1:18702; root $work/www; } }
NGX
nginx -c "$work/nginx.conf"; sleep 0.5
rps() { wrk -t2 -c64 -d10s --latency "$1" | awk '/Requests\/sec/{r=$2} / 99%/{p=$2} END{print r, "req/s, p99", p}'; }
n=$(rps http://127.0.0.1:18702/static/app.css); t=$(rps $B/static/app.css)
echo "  nginx: $n"
echo "  tram:  $t"
echo "  ratio tram/nginx: $(python3 -c "print(round(${t%% *}/${n%% *}, 2))")"
