#!/usr/bin/env bash
# Backup, restore and point-in-time replay: time and peak RSS on a database of a given size.
#
#   bench/backup.sh              # ~1 GB database (RECORDS=1000000 records of ~1 KB)
#   RECORDS=100000 WRITES=20000 bench/backup.sh
#
# Steps, each timed by /usr/bin/time (wall seconds, peak RSS): migrate (setup, not reported),
# `backup`, `backup --compress`, `backups --verify`, `restore` (latest), and after WRITES more
# writes through the record write path (examples/bench_writes.rs), `restore --at now`, which
# replays those WRITES audit entries on the last backup: replay rate = WRITES / its time.
# Everything lives in bench/data/backup/ (git-ignored) and is deleted at the end unless KEEP=1.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
RECORDS=${RECORDS:-1000000}
WRITES=${WRITES:-100000}
DIR=$BENCH/data/backup
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }

(cd "$ROOT" && cargo build --release --quiet && cargo build --release --quiet --example bench_writes)
J=$ROOT/target/release/jsonlift
W=$ROOT/target/release/examples/bench_writes

rm -rf "$DIR" && mkdir -p "$DIR" && cd "$DIR"
cat > jsonlift.toml <<'TOML'
database = "bench.db"
[collections.notes]
source = "notes.json"
key = "id"
[collections.notes.fields]
id = "text"
title = "text"
body = "text"
TOML
python3 - "$RECORDS" > notes.json <<'PY'
import sys
n = int(sys.argv[1])
body = "lorem ipsum dolor sit amet " * 36
print("[")
for i in range(n):
    print('  {"id": "r%d", "title": "record number %d", "body": "%s"}%s' % (i, i, body, "," if i < n - 1 else ""))
print("]")
PY
$J -q migrate >/dev/null
DB_MB=$(du -m bench.db | cut -f1)

row() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o time.txt "$@" >/dev/null 2>log.txt || { cat log.txt; exit 1; }
  read -r secs kb < time.txt
  printf '| %s | %s | %d |\n' "$label" "$secs" $((kb / 1024))
}

echo "database: $DB_MB MB, $RECORDS records; replay: $WRITES writes"
echo
echo "| step | seconds | peak RSS MB |"
echo "|---|---:|---:|"
row "backup" $J -q backup
row "backup --compress" $J -q backup --compress
row "backups --verify (2 backups)" $J -q backups --verify
row "restore (latest, compressed)" $J -q restore
$J -q backup >/dev/null
$W jsonlift.toml notes "$WRITES" 2>/dev/null
sleep 0.01
AT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
row "restore --at (replays $WRITES entries)" $J -q restore --at "$AT"
read -r secs _ < time.txt
python3 -c "print(f'\nreplay rate: {$WRITES / $secs:,.0f} audit entries/s (including the copy of the backup)')"
[ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
