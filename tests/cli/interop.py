"""What a Python app does with a database jsonlift migrated, on the machine's own SQLite.

Run by tests/cli/interop.rs as `python interop.py DB MODELS_PY WORKDIR`. Each check prints one
line, `PASS <n> <name>: <details>` or `FAIL <n> <name>: <why>`; the exit code is 1 when any
check failed. Checks that write work on their own copy of the database.

1. PRAGMA integrity_check is ok and PRAGMA foreign_key_check is empty.
2. Every nullable column that is not a key accepts NULL (an UPDATE in a rolled-back savepoint).
3. conn.iterdump() restored into a fresh database gives back every row of every table.
4. SQLAlchemy automap (reflection) inserts a parent with two children through the relationship
   collection, for every foreign key (parent/child pair).
5. The generated models import and configure without warnings, map every table, load every
   row, load every relationship as SQL counts it, and insert a parent with its children (and an
   entity through a many-to-many) in one commit.
"""

import importlib.util
import itertools
import json
import os
import sqlite3
import sys
import traceback
import uuid
import warnings

import sqlalchemy
from sqlalchemy import create_engine, event, func, inspect, select
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.automap import automap_base
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.orm.interfaces import MANYTOMANY, MANYTOONE, ONETOMANY
from sqlalchemy.types import JSON

DB, MODELS_PY, WORK = sys.argv[1:4]
FAILED = []
FRESH = itertools.count(1)  # distinct values for the unique columns of new rows


def report(n, name, fn):
    try:
        detail = fn()
        print(f"PASS {n} {name}: {detail}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check runs
        FAILED.append(n)
        msg = f"{type(e).__name__}: {e}".replace("\n", " | ")
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"FAIL {n} {name}: {msg} (interop.py:{where.lineno})", flush=True)


def q(name):
    return '"' + name.replace('"', '""') + '"'


def connect(path):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def all_tables(conn):
    return [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]


def app_tables(conn):
    return [t for t in all_tables(conn) if not t.startswith("_jsonlift")]


def count(conn, table, where="", args=()):
    return conn.execute(f"SELECT count(*) FROM {q(table)} {where}", args).fetchone()[0]


def copy_db(name):
    path = os.path.join(WORK, name)
    src = sqlite3.connect(DB)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


def engine_for(path):
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _fk(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    return engine


# --- 1 ---------------------------------------------------------------------------------------


def check_integrity():
    conn = connect(DB)
    ic = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    assert ic == ["ok"], f"integrity_check: {ic[:5]}"
    fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    assert fk == [], f"foreign_key_check: {fk[:5]}"
    return f"{len(all_tables(conn))} tables"


# --- 2 ---------------------------------------------------------------------------------------


def own_tables(conn):
    """The tables a schema declares: not those FTS5 keeps for a search index (`shadow`)."""
    return [
        r[1]
        for r in conn.execute("PRAGMA main.table_list")
        if r[2] == "table" and not r[1].startswith("sqlite_")
    ]


def check_nulls():
    conn = connect(DB)
    bad, tried = [], 0
    for t in sorted(own_tables(conn)):
        for _cid, col, _ty, notnull, _default, pk in conn.execute(f"PRAGMA table_info({q(t)})").fetchall():
            if notnull or pk:
                continue
            tried += 1
            conn.execute("SAVEPOINT nulls")
            try:
                conn.execute(
                    f"UPDATE {q(t)} SET {q(col)} = NULL WHERE rowid = (SELECT min(rowid) FROM {q(t)})"
                )
            except sqlite3.Error as e:
                bad.append(f"{t}.{col} ({e})")
            finally:
                conn.execute("ROLLBACK TO nulls")
                conn.execute("RELEASE nulls")
    assert not bad, f"{len(bad)} of {tried} nullable columns refuse NULL: " + ", ".join(bad)
    return f"{tried} nullable columns"


# --- 3 ---------------------------------------------------------------------------------------


def check_dump():
    # Python's iterdump before 3.13 (Debian 12 has 3.11) writes rows into every virtual table,
    # which a restore cannot take (CPython gh-64662): a search index is dropped from a copy
    # first, as docs/config.md tells such users (serve builds it again).
    conn = connect(copy_db("for-dump.db"))
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%' AND name LIKE '\\_jsonlift\\_search\\_%' ESCAPE '\\'"
    ).fetchall():
        conn.execute(f"DROP TABLE {q(name)}")
    conn.commit()
    want = {t: count(conn, t) for t in all_tables(conn)}
    dump = "\n".join(conn.iterdump())
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    fresh.executescript(dump)
    got = {t: count(fresh, t) for t in all_tables(fresh)}
    assert got == want, f"rows per table after restore {got}, before {want}"
    return f"{sum(want.values())} rows in {len(want)} tables"


