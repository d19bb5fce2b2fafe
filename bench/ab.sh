#!/usr/bin/env bash
# Compares jsonlift builds on one dataset, alternating them so that each sees the same moments of
# a noisy machine: migrate is run N times per build, from a fresh database each time.
#
#   bench/ab.sh nested 5 /tmp/jsonlift-before target/release/jsonlift
#
# Prints one line per run, sorted by build: wall seconds, user and system CPU seconds, peak RSS.
# The datasets must exist (bench/run.sh makes them).
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ds=${1:?dataset: flat, small or nested}
n=${2:?runs per build}
shift 2
[ $# -gt 0 ] || { echo "usage: $0 DATASET N BINARY..." >&2; exit 2; }
DATA=$BENCH/data
for _ in $(seq "$n"); do
  for bin in "$@"; do
    rm -f "$DATA/$ds.db" "$DATA/$ds.db-wal" "$DATA/$ds.db-shm"
    rm -rf "$DATA/backups/$ds"
    sync
    /usr/bin/time -f "$bin %e s %U user %S sys %M KB" "$bin" migrate -c "$BENCH/$ds/jsonlift.toml" 2>&1 >/dev/null | tail -n 1
  done
done | sort -s -k1,1
rm -f "$DATA/$ds.db" "$DATA/$ds.db-wal" "$DATA/$ds.db-shm"
rm -rf "$DATA/backups/$ds"
