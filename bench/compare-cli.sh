#!/bin/bash
# Compare what two builds of `tram` answer on the command line without doing anything: every
# command's and subcommand's help (--help, -h, `help X`), --version, and a set of argument errors,
# with their exit codes (issue 21: a refactor must not change the CLI).
#   bench/compare-cli.sh BEFORE_BIN AFTER_BIN     exit 0 when identical, 1 with a diff
# Only what clap answers itself is run — never a real command — from an empty folder.
set -u
[ $# -eq 2 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir "$work/cwd"
dump() {
  local B=$1 OUT=$2; : > "$OUT"
  run() { echo "=== $*" >> "$OUT"; (cd "$work/cwd" && timeout 5 env -i PATH=/usr/bin:/bin "$B" "$@") 2>&1 | sed "s#$(basename "$B")#tram#g" >> "$OUT"; echo "--- exit ${PIPESTATUS[0]}" >> "$OUT"; }
  run --help; run -h; run help; run --version; run -V; run
  local TOP="serve district relay backup restore audit grades library bench-fill bench-tally lessons bench-relay-hub provision power support-bundle update release self-check user"
  declare -A SUB
  SUB[district]="serve publish-update publish-library key-reset import token"
  SUB[relay]="enroll export status"
  SUB[backup]="now verify list key"
  SUB[audit]="verify"; SUB[grades]="check"; SUB[library]="import"; SUB[lessons]="verify"
  SUB[update]="apply apply-spool recover status"; SUB[release]="keygen bundle"; SUB[user]="reset-password"
  for t in $TOP; do
    run $t --help; run $t -h; run help $t
    if [ -n "${SUB[$t]:-}" ]; then run $t; fi
    for s in ${SUB[$t]:-}; do run $t $s --help; run $t $s -h; run help $t $s; done
  done
  run serve --bogus; run serve --listen nope; run serve --db-cache-mb 0; run backup now --keep x --to /x
  run backup verify --all --backup x --from /x; run district serve --db-cache-mb 9999; run restore
  run relay export; run release bundle; run nope
}
dump "$(realpath "$1")" "$work/before.txt"
dump "$(realpath "$2")" "$work/after.txt"
if diff -u "$work/before.txt" "$work/after.txt"; then
  echo "$(grep -c '^===' "$work/after.txt") command lines, identical"
else
  exit 1
fi
