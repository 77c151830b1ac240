#!/usr/bin/env bash
# The home page by role (issue 24 item 10): the admin's home (audit status, backup card, the
# box's addresses) against a teacher's, each at 64 connections (wrk -t2 -c64 -d10s), on the
# demo school over plain HTTP on loopback.
# Usage: bench/home.sh   (TRAM_BIN=path skips the build; needs wrk and curl: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${TRAM_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "${TRAM_BIN:-target/release/tram}")
for t in wrk curl; do command -v $t >/dev/null || { echo "install $t"; exit 1; }; done
work=$(mktemp -d /var/tmp/tram-homebench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRAM_ADMIN_PASSWORD=bench-password-1 TRAM_LOG=warn
port=18641; B=http://127.0.0.1:$port

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m); $BIN"
$BIN serve --demo --http-only --no-mdns --no-backup --data-dir "$work/d" --listen 127.0.0.1:$port --bootstrap-listen 127.0.0.1:18642 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do curl -fs -o /dev/null $B/healthz && break; sleep 0.01; done
login() { # user → session cookie
  curl -fs -c "$work/$1.jar" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"bench-password-1\"}" $B/api/v1/login >/dev/null
  awk '$6=="tram_session"{print $7}' "$work/$1.jar"
}
printf '%-22s %10s %9s %9s %9s\n' "GET / as" "req/s" "p50" "p99" "CPU s"
for user in ${USERS:-admin gv01}; do
  cookie=$(login $user)
  curl -fs -o /dev/null -b "$work/$user.jar" $B/   # the first look walks the whole audit chain
  cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(wrk -t2 -c64 -d10s --latency -H "Cookie: tram_session=$cookie" "$B/")
  cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
  printf '%-22s %10s %9s %9s %9s\n' "$user" \
    "$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
    "$(echo "$out" | awk '/ 50%/{print $2}')" "$(echo "$out" | awk '/ 99%/{print $2}')" \
    "$(python3 -c "print(round(($cpu1-$cpu0)/$(getconf CLK_TCK),1))")"
  if echo "$out" | grep -q Non-2xx; then echo "  $(echo "$out" | grep Non-2xx)"; fi
done
