#!/usr/bin/env bash
# Live file sync (`serve --watch`, issue #15): how long a file edit takes to be visible through
# the API, the initial sync of a folder of many files, and CPU use while nothing changes.
#
#   bench/watch.sh
#
# Environment:
#   FILES=N          files in the folder for the initial sync (default 10000)
#   EDITS=N          edits timed one after the other (default 1000)
#   DEBOUNCE_MS=N    [sync] debounce_ms of the run (default 500)
#   IDLE_SECS=N      seconds of each of the two idle CPU windows (default 30)
#   JSONLIFT=path    use this binary instead of building target/release/jsonlift
#   PG_URL=url       the database on PostgreSQL (schema bench_watch, dropped first), not SQLite
#   DATA=dir         where the files and database go (default bench/data/watch)
#
# Everything lives in bench/data/watch/ (git-ignored). The driver is bench/watch/bench.py: it
# writes the files, migrates, times `jsonlift watch`'s initial sync (every file new, then every
# file unchanged), then starts `serve --watch` and, EDITS times, rewrites one file (a new name,
# written in place) and polls GET /api/personas/<id> every 2 ms until the new name shows:
# the time from the write to that answer is the lag. It prints a Markdown table.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
if [ -z "${JSONLIFT:-}" ]; then
  (cd "$ROOT" && cargo build --release -q)
  JSONLIFT=$ROOT/target/release/jsonlift
fi
exec python3 "$BENCH/watch/bench.py" "$JSONLIFT" "${DATA:-$BENCH/data/watch}"
