#!/usr/bin/env bash
# jsonlift on PostgreSQL against jsonlift on SQLite and against pgloader, same data, same run
# (issue #14):
#   1. migrate: JSON -> SQLite and JSON -> PostgreSQL (10 000 courses of seed 000's shape,
#      about 570 000 rows; bench/gen.py lernpfad);
#   2. copy: the lifted SQLite database (about 66 MB) into PostgreSQL with `jsonlift copy`
#      (which verifies every row) and with pgloader on the same file;
#   3. serve: `jsonlift serve` on SQLite and on PostgreSQL, the same db.json (bench/serve), with
#      wrk: GET by id, a filtered list, POST.
#
#   bench/postgres.sh [migrate] [copy] [serve]      # default: all three
#
# Environment:
#   PG=postgres://postgres@127.0.0.1:5432/test   the server (each run uses a schema of its own,
#                                                 pgloader a database of its own; all dropped)
#   RUNS=3           runs of each timed command (the table shows each run)
#   DURATION=10      seconds per wrk measurement; CONNS="1 16"
#   JSONLIFT=path    use this binary instead of building target/release/jsonlift
#
# Results go to bench/data/results-postgres.md (git-ignored) and stdout.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
DATA=$BENCH/data/pg
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-1 16}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(migrate copy serve)
wants() { [[ " ${parts[*]} " == *" $1 "* ]]; }
mkdir -p "$DATA/logs"
OUT=$BENCH/data/results-postgres.md

for tool in psql /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install postgresql-client time)" >&2; exit 2; }
done
if [ -z "${JSONLIFT:-}" ]; then
  (cd "$ROOT" && cargo build --release -q)
  JSONLIFT=$ROOT/target/release/jsonlift
fi
[ -f "$DATA/courses.json" ] || python3 "$BENCH/gen.py" lernpfad --out "$DATA/courses.json"
CFG=$BENCH/postgres/jsonlift.toml
SCHEMA=jsonlift_bench
psql_q() { psql "$PG" -qAt -v ON_ERROR_STOP=1 -c "$1"; }
drop_schema() { psql_q "DROP SCHEMA IF EXISTS $1 CASCADE" 2>/dev/null || true; }
# Wall seconds and peak RSS (MB) of one command, its output in a log.
timed() {
  local log=$1; shift
  /usr/bin/time -f "%e %M" -o "$DATA/logs/time" "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  awk '{printf "%.2f s, %.0f MB", $1, $2/1024}' "$DATA/logs/time"
}
cat /dev/null >"$DATA/logs/summary"
say() { echo "$*" | tee -a "$DATA/logs/summary"; }

{
  echo "# jsonlift on PostgreSQL — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(psql "$PG" -qAt -c 'SELECT version()' | cut -d, -f1); $("$JSONLIFT" --version)"
  echo "Data: $(python3 -c "import json;m=json.load(open('$DATA/courses.json.meta.json'));print(f\"{m['records']:,} courses, {m['modules']:,} modules, {m['lessons']:,} lessons, {m['bytes']/1e6:.0f} MB of JSON\")")"
  echo
} >"$OUT"

if wants migrate; then
  say "== migrate: JSON -> SQLite vs JSON -> PostgreSQL ($RUNS runs each, alternating)"
  echo "| run | JSON -> SQLite | JSON -> PostgreSQL | ratio |" >>"$OUT"
  echo "|---|---|---|---|" >>"$OUT"
  for run in $(seq "$RUNS"); do
    rm -rf "$DATA/courses.db"* "$DATA/backups"
    cat "$DATA/courses.json" >/dev/null
    s=$(timed "$DATA/logs/migrate-sqlite.log" "$JSONLIFT" migrate -q -c "$CFG")
    drop_schema $SCHEMA
    rm -rf "$DATA/backups"
    p=$(timed "$DATA/logs/migrate-pg.log" "$JSONLIFT" migrate -q -c "$CFG" --database "$PG")
    ratio=$(python3 -c "print(f'{${p%% s*}/${s%% s*}:.2f}x')")
    say "run $run: sqlite $s; postgres $p; ratio $ratio"
    echo "| $run | $s | $p | $ratio |" >>"$OUT"
  done
  rows=$(psql_q "SELECT (SELECT count(*) FROM $SCHEMA.courses)+(SELECT count(*) FROM $SCHEMA.modules)+(SELECT count(*) FROM $SCHEMA.lessons)")
  say "rows in PostgreSQL: $rows"
  echo >>"$OUT"
