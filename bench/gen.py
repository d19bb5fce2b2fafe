#!/usr/bin/env python3
"""Deterministic benchmark data for jsonlift.

    python3 bench/gen.py flat   [--records 1000000] [--out bench/data/flat.json]
    python3 bench/gen.py small  [--records 1000000] [--out bench/data/small.json]
    python3 bench/gen.py nested [--size 1G]         [--out bench/data/nested.json]
    python3 bench/gen.py lernpfad [--records 10000] [--out bench/data/lernpfad.json]
    python3 bench/gen.py events [--records 1000000] [--out bench/data/events.json]
    python3 bench/gen.py column [--records 500000] [--out bench/data/column.json]

flat:   a JSON array of small flat records (id, uuid, name, email, age, score, active,
        created_at, tags[2]) written like JSON.stringify(records): compact, one line.
small:  the issue's "~100 MB for 1 M small flat records": id, name, email, age, active (about
        95 bytes a record), written the same way.
nested: a JSON array of courses, each with 5-10 modules of 5-10 lessons with text bodies (and
        sometimes a quiz), written like JSON.stringify(courses, null, 2), until the file holds at
        least --size bytes (K/M/G suffixes are powers of 1024; default 1G = 1 073 741 824 bytes).

lernpfad: seed 000's courses.json shape at scale: --records courses (default 10 000), each with
        4-10 modules of 4-10 lessons (title, type, duration, a sentence of content), written
        like JSON.stringify(courses, null, 2): about 570 000 rows for 10 000 courses.

events: an app's event log (seed 001's chat and progress events, seed 004's file events): a
        JSON array of --records flat events (default 1 000 000) of about 144 bytes: id, a client
        uuid, userId, a type out of eight, a timestamp, a duration and a flag, written like
        JSON.stringify(events): about 144 MB.

column: one record whose field `blob` is a large JSON value (a state document kept whole): an
        object of --records members `itemN` (default 500 000), each a small object of 2 keys
        with a 4-element array, about 50 bytes a member, written like JSON.stringify(x): about
        25 MB. Declare `blob = "json"`.

Same arguments and --seed, same bytes. The file is streamed record by record (memory stays
small whatever the size), written to OUT.tmp and renamed when complete, and described in
OUT.meta.json (records, bytes, and for nested the module and lesson counts).
"""
import argparse
import json
import os
import random
import sys
import time
import uuid

FIRST = ["Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lea", "Paul", "Emma", "Jürgen",
         "Björn", "Zoë", "Mehmet", "Ayşe", "Wei", "Li", "Yuki", "Olga", "Pedro", "Amélie",
         "Noah", "Mia", "Elias", "Hannah", "Ben", "Clara", "Finn", "Lina", "Tom", "Nora"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Groß", "Öztürk", "Zhang", "Wang", "李", "Nguyen", "Kowalski",
        "García", "Dubois", "Rossi", "Jensen", "Novák", "Horváth", "Smith", "Brown", "Tanaka"]
ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", "é": "e", "á": "a",
                       "í": "i", "ó": "o", "ş": "s", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ç": "c"})
TAGS = ["alpha", "beta", "gamma", "delta", "admin", "trial", "premium", "beta-tester", "de", "en",
        "newsletter", "mobile", "web", "api", "legacy", "vip"]

WORDS = ("data model table column index query record schema value field migration lesson course "
         "module learner progress exercise example function variable loop array object string "
         "number network server client request response cache memory storage file stream "
         "Übung Größe Lösung Schlüssel Prüfung Ergebnis Datenbank Tabelle Beispiel Aufgabe "
         "für über während schön natürlich "
         "数据 学习 课程 练习 问题 答案 表格 索引 "
         "the a of to and in is that for with as on by this it are be from or an we can").split()
TOPICS = ["SQL für Einsteiger", "Rust Ownership", "Machine Learning Basics", "Statistik",
          "Web-Entwicklung mit Node", "数据结构与算法", "Linear Algebra", "Git im Team",
          "Datenschutz (DSGVO)", "Kubernetes", "Photosynthese", "Bruchrechnung", "中文入门",
          "Python für Datenanalyse", "Netzwerke & Protokolle", "Typografie"]
