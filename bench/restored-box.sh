#!/usr/bin/env bash
# The restored-box fault run (issue 19): a school relays through a bad link (32,000 B/s, every
# connection cut every 3–8 s, bench/badlink.py); a backup is taken; the old box relays more
# after the backup and dies; a new box is restored from the backup, works before and after it
# is enrolled again, and relays while the school is SIGKILLed several times and the hub once.
# Then, per relayed kind: the keys the new box holds, the keys the hub holds, how many are
# equal, how many the hub holds that the restore report told the staff they lost (the old
# box's work after the backup), and how many nothing explains — which must be none.
# Usage: bench/restored-box.sh [school kills]   (default 4; TRAM_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-4}
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
work=$(mktemp -d /var/tmp/tram-restored.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
H=$work/hub; OLD=$work/old-box; NEW=$work/new-box; USB=$work/usb
hport=18711; lport=18712; sport=18713; bport=18714
RANDOM=19

up() { for _ in $(seq 1 1500); do curl -fs -o /dev/null "http://127.0.0.1:$1/healthz" && return 0; sleep 0.02; done; echo "port $1 never answered"; exit 1; }
hub_start() { $BIN district serve --http-only --data-dir "$H" --listen 127.0.0.1:$hport >>"$work/hub.log" 2>&1 & hub=$!; up $hport; }
school_start() { # DIR [--demo]
  $BIN serve ${2:-} --http-only --no-mdns --no-backup --data-dir "$1" --listen 127.0.0.1:$sport \
    --bootstrap-listen 127.0.0.1:$bport --relay-rate 10000000 --relay-school-hours off >>"$work/school.log" 2>&1 &
  school=$!; up $sport; }
queued() { $BIN relay status --json --data-dir "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["queued"])' 2>/dev/null || echo x; }
# relay DIR KILLS HUBKILL: waits until nothing is queued, SIGKILLing the school KILLS times (and
# the hub once if HUBKILL=1) at random moments on the way.
relay() {
  local dir=$1 left=$2 hubkill=$3 deadline=$(( $(date +%s) + 900 )) next
  next=$(( $(date +%s) + 3 + RANDOM % 8 ))
  while [ "$(queued "$dir")" != 0 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "not relayed after 15 min"; $BIN relay status --data-dir "$dir"; exit 1; }
    if [ "$left" -gt 0 ] && [ "$(date +%s)" -ge "$next" ]; then
      kill -9 $school; wait $school 2>/dev/null || true
      echo "  SIGKILL school (queued $(queued "$dir"))"
      left=$((left - 1))
      if [ "$hubkill" = 1 ] && [ "$left" = 1 ]; then
        kill -9 $hub; wait $hub 2>/dev/null || true; echo "  SIGKILL hub"; sleep 2; hub_start
      fi
      school_start "$dir"
      next=$(( $(date +%s) + 3 + RANDOM % 8 ))
    fi
    sleep 0.5
  done
}
token() { $BIN district token --data-dir "$H" --school 79000701 | awk '/use once/{print $NF}'; }

hub_start
python3 bench/badlink.py $lport $hport 32000 3-8 "$work/link.json" &
up $lport
echo "== the old box: the demo school, relayed =="
$BIN relay enroll --data-dir "$OLD" --hub http://127.0.0.1:$lport --token "$(token)" >/dev/null
school_start "$OLD" --demo
relay "$OLD" 0 0
echo "== last night's backup =="
$BIN backup now --data-dir "$OLD" --to "$USB" | tail -1
cp "$OLD/keys/backup.key" "$work/saved-backup.key"
echo "== the old box works on after the backup (1,500 result changes, 10 lesson plans) and relays it, killed twice =="
kill -TERM $school; wait $school || true
$BIN bench-fill --data-dir "$OLD" --relay-changes 1500 --lesson-teachers 3 --lesson-plans 10 >/dev/null
school_start "$OLD"
relay "$OLD" 2 0
echo "== the old box dies =="
kill -9 $school; wait $school 2>/dev/null || true
$BIN restore --from "$USB" --data-dir "$NEW" --key "$work/saved-backup.key" | tail -2
echo "== the new box works before it is enrolled again (1,000 result changes, 10 lesson plans) =="
$BIN bench-fill --data-dir "$NEW" --relay-changes 1000 --lesson-teachers 3 --lesson-plans 10 >/dev/null
school_start "$NEW"
$BIN relay enroll --data-dir "$NEW" --hub http://127.0.0.1:$lport --token "$(token)" | tail -3
echo "== the new box relays over the bad link: $kills SIGKILLs of the school, one of the hub =="
relay "$NEW" "$kills" 1
kill -TERM $school; wait $school || true
kill -TERM $hub; wait $hub || true
$BIN relay status --data-dir "$NEW" | sed -n '1,12p'
echo "== per relayed kind: the new box against the hub =="
$BIN bench-tally --data-dir "$NEW" --hub-data "$H"
