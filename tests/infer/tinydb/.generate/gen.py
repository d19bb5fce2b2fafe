"""Writes ../library.json with the real TinyDB package (its JSONStorage, default settings).

    python3 -m venv /tmp/tinyvenv && /tmp/tinyvenv/bin/pip install -r requirements.txt
    /tmp/tinyvenv/bin/python gen.py

Tables: _default (shelves, no natural key), authors (keyed by TinyDB document id only),
books (author_id refers to authors by document id, isbn unique, tags repeat across books,
a nested editions array), loans (an enum-like status over many documents, timestamps).
"""
import os

from tinydb import TinyDB

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "..", "library.json")
if os.path.exists(PATH):
    os.remove(PATH)

db = TinyDB(PATH)
db.insert_multiple([
    {"name": "Fiction", "floor": 1},
    {"name": "Science", "floor": 2},
    {"name": "Kinder & Jugend", "floor": 1, "note": "Bücher für alle ab 6"},
])

authors = db.table("authors")
authors.insert_multiple([
    {"name": "Ursula K. Le Guin", "born": 1929},
    {"name": "Stanisław Lem", "born": 1921},
    {"name": "Octavia E. Butler", "born": 1947},
    {"name": "Liu Cixin", "born": 1963, "native_name": "刘慈欣"},
])

books = db.table("books")
books.insert_multiple([
    {"title": "The Dispossessed", "author_id": 1, "isbn": "978-0-06-051275-0", "year": 1974,
     "tags": ["utopia", "anarchism", "classic"], "rating": 4.5,
     "editions": [{"publisher": "Harper & Row", "year": 1974}, {"publisher": "Harper Voyager", "year": 2003}]},
    {"title": "Solaris", "author_id": 2, "isbn": "978-0-15-602760-1", "year": 1961,
     "tags": ["classic", "first contact"], "rating": 4,
     "editions": [{"publisher": "MON", "year": 1961}]},
    {"title": "Kindred", "author_id": 3, "isbn": "978-0-8070-8305-0", "year": 1979,
     "tags": ["time travel", "classic"], "rating": 4.25, "editions": []},
    {"title": "The Three-Body Problem", "author_id": 4, "isbn": "978-0-7653-8203-0", "year": 2008,
     "tags": ["first contact", "hard sf"], "rating": 4.0,
     "editions": [{"publisher": "重庆出版社", "year": 2008}, {"publisher": "Tor", "year": 2014, "translator": "Ken Liu"}]},
    {"title": "The Left Hand of Darkness", "author_id": 1, "isbn": "978-0-441-47812-5", "year": 1969,
     "tags": ["classic", "anarchism"], "rating": None,
     "editions": [{"publisher": "Ace", "year": 1969}]},
])

loans = db.table("loans")
statuses = ["open", "returned", "returned", "overdue", "returned", "open", "returned", "returned", "overdue", "returned"]
for i, status in enumerate(statuses):
    loans.insert({
        "book_id": 1 + i % 5,
        "reader": f"reader-{i % 4}",
        "status": status,
        "lent_at": f"2024-03-{i + 1:02d}T10:{i:02d}:00+01:00",
        "due": f"2024-04-{i + 1:02d}",
    })
db.close()
