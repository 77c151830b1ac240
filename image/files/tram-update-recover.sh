#!/bin/sh
# tram-update-recover.service: roll back an update the power cut off before its health check.
# The new version may be the broken (or hanging) one, so the installed versions are tried in
# this order, each with a time limit: the last known good one (the version `current` pointed
# at before the update, from in-progress.json), then the others newest first by version number
# (0.10.0 after 0.9.0 — not the shell's alphabetical order). The first that completes wins.
# TRAM_DATA_DIR, TRAM_INSTALL_ROOT and TRAM_RECOVER_TIMEOUT (seconds) override the defaults.
set -u
data=${TRAM_DATA_DIR:-/var/lib/tram}
root=${TRAM_INSTALL_ROOT:-/opt/tram}
limit=${TRAM_RECOVER_TIMEOUT:-120}
marker="$data/update/in-progress.json"
[ -e "$marker" ] || exit 0
# "previous": "versions/0.9.0" → 0.9.0
good=$(sed -n 's/.*"previous"[[:space:]]*:[[:space:]]*"\(versions\/\)\{0,1\}\([^"]*\)".*/\2/p' "$marker" | head -n 1)
candidates=$( { [ -n "$good" ] && echo "$good"; ls -1 "$root/versions" 2>/dev/null | sort -V -r; } | awk '!seen[$0]++')
for v in $candidates; do
  b="$root/versions/$v/bin/tram"
  [ -x "$b" ] || continue
  echo "trying the rollback with version $v"
  if timeout --kill-after=5 "$limit" "$b" update recover --data-dir "$data" --install-root "$root"; then
    exit 0
  fi
  echo "version $v could not roll back (failed or timed out after ${limit}s)"
done
echo "no installed version could roll back the interrupted update" >&2
exit 1
