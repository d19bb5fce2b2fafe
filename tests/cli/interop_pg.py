"""What a Python app does with a database jsonlift migrated into PostgreSQL, through the models
of `jsonlift codegen sqlalchemy` and psycopg 3.

Run by tests/cli/interop.rs as `python interop_pg.py URL SCHEMA MODELS_PY`: the tables are in
PostgreSQL schema SCHEMA, which the connection does not put on its search_path (the models name
it, as an app's connection would find them). Each check prints one line, `PASS <n> <name>:
<details>` or `FAIL <n> <name>: <why>`; the exit code is 1 when any check failed.

1. The models import and configure without warnings and map every table of the schema, each
   with the database's columns in order, types, NULL-ability and primary key.
2. Every row loads, and every relationship as SQL counts it.
3. A parent with two children (and an entity through a many-to-many) inserts in one commit, ids
   and positions left to the database, which fills them in order.
"""

import importlib.util
import itertools
import sys
import traceback
import uuid
import warnings

import sqlalchemy
from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.orm.interfaces import MANYTOMANY, MANYTOONE, ONETOMANY

URL, SCHEMA, MODELS_PY = sys.argv[1:4]
FAILED = []
FRESH = itertools.count(1)  # distinct values for the unique columns of new rows
ENGINE = create_engine(URL.replace("postgres://", "postgresql+psycopg://", 1).replace("postgresql://", "postgresql+psycopg://", 1))


def report(n, name, fn):
    try:
        detail = fn()
        print(f"PASS {n} {name}: {detail}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check runs
        FAILED.append(n)
        msg = f"{type(e).__name__}: {e}".replace("\n", " | ")
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"FAIL {n} {name}: {msg} (interop_pg.py:{where.lineno})", flush=True)


def q(name):
    return '"' + name.replace('"', '""') + '"'


def rows(sql, **args):
    with ENGINE.connect() as c:
        return c.execute(text(sql), args).all()


def count(table, where="", **args):
    return rows(f"SELECT count(*) FROM {q(SCHEMA)}.{q(table)} {where}", **args)[0][0]


def app_tables():
    return [
        r[0]
        for r in rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s "
            "AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_jsonlift%' ORDER BY 1",
            s=SCHEMA,
        )
    ]


def columns(table):
    """name -> (data_type, NOT NULL, has a default or is an identity), in order."""
    return {
        r[0]: (r[1], r[2] == "NO", r[3] is not None or r[4] == "YES")
        for r in rows(
            "SELECT column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_schema = :s AND table_name = :t "
            "ORDER BY ordinal_position",
            s=SCHEMA,
            t=table,
        )
    }


def constraints(table, kind):
    """The column lists of the table's constraints of one kind."""
    out = {}
    for name, col in rows(
        "SELECT c.constraint_name, k.column_name FROM information_schema.table_constraints c "
        "JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema "
        "AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name "
        "WHERE c.table_schema = :s AND c.table_name = :t AND c.constraint_type = :k",
        s=SCHEMA,
        t=table,
        k=kind,
    ):
        out.setdefault(name, []).append(col)
    return list(out.values())


def load_models():
    spec = importlib.util.spec_from_file_location("jsonlift_models", MODELS_PY)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)
        spec.loader.exec_module(module)
        configure_mappers()
    return module


# --- 1 ---------------------------------------------------------------------------------------


def check_mapping(models):
    mapped = {m.local_table.name: m for m in models.Base.registry.mappers}
    tables = app_tables()
    assert sorted(mapped) == tables, f"classes for {sorted(mapped)}, tables {tables}"
    dialect = postgresql.dialect()
    for table, m in mapped.items():
        t = m.local_table
        assert t.schema == (None if SCHEMA == "public" else SCHEMA), f"{table}: schema {t.schema}"
        db = columns(table)
        mine = [c.name for c in t.columns]
        assert mine == list(db), f"{table}: columns {mine}, the database's {list(db)}"
        for c in t.columns:
            ty = c.type.compile(dialect=dialect).lower()
            assert ty == db[c.name][0], f"{table}.{c.name}: {ty}, the database's {db[c.name][0]}"
            assert c.nullable != db[c.name][1], f"{table}.{c.name}: nullable={c.nullable}"
        pk = sorted(c.name for c in t.primary_key.columns)
        db_pk = sorted(sum(constraints(table, "PRIMARY KEY"), []))
        assert pk == db_pk, f"{table}: primary key {pk}, the database's {db_pk}"
    return f"{len(mapped)} classes, columns, types, NULL and keys as in {SCHEMA}"


# --- 2 ---------------------------------------------------------------------------------------


def check_loading(models):
    mapped = {m.local_table.name: m for m in models.Base.registry.mappers}
    rels = 0
    with Session(ENGINE) as s:
        for table, m in mapped.items():
            objs = s.scalars(select(m.class_)).all()
            n = count(table)
            assert len(objs) == n, f"{table}: {len(objs)} objects, {n} rows"
            for r in m.relationships:
                rels += 1
                for o in objs:
                    got = getattr(o, r.key)
                    if r.direction is MANYTOONE:
                        ((local, remote),) = r.local_remote_pairs
                        fk = getattr(o, m.get_property_by_column(local).key)
                        if fk is None:
                            assert got is None, f"{table}.{r.key}: an object for a NULL key"
                        else:
                            other = getattr(got, r.mapper.get_property_by_column(remote).key)
                            assert other == fk, f"{table}.{r.key}: {other!r} for key {fk!r}"
                        continue
                    if r.direction is ONETOMANY:
                        ((local, remote),) = r.local_remote_pairs
                        key = getattr(o, m.get_property_by_column(local).key)
                        n = count(remote.table.name, f"WHERE {q(remote.name)} = :k", k=key)
                    else:
                        pairs = [(a, b) for a, b in r.local_remote_pairs if b.table is r.secondary]
                        local, remote = pairs[0]
                        key = getattr(o, m.get_property_by_column(local).key)
                        n = count(r.secondary.name, f"WHERE {q(remote.name)} = :k", k=key)
                    assert len(got) == n, f"{table}.{r.key}: {len(got)} loaded, {n} in SQL"
    return f"every row of {len(mapped)} tables, {rels} relationships as SQL counts them"