# --- values for new rows ---------------------------------------------------------------------


def filled_by_database(models):
    """(table, column) pairs the database fills on insert, as the generated models say."""
    out = set()
    if models is None:
        return out
    for table in models.Base.metadata.tables.values():
        for c in table.columns:
            if c.server_default is not None:
                out.add((table.name, c.name))
    return out


def rowid_alias(conn, table):
    cols = [r for r in conn.execute(f"PRAGMA table_info({q(table)})") if r[5]]
    if len(cols) == 1 and cols[0][2].upper() == "INTEGER":
        return cols[0][1]
    return None


def new_row(conn, table, skip, filled):
    """Column -> value for a new row of `table`: its NOT NULL columns (but those in `skip`, the
    rowid and what the database fills), copied from its first row and changed where a unique
    index would refuse the copy. Raw SQLite values."""
    info = conn.execute(f"PRAGMA table_info({q(table)})").fetchall()
    alias = rowid_alias(conn, table)
    cols = [
        r[1]
        for r in info
        if r[3] and r[4] is None and r[1] != alias and r[1] not in skip and (table, r[1]) not in filled
    ]
    if not cols:
        return {}
    sample = conn.execute(
        f"SELECT {', '.join(q(c) for c in cols)} FROM {q(table)} ORDER BY rowid LIMIT 1"
    ).fetchone()
    if sample is None:
        types = {r[1]: r[2].upper() for r in info}
        sample = [0 if "INT" in types[c] or "REAL" in types[c] else "x" for c in cols]
    row = dict(zip(cols, sample))
    fks = {r[3] for r in conn.execute(f"PRAGMA foreign_key_list({q(table)})")}
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    for idx in conn.execute(f"PRAGMA index_list({q(table)})").fetchall():
        if not idx[2]:
            continue
        icols = [r[2] for r in conn.execute(f"PRAGMA index_info({q(idx[1])})")]
        if not all(c in row or c in skip for c in icols):
            continue  # a column left NULL: the row cannot collide
        mine = [c for c in icols if c in row]
        # Not a foreign key (it would point nowhere), preferably one without a CHECK (enum).
        free = [c for c in mine if c not in fks] or mine
        if not free:
            continue
        c = min(free, key=lambda c: f"CHECK ({q(c)}" in sql)
        v = row[c]
        if isinstance(v, str):
            try:
                uuid.UUID(v)
                row[c] = str(uuid.uuid4())
            except ValueError:
                row[c] = f"{v}-interop-{uuid.uuid4().hex[:8]}"
        elif isinstance(v, (int, float)):
            top = conn.execute(f"SELECT max({q(c)}) FROM {q(table)}").fetchone()[0] or 0
            row[c] = top + next(FRESH)
    return row


def fk_pairs(conn):
    """(parent, parent column, child, child column) for every single-column foreign key."""
    out = []
    for child in app_tables(conn):
        fks = conn.execute(f"PRAGMA foreign_key_list({q(child)})").fetchall()
        ids = [r[0] for r in fks]
        for r in fks:
            if ids.count(r[0]) == 1:
                parent_col = r[4] or rowid_alias(conn, r[2])
                out.append((r[2], parent_col, child, r[3]))
    return out


def is_document(conn, table):
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    return 'CHECK ("_id" = 1)' in sql


# --- 4 ---------------------------------------------------------------------------------------


