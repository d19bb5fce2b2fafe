//! `jsonlift codegen sqlalchemy`: SQLAlchemy 2.0 declarative models of every table jsonlift
//! creates (roots, child tables, shared entities and their join tables), with their keys,
//! foreign keys, uniques, indexes and checks, and the relationships between them both ways.
//!
//! Why generate them rather than let the app reflect the database (automap): reflection cannot
//! know that a child collection is ordered by its position column, that a join table is the link
//! of a many-to-many, which columns the database fills itself (positions, TinyDB document ids),
//! or what the attributes should be called; and a Python app wants classes it can read and
//! import. The models describe exactly the tables `migrate` creates: SQL names are spelled out
//! in every `mapped_column`, so attribute names are free to be valid, non-colliding Python
//! identifiers (`class` → `class_`, `my col` → `my_col`).
//!
//! On PostgreSQL the models follow its DDL instead ([`Ctx`] holds the differences): BigInteger,
//! Double, Boolean and JSONB columns, `Identity()` keys, jsonlift's `_rowid` and `_exact`
//! columns, the schema in `__table_args__`, and no SQLite-only checks or types.

use std::collections::HashSet;
use std::fmt::Write;

use super::CodegenOptions;
use crate::schema::ddl::{
    PG_EXACT, PG_ROWID, filled_by_database, has_generated_key, on_delete_sql, triggers,
};
use crate::schema::{ColType, Column, Elements, OnDelete, Role, Schema, Table};
use crate::store::Dialect;

/// The database the models are for: what `column`, `table_args` and the header ask.
struct Ctx<'o> {
    pg: bool,
    /// PostgreSQL's schema of the tables, when not `public`.
    schema: Option<&'o str>,
}

impl Ctx<'_> {
    /// `table.column` for a `ForeignKey`, with the schema in front when there is one.
    fn qualified(&self, table: &str, column: &str) -> String {
        match self.schema {
            Some(s) => format!("{s}.{table}.{column}"),
            None => format!("{table}.{column}"),
        }
    }
}

/// Names a class may not take: what the module imports or defines.
const MODULE_NAMES: &[&str] = &[
    "json",
    "Any",
    "List",
    "Optional",
    "JSONText",
    "IntKey",
    "Bool01",
    "REAL",
    "TypeDecorator",
    "compiles",
    "Boolean",
    "CheckConstraint",
    "DDL",
    "FetchedValue",
    "ForeignKey",
    "Index",
    "Integer",
    "Text",
    "UniqueConstraint",
    "BigInteger",
    "Double",
    "Identity",
    "JSONB",
    "event",
    "text",
    "DeclarativeBase",
    "Mapped",
    "mapped_column",
    "relationship",
    "Base",
    "enable_foreign_keys",
];

/// Names an attribute may not take: those the lines after it in the class body use (an
/// attribute `Text` would shadow the type for the next column), and declarative's own.
const ATTR_RESERVED: &[&str] = &[
    "Any",
    "List",
    "Optional",
    "JSONText",
    "IntKey",
    "Bool01",
    "REAL",
    "Boolean",
    "FetchedValue",
    "ForeignKey",
    "Integer",
    "Text",
    "BigInteger",
    "Double",
    "Identity",
    "JSONB",
    "Mapped",
    "mapped_column",
    "relationship",
    "int",
    "str",
    "float",
    "bool",
    "metadata",
    "registry",
    "type_annotation_map",
];