# --- 3 ---------------------------------------------------------------------------------------


def is_document(table):
    return bool(
        rows(
            "SELECT 1 FROM pg_constraint WHERE contype = 'c' AND conrelid = "
            "(quote_ident(:s) || '.' || quote_ident(:t))::regclass "
            "AND pg_get_constraintdef(oid) LIKE '%_id = 1%'",
            s=SCHEMA,
            t=table,
        )
    )


def new_values(s, m, skip):
    """Attribute -> value for a new object of mapper `m`: its NOT NULL columns without a default
    (but those in `skip`), copied from its first object and changed where a unique constraint
    would refuse the copy."""
    table = m.local_table.name
    db = columns(table)
    filled = {c.name for c in m.local_table.columns if c.server_default is not None}
    need = [c for c, (_, not_null, default) in db.items() if not_null and not default and c not in skip and c not in filled]
    first = s.scalars(select(m.class_).limit(1)).first()
    prop = {c.name: m.get_property_by_column(c).key for c in m.local_table.columns}
    row = {}
    for c in need:
        if first is not None:
            row[c] = getattr(first, prop[c])
        else:
            row[c] = {"bigint": 0, "double precision": 0.0, "boolean": False, "jsonb": 0}.get(db[c][0], "x")
    fks = set(sum(constraints(table, "FOREIGN KEY"), []))
    for group in constraints(table, "UNIQUE") + constraints(table, "PRIMARY KEY"):
        if not all(c in row or c in skip for c in group):
            continue  # a column left NULL or to the database: the row cannot collide
        free = [c for c in group if c in row and c not in fks]
        if not free:
            continue
        c = free[0]
        v = row[c]
        if isinstance(v, str):
            try:
                uuid.UUID(v)
                row[c] = str(uuid.uuid4())
            except ValueError:
                row[c] = f"{v}-interop-{uuid.uuid4().hex[:8]}"
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            top = rows(f"SELECT max({q(c)}) FROM {q(SCHEMA)}.{q(table)}")[0][0] or 0
            row[c] = top + next(FRESH)
    return {prop[c]: v for c, v in row.items()}


def check_insert(models):
    mapped = {m.local_table.name: m for m in models.Base.registry.mappers}
    parents = children = 0
    for table, m in mapped.items():
        owned = [r for r in m.relationships if r.direction is ONETOMANY and "delete-orphan" in r.cascade]
        m2m = [r for r in m.relationships if r.direction is MANYTOMANY]
        if not owned and not m2m:
            continue
        with Session(ENGINE) as s:
            if is_document(table):
                p = s.scalars(select(m.class_)).first()
            else:
                p = m.class_(**new_values(s, m, set()))
                s.add(p)
            for r in owned:
                ((_local, remote),) = r.local_remote_pairs
                kids = [r.mapper.class_(**new_values(s, r.mapper, {remote.name})) for _ in range(2)]
                getattr(p, r.key).extend(kids)
                children += 2
            for r in m2m:
                existing = s.scalars(select(r.mapper.class_)).first()
                if existing is not None:
                    getattr(p, r.key).append(existing)
                    children += 1
            s.flush()
            for when in ("flush", "commit"):
                if when == "commit":
                    s.commit()
                for r in owned:
                    got = getattr(p, r.key)
                    assert len(got) >= 2, f"{table}.{r.key}: {len(got)} children"
                    for c in r.mapper.local_table.columns:
                        if c.server_default is None and c.identity is None:
                            continue
                        vals = [getattr(k, r.mapper.get_property_by_column(c).key) for k in got]
                        assert None not in vals, f"{table}.{r.key}: {c.name} left NULL: {vals}"
                        if c.server_default is not None:
                            assert vals == sorted(vals), f"{table}.{r.key}: {c.name} out of order: {vals}"
            parents += 1
            for r in m2m:
                s.expire(p, [r.key])
                assert len(getattr(p, r.key)) >= 1, f"{table}.{r.key}: the entity did not stick"
    return f"{parents} parents with {children} children inserted"


def main():
    import psycopg

    print(
        f"INFO python {sys.version.split()[0]}, SQLAlchemy {sqlalchemy.__version__}, "
        f"psycopg {psycopg.__version__}, schema {SCHEMA}",
        flush=True,
    )
    models = None
    try:
        models = load_models()
    except Exception as e:  # noqa: BLE001 - reported by every check
        print(f"INFO models do not import: {type(e).__name__}: {e}".replace("\n", " | "), flush=True)
        traceback.print_exc()

    def need(fn):
        def run():
            assert models is not None, "the models did not import (see the line above)"
            return fn(models)

        return run

    report(1, "models map every table as the database has it", need(check_mapping))
    report(2, "every row and relationship loads", need(check_loading))
    report(3, "a parent with children inserts", need(check_insert))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
