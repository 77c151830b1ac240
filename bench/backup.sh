#!/usr/bin/env bash
# Backup benchmark (issue 6), with the real release binary:
#   a school with ~5 GB of library files (¾ video-like random bytes, ¼ text) and a ~200 MB database;
#   first full backup against `tar | zstd -3` of the same data directory (target ratio ≤ 1.2);
#   a second backup with no changes (target ≤ 5 s); verify; restore against `zstd -d | tar -x`;
#   bytes stored against raw.
# Usage: bench/backup.sh [files_mb] [db_mb]   (defaults 5120 200; TRAM_BIN=path skips the build;
#        BENCH_DIR=path picks the scratch folder, which needs ~4× files_mb free)
set -euo pipefail
cd "$(dirname "$0")/.."
files_mb=${1:-5120}
db_mb=${2:-200}
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
work=${BENCH_DIR:-$(mktemp -d /var/tmp/tram-bench.XXXXXX)}
mkdir -p "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
D=$work/data

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
secs() { # command… → wall seconds (3 decimals) on stdout, command output to $work/last.log
  local t0 t1; t0=$(date +%s.%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l | xargs printf '%.2f'
}
mb() { echo "$(( $(du -sb "$1" | cut -f1) / 1048576 ))"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m), scratch on $(df -T "$work" | awk 'NR==2{print $2}'), zstd $(zstd --version | grep -o 'v[0-9.]*')"
# The demo school (1,500 students), then the bulk.
$BIN serve --demo --demo-students 1500 --http-only --no-mdns --no-backup --data-dir "$D" \
  --listen 127.0.0.1:18711 --bootstrap-listen 127.0.0.1:18712 >/dev/null 2>&1 &
for _ in $(seq 1 2000); do curl -fs -o /dev/null http://127.0.0.1:18711/healthz && break; sleep 0.01; done
kill -TERM %1; wait %1 || true
$BIN bench-fill --data-dir "$D" --db-mb "$db_mb" --files-mb "$files_mb"
raw=$(mb "$D")
echo "data directory: ${raw} MB (database $(( $(stat -c %s "$D/tram.redb") / 1048576 )) MB, $(find "$D/blobs" -type f | wc -l) files)"

drop_caches
# Both sides end durable on disk: tram fsyncs every file it writes, so tar's output is synced too.
t_tar=$(secs sh -c "tar -cf - -C '$D' . | zstd -3 -q -o '$work/ref.tar.zst' && sync '$work/ref.tar.zst'")
ref=$(mb "$work/ref.tar.zst")
echo "tar | zstd -3 (+ sync):   ${t_tar} s, ${ref} MB"

drop_caches
t_first=$(secs "$BIN" backup now --data-dir "$D" --to "$work/t" --no-verify)
first=$(mb "$work/t")
echo "tram backup (first):      ${t_first} s, ${first} MB stored  → ratio $(echo "$t_first / $t_tar" | bc -l | xargs printf '%.2f') of tar|zstd time"

t_second=$(secs "$BIN" backup now --data-dir "$D" --to "$work/t" --no-verify)
echo "tram backup (no changes): ${t_second} s, $(( $(mb "$work/t") - first )) MB added"
t_second_v=$(secs "$BIN" backup now --data-dir "$D" --to "$work/t")
echo "  … with its restore check (every file decrypted and hashed): ${t_second_v} s"

drop_caches
t_verify=$(secs "$BIN" backup verify --from "$work/t" --data-dir "$D")
echo "tram backup verify:       ${t_verify} s"

drop_caches
t_restore=$(secs "$BIN" restore --from "$work/t" --data-dir "$work/restored" --key "$D/keys/backup.key")
echo "tram restore:             ${t_restore} s ($(mb "$work/restored") MB restored)"
drop_caches
mkdir -p "$work/untar"
t_untar=$(secs sh -c "zstd -d -q -c '$work/ref.tar.zst' | tar -xf - -C '$work/untar'")
echo "zstd -d | tar -x:         ${t_untar} s"
echo "bytes stored: tram ${first} MB, tar|zstd ${ref} MB, raw ${raw} MB"
