#!/bin/sh
# Regenerates the source round-trip samples: files as json-server / JavaScript and Python /
# TinyDB write them. Small on purpose.
set -e
cd "$(dirname "$0")"
node -e '
const fs = require("fs");
const posts = [
  { id: 1, title: "Hello — world", tags: ["a", "b"], meta: {}, views: 1.5e3, draft: false },
  { id: "2", title: "Ünïcödé 😀", tags: [], author: { name: "Zoë", links: [[]] }, score: -0.25 },
  { id: 3, title: "escapes \" \\ \n \t \u0001", body: null },
];
const db = {
  posts,
  comments: [{ id: 1, body: "nice", postId: 1 }, { id: 2, body: "ok", postId: "2" }],
  profile: { name: "typicode", settings: { theme: "dark" } },
  version: 3,
};
fs.writeFileSync("array_node.json", JSON.stringify(posts, null, 2));
fs.writeFileSync("array_node_compact_nl.json", JSON.stringify(posts) + "\n");
fs.writeFileSync("object_node.json", JSON.stringify({ u1: posts[0], "2": posts[1], "odd key": posts[2] }, null, 2) + "\n");
fs.writeFileSync("document_node.json", JSON.stringify(db.profile, null, "\t"));
fs.writeFileSync("db_node.json", JSON.stringify(db, null, 2));
fs.writeFileSync("jsonl_node.jsonl", posts.map(p => JSON.stringify(p)).join("\n") + "\n");
'
python3 -c '
import json
posts = json.load(open("array_node.json", encoding="utf-8"))
def w(name, text, bom=False):
    with open(name, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        f.write(text)
w("array_py_indent4_bom.json", json.dumps(posts, indent=4, ensure_ascii=False) + "\n", bom=True)
w("document_py.json", json.dumps({"visits": 12, "ratio": 0.1, "big": 12345678901234567890, "city": "Zürich"}))
w("jsonl_py.jsonl", "".join(json.dumps(p) + "\n" for p in posts))
tiny = {"_default": {"1": {"name": "Zoë", "age": 31, "tags": []}, "2": {"name": "Ann", "age": 4.0}, "10": {"nested": {"k": [1, 2]}}},
        "users": {"1": {"email": "a@b.c"}}, "empty": {}}
w("tinydb.json", json.dumps(tiny))
'
