# Sourced by the hub benchmarks on PostgreSQL (hub-pg.sh, hub-scale.sh, hub-ingest.sh): the
# binary, a work folder removed on exit, and a throw-away cluster in it.
# Usage: . bench/pg-common.sh NAME   (sets BIN, work, pg_bin, as_pg, reused; defines pg_start)
# TRAM_BENCH_WORK=DIR keeps the work folder (the cluster stopped, not removed) and a later run
# with the same DIR starts that cluster again with its data (reused=1): a 10-million-record
# database is written once and measured by several binaries. Remove DIR yourself when done.
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q --bin tram
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
reused=0
if [ -n "${TRAM_BENCH_WORK:-}" ]; then
  work=$TRAM_BENCH_WORK; mkdir -p "$work"
  [ ! -d "$work/pg/data" ] || reused=1
else
  work=$(mktemp -d "/var/tmp/tram-$1.XXXXXX")
fi
chmod 711 "$work" # the cluster runs as postgres and must reach its folder inside
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
as_pg=()
[ "$(id -u)" -ne 0 ] || as_pg=(runuser -u postgres --)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [ ! -d "$work/pg" ] || "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  [ -n "${TRAM_BENCH_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; binary: $BIN"

# pg_start PORT [NAME=VALUE…]: a new cluster in $work/pg on 127.0.0.1:PORT with those settings.
pg_start() {
  local port=$1 opts=""
  shift
  for s in "$@"; do opts+=" -c $s"; done
  mkdir -p "$work/pg"; [ "$(id -u)" -ne 0 ] || chown postgres "$work/pg"
  [ "$reused" = 1 ] || "${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
    -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1$opts" start >/dev/null
}
