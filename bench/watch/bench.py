"""Driver of bench/watch.sh (see there): initial sync, edit-to-visible lag, idle CPU."""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

BIN, DATA = sys.argv[1], sys.argv[2]
FILES = int(os.environ.get("FILES", "10000"))
EDITS = int(os.environ.get("EDITS", "1000"))
DEBOUNCE = int(os.environ.get("DEBOUNCE_MS", "500"))
IDLE = int(os.environ.get("IDLE_SECS", "30"))
# PG_URL=postgres://…: the database in schema bench_watch there (dropped first) instead of
# SQLite's watch.db.
PG_URL = os.environ.get("PG_URL")
DATABASE = (f'database = "{PG_URL}"\npg_schema = "bench_watch"' if PG_URL
            else 'database = "watch.db"')

TOML = f"""{DATABASE}

[sync]
debounce_ms = {DEBOUNCE}

[collections.personas]
source = "personas"
format = "folder"
pattern = "*.json"
key = "id"
key_column = "file_path"

[collections.personas.fields]
id = {{ type = "text", required = true }}
name = {{ type = "text", required = true }}
age = "integer"
tags = {{ type = "array", of = "text" }}
"""


def persona(i, name):
    return json.dumps(
        {"id": f"p{i:05d}", "name": name, "age": 20 + i % 50, "tags": ["a", "b"],
         "bio": "x" * 200},
        indent=2, ensure_ascii=False) + "\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def jl(*args, **kw):
    return subprocess.run([BIN, *args, "-c", os.path.join(DATA, "jsonlift.toml")], check=True,
                          capture_output=True, text=True, **kw)


def first_line(args):
    """Starts `jsonlift ARGS`, returns (process, first stdout line, seconds to it)."""
    t = time.monotonic()
    p = subprocess.Popen([BIN, *args, "-c", os.path.join(DATA, "jsonlift.toml")],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    return p, line, time.monotonic() - t


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


shutil.rmtree(DATA, ignore_errors=True)
folder = os.path.join(DATA, "personas")
os.makedirs(folder)
write(os.path.join(DATA, "jsonlift.toml"), TOML)
write(os.path.join(folder, "p00000.json"), persona(0, "seed"))
if PG_URL:
    subprocess.run(["psql", "-q", PG_URL, "-c", "DROP SCHEMA IF EXISTS bench_watch CASCADE"],
                   check=True, capture_output=True)
jl("migrate", "-q")

rows = []
load_start = os.getloadavg()
# Initial sync: FILES new files since the migration.
for i in range(1, FILES):
    write(os.path.join(folder, f"p{i:05d}.json"), persona(i, f"Person {i}"))
p, line, took = first_line(["watch"])
stop(p)
rows.append((f"initial sync, {FILES - 1} files added since the migration", f"{took:.2f} s", line))
# Initial sync again: nothing changed (the ledger's fingerprint matches).
p, line, took = first_line(["watch"])
stop(p)
rows.append((f"initial sync, {FILES} files unchanged", f"{took:.2f} s", line))

# Lag: file write -> visible through the API.
srv = subprocess.Popen([BIN, "serve", "--watch", "--listen", "127.0.0.1:0", "-c",
                        os.path.join(DATA, "jsonlift.toml")],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
origin = srv.stdout.readline().strip().split("http://")[1].split("/")[0]


def name_of(i):
    with urllib.request.urlopen(f"http://{origin}/api/personas/p{i:05d}") as r:
        return json.load(r)["name"]


lags = []
for n in range(EDITS):
    i = (n * 7919) % FILES
    want = f"edit {n}"
    t = time.monotonic()
    write(os.path.join(folder, f"p{i:05d}.json"), persona(i, want))
    while name_of(i) != want:
        time.sleep(0.002)
    lags.append(time.monotonic() - t)
lags.sort()
p50 = statistics.median(lags) * 1000
p99 = lags[int(len(lags) * 0.99) - 1] * 1000
rows.append((f"file write -> visible through the API, {EDITS} edits, debounce {DEBOUNCE} ms",
             f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lags[-1] * 1000:.0f} ms",
             f"target p50 <= {DEBOUNCE + 100} ms"))

# Idle CPU, once the ledger has recorded the folder (2 s after the last change), over two
# windows one after the other: the first may still hold the ledger's hash of the folder on a
# loaded machine, the second is the steady state.
time.sleep(5)
c0, t0 = cpu_seconds(srv.pid), time.monotonic()
time.sleep(IDLE)
c1, t1 = cpu_seconds(srv.pid), time.monotonic()
rows.append((f"CPU while idle, {FILES} files watched, {IDLE} s from 5 s after the last edit",
             f"{(c1 - c0) / (t1 - t0) * 100:.2f} % of one core", f"{c1 - c0:.2f} s CPU"))
time.sleep(IDLE)
c2, t2 = cpu_seconds(srv.pid), time.monotonic()
rows.append((f"CPU while idle, the next {IDLE} s",
             f"{(c2 - c1) / (t2 - t1) * 100:.2f} % of one core", f"{c2 - c1:.2f} s CPU"))
stop(srv)

load_end = os.getloadavg()
rows.append(("machine load average (1, 5, 15 min) at start / end",
             " / ".join(", ".join(f"{x:.1f}" for x in l) for l in (load_start, load_end)),
             f"{os.cpu_count()} cores; other builds may share the machine"))

print("| measure | result | notes |")
print("|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} |")
