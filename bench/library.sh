#!/usr/bin/env bash
# Library benchmarks (issue 5), against the real release binary on loopback (plain HTTP):
#  - search over 100,000 titles (wrk, 8 connections, several queries): target p99 ≤ 20 ms;
#  - a 1 GB download next to nginx serving the same file (best of 3 curl runs each):
#    target ≥ 80 % of nginx's throughput;
#  - 200 concurrent Range streams of the video (wrk -c200, 1 MiB ranges at spread offsets):
#    no errors, RSS before/after.
# Usage: bench/library.sh [items] [video_mb]   (defaults 100000 1024; TRAM_BIN=path skips the build;
#        needs wrk, curl, nginx: apt-get install wrk nginx-light)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}
video_mb=${2:-1024}
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
for t in wrk curl nginx; do command -v $t >/dev/null || { echo "install $t"; exit 1; }; done
work=$(mktemp -d /var/tmp/tram-libbench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
port=18621; B=http://127.0.0.1:$port
D=$work/d

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m), $(nginx -v 2>&1)"
start() {
  $BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$D" --listen 127.0.0.1:$port --bootstrap-listen 127.0.0.1:18622 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do curl -fs -o /dev/null $B/healthz && return; sleep 0.01; done
  echo "server did not start"; exit 1
}
start; kill -TERM $pid; wait $pid || true
t0=$(date +%s)
$BIN bench-fill --data-dir "$D" --library-items "$items" --video-mb "$video_mb" 2>/dev/null
echo "catalogue: $items items + a ${video_mb} MB video, filled in $(( $(date +%s) - t0 )) s; database $(( $(stat -c %s "$D/tram.redb") / 1048576 )) MB"
start
curl -fs -c "$work/jar" -H 'content-type: application/json' \
  -d '{"username":"gv01","password":"bench-password-1"}' $B/api/v1/login >/dev/null
cookie=$(awk '$6=="tram_session"{print $7}' "$work/jar")

echo "== search: one teacher at a time (wrk -t1 -c1 -d5s) and 8 at once (wrk -t2 -c8 -d5s) =="
for q in "tieng%20viet" "toan%206" "dat%20nuoc" "bai%20tap%20nang%20cao" "h" "video%20benchmark"; do
  hits=$(curl -fs -b "$work/jar" "$B/api/v1/library/search?q=$q" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  line=$(printf 'q=%-22s %6s hits' "$q" "$hits")
  for c in 1 8; do
    t=$([ $c = 1 ] && echo 1 || echo 2)
    out=$(wrk -t$t -c$c -d5s --latency -H "Cookie: tram_session=$cookie" "$B/api/v1/library/search?q=$q")
    p99=$(echo "$out" | awk '/ 99%/{print $2}'); p50=$(echo "$out" | awk '/ 50%/{print $2}')
    line="$line | c$c p50 $p50 p99 $p99"
  done
  echo "  $line"
done

vid=li-b9999999
blob=$(curl -fs -b "$work/jar" "$B/api/v1/library/items/$vid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["item"]["file"]["blob"])')
file="$D/blobs/${blob:0:2}/${blob:2}"
mkdir -p "$work/www"; ln -s "$file" "$work/www/video.mp4"
cat > "$work/nginx.conf" <<NGX
user root; worker_processes 2; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; default_type video/mp4;
  client_body_temp_path $work/ngx; proxy_temp_path $work/ngx; fastcgi_temp_path $work/ngx;
  uwsgi_temp_path $work/ngx; scgi_temp_path $work/ngx;
  server { listen 127.0.0.1:18623; root $work/www; } }
NGX
mkdir -p "$work/ngx"; nginx -c "$work/nginx.conf"
sleep 0.5
best() { # url → best MB/s of 3 runs (cookie sent to tram, harmless to nginx)
  local b=0
  for _ in 1 2 3; do
    s=$(curl -fs -o /dev/null -b "$work/jar" -w '%{speed_download}' "$1")
    b=$(python3 -c "print(max($b, $s))")
  done
  python3 -c "print(round($b/1048576))"
}
cat "$file" > /dev/null  # both read from the page cache
echo "== 1 GB download (best of 3, curl, loopback) =="
n=$(best http://127.0.0.1:18623/video.mp4); t=$(best "$B/library/file/$vid")
echo "  nginx: $n MB/s   tram: $t MB/s   ratio $(python3 -c "print(round($t/$n, 2))")"

echo "== 200 concurrent Range streams (wrk -t2 -c200 -d15s, 1 MiB ranges) =="
rss0=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
cat > "$work/range.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local start = (n * 7919 % 1000) * 1048576
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + 1048575) })
end
LUA
for round in 1 2; do
  out=$(wrk -t2 -c200 -d15s --latency -s "$work/range.lua" -H "Cookie: tram_session=$cookie" "$B/library/file/$vid")
  echo "  round $round:"
  echo "$out" | grep -E "Latency  |99%|Requests/sec|Transfer/sec|Non-2xx|Socket errors" | sed 's/^/  /'
  sleep 3
  echo "  RSS after round $round (3 s idle): $(awk '/VmRSS/{print $2}' /proc/$pid/status) kB"
done
echo "  RSS before: ${rss0} kB"
