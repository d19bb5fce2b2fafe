#!/usr/bin/env bash
# `jsonlift serve` against json-server 0.17.4 (and Datasette for the reads), same db.json, same
# run, measured with wrk: GET by id, GET list with a filter and a page, POST.
#
#   bench/serve.sh
#
# Environment:
#   POSTS=N          posts in the db.json (default 10000; 3 comments each)
#   DURATION=S       seconds per measurement (default 10)
#   CONNS="1 16 64"  connection counts
#   SERVERS="json-server jsonlift datasette"
#   JSONLIFT=path    use this binary instead of building target/release/jsonlift
#   CASES="…"        cases to run (default: get-id list-filter-page list-indexed post;
#                    list-sorted is /posts?published=true&_sort=views&_limit=20, issue #18;
#                    list-uncached the same with id_ne=<a new random id> per request, so no
#                    count kept from an earlier request answers it;
#                    search is /posts?q=schema&_page=1&_limit=10, search-rare a term in one post,
#                    page-first and page-middle the first page of 20 and the one in the middle
#                    of all posts; issues #18, #15)
#   COMMENTS=N       comments per post (default 3; 0 for a database of posts alone)
#
# Each case runs the servers one after the other at each connection count (all started once,
# idle while another is measured). POST adds comments without an id; after each POST run the
# script counts the comments (X-Total-Count) and reports lost writes = 2xx answers - new records.
# Data, servers' files, logs and results-serve.md live in bench/data/ (git-ignored); json-server
# is installed there with npm, Datasette into bench/.venv with pip.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
DATA=$BENCH/data/serve
POSTS=${POSTS:-10000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-1 16 64}
CASES=${CASES:-get-id list-filter-page list-indexed post}
SERVERS=${SERVERS:-json-server jsonlift datasette}
mkdir -p "$DATA/logs"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }

if [ -z "${JSONLIFT:-}" ]; then
  (cd "$ROOT" && cargo build --release -q)
  JSONLIFT=$ROOT/target/release/jsonlift
fi
JS_BIN=$DATA/json-server-0.17.4/node_modules/json-server/lib/cli/bin.js
if [ ! -f "$JS_BIN" ]; then
  npm install --no-save --no-audit --no-fund --prefix "$DATA/json-server-0.17.4" json-server@0.17.4 >/dev/null
fi
if [[ " $SERVERS " == *" datasette "* ]] && [ ! -x "$BENCH/.venv/bin/datasette" ]; then
  python3 -m venv "$BENCH/.venv"
  "$BENCH/.venv/bin/pip" install -q datasette
fi

# One db.json, copied for each server (json-server rewrites its copy on every write). The
# generator is seeded, so each size is made once and kept (1,000,000 posts take minutes to
# write on a loaded machine).
MADE=$DATA/db-$POSTS-${COMMENTS:-3}.json
if [ ! -f "$MADE" ]; then
  python3 "$BENCH/serve/gen_db.py" "$POSTS" "$MADE.part" "${COMMENTS:-3}"
  mv "$MADE.part" "$MADE"
fi
cp "$MADE" "$DATA/db.json"
rm -rf "$DATA/js" "$DATA/jl"
mkdir -p "$DATA/js" "$DATA/jl"
cp "$DATA/db.json" "$DATA/js/db.json"
cp "$DATA/db.json" "$BENCH/serve/jsonlift.toml" "$DATA/jl/"
"$JSONLIFT" migrate -q -c "$DATA/jl/jsonlift.toml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "server on :$1 did not start" >&2; exit 1; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

declare -A PORT
PORT[json-server]=$(free_port)
(cd "$DATA/js" && exec node "$JS_BIN" db.json --port "${PORT[json-server]}" --host 127.0.0.1 --quiet) \
  >"$DATA/logs/json-server.log" 2>&1 &
PIDS+=($!)
PORT[jsonlift]=$(free_port)
"$JSONLIFT" serve -q -c "$DATA/jl/jsonlift.toml" --prefix / --listen "127.0.0.1:${PORT[jsonlift]}" \
  >"$DATA/logs/jsonlift.log" 2>&1 &
PIDS+=($!)
if [[ " $SERVERS " == *" datasette "* ]]; then
  PORT[datasette]=$(free_port)
  "$BENCH/.venv/bin/datasette" serve -i "$DATA/jl/serve.db" --port "${PORT[datasette]}" \
    >"$DATA/logs/datasette.log" 2>&1 &
  PIDS+=($!)
fi
for s in $SERVERS; do wait_port "${PORT[$s]}"; done

