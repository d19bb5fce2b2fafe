#!/usr/bin/env bash
# jsonlift benchmark: migrate vs. parse-only vs. sqlite-utils, same machine, same run.
#
#   bench/run.sh                 # all three datasets
#   bench/run.sh flat            # 1 000 000 flat records of 9 fields (~220 MB)
#   bench/run.sh small           # 1 000 000 flat records of 5 fields (~95 MB, the issue's size)
#   bench/run.sh nested          # >= 1 GiB of courses -> modules -> lessons
#   bench/run.sh init            # events and courses, on the project files `jsonlift init` writes
#   bench/run.sh events          # 1 000 000 flat events (~147 MB), project file by `jsonlift init`
#   bench/run.sh courses         # seed 000's courses at 10 000 courses (~114 MB), ditto
#
# Environment:
#   JSONLIFT=path     use this binary instead of building target/release/jsonlift
#   TOOLS="parse migrate sqlite-utils"   which runs to do (default: all three)
#   FLAT_RECORDS=N    flat and small dataset size (default 1000000)
#   EVENTS=N          events dataset size (default 1000000)
#   COURSES=N         courses dataset size (default 10000)
#   NESTED_SIZE=S     nested dataset size (default 1G; K/M/G are powers of 1024)
#   KEEP_DB=1         keep the databases after the last run (default: delete them)
#
# events and courses live in bench/data/init/DATASET/, where `jsonlift init --force` writes
# their jsonlift.toml (indexes, UNIQUE and CHECK constraints as inferred) before each run.
# Data, databases, logs and results-*.md live in bench/data/ (git-ignored); sqlite-utils is
# installed into bench/.venv (git-ignored). Each run is timed by /usr/bin/time (wall seconds,
# peak RSS); the source file is read once beforehand so every tool starts with a warm cache.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
DATA=$BENCH/data
LOGS=$DATA/logs
TOOLS=${TOOLS:-parse migrate sqlite-utils}
FLAT_RECORDS=${FLAT_RECORDS:-1000000}
NESTED_SIZE=${NESTED_SIZE:-1G}
EVENTS=${EVENTS:-1000000}
COURSES=${COURSES:-10000}
PYTHON=${PYTHON:-python3}

datasets=()
for ds in "$@"; do
  case $ds in
    flat | small | nested | events | courses) datasets+=("$ds") ;;
    init) datasets+=(events courses) ;;
    *) echo "usage: $0 [flat] [small] [nested] [events] [courses] [init]" >&2; exit 2 ;;
  esac
done
[ ${#datasets[@]} -gt 0 ] || datasets=(flat small nested)
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }
mkdir -p "$DATA" "$LOGS"

wants() { [[ " $TOOLS " == *" $1 "* ]]; }

# --- the binary ----------------------------------------------------------------------------
if wants parse || wants migrate; then
  if [ -z "${JSONLIFT:-}" ]; then
    echo "== cargo build --release" >&2
    (cd "$ROOT" && cargo build --release --quiet)
    JSONLIFT=$ROOT/target/release/jsonlift
  fi
  [ -x "$JSONLIFT" ] || { echo "no jsonlift binary at $JSONLIFT" >&2; exit 1; }
fi

# --- sqlite-utils --------------------------------------------------------------------------
SQLITE_UTILS=$BENCH/.venv/bin/sqlite-utils
if wants sqlite-utils && [ ! -x "$SQLITE_UTILS" ]; then
  echo "== installing sqlite-utils into bench/.venv" >&2
  "$PYTHON" -m venv "$BENCH/.venv"
  "$BENCH/.venv/bin/pip" install --quiet --disable-pip-version-check sqlite-utils
fi

# --- data ----------------------------------------------------------------------------------
# The source file of a dataset: events and courses each have a folder, for `jsonlift init`.
source_of() {
  case $1 in events | courses) echo "$DATA/init/$1/$1.json" ;; *) echo "$DATA/$1.json" ;; esac
}