LEVELS = ["beginner", "intermediate", "advanced"]
LANGS = ["de", "en", "zh"]


def js_number(x):
    """A float as JSON.stringify writes it (integral values without .0)."""
    return int(x) if x == int(x) else x


def iso(rng, start=1577836800, span=5 * 365 * 86400):
    t = start + rng.randrange(span)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % rng.randrange(1000)


def uuid4(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def parse_size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


def email_local(first, last):
    local = f"{first}.{last}".translate(ASCII).lower()
    return local if local.isascii() else first.translate(ASCII).lower()


def gen_flat(out, rng, records, small=False):
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out.write("[")
    for i in range(1, records + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if small:
            rec = {
                "id": i,
                "name": f"{first} {last}",
                "email": f"{email_local(first, last)}{i}@example.com",
                "age": rng.randrange(16, 90),
                "active": rng.random() < 0.8,
            }
        else:
            rec = {
                "id": i,
                "uuid": uuid4(rng),
                "name": f"{first} {last}",
                "email": f"{email_local(first, last)}{i}@example.com",
                "age": rng.randrange(16, 90),
                "score": js_number(round(rng.uniform(0, 100), 2)),
                "active": rng.random() < 0.8,
                "created_at": iso(rng),
                "tags": rng.sample(TAGS, 2),
            }
        if i > 1:
            out.write(",")
        out.write(dumps(rec))
    out.write("]")
    return {"records": records}


def paragraph_pool(rng, n=4096):
    pool = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randrange(20, 80))]
        text = " ".join(words)
        text = text[0].upper() + text[1:] + "."
        r = rng.random()
        if r < 0.1:
            text += ' Siehe „Kapitel 2" und "Abschnitt 3".'
        elif r < 0.15:
            text += "\n\tcode: SELECT * FROM t WHERE a = 'x';"
        pool.append(text)
    return pool


def gen_nested(out, rng, target):
    enc = json.JSONEncoder(ensure_ascii=False, indent=2)
    pool = paragraph_pool(rng)
    out.write("[\n")
    written = 2
    courses = modules = lessons = 0
    while written < target:
        courses += 1
        mods = []
        for m in range(rng.randrange(5, 11)):
            less = []
            for l in range(rng.randrange(5, 11)):
                lesson = {
                    "title": f"Lektion {m + 1}.{l + 1}: {rng.choice(WORDS)} {rng.choice(WORDS)}",
                    "duration_minutes": rng.randrange(5, 61),
                    "body": "\n\n".join(rng.choice(pool) for _ in range(rng.randrange(1, 4))),
                }
                if rng.random() < 0.2:
                    lesson["quiz"] = [
                        {"question": f"{rng.choice(WORDS)}?",
                         "options": [rng.choice(WORDS) for _ in range(3)],
                         "answer": rng.randrange(3)}
                        for _ in range(rng.randrange(1, 4))
                    ]
                less.append(lesson)
            lessons += len(less)
            mods.append({
                "title": f"Modul {m + 1}: {rng.choice(WORDS)}",
                "summary": rng.choice(pool)[:160] if rng.random() < 0.9 else None,
                "lessons": less,
            })
        modules += len(mods)
        course = {
            "id": courses,
            "uuid": uuid4(rng),
            "title": f"{rng.choice(TOPICS)} #{courses}",
            "description": rng.choice(pool),
            "language": rng.choice(LANGS),
            "level": rng.choice(LEVELS),
            "created_at": iso(rng),
            "published": rng.random() < 0.7,
            "rating": js_number(round(rng.uniform(1, 5), 1)),
            "tags": rng.sample(TAGS, rng.randrange(0, 4)),
            "modules": mods,
        }
        text = enc.encode(course)
        chunk = ("  " if courses == 1 else ",\n  ") + text.replace("\n", "\n  ")
        out.write(chunk)
        written += len(chunk.encode("utf-8"))
    out.write("\n]")
    return {"records": courses, "modules": modules, "lessons": lessons}