def check_automap(models):
    path = copy_db("automap.db")
    conn = connect(path)
    filled = filled_by_database(models)
    engine = engine_for(path)
    Auto = automap_base()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # automap's own naming, not the database
        Auto.prepare(autoload_with=engine)
        Auto.registry.configure()
    classes = {c.__table__.name: c for c in Auto.classes}
    done, problems = 0, []
    for parent, pcol, child, ccol in fk_pairs(conn):
        try:
            P, C = classes[parent], classes[child]
            rel = next(
                (
                    r
                    for r in inspect(P).relationships
                    if r.direction is ONETOMANY
                    and r.mapper.class_ is C
                    and [(a.name, b.name) for a, b in r.local_remote_pairs] == [(pcol, ccol)]
                ),
                None,
            )
            assert rel is not None, "automap made no one-to-many relationship"
            with Session(engine) as s:
                if is_document(conn, parent):
                    p = s.scalars(select(P)).first()
                else:
                    p = P(**new_row(conn, parent, set(), filled))
                    s.add(p)
                kids = [C(**new_row(conn, child, {ccol}, filled)) for _ in range(2)]
                getattr(p, rel.key).extend(kids)
                s.commit()
                key = getattr(p, pcol)
                n = count(conn, child, f"WHERE {q(ccol)} = ?", (key,))
                assert n >= 2, f"{n} children of the new parent in SQL"
            done += 1
        except Exception as e:  # noqa: BLE001 - each pair is reported
            problems.append(f"{parent}->{child}: {type(e).__name__}: {str(e).splitlines()[0]}")
    assert not problems, f"{len(problems)} of {done + len(problems)} pairs failed: " + "; ".join(problems)
    return f"{done} parent/child pairs"


# --- 5 ---------------------------------------------------------------------------------------


def load_models():
    spec = importlib.util.spec_from_file_location("jsonlift_models", MODELS_PY)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)
        spec.loader.exec_module(module)
        configure_mappers()
    return module


def check_models(models):
    assert models is not None, "the models did not import (see the line above)"
    path = copy_db("models.db")
    conn = connect(path)
    engine = models.enable_foreign_keys(create_engine(f"sqlite:///{path}"))
    mappers = list(models.Base.registry.mappers)
    mapped = {m.local_table.name: m for m in mappers}
    missing = sorted(set(app_tables(conn)) - set(mapped))
    assert not missing, f"tables without a class: {missing}"
    rels = 0
    with Session(engine) as s:
        for table, m in mapped.items():
            objs = s.scalars(select(m.class_)).all()
            assert len(objs) == count(conn, table), f"{table}: {len(objs)} objects, {count(conn, table)} rows"
            for r in m.relationships:
                rels += 1
                for o in objs:
                    got = getattr(o, r.key)
                    if r.direction is MANYTOONE:
                        (local, remote), = r.local_remote_pairs
                        fk = getattr(o, m.get_property_by_column(local).key)
                        if fk is None:
                            assert got is None, f"{table}.{r.key}: an object for a NULL key"
                        else:
                            other = getattr(got, r.mapper.get_property_by_column(remote).key)
                            assert other == fk, f"{table}.{r.key}: {other!r} for key {fk!r}"
                        continue
                    if r.direction is ONETOMANY:
                        (local, remote), = r.local_remote_pairs
                        key = getattr(o, m.get_property_by_column(local).key)
                        n = count(conn, remote.table.name, f"WHERE {q(remote.name)} = ?", (key,))
                    else:
                        pairs = [(a, b) for a, b in r.local_remote_pairs if b.table is r.secondary]
                        local, remote = pairs[0]
                        key = getattr(o, m.get_property_by_column(local).key)
                        n = count(conn, r.secondary.name, f"WHERE {q(remote.name)} = ?", (key,))
                    assert len(got) == n, f"{table}.{r.key}: {len(got)} loaded, {n} in SQL"
    inserted = insert_with_models(models, engine, conn, mapped)
    same_schema(models, conn)
    return f"{len(mapped)} classes, {rels} relationships loaded, {inserted}, create_all alike"


