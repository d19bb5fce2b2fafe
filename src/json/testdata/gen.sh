#!/bin/sh
# Regenerates the style samples used by write.rs tests: the same data as written by
# JavaScript's JSON.stringify and Python's json.dumps in their common configurations.
set -e
cd "$(dirname "$0")"
node -e '
const fs = require("fs");
const x = JSON.parse(fs.readFileSync("sample_in.json", "utf8"));
fs.writeFileSync("node_indent2.json", JSON.stringify(x, null, 2));
fs.writeFileSync("node_indent2_nl.json", JSON.stringify(x, null, 2) + "\n");
fs.writeFileSync("node_indent4.json", JSON.stringify(x, null, 4));
fs.writeFileSync("node_tab.json", JSON.stringify(x, null, "\t") + "\n");
fs.writeFileSync("node_compact.json", JSON.stringify(x));
fs.writeFileSync("node_array.json", JSON.stringify([x, {}, [], x.nested], null, 2));
'
python3 -c '
import json
x = json.load(open("sample_in.json", encoding="utf-8"))
x["py_numbers"] = [1.0, 1e21, -0.0, 12345678901234567890, 0.1, 1e-07, -1.5e300]
def w(name, **kw):
    with open(name, "w", encoding="utf-8", newline="") as f:
        f.write(json.dumps(x, **kw))
w("py_default.json")
w("py_default_utf8.json", ensure_ascii=False)
w("py_indent2.json", indent=2)
w("py_indent4_utf8.json", indent=4, ensure_ascii=False)
w("py_indent0.json", indent=0)
w("py_compact.json", separators=(",", ":"), ensure_ascii=False)
with open("tinydb.json", "w", encoding="utf-8", newline="") as f:
    f.write(json.dumps({"_default": {"1": {"name": "Zoë", "tags": []}, "2": {"name": "Ann"}}, "users": {}}))
'
