#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60), corpus seeded from tests/corpus,
# and prints the executions per target. Only a stable toolchain is needed: cargo-fuzz wants
# nightly flags, which RUSTC_BOOTSTRAP=1 allows on stable.
#
#   cargo install cargo-fuzz            # once
#   fuzz/run.sh                         # ~60 s per target (13 targets: ~13 min plus the build)
#   SECONDS_PER_TARGET=1800 fuzz/run.sh # the long run
#   TARGETS="json_parse read_array" fuzz/run.sh
#
# Works on a fresh clone: the corpus folders are made and seeded here, cargo-fuzz makes
# artifacts/ and target/. CI (.ci/run) runs it with SECONDS_PER_TARGET=45.
#
# A crash stops that target and leaves the input in fuzz/artifacts/<target>/; the script then
# exits 1 after the others ran. Replay one with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a
# <target> <file>` (from fuzz/).
set -uo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
SECS="${SECONDS_PER_TARGET:-60}"
ALL="json_parse json_scan read_array read_object read_tinydb read_document read_dbjson read_jsonl read_folder read_prompty config query clock"
TARGETS="${TARGETS:-$ALL}"
# No sanitizer: the code under test is safe Rust (the bundled SQLite is not reached by any
# target); debug assertions on, so integer overflow is caught too.
FLAGS=(-s none -a)

cargo fuzz build "${FLAGS[@]}" || exit 1

# Seeds: the hostile corpus and the examples, by the kind of file each target reads.
seed() {
  # `t` is the caller's loop variable: the seeds' loop below must not overwrite it.
  local target=$1 dir=corpus/$1 t
  mkdir -p "$dir"
  if [ "$target" = query ]; then
    # The query strings of the json-server parity table (what follows the `?`).
    grep -o '"/[^"]*?[^"]*"' ../tests/cli/jsonserver_common.rs | sed 's/^"[^?]*?//; s/"$//' |
      while read -r q; do printf '%s' "$q" >"$dir/seed-$(printf '%s' "$q" | sha256sum | cut -c1-16)"; done
    return
  fi
  if [ "$target" = clock ]; then
    # Times as users write them, and the review's findings (issue #18).
    for t in 2026-11-21T10:15:02.123456Z 2026-11-21T11:15:02.5+01:00 '2026-11-21 10:15:02z' \
      2026-02-31T00:00:00Z '2026-11-21T10:15:02+0é00' 1969-12-31T23:59:59.999999-23:59; do
      printf '%s' "$t" >"$dir/seed-$(printf '%s' "$t" | sha256sum | cut -c1-16)"
    done
    return
  fi
  local pattern
  case $target in
    read_jsonl) pattern='*.jsonl' ;;
    read_prompty) pattern='*.prompty' ;;
    config) pattern='*.toml' ;;
    *) pattern='*.json' ;;
  esac
  find ../tests/corpus ../tests/infer ../examples -type f -name "$pattern" -size -64k 2>/dev/null |
    while read -r f; do cp "$f" "$dir/seed-$(sha256sum "$f" | cut -c1-16)"; done
}

failed=()
for t in $TARGETS; do
  seed "$t"
  log=$(mktemp)
  cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=65536 \
    -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "$t: ${execs:-?} executions in ${SECS}s, corpus $(ls "corpus/$t" | wc -l) inputs, exit $rc"
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY' "$log" | head -5
    # libFuzzer names the input it saved: print it relative to the repository root.
    sed -n 's|.*Test unit written to \./|reproducer: fuzz/|p' "$log"
  fi
  rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (reproducers above, in fuzz/artifacts/<target>/)"
  exit 1
fi