def shape(conn):
    """What an app relies on of the app tables: columns (type, NOT NULL, key), foreign keys,
    unique and plain indexes, triggers."""
    out = {}
    for t in app_tables(conn):
        cols = [(r[1], r[2], r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({q(t)})")]
        fks = sorted(r[2:] for r in conn.execute(f"PRAGMA foreign_key_list({q(t)})"))
        idx = sorted(
            (r[2], tuple(c[2] for c in conn.execute(f"PRAGMA index_info({q(r[1])})")))
            for r in conn.execute(f"PRAGMA index_list({q(t)})")
        )
        out[t] = (cols, fks, idx)
    out["triggers"] = sorted(
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    )
    return out


def same_schema(models, conn):
    """Base.metadata.create_all() on an empty database makes the tables migrate made."""
    path = os.path.join(WORK, "create_all.db")
    models.Base.metadata.create_all(create_engine(f"sqlite:///{path}"))
    made, want = shape(sqlite3.connect(path)), shape(conn)
    for t in sorted(set(made) | set(want)):
        assert made.get(t) == want.get(t), f"create_all: {t} is {made.get(t)}, migrate made {want.get(t)}"


def python_values(m, row):
    """Raw SQLite values -> attribute values (JSON columns take Python values)."""
    out = {}
    for col, v in row.items():
        c = next(x for x in m.local_table.c if x.name == col)
        if isinstance(c.type, JSON) and isinstance(v, str):
            v = json.loads(v)
        out[m.get_property_by_column(c).key] = v
    return out


def insert_with_models(models, engine, conn, mapped):
    filled = filled_by_database(models)
    parents = 0
    children = 0
    for table, m in mapped.items():
        owned = [r for r in m.relationships if r.direction is ONETOMANY and "delete-orphan" in r.cascade]
        m2m = [r for r in m.relationships if r.direction is MANYTOMANY]
        if not owned and not m2m:
            continue
        with Session(engine) as s:
            if is_document(conn, table):
                p = s.scalars(select(m.class_)).first()
            else:
                p = m.class_(**python_values(m, new_row(conn, table, set(), filled)))
                s.add(p)
            for r in owned:
                (_local, remote), = r.local_remote_pairs
                kids = [
                    r.mapper.class_(**python_values(r.mapper, new_row(conn, remote.table.name, {remote.name}, filled)))
                    for _ in range(2)
                ]
                getattr(p, r.key).extend(kids)
                children += 2
            for r in m2m:
                existing = s.scalars(select(r.mapper.class_)).first()
                if existing is not None:
                    getattr(p, r.key).append(existing)
                    children += 1
            s.flush()
            # What went in is there, positions filled in by the database and in order, before
            # and after the commit.
            for when in ("flush", "commit"):
                if when == "commit":
                    s.commit()
                check_children(table, p, owned)
            parents += 1
            for r in m2m:
                s.expire(p, [r.key])
                assert len(getattr(p, r.key)) >= 1, f"{table}.{r.key}: the entity did not stick"
    return f"{parents} parents with {children} children inserted"


def check_children(table, p, owned):
    """Every new child is in its collection, with what the database fills set and in order."""
    for r in owned:
        got = getattr(p, r.key)
        assert len(got) >= 2, f"{table}.{r.key}: {len(got)} children"
        filled = [c for c in r.mapper.local_table.columns if c.server_default is not None]
        for c in filled:
            vals = [getattr(k, r.mapper.get_property_by_column(c).key) for k in got]
            assert None not in vals, f"{table}.{r.key}: {c.name} left NULL: {vals}"
            assert vals == sorted(vals), f"{table}.{r.key}: {c.name} out of order: {vals}"


def main():
    os.makedirs(WORK, exist_ok=True)
    print(
        f"INFO python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
        f"SQLAlchemy {sqlalchemy.__version__}",
        flush=True,
    )
    report(1, "integrity", check_integrity)
    report(2, "nullable columns accept NULL", check_nulls)
    report(3, "dump and restore", check_dump)
    models = None
    try:
        models = load_models()
    except Exception as e:  # noqa: BLE001 - reported as check 5
        print(f"INFO models do not import: {type(e).__name__}: {e}".replace("\n", " | "), flush=True)
        traceback.print_exc()
    report(4, "automap inserts parents with children", lambda: check_automap(models))
    report(5, "generated models", lambda: check_models(models))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