/// Python's keywords (soft keywords such as `match` and `type` are valid names).
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// The generated `models.py` for the whole schema.
pub fn generate(schema: &Schema, options: &CodegenOptions) -> String {
    let ctx = Ctx {
        pg: options.dialect == Dialect::Postgres,
        schema: options.named_pg_schema(),
    };
    let mut models = plan(schema);
    if ctx.pg {
        // jsonlift's own columns, named so that no attribute of the schema's takes them.
        for (t, m) in schema.tables.iter().zip(&mut models) {
            if !has_generated_key(t) {
                m.pg_rowid = Some(m.take(PG_ROWID));
            }
            m.pg_exact = Some(m.take(PG_EXACT));
        }
    }
    let mut out = String::new();
    header(&mut out, schema, &models, &ctx);
    for &t in &emission_order(schema) {
        out.push_str("\n\n");
        class(&mut out, schema, &models, t, &ctx);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Names and relationships, decided before anything is written (both sides of a relationship
// must know each other's attribute name).
// ---------------------------------------------------------------------------------------------

/// One class: its name, an attribute per column, and its relationships.
struct Model {
    class: String,
    attrs: Vec<String>,
    rels: Vec<Rel>,
    used: HashSet<String>,
    /// On PostgreSQL, the attributes of the `_rowid` column (tables without a generated key)
    /// and of the `_exact` column.
    pg_rowid: Option<String>,
    pg_exact: Option<String>,
}

impl Model {
    /// A free attribute name made from `base`.
    fn take(&mut self, base: &str) -> String {
        let name = unique(&py_ident(base), &self.used);
        self.used.insert(name.clone());
        name
    }
}

struct Rel {
    attr: String,
    target: usize,
    back: String,
    kind: RelKind,
    /// Other relationships writing the same foreign-key columns (a many-to-many and the
    /// one-to-many pairs through its join table).
    overlaps: Vec<String>,
}

enum RelKind {
    /// Many-to-one through this table's column `fk`.
    ToOne { fk: usize, nullable: bool },
    /// One-to-many: the target's column `fk` points here.
    ToMany {
        fk: usize,
        order_by: Option<usize>,
        /// The target rows are parts of this row (child tables): removing one from the
        /// collection deletes it.
        owned: bool,
        on_delete: OnDelete,
    },
    /// Many-to-many through join table `secondary`, ordered by its position column.
    ManyToMany { secondary: usize, order_by: usize },
}

fn plan(schema: &Schema) -> Vec<Model> {
    let mut taken: HashSet<String> = MODULE_NAMES
        .iter()
        .chain(KEYWORDS)
        .map(|s| s.to_string())
        .collect();
    let mut models: Vec<Model> = schema
        .tables
        .iter()
        .map(|t| {
            let class = unique(&class_name(&t.name), &taken);
            taken.insert(class.clone());
            let mut m = Model {
                class,
                attrs: Vec::new(),
                rels: Vec::new(),
                used: ATTR_RESERVED.iter().map(|s| s.to_string()).collect(),
                pg_rowid: None,
                pg_exact: None,
            };
            m.attrs = t.columns.iter().map(|c| m.take(&c.name)).collect();
            m
        })
        .collect();

    for (ti, t) in schema.tables.iter().enumerate() {
        // A child table (or a join table) and its parent.
        if let (Some(p), Some(pc)) = (t.parent, t.parent_col) {
            let entity = match t.elements {
                Elements::Entities { table, col } => Some((table, col)),
                _ => None,
            };
            let field = t.parent_path.join("_");
            // The JSON field names the collection; for shared entities it names the entities,
            // and the join rows are named after the join table.
            let rows_base = if entity.is_some() { &t.name } else { &field };
            let down = models[p].take(rows_base);
            let up = models[ti].take(&link_name(&t.columns[pc].name, &schema.tables[p].name));
            models[p].rels.push(Rel {
                attr: down.clone(),
                target: ti,
                back: up.clone(),
                kind: RelKind::ToMany {
                    fk: pc,
                    order_by: t.pos_col,
                    owned: true,
                    on_delete: OnDelete::Cascade,
                },
                overlaps: Vec::new(),
            });
            models[ti].rels.push(Rel {
                attr: up.clone(),
                target: p,
                back: down.clone(),
                kind: RelKind::ToOne {
                    fk: pc,
                    nullable: false,
                },
                overlaps: Vec::new(),
            });
            if let Some((e, ec)) = entity {
                // The join rows' entity, and the entity's join rows.
                let to_e = models[ti].take(&link_name(&t.columns[ec].name, &schema.tables[e].name));
                let e_rows = models[e].take(&t.name);
                models[ti].rels.push(Rel {
                    attr: to_e.clone(),
                    target: e,
                    back: e_rows.clone(),
                    kind: RelKind::ToOne {
                        fk: ec,
                        nullable: false,
                    },
                    overlaps: Vec::new(),
                });
                models[e].rels.push(Rel {
                    attr: e_rows.clone(),
                    target: ti,
                    back: to_e.clone(),
                    kind: RelKind::ToMany {
                        fk: ec,
                        order_by: None,
                        owned: false,
                        on_delete: OnDelete::Restrict,
                    },
                    overlaps: Vec::new(),
                });
                // The many-to-many both ways: parent.<field> and entity.<parent table>.
                let p_m2m = models[p].take(&field);
                let e_m2m = models[e].take(&schema.tables[p].name);
                let pos = t.pos_col.expect("a join table has a position column");
                // Each of the six writes a column of the join table another one writes too;
                // SQLAlchemy wants every such pair named (by attribute name, on any class).
                let group = [&down, &up, &to_e, &e_rows, &p_m2m, &e_m2m];
                let others = |me: usize| -> Vec<String> {
                    let mut v: Vec<String> = group
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != me)
                        .map(|(_, n)| n.to_string())
                        .collect();
                    v.sort();
                    v.dedup();
                    v
                };
                models[p].rels.push(Rel {
                    attr: p_m2m.clone(),
                    target: e,
                    back: e_m2m.clone(),
                    kind: RelKind::ManyToMany {
                        secondary: ti,
                        order_by: pos,
                    },
                    overlaps: others(4),
                });
                models[e].rels.push(Rel {
                    attr: e_m2m.clone(),
                    target: p,
                    back: p_m2m.clone(),
                    kind: RelKind::ManyToMany {
                        secondary: ti,
                        order_by: pos,
                    },
                    overlaps: others(5),
                });
                for (i, table) in [p, ti, ti, e].into_iter().enumerate() {
                    let rel = models[table]
                        .rels
                        .iter_mut()
                        .find(|r| &r.attr == group[i])
                        .expect("just added");
                    rel.overlaps = others(i);
                }
            }
        }
    }

    // References between collections (`references = "users"`): many-to-one from the column,
    // one-to-many back, named after the referring table.
    for (ti, t) in schema.tables.iter().enumerate() {
        for (ci, c) in t.columns.iter().enumerate() {
            let Some(fk) = &c.references else { continue };
            let is_link = Some(ci) == t.parent_col
                || matches!(t.elements, Elements::Entities { col, .. } if col == ci);
            if is_link {
                continue;
            }
            let Some(target) = schema.tables.iter().position(|x| x.name == fk.table) else {
                continue;
            };
            let several = t
                .columns
                .iter()
                .filter(|o| o.references.as_ref().is_some_and(|r| r.table == fk.table))
                .count()
                > 1;
            let back_base = if several || target == ti {
                format!("{}_by_{}", t.name, c.name)
            } else {
                t.name.clone()
            };
            let up = models[ti].take(&link_name(&c.name, &fk.table));
            let down = models[target].take(&back_base);
            models[ti].rels.push(Rel {
                attr: up.clone(),
                target,
                back: down.clone(),
                kind: RelKind::ToOne {
                    fk: ci,
                    nullable: !c.not_null,
                },
                overlaps: Vec::new(),
            });
            models[target].rels.push(Rel {
                attr: down,
                target: ti,
                back: up,
                kind: RelKind::ToMany {
                    fk: ci,
                    order_by: None,
                    owned: false,
                    on_delete: fk.on_delete,
                },
                overlaps: Vec::new(),
            });
        }
    }
    models
}

/// The name of a many-to-one attribute: the column without its `_id` / `Id` / `_key` suffix
/// (`course_id` → `course`, `postId` → `post`), else the target table in the singular, in
/// snake case (`_parent` of `UserProfiles` → `user_profile`).
fn link_name(column: &str, target: &str) -> String {
    for suffix in ["_id", "Id", "_ID", "_key", "Key"] {
        if let Some(stem) = column.strip_suffix(suffix)
            && !stem.trim_matches('_').is_empty()
        {
            return stem.to_string();
        }
    }
    snake(&crate::infer::plan::singular(target))
}

/// `UserProfile` → `user_profile`, `text` → `text`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// Tables in schema order, except that a table whose foreign key points at a table not yet
/// written waits for it (a `ForeignKey` to a name with a dot must be given as a column object,
/// which needs the target's class); cycles fall back to schema order.
fn emission_order(schema: &Schema) -> Vec<usize> {
    fn visit(schema: &Schema, t: usize, state: &mut [u8], out: &mut Vec<usize>) {
        if state[t] != 0 {
            return;
        }
        state[t] = 1;
        for c in &schema.tables[t].columns {
            if let Some(fk) = &c.references
                && let Some(target) = schema.tables.iter().position(|x| x.name == fk.table)
            {
                visit(schema, target, state, out);
            }
        }
        state[t] = 2;
        out.push(t);
    }
    let mut state = vec![0u8; schema.tables.len()];
    let mut out = Vec::new();
    for c in 0..schema.collections.len() {
        for t in schema.tables_of(c) {
            visit(schema, t, &mut state, &mut out);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

fn header(out: &mut String, schema: &Schema, models: &[Model], ctx: &Ctx) {
    let classes: Vec<&str> = emission_order(schema)
        .iter()
        .map(|&t| models[t].class.as_str())
        .collect();
    if ctx.pg {
        return pg_header(out, &classes, ctx);
    }
    let _ = writeln!(
        out,
        r#""""SQLAlchemy 2.0 models of the tables jsonlift creates, written by `jsonlift codegen sqlalchemy`
from jsonlift.toml: regenerate them rather than edit them.

Classes: {classes}.

- Every column is mapped under its exact SQL name; attribute names are Python identifiers.
- JSON columns read and write Python values (SQL NULL for None).
- Child collections are ordered by their position column; leave positions, generated ids and
  TinyDB document ids unset on insert: the database fills them.
- SQLite enforces foreign keys (and their ON DELETE CASCADE) only when asked, per connection:
  call `enable_foreign_keys(engine)` once after `create_engine`.
""""#,
        classes = classes.join(", ")
    );
    let _ = writeln!(
        out,
        "\nimport json\nfrom typing import Any, List, Optional\n\n\
         from sqlalchemy import (\n    DDL,\n    REAL,\n    Boolean,\n    CheckConstraint,\n    FetchedValue,\n    ForeignKey,\n    Index,\n    Integer,\n    Text,\n    TypeDecorator,\n    UniqueConstraint,\n    event,\n    text,\n)\n\
         from sqlalchemy.ext.compiler import compiles\n\
         from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship\n\n\n\
         class Base(DeclarativeBase):\n    pass\n\n\n\
         class JSONText(TypeDecorator):\n    \
         \"\"\"A JSON value in a TEXT column, as jsonlift stores it (compact text; None is SQL NULL).\n\n    \
         Not SQLAlchemy's JSON, whose column type JSON has NUMERIC affinity in SQLite: a table made\n    \
         by create_all() would store the JSON text 1.0 as the integer 1.\n    \
         \"\"\"\n\n    \
         impl = Text\n    cache_ok = True\n\n    \
         def process_bind_param(self, value, dialect):\n        \
         if value is None:\n            return None\n        \
         return json.dumps(value, ensure_ascii=False, separators=(\",\", \":\"))\n\n    \
         def process_result_value(self, value, dialect):\n        \
         return None if value is None else json.loads(value)\n\n\n\
         class IntKey(TypeDecorator):\n    \
         \"\"\"A natural integer key, declared INT: an INTEGER PRIMARY KEY would be the rowid.\"\"\"\n\n    \
         impl = Integer\n    cache_ok = True\n\n\n\
         @compiles(IntKey, \"sqlite\")\n\
         def _int_key(type_, compiler, **kw):\n    return \"INT\"\n\n\n\
         class Bool01(TypeDecorator):\n    \
         \"\"\"true/false as INTEGER 0/1, as jsonlift declares them (BOOLEAN has NUMERIC affinity).\"\"\"\n\n    \
         impl = Boolean\n    cache_ok = True\n\n\n\
         @compiles(Bool01, \"sqlite\")\n\
         def _bool01(type_, compiler, **kw):\n    return \"INTEGER\"\n\n\n\
         def enable_foreign_keys(engine):\n    \"\"\"`PRAGMA foreign_keys = ON` on every connection `engine` opens.\"\"\"\n\n    \
         @event.listens_for(engine, \"connect\")\n    def _on_connect(dbapi_connection, _record):\n        \
         cursor = dbapi_connection.cursor()\n        cursor.execute(\"PRAGMA foreign_keys = ON\")\n        cursor.close()\n\n    \
         return engine"
    );
}

/// The header on PostgreSQL: its own types serve (JSONB takes Python values, BigInteger and
/// Boolean are what the DDL declares), so none of SQLite's decorators is needed.
fn pg_header(out: &mut String, classes: &[&str], ctx: &Ctx) {
    let schema_line = match ctx.schema {
        Some(s) => format!(
            "- The tables are in PostgreSQL schema {s:?} (`pg_schema`); every class names it.\n"
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        r#""""SQLAlchemy 2.0 models of the tables jsonlift creates in PostgreSQL, written by
`jsonlift codegen sqlalchemy` from jsonlift.toml: regenerate them rather than edit them.

Classes: {classes}.

- Every column is mapped under its exact SQL name; attribute names are Python identifiers.
- JSON columns are JSONB: Python values in and out (SQL NULL for None).
- Child collections are ordered by their position column; leave positions, generated ids
  (identity columns) and TinyDB document ids unset on insert: the database fills them.
- `_rowid` and `_exact` are jsonlift's own columns: leave `_rowid` to the database; `_exact`
  holds the exact text of JSON values jsonb would rewrite, which jsonlift serves instead of the
  JSONB value: set it to None when you change a JSON column of a row that has it.
{schema_line}""""#,
        classes = classes.join(", ")
    );
    let _ = writeln!(
        out,
        "\nfrom typing import Any, List, Optional\n\n\
         from sqlalchemy import (\n    DDL,\n    BigInteger,\n    Boolean,\n    CheckConstraint,\n    Double,\n    FetchedValue,\n    ForeignKey,\n    Identity,\n    Index,\n    Text,\n    UniqueConstraint,\n    event,\n    text,\n)\n\
         from sqlalchemy.dialects.postgresql import JSONB\n\
         from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship\n\n\n\
         class Base(DeclarativeBase):\n    pass\n\n\n\
         def enable_foreign_keys(engine):\n    \
         \"\"\"Nothing to do: PostgreSQL always enforces foreign keys. Kept so that an app's code reads\n    \
         the same on SQLite, where it turns them on.\"\"\"\n\n    \
         return engine"
    );
}

fn class(out: &mut String, schema: &Schema, models: &[Model], ti: usize, ctx: &Ctx) {
    let t = &schema.tables[ti];
    let m = &models[ti];
    let coll = &schema.collections[t.collection];
    let what = match (&t.elements, t.parent, t.join) {
        (_, _, Some(_)) => "shared entities".to_string(),
        (Elements::Entities { .. }, _, _) => "join table (parent, position, entity)".to_string(),
        (_, Some(p), _) => format!("child table of {}", schema.tables[p].name),
        _ => format!(
            "collection {} ({})",
            coll.name, schema.sources[coll.source].display
        ),
    };
    let _ = writeln!(out, "class {}(Base):", m.class);
    let _ = writeln!(out, "    {}\n", py_doc(&format!("{}: {what}.", t.name)));
    let _ = writeln!(out, "    __tablename__ = {}", py_str(&t.name));
    let args = table_args(t, ctx);
    if !args.is_empty() || ctx.schema.is_some() {
        let _ = writeln!(out, "    __table_args__ = (");
        for a in args {
            let _ = writeln!(out, "        {a},");
        }
        if let Some(s) = ctx.schema {
            let _ = writeln!(out, "        {{\"schema\": {}}},", py_str(s));
        }
        let _ = writeln!(out, "    )");
    }
    if (0..t.columns.len()).any(|i| filled_by_database(t, i)) {
        // The database fills those columns in an AFTER INSERT trigger, which RETURNING does
        // not see: they are loaded when first read after the insert instead.
        let _ = writeln!(out, "    __mapper_args__ = {{\"eager_defaults\": False}}");
    }
    out.push('\n');
    if let Some(attr) = &m.pg_rowid {
        let _ = writeln!(
            out,
            "    # jsonlift's: PostgreSQL has no rowid, so this numbers the rows in the order they were\n    \
             # added (the record order). The database fills it; leave it unset."
        );
        let _ = writeln!(
            out,
            "    {}",
            call(
                &format!("{attr}: Mapped[int] = mapped_column"),
                &[
                    py_str(PG_ROWID),
                    "BigInteger".into(),
                    "Identity()".into(),
                    "unique=True".into()
                ]
            )
        );
    }
    for (ci, c) in t.columns.iter().enumerate() {
        let _ = writeln!(out, "    {}", column(schema, models, t, ti, ci, c, ctx));
    }
    if let Some(attr) = &m.pg_exact {
        let _ = writeln!(
            out,
            "    # jsonlift's: the exact text of JSON values jsonb would rewrite, served instead of them;\n    \
             # None for most rows. Leave it unset on insert; set it to None when changing a JSON column."
        );
        let _ = writeln!(
            out,
            "    {}",
            call(
                &format!("{attr}: Mapped[Optional[str]] = mapped_column"),
                &[py_str(PG_EXACT), "Text".into(), "nullable=True".into()]
            )
        );
    }
    if !m.rels.is_empty() {
        out.push('\n');
    }
    for r in &m.rels {
        let _ = writeln!(out, "    {}", relationship(schema, models, ti, r, ctx));
    }
    // The triggers that fill those columns, so that `create_all` makes the same database.
    let triggers = triggers(
        t,
        if ctx.pg {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        },
    );
    if !triggers.is_empty() {
        out.push('\n');
    }
    for sql in triggers {
        // DDL() formats its text with `%`.
        let _ = writeln!(
            out,
            "event.listen({}.__table__, \"after_create\", DDL({}))",
            m.class,
            py_str(&sql.replace('%', "%%"))
        );
    }
}

fn table_args(t: &Table, ctx: &Ctx) -> Vec<String> {
    // Constraints and indexes name their columns by SQL name.
    let attr_list = |cols: &[String]| -> Vec<String> { cols.iter().map(|c| py_str(c)).collect() };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for group in &t.uniques {
        if seen.insert(group.clone()) {
            out.push(format!("UniqueConstraint({})", attr_list(group).join(", ")));
        }
    }
    // PostgreSQL cuts names to 63 bytes, as the DDL's indexes are then called.
    let index_name = |name: String| -> String {
        if ctx.pg {
            super::pg_name(&name).to_string()
        } else {
            name
        }
    };
    let mut index = |cols: &[String]| {
        let name = index_name(format!("idx_{}_{}", t.name, cols.join("_")));
        out.push(format!(
            "Index({}, {})",
            py_str(&name),
            attr_list(cols).join(", ")
        ));
    };
    for c in &t.columns {
        if c.index && !c.unique && !c.primary_key {
            index(std::slice::from_ref(&c.name));
        }
    }
    for group in &t.indexes {
        index(group);
    }
    if let Some(e) = t.extra_col {
        let name = &t.columns[e].name;
        out.push(format!(
            "Index({}, {}, {}_where=text({}))",
            py_str(&index_name(format!("idx_{}_{name}_held", t.name))),
            py_str(name),
            if ctx.pg { "postgresql" } else { "sqlite" },
            py_str(&format!("{} IS NOT NULL", sql_quote(name)))
        ));
    }
    for c in &t.columns {
        for check in &c.checks {
            // As the DDL: PostgreSQL's boolean needs no 0/1 check.
            if ctx.pg
                && c.ty == ColType::Boolean
                && *check == format!("{} IN (0, 1)", sql_quote(&c.name))
            {
                continue;
            }
            out.push(format!("CheckConstraint({})", py_str(check)));
        }
        // jsonb is valid JSON by its type.
        if c.ty == ColType::Json && c.role != Role::Meta && !ctx.pg {
            let q = sql_quote(&c.name);
            let check = if c.not_null {
                format!("json_valid({q})")
            } else {
                format!("{q} IS NULL OR json_valid({q})")
            };
            out.push(format!("CheckConstraint({})", py_str(&check)));
        }
    }
    out
}

fn column(
    schema: &Schema,
    models: &[Model],
    t: &Table,
    ti: usize,
    ci: usize,
    c: &Column,
    ctx: &Ctx,
) -> String {
    let m = &models[ti];
    let filled = filled_by_database(t, ci);
    let nullable = filled || (!c.not_null && !c.primary_key);
    // Types whose DDL is the DDL migrate writes (`create_all` makes the same columns).
    let (sql_ty, py_ty) = match (ctx.pg, c.ty) {
        (_, ColType::Text) => ("Text", "str"),
        (false, ColType::Integer) if c.primary_key && c.role != Role::Id => ("IntKey", "int"),
        (false, ColType::Integer) => ("Integer", "int"),
        (false, ColType::Real) => ("REAL", "float"),
        (false, ColType::Boolean) => ("Bool01", "bool"),
        (false, ColType::Json) => ("JSONText", "Any"),
        (true, ColType::Integer) => ("BigInteger", "int"),
        (true, ColType::Real) => ("Double", "float"),
        (true, ColType::Boolean) => ("Boolean", "bool"),
        (true, ColType::Json) => ("JSONB", "Any"),
    };
    let annotation = if nullable && c.ty != ColType::Json {
        format!("Optional[{py_ty}]")
    } else {
        py_ty.to_string()
    };
    let mut args = vec![py_str(&c.name), sql_ty.to_string()];
    let identity = ctx.pg && c.primary_key && c.role == Role::Id;
    if identity {
        // GENERATED BY DEFAULT AS IDENTITY, as the DDL has it.
        args.push("Identity()".into());
    }
    if let Some(fk) = &c.references {
        let on_delete = on_delete_sql(fk.on_delete);
        let target = if fk.table.contains('.') || fk.column.contains('.') {
            // A dotted name would be read as schema.table.column; the class is defined before
            // this one (see `emission_order`) unless the references form a cycle.
            match schema.tables.iter().position(|x| x.name == fk.table) {
                Some(tt) => {
                    let ci = schema.tables[tt]
                        .col(&fk.column)
                        .unwrap_or(schema.tables[tt].pk);
                    format!(
                        "{}.__table__.c[{}]",
                        models[tt].class,
                        py_str(&models[tt].attrs[ci])
                    )
                }
                None => py_str(&ctx.qualified(&fk.table, &fk.column)),
            }
        } else {
            py_str(&ctx.qualified(&fk.table, &fk.column))
        };
        args.push(format!(
            "ForeignKey({target}, ondelete=\"{on_delete}\", onupdate=\"CASCADE\")"
        ));
    }
    if c.primary_key {
        args.push("primary_key=True".into());
        // Only a generated id is the rowid; a natural integer key is typed INT, not an alias.
        // (On PostgreSQL, `Identity()` says it and nothing else is generated.)
        if c.ty == ColType::Integer && !ctx.pg {
            args.push(
                if c.role == Role::Id {
                    "autoincrement=True"
                } else {
                    "autoincrement=False"
                }
                .into(),
            );
        }
    } else {
        args.push(format!(
            "nullable={}",
            if nullable { "True" } else { "False" }
        ));
    }
    if c.unique && !c.primary_key {
        args.push("unique=True".into());
    }
    if filled {
        args.push("server_default=FetchedValue()".into());
    } else if let Some(d) = &c.default {
        let dialect = if ctx.pg {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        args.push(format!(
            "server_default=text({})",
            py_str(&d.sql(c.ty, dialect))
        ));
    }
    call(
        &format!("{}: Mapped[{annotation}] = mapped_column", m.attrs[ci]),
        &args,
    )
}

fn relationship(schema: &Schema, models: &[Model], ti: usize, r: &Rel, ctx: &Ctx) -> String {
    let target = &models[r.target].class;
    let mut args = vec![format!("back_populates={}", py_str(&r.back))];
    let annotation = match &r.kind {
        RelKind::ToOne { fk, nullable } => {
            args.push(format!(
                "foreign_keys={}",
                py_str(&format!("[{}.{}]", models[ti].class, models[ti].attrs[*fk]))
            ));
            if r.target == ti {
                let pk = schema.tables[ti].pk;
                args.push(format!(
                    "remote_side={}",
                    py_str(&format!("[{}.{}]", models[ti].class, models[ti].attrs[pk]))
                ));
            }
            if *nullable {
                format!("Optional[\"{target}\"]")
            } else {
                format!("\"{target}\"")
            }
        }
        RelKind::ToMany {
            fk,
            order_by,
            owned,
            on_delete,
        } => {
            args.push(format!(
                "foreign_keys={}",
                py_str(&format!("[{target}.{}]", models[r.target].attrs[*fk]))
            ));
            if let Some(pos) = order_by {
                args.push(format!(
                    "order_by={}",
                    py_str(&format!("{target}.{}", models[r.target].attrs[*pos]))
                ));
            }
            if *owned {
                args.push("cascade=\"all, delete-orphan\"".into());
            }
            // The database carries out ON DELETE; RESTRICT must reach it untouched.
            args.push(
                match on_delete {
                    OnDelete::Restrict => "passive_deletes=\"all\"",
                    OnDelete::Cascade | OnDelete::SetNull => "passive_deletes=True",
                }
                .into(),
            );
            format!("List[\"{target}\"]")
        }
        RelKind::ManyToMany {
            secondary,
            order_by,
        } => {
            let join = &models[*secondary];
            let name = &schema.tables[*secondary].name;
            // By name only in the default schema: a metadata key with a schema in it is not an
            // identifier either.
            let secondary = if is_plain_ident(name) && ctx.schema.is_none() {
                py_str(name)
            } else {
                format!("lambda: {}.__table__", join.class)
            };
            args.insert(0, format!("secondary={secondary}"));
            args.push(format!(
                "order_by={}",
                py_str(&format!("{}.{}", join.class, join.attrs[*order_by]))
            ));
            format!("List[\"{target}\"]")
        }
    };
    if !r.overlaps.is_empty() {
        args.push(format!("overlaps={}", py_str(&r.overlaps.join(","))));
    }
    call(
        &format!("{}: Mapped[{annotation}] = relationship", r.attr),
        &args,
    )
}

// ---------------------------------------------------------------------------------------------
// Python names and literals
// ---------------------------------------------------------------------------------------------

/// A valid Python identifier for any SQL name: other characters become `_`, a leading digit
/// gets a `_` before it, a keyword one after it, and a leading `__` (which Python would mangle
/// inside a class body) is shortened to `_`.
fn py_ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    while s.starts_with("__") {
        s.remove(0);
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// A class name: the table's name in CamelCase, its last word in the singular (`mastered_words`
/// → `MasteredWord`, `syllabi` → `Syllabus`).
fn class_name(table: &str) -> String {
    let words: Vec<&str> = table
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut s = String::new();
    for (i, w) in words.iter().enumerate() {
        let w = if i + 1 == words.len() {
            crate::infer::plan::singular(w)
        } else {
            w.to_string()
        };
        let mut cs = w.chars();
        if let Some(first) = cs.next() {
            s.push(first.to_ascii_uppercase());
            s.extend(cs);
        }
    }
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'T');
    }
    s
}

/// `base`, or `base_2`, `base_3`, ... : the first not in `used` (a name ending in `_` already
/// is extended, so `class_` stays distinct from `class`).
fn unique(base: &str, used: &HashSet<String>) -> String {
    if !used.contains(base) && !KEYWORDS.contains(&base) {
        return base.to_string();
    }
    let first = format!("{base}_");
    if !used.contains(&first) {
        return first;
    }
    (2..)
        .map(|n| format!("{base}_{n}"))
        .find(|n| !used.contains(n))
        .expect("some suffix is free")
}

fn is_plain_ident(name: &str) -> bool {
    py_ident(name) == name
}

/// Longest line written, as black's default (88) leaves room for the class indentation.
const WIDTH: usize = 99;

/// `head(args)` on one line (four spaces in) if it fits, else one argument a line, as black
/// writes it.
fn call(head: &str, args: &[String]) -> String {
    let one = format!("{head}({})", args.join(", "));
    if one.len() + 4 <= WIDTH {
        return one;
    }
    let mut s = format!("{head}(\n");
    for a in args {
        let _ = writeln!(s, "        {a},");
    }
    s.push_str("    )");
    s
}

/// A docstring: triple-quoted when nothing in it needs escaping.
fn py_doc(s: &str) -> String {
    if s.contains(['"', '\\']) || s.chars().any(|c| c.is_control()) {
        py_str(s)
    } else {
        format!("\"\"\"{s}\"\"\"")
    }
}

/// A Python string literal: double quotes, or single ones when the text holds double quotes
/// and no single ones (SQL with quoted names reads better so); non-ASCII kept (UTF-8 file).
fn py_str(s: &str) -> String {
    let quote = if s.contains('"') && !s.contains('\'') {
        '\''
    } else {
        '"'
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if matches!(c, '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn sql_quote(ident: &str) -> String {
    crate::schema::ddl::quote(ident)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::config::Project;

    fn schema(toml: &str) -> Schema {
        // A missing source is fine: the format is given or defaults to array.
        let p = Project::parse(Path::new("/nonexistent/jsonlift.toml"), toml).unwrap();
        Schema::build(&p).unwrap()
    }

    #[test]
    fn sql_names_become_python_identifiers() {
        assert_eq!(py_ident("title"), "title");
        assert_eq!(py_ident("_id"), "_id");
        assert_eq!(py_ident("class"), "class_");
        assert_eq!(py_ident("None"), "None_");
        assert_eq!(py_ident("my col"), "my_col");
        assert_eq!(py_ident("a-b.c"), "a_b_c");
        assert_eq!(py_ident("1st"), "_1st");
        assert_eq!(py_ident("__secret"), "_secret"); // no name mangling in the class body
        assert_eq!(py_ident("größe"), "gr__e");
        assert_eq!(py_ident(""), "_");
        assert_eq!(py_ident("match"), "match"); // a soft keyword is a valid name
    }

    #[test]
    fn class_names_are_camel_case_and_singular() {
        assert_eq!(class_name("courses"), "Course");
        assert_eq!(class_name("mastered_words"), "MasteredWord");
        assert_eq!(class_name("syllabi"), "Syllabus");
        assert_eq!(class_name("series_cast"), "SeriesCast");
        assert_eq!(class_name("user_progress"), "UserProgress");
        assert_eq!(class_name("2fa codes"), "T2faCode");
        assert_eq!(class_name("ü"), "T");
    }

    #[test]
    fn names_never_collide() {
        let used: HashSet<String> = ["id", "id_", "class_"].map(String::from).into();
        assert_eq!(unique("name", &used), "name");
        assert_eq!(unique("id", &used), "id_2");
        assert_eq!(unique("class_", &used), "class__");
        assert_eq!(link_name("course_id", "courses"), "course");
        assert_eq!(link_name("postId", "posts"), "post");
        assert_eq!(link_name("_parent", "UserProfiles"), "user_profile");
        assert_eq!(link_name("_id", "things"), "thing");
    }

    #[test]
    fn python_literals_escape_what_they_must() {
        assert_eq!(py_str("plain"), "\"plain\"");
        assert_eq!(py_str("\"a\" IS NULL"), "'\"a\" IS NULL'");
        assert_eq!(py_str("it's \"x\""), "\"it's \\\"x\\\"\"");
        assert_eq!(py_str("a\\b\nc\u{1}"), "\"a\\\\b\\nc\\x01\"");
        assert_eq!(py_str("Anfänger"), "\"Anfänger\"");
        assert_eq!(
            py_doc("t: child table of p."),
            "\"\"\"t: child table of p.\"\"\""
        );
        assert_eq!(py_doc("\"q\": x"), "'\"q\": x'");
    }

    #[test]
    fn long_calls_are_wrapped_one_argument_a_line() {
        assert_eq!(
            call("x: Mapped[int] = f", &["1".into()]),
            "x: Mapped[int] = f(1)"
        );
        let args: Vec<String> = (0..12).map(|i| format!("argument_{i}")).collect();
        let text = call("x = f", &args);
        assert!(text.starts_with("x = f(\n        argument_0,\n"), "{text}");
        assert!(text.ends_with("        argument_11,\n    )"), "{text}");
    }

    const COURSES: &str = r#"
[collections.courses]
source = "courses.json"
key = "id"

[collections.courses.fields]
id = "text"
class = { type = "text", required = true }
meta = { type = "json", required = true }

[collections.courses.fields.modules]
type = "array"
table = "modules"
parent_column = "course_id"
position_column = "module_index"

[collections.courses.fields.modules.fields]
id = "text"
title = "text"

[collections.series]
source = "series.json"
key = "id"

[collections.series.fields]
id = "text"
course = { type = "text", references = "courses", on_delete = "set null" }

[collections.series.fields.cast]
type = "array"
key = "id"
table = "people"
join_table = "series_cast"
parent_column = "series_id"
position_column = "cast_index"
entity_column = "person_id"

[collections.series.fields.cast.fields]
id = "integer"
name = { type = "text", required = true }
"#;

    #[test]
    fn models_name_every_table_column_and_relationship() {
        let py = generate(&schema(COURSES), &Default::default());
        for line in [
            "class Base(DeclarativeBase):",
            "class Course(Base):",
            "    __tablename__ = \"courses\"",
            "    id: Mapped[str] = mapped_column(\"id\", Text, primary_key=True)",
            "    class_: Mapped[str] = mapped_column(\"class\", Text, nullable=False)",
            "    meta: Mapped[Any] = mapped_column(\"meta\", JSONText, nullable=False)",
            "        CheckConstraint('json_valid(\"meta\")'),",
            "class Module(Base):",
            "    _id: Mapped[int] = mapped_column(\"_id\", Integer, primary_key=True, autoincrement=True)",
            "        ForeignKey(\"courses.id\", ondelete=\"CASCADE\", onupdate=\"CASCADE\"),",
            "        UniqueConstraint(\"course_id\", \"module_index\"),",
            "    __mapper_args__ = {\"eager_defaults\": False}",
            "        server_default=FetchedValue(),",
            "        order_by=\"Module.module_index\",",
            "        cascade=\"all, delete-orphan\",",
            "    course: Mapped[\"Course\"] = relationship(\n        back_populates=\"modules\",",
            "class People(Base):",
            "class SeriesCast(Base):",
            "        secondary=\"series_cast\",",
            "        order_by=\"SeriesCast.cast_index\",",
            "        ForeignKey(\"people.id\", ondelete=\"RESTRICT\", onupdate=\"CASCADE\"),",
            "        ForeignKey(\"courses.id\", ondelete=\"SET NULL\", onupdate=\"CASCADE\"),",
        ] {
            assert!(py.contains(line), "missing {line:?} in\n{py}");
        }
        // The reference `series.course`: the column keeps its name, the object gets another.
        assert!(
            py.contains("    course: Mapped[Optional[str]] = mapped_column("),
            "{py}"
        );
        assert!(
            py.contains("    course_: Mapped[Optional[\"Course\"]] = relationship("),
            "{py}"
        );
        // Many-to-many both ways, each naming the relationships that share its columns.
        assert!(
            py.contains("    cast: Mapped[List[\"People\"]] = relationship("),
            "{py}"
        );
        assert!(
            py.contains("    series: Mapped[List[\"Series\"]] = relationship("),
            "{py}"
        );
        assert!(
            py.contains("overlaps=\"person,series,series_cast\""),
            "{py}"
        );
        // Parents come before their children, entities before their join table.
        let at = |s: &str| py.find(s).unwrap_or_else(|| panic!("{s} not in\n{py}"));
        assert!(at("class Course(") < at("class Module("));
        assert!(at("class People(") < at("class SeriesCast("));
    }

    #[test]
    fn models_on_postgres_follow_its_ddl() {
        let pg = |schema: &str| CodegenOptions {
            dialect: Dialect::Postgres,
            pg_schema: schema.into(),
        };
        let py = generate(&schema(COURSES), &pg("jl_app"));
        for line in [
            "from sqlalchemy.dialects.postgresql import JSONB",
            "    _id: Mapped[int] = mapped_column(\"_id\", BigInteger, Identity(), primary_key=True)",
            "    meta: Mapped[Any] = mapped_column(\"meta\", JSONB, nullable=False)",
            "        ForeignKey(\"jl_app.courses.id\", ondelete=\"CASCADE\", onupdate=\"CASCADE\"),",
            "        {\"schema\": \"jl_app\"},",
            "    _rowid: Mapped[int] = mapped_column(\"_rowid\", BigInteger, Identity(), unique=True)",
            "    _exact: Mapped[Optional[str]] = mapped_column(\"_exact\", Text, nullable=True)",
            "        Index(\"idx_courses__extra_held\", \"_extra\", postgresql_where=text('\"_extra\" IS NOT NULL')),",
            "        secondary=lambda: SeriesCast.__table__,",
        ] {
            assert!(py.contains(line), "missing {line:?} in\n{py}");
        }
        // A natural integer key is a plain BigInteger the app gives; no SQLite spellings.
        assert!(
            py.contains("id: Mapped[int] = mapped_column(\"id\", BigInteger, primary_key=True)"),
            "{py}"
        );
        for sqlite in [
            "json_valid",
            "IntKey",
            "Bool01",
            "JSONText",
            "sqlite_where",
            "AFTER INSERT",
        ] {
            assert!(!py.contains(sqlite), "{sqlite} in\n{py}");
        }
        // In `public`, no schema anywhere.
        let py = generate(&schema(COURSES), &pg("public"));
        assert!(!py.contains("\"schema\""), "{py}");
        assert!(py.contains("ForeignKey(\"courses.id\""), "{py}");
    }

    #[test]
    fn a_table_named_like_an_import_gets_another_class_name() {
        let py = generate(
            &schema(
                "[collections.Text]\nsource = \"t.json\"\n[collections.Text.fields]\nText = \"text\"\n",
            ),
            &Default::default(),
        );
        assert!(py.contains("class Text_(Base):"), "{py}");
        assert!(
            py.contains("    Text_: Mapped[Optional[str]] = mapped_column(\"Text\", Text,"),
            "{py}"
        );
    }
}
