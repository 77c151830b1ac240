#!/usr/bin/env bash
# The power-cut fault run (issues 2 and 6): SIGKILL the real server at a random moment during a
# burst of writes, 50 times over the same data directory; every acknowledged write must be there
# afterwards, the audit chain must verify, and a backup of the result must restore with all of
# them. It is tests/crash.rs with TRAM_FAULT_ROUNDS=50 (the suite runs 5 rounds).
# Usage: bench/fault.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
start=$(date +%s)
TRAM_FAULT_ROUNDS=$rounds cargo test --release -q -p tram --test crash -- --nocapture
echo "fault run: $rounds SIGKILL rounds passed in $(( $(date +%s) - start )) s"