def gen_lernpfad(out, rng, courses):
    enc = json.JSONEncoder(ensure_ascii=False, indent=2)
    out.write("[\n")
    modules = lessons = 0
    for c in range(1, courses + 1):
        mods = []
        for m in range(rng.randrange(4, 11)):
            less = [
                {
                    "title": f"Lektion {m + 1}.{l + 1}: {rng.choice(WORDS)} {rng.choice(WORDS)}",
                    "type": rng.choice(["text", "quiz", "exercise"]),
                    "duration": f"{rng.randrange(5, 61)} min",
                    "content": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12))),
                }
                for l in range(rng.randrange(4, 11))
            ]
            lessons += len(less)
            mods.append({"id": f"m{c}-{m + 1}", "title": f"Modul {m + 1}: {rng.choice(WORDS)}",
                         "lessons": less})
        modules += len(mods)
        course = {
            "id": f"course-{c}",
            "title": f"{rng.choice(TOPICS)} #{c}",
            "description": " ".join(rng.choice(WORDS) for _ in range(12)),
            "category": rng.choice(["Mathematik", "Informatik", "Sprachen", "Biologie"]),
            "difficulty": rng.choice(["Anfänger", "Mittel", "Fortgeschritten"]),
            "language": rng.choice(LANGS),
            "estimatedHours": js_number(round(rng.uniform(1, 40), 1)),
            "createdAt": iso(rng),
            "modules": mods,
        }
        text = enc.encode(course)
        out.write(("  " if c == 1 else ",\n  ") + text.replace("\n", "\n  "))
    out.write("\n]")
    return {"records": courses, "modules": modules, "lessons": lessons}


EVENT_TYPES = ["login", "logout", "lesson_started", "lesson_completed", "quiz_submitted",
               "card_approved", "message_sent", "file_changed"]


def gen_events(out, rng, records):
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out.write("[")
    for i in range(1, records + 1):
        rec = {
            "id": i,
            "uuid": uuid4(rng),
            "userId": rng.randrange(1, 5000),
            "type": rng.choice(EVENT_TYPES),
            "at": iso(rng),
            "ms": rng.randrange(0, 5000),
            "ok": rng.random() < 0.95,
        }
        if i > 1:
            out.write(",")
        out.write(dumps(rec))
    out.write("]")
    return {"records": records}


def gen_column(out, rng, records):
    out.write('[{"id":1,"title":"big","blob":{')
    for i in range(records):
        if i:
            out.write(",")
        out.write(f'"item{i}":{{"n":{i},"t":[{rng.randrange(0, 1_000_000)},{i % 7},true,null]}}')
    out.write("}}]")
    return {"records": 1, "items": records}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", choices=["flat", "small", "nested", "lernpfad", "events", "column"])
    ap.add_argument("--out", help="output file (default bench/data/DATASET.json)")
    ap.add_argument("--records", type=int, default=None,
                    help="flat, small, events: number of records (1 000 000); lernpfad: courses (10 000); column: members (500 000)")
    ap.add_argument("--size", default="1G", help="nested: minimum file size (e.g. 10M, 1G)")
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()

    out_path = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                        args.dataset + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    rng = random.Random(f"{args.dataset}:{args.seed}")
    started = time.time()
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as out:
        if args.dataset == "flat":
            meta = gen_flat(out, rng, args.records or 1_000_000)
        elif args.dataset == "small":
            meta = gen_flat(out, rng, args.records or 1_000_000, small=True)
        elif args.dataset == "events":
            meta = gen_events(out, rng, args.records or 1_000_000)
        elif args.dataset == "column":
            meta = gen_column(out, rng, args.records or 500_000)
        elif args.dataset == "lernpfad":
            meta = gen_lernpfad(out, rng, args.records or 10_000)
        else:
            meta = gen_nested(out, rng, parse_size(args.size))
    os.replace(tmp, out_path)
    meta.update(dataset=args.dataset, seed=args.seed, bytes=os.path.getsize(out_path),
                args={"size": args.size} if args.dataset == "nested" else {"records": meta["records"]})
    with open(out_path + ".meta.json", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{out_path}: {meta['bytes']:,} bytes, {meta['records']:,} records "
          f"in {time.time() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
