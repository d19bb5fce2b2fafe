#!/usr/bin/env bash
# The long run of the migrate crash harness (tests/cli/crash.rs): SIGKILL `jsonlift migrate` at
# KILLS random moments per scenario (fresh and --reimport) on a dataset of COURSES courses, and
# check the database, the sources and a re-run after each kill. Prints the figures that go in
# RELIABILITY.md. CI runs the same tests with 5 kills each on 150 courses.
#
#   reliability/crash-migrate.sh                 # 60 + 60 kills, 2000 courses (~5 MB), debug build
#   KILLS=200 COURSES=20000 RELEASE=1 reliability/crash-migrate.sh
#   SEED=1234 reliability/crash-migrate.sh       # replay a run (the seed is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

export JSONLIFT_CRASH_KILLS="${KILLS:-60}"
export JSONLIFT_CRASH_COURSES="${COURSES:-2000}"
[ -n "${SEED:-}" ] && export JSONLIFT_CRASH_SEED="$SEED"
if [ -n "${RELEASE:-}" ]; then
  cargo build --release --bin jsonlift
  export JSONLIFT_CRASH_BIN="$PWD/target/release/jsonlift"
fi
time cargo test --test cli crash:: -- --nocapture --test-threads=1