# Generated when missing, or when the file on disk was made with other size arguments.
ensure_data() {
  local ds=$1 file want
  file=$(source_of "$ds")
  case $ds in
    nested) want="{\"size\": \"$NESTED_SIZE\"}" ;;
    events) want="{\"records\": $EVENTS}" ;;
    courses) want="{\"records\": $COURSES}" ;;
    *) want="{\"records\": $FLAT_RECORDS}" ;;
  esac
  if [ -f "$file" ] && [ -f "$file.meta.json" ] &&
    "$PYTHON" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["args"] != json.loads(sys.argv[2]))' \
      "$file.meta.json" "$want"; then
    return
  fi
  echo "== generating $file" >&2
  case $ds in
    nested) "$PYTHON" "$BENCH/gen.py" nested --size "$NESTED_SIZE" --out "$file" ;;
    events) "$PYTHON" "$BENCH/gen.py" events --records "$EVENTS" --out "$file" ;;
    courses) "$PYTHON" "$BENCH/gen.py" lernpfad --records "$COURSES" --out "$file" ;;
    *) "$PYTHON" "$BENCH/gen.py" "$ds" --records "$FLAT_RECORDS" --out "$file" ;;
  esac
}

# The project file of a dataset: checked in for flat, small and nested; written by
# `jsonlift init` for events and courses (every run, so it is what this build infers).
project_of() {
  local ds=$1 dir
  case $ds in
    events | courses)
      dir=$DATA/init/$ds
      "$JSONLIFT" -q init --force --exclude '*.meta.json' --exclude 'backups' "$dir" >&2
      echo "$dir/jsonlift.toml"
      ;;
    *) echo "$BENCH/$ds/jsonlift.toml" ;;
  esac
}

# The database a project file names, as a path (resolved against the project file's folder).
database_of() {
  "$PYTHON" - "$1" <<'PY'
import os, sys, tomllib
cfg = sys.argv[1]
db = tomllib.load(open(cfg, "rb"))["database"]
print(os.path.normpath(os.path.join(os.path.dirname(cfg), db)))
PY
}

clean_db() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }

name=$(IFS=-; echo "${datasets[*]}")
DATASETS="${datasets[*]}"
RESULTS=$DATA/results-$name.tsv
: >"$RESULTS"

# run LABEL DATASET CMD...: times one command, appends "label dataset seconds rss_kb status".
run() {
  local label=$1 ds=$2; shift 2
  local log=$LOGS/$ds-${label// /_}.log tf status=ok
  tf=$(mktemp)
  echo "== $ds: $label: $*" >&2
  if ! /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$log" 2>&1; then
    status="failed: $(head -n 1 "$tf")"
    echo "   FAILED, see $log:" >&2
    tail -n 5 "$log" | sed 's/^/   | /' >&2
  fi
  read -r secs rss < <(tail -n 1 "$tf")
  rm -f "$tf"
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$ds" "$secs" "$rss" "$status" >>"$RESULTS"
}

for ds in "${datasets[@]}"; do
  ensure_data "$ds"
  src=$(source_of "$ds")
  case $ds in nested | courses) table=courses ;; events) table=events ;; *) table=users ;; esac
  if wants parse || wants migrate; then
    cfg=$(project_of "$ds")
    db=$(database_of "$cfg")
    backups=$(dirname "$cfg")/backups
    [ "$ds" = events ] || [ "$ds" = courses ] || backups=$DATA/backups/$ds
    cp "$cfg" "$LOGS/$ds-jsonlift.toml" # the project file measured, kept with the logs
  fi
  cat "$src" >/dev/null # warm the page cache for every tool alike

  if wants parse; then
    run "jsonlift check --syntax-only" "$ds" "$JSONLIFT" check --syntax-only -c "$cfg"
  fi
  if wants migrate; then
    clean_db "$db"; rm -rf "$backups"
    run "jsonlift migrate" "$ds" "$JSONLIFT" migrate -c "$cfg"
    [ -n "${KEEP_DB:-}" ] || { clean_db "$db"; rm -rf "$backups"; }
  fi
  if wants sqlite-utils; then
    clean_db "$DATA/$ds.sqlite-utils.db"
    run "sqlite-utils insert" "$ds" "$SQLITE_UTILS" insert "$DATA/$ds.sqlite-utils.db" "$table" "$src" --pk id
    [ -n "${KEEP_DB:-}" ] || clean_db "$DATA/$ds.sqlite-utils.db"
  fi