# The URL of each case on each server (Datasette: its own spelling of the same read; it has no
# page 2 without a cursor, so it gets page 1).
url() {
  local server=$1 case=$2
  case "$server:$case" in
    datasette:get-id) echo "/serve/posts/ID.json" ;;
    datasette:list-filter-page) echo "/serve/posts.json?author_name=ana&published=1&_size=10&_shape=array" ;;
    datasette:list-indexed) echo "/serve/comments.json?postId=4711&_size=10&_shape=array" ;;
    datasette:list-sorted) echo "/serve/posts.json?published=1&_sort=views&_size=20&_shape=array" ;;
    *:get-id) echo "/posts/ID" ;;
    *:list-filter-page) echo "/posts?author.name=ana&published=true&_page=2&_limit=10" ;;
    *:list-indexed) echo "/comments?postId=4711&_page=1&_limit=10" ;;
    *:list-sorted) echo "/posts?published=true&_sort=views&_limit=20" ;;
    *:list-uncached) echo "/posts?published=true&id_ne=ID&_sort=views&_limit=20" ;;
    *:post) echo "/comments" ;;
    *:search) echo "/posts?q=schema&_page=1&_limit=10" ;;
    *:search-rare) echo "/posts?q=rare-$((POSTS / 2))-word" ;;
    *:page-first) echo "/posts?_page=1&_limit=20" ;;
    *:page-middle) echo "/posts?_page=$((POSTS / 40))&_limit=20" ;;
  esac
}

# A wrk script: GET by a random id, or POST a comment without an id.
cat >"$DATA/get-id.lua" <<EOF
math.randomseed(7)
request = function()
  local path = string.gsub(wrk.path, "ID", tostring(math.random(1, $POSTS)))
  return wrk.format("GET", path)
end
EOF
# list-uncached: list-sorted with `id_ne=` a random id past the last, so that every request's
# filter is new to the server (no kept count serves it) and the answer is list-sorted's.
cat >"$DATA/uncached.lua" <<EOF
math.randomseed(11)
request = function()
  local path = string.gsub(wrk.path, "ID", tostring(math.random($POSTS + 1, 2000000000)))
  return wrk.format("GET", path)
end
EOF
cat >"$DATA/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"postId": 1, "body": "posted by wrk"}'
wrk.headers["Content-Type"] = "application/json"
EOF

count_comments() {
  local port=$1
  curl -s -D - -o /dev/null "http://127.0.0.1:$port/comments?_limit=1" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-total-count"{print $2}'
}

RESULTS=$DATA/results-serve.md
{
  echo "| case | server | conns | req/s | p99 | errors | lost writes |"
  echo "|---|---|---:|---:|---:|---:|---:|"
} >"$RESULTS"

run_case() {
  local case=$1 server=$2 conns=$3
  local port=${PORT[$server]} path script=() threads
  path=$(url "$server" "$case")
  [ "$case" = get-id ] && script=(-s "$DATA/get-id.lua")
  [ "$case" = list-uncached ] && script=(-s "$DATA/uncached.lua")
  [ "$case" = post ] && script=(-s "$DATA/post.lua")
  threads=$((conns < 2 ? conns : 2))
  local before=""
  [ "$case" = post ] && before=$(count_comments "$port")
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency --timeout 30s "${script[@]}" \
    "http://127.0.0.1:$port$path" 2>&1)
  echo "$out" >"$DATA/logs/wrk-$case-$server-$conns.txt"
  local rps p99 reqs non2xx sock lost="-"
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/{print $5}')
  sock=$(echo "$out" | awk '/Socket errors/{s=0; for(i=3;i<=NF;i++){gsub(",","",$i); if($i~/^[0-9]+$/) s+=$i}; print s}')
  local errors=$(( ${non2xx:-0} + ${sock:-0} ))
  if [ "$case" = post ]; then
    local after
    after=$(count_comments "$port")
    # Requests still in flight when wrk stops are committed without their answer being
    # counted: up to one per connection more records than answers is not a lost write.
    lost=$(( (reqs - ${non2xx:-0}) - (after - before) ))
    [ "$lost" -lt 0 ] && [ "$lost" -ge "-$conns" ] && lost=0
  fi
  echo "| $case | $server | $conns | $rps | $p99 | $errors | $lost |" | tee -a "$RESULTS"
}

for case in ${CASES:-get-id list-filter-page list-indexed post}; do
  for conns in $CONNS; do
    for server in $SERVERS; do
      [ "$server" = datasette ] && [[ "$case" =~ ^(post|search|search-rare|page-first|page-middle)$ ]] && continue
      run_case "$case" "$server" "$conns"
    done
  done
done

echo
echo "db.json: $POSTS posts, $((${COMMENTS:-3} * POSTS)) comments ($(du -h "$DATA/db.json" | cut -f1)); ${DURATION}s per cell; results in $RESULTS"
