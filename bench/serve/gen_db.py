#!/usr/bin/env python3
"""A json-server db.json for bench/serve.sh: POSTS posts (id, title, author{name}, views,
published, tags) and COMMENTS (default 3) comments per post (id, postId, body), written like
json-server writes (JSON.stringify(db, null, 2)). Every 1000th post's title also holds a word no
other post has (`rare-<id>-word`), for a search that finds one post. Seeded: same arguments,
same bytes.

    python3 bench/serve/gen_db.py POSTS OUT [COMMENTS]
"""
import json
import random
import sys

posts_n, out = int(sys.argv[1]), sys.argv[2]
per_post = int(sys.argv[3]) if len(sys.argv) > 3 else 3
rnd = random.Random(4)
words = "data model table query record schema value field server client cache file".split()
posts = [
    {
        "id": i,
        "title": " ".join(rnd.choice(words) for _ in range(4))
        + (f" rare-{i}-word" if i % 1000 == 0 else ""),
        "author": {"name": rnd.choice(["ana", "bo", "chen", "dora", "emil"])},
        "views": rnd.randrange(0, 1000),
        "published": rnd.random() < 0.7,
        "tags": rnd.sample(words, 2),
    }
    for i in range(1, posts_n + 1)
]
comments = [
    {"id": i, "postId": (i - 1) // per_post + 1, "body": " ".join(rnd.choice(words) for _ in range(6))}
    for i in range(1, per_post * posts_n + 1)
]
with open(out, "w") as f:
    json.dump({"posts": posts, "comments": comments}, f, indent=2, ensure_ascii=False)