done

# --- report --------------------------------------------------------------------------------
"$PYTHON" - "$RESULTS" "$DATA" "${JSONLIFT:-}" <<'EOF' | tee "$DATA/results-$name.md"
import json, os, platform, subprocess, sys
results, data, binary = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
meta = {}
for ds in sorted({r[1] for r in rows}):
    base = os.path.join(data, "init", ds, ds) if ds in ("events", "courses") else os.path.join(data, ds)
    meta[ds] = json.load(open(base + ".json.meta.json"))

def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"

rev = subprocess.run(["git", "-C", os.path.dirname(data), "rev-parse", "--short", "HEAD"],
                     capture_output=True, text=True).stdout.strip() or "?"
print(f"## jsonlift benchmark\n")
print(f"{cpu()}, {os.cpu_count()} cores; jsonlift {rev}" + (f" ({binary})" if binary else ""))
try:
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"load average at the end of the run: {load}")
except OSError:
    pass
for ds, m in meta.items():
    extra = f", {m['modules']:,} modules, {m['lessons']:,} lessons" if "lessons" in m else ""
    print(f"- {ds}.json: {m['bytes'] / 1e6:,.1f} MB, {m['records']:,} records{extra}")
print()
print("| tool | dataset | seconds | MB/s | records/s | peak RSS MB | × jsonlift migrate |")
print("|---|---|---:|---:|---:|---:|---:|")
base = {r[1]: float(r[2]) for r in rows if r[0] == "jsonlift migrate" and r[4] == "ok"}
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
for label, ds, secs, rss, status in rows:
    m, s = meta[ds], num(secs)
    if status != "ok" or s is None:
        print(f"| {label} | {ds} | {status} | | | {int(rss) / 1024:.0f} | |")
        continue
    ratio = f"{s / base[ds]:.2f}" if ds in base and base[ds] > 0 else ""
    s = max(s, 0.01)  # /usr/bin/time has 10 ms resolution
    print(f"| {label} | {ds} | {s:.2f} | {m['bytes'] / 1e6 / s:,.1f} | {m['records'] / s:,.0f} "
          f"| {int(rss) / 1024:.0f} | {ratio} |")

print("\nMB = 10^6 bytes of source JSON; records = top-level records; peak RSS from /usr/bin/time %M.")
checks = []
get = {(r[0], r[1]): r for r in rows if r[4] == "ok"}
for ds, factor in (("flat", 10), ("small", 10), ("nested", 3), ("events", 10), ("courses", 3)):
    mig, su = get.get(("jsonlift migrate", ds)), get.get(("sqlite-utils insert", ds))
    if mig and su:
        x = float(su[2]) / max(float(mig[2]), 0.01)
        checks.append((f"{ds}: jsonlift ≥ {factor}× faster than sqlite-utils", x >= factor, f"{x:.1f}×"))
for ds in meta:
    mig, parse = get.get(("jsonlift migrate", ds)), get.get(("jsonlift check --syntax-only", ds))
    if mig and parse:
        x = float(mig[2]) / max(float(parse[2]), 0.01)
        checks.append((f"{ds}: migrate ≤ 3× parse-only", x <= 3, f"{x:.2f}×"))
    if mig and mig[3].isdigit():
        mb = int(mig[3]) / 1024
        checks.append((f"{ds}: migrate peak RSS ≤ 100 MB", mb <= 100, f"{mb:.0f} MB"))
if checks:
    print("\n| target | result | |\n|---|---|---|")
    for what, ok, val in checks:
        print(f"| {what} | {val} | {'PASS' if ok else 'FAIL'} |")
EOF