fi

if wants copy; then
  [ -f "$DATA/courses.db" ] || { rm -rf "$DATA/backups"; "$JSONLIFT" migrate -q -c "$CFG"; }
  command -v pgloader >/dev/null || { echo "pgloader not found: apt-get install pgloader" >&2; exit 2; }
  base=${PG%/*}
  say "== copy: $(du -m "$DATA/courses.db" | cut -f1) MB SQLite database into PostgreSQL ($RUNS runs each)"
  echo "| run | jsonlift copy (verified) | pgloader $(pgloader --version | head -1 | awk '{print $3}') | pgloader / jsonlift |" >>"$OUT"
  echo "|---|---|---|---|" >>"$OUT"
  for run in $(seq "$RUNS"); do
    drop_schema jsonlift_copy
    j=$(timed "$DATA/logs/copy.log" "$JSONLIFT" copy -q -c "$CFG" --to "$PG" --to-schema jsonlift_copy)
    psql_q "DROP DATABASE IF EXISTS jsonlift_pgloader" >/dev/null
    psql_q "CREATE DATABASE jsonlift_pgloader" >/dev/null
    g=$(timed "$DATA/logs/pgloader.log" pgloader --quiet "sqlite://$DATA/courses.db" "$base/jsonlift_pgloader")
    ratio=$(python3 -c "print(f'{${g%% s*}/${j%% s*}:.2f}x')")
    say "run $run: jsonlift copy $j; pgloader $g; jsonlift is $ratio faster"
    echo "| $run | $j | $g | $ratio |" >>"$OUT"
  done
  psql_q "DROP DATABASE IF EXISTS jsonlift_pgloader" >/dev/null
  drop_schema jsonlift_copy
  echo >>"$OUT"
fi

if wants serve; then
  command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }
  S=$DATA/serve
  rm -rf "$S"; mkdir -p "$S"
  python3 "$BENCH/serve/gen_db.py" "${POSTS:-10000}" "$S/db.json"
  cp "$BENCH/serve/jsonlift.toml" "$S/"
  "$JSONLIFT" migrate -q -c "$S/jsonlift.toml"
  drop_schema jsonlift_serve
  sed "s|^database = .*|database = \"$PG\"\npg_schema = \"jsonlift_serve\"|" "$BENCH/serve/jsonlift.toml" >"$S/pg.toml"
  "$JSONLIFT" migrate -q -c "$S/pg.toml"
  "$JSONLIFT" serve -q -c "$S/jsonlift.toml" --listen 127.0.0.1:4801 >"$S/sqlite.log" 2>&1 &
  p1=$!
  "$JSONLIFT" serve -q -c "$S/pg.toml" --listen 127.0.0.1:4802 >"$S/pg.log" 2>&1 &
  p2=$!
  trap 'kill $p1 $p2 2>/dev/null' EXIT
  sleep 1
  cat >"$S/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"postId": 1, "body": "from wrk"}'
wrk.headers["Content-Type"] = "application/json"
LUA
  say "== serve: SQLite (4801) vs PostgreSQL (4802), ${DURATION}s per case"
  echo "| request | conns | SQLite req/s | PostgreSQL req/s | SQLite p50 | PostgreSQL p50 |" >>"$OUT"
  echo "|---|---|---|---|---|---|" >>"$OUT"
  for case in "GET by id|/api/posts/5000|" "filtered list|/api/posts?published=true&_sort=views&_limit=20|" "POST|/api/comments|$S/post.lua"; do
    IFS='|' read -r name path script <<<"$case"
    for c in $CONNS; do
      row="| $name | $c"
      res=()
      for port in 4801 4802; do
        args=(-t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${DURATION}s" --latency)
        [ -n "$script" ] && args+=(-s "$script")
        out=$(wrk "${args[@]}" "http://127.0.0.1:$port$path")
        rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
        p50=$(awk '$1=="50%"{print $2}' <<<"$out")
        res+=("$rps" "$p50")
      done
      say "$name, $c conns: sqlite ${res[0]} req/s (p50 ${res[1]}); postgres ${res[2]} req/s (p50 ${res[3]})"
      echo "$row | ${res[0]} | ${res[2]} | ${res[1]} | ${res[3]} |" >>"$OUT"
    done
  done
  kill $p1 $p2 2>/dev/null || true
  drop_schema jsonlift_serve
  echo >>"$OUT"
fi
drop_schema $SCHEMA
echo "results: $OUT" >&2
