//! `jsonlift codegen drizzle`: a Drizzle ORM `schema.ts` for every table of the schema
//! (drizzle-orm/sqlite-core, or drizzle-orm/pg-core when the database is PostgreSQL), written
//! from the schema rather than pulled from the database, so the models say what the DDL means:
//! which ids the database fills in, exact SQL names next to valid and distinct TypeScript names
//! (`drizzle-kit pull` maps `_id` and `id` both to `id`), and `relations()` for nested arrays
//! and shared entities, which introspection cannot see. Everything that differs between the two
//! databases is in [`Flavor`]; the tables, keys and relations are written once.

use std::collections::HashMap;
use std::fmt::Write;

use super::{
    CodegenOptions, Names, ident, indexes, js_string, nullable, pg_name, prop, unique_groups,
};
use crate::schema::ddl::{PG_EXACT, PG_ROWID, has_generated_key};
use crate::schema::{ColType, Column, Elements, OnDelete, Role, Schema, Table};
use crate::store::Dialect;

/// What the module imports from `drizzle-orm` itself.
const ORM_IMPORTS: &[&str] = &["relations", "sql"];

/// What it imports from drizzle-orm/sqlite-core; a table named like one of them gets another
/// variable name.
const SQLITE_IMPORTS: &[&str] = &[
    "AnySQLiteColumn",
    "index",
    "integer",
    "primaryKey",
    "real",
    "sqliteTable",
    "text",
    "unique",
];

/// What it imports from drizzle-orm/pg-core.
const PG_IMPORTS: &[&str] = &[
    "AnyPgColumn",
    "bigint",
    "boolean",
    "doublePrecision",
    "index",
    "jsonb",
    "pgSchema",
    "pgTable",
    "primaryKey",
    "text",
    "unique",
];

/// The per-database part of the generated code: the core module and its builders, the table
/// function, column types and keys. One value per `generate`, asked wherever the two differ.
struct Flavor {
    dialect: Dialect,
    /// The variable of `pgSchema(...)` when the tables are in a schema other than `public`.
    schema_var: Option<String>,
}

impl Flavor {
    fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    fn module(&self) -> &'static str {
        if self.pg() {
            "drizzle-orm/pg-core"
        } else {
            "drizzle-orm/sqlite-core"
        }
    }

    fn imports(&self) -> &'static [&'static str] {
        if self.pg() {
            PG_IMPORTS
        } else {
            SQLITE_IMPORTS
        }
    }

    /// The type a `.references()` callback returns (it breaks the cycle of mutual references).
    fn any_column(&self) -> &'static str {
        if self.pg() {
            "AnyPgColumn"
        } else {
            "AnySQLiteColumn"
        }
    }

    /// `sqliteTable(`, `pgTable(` or `mySchema.table(`, and the import it needs.
    fn table_fn(&self) -> (String, Option<&'static str>) {
        match (&self.schema_var, self.pg()) {
            (Some(v), _) => (format!("{v}.table"), None),
            (None, true) => ("pgTable".into(), Some("pgTable")),
            (None, false) => ("sqliteTable".into(), Some("sqliteTable")),
        }
    }

    /// The column builder for `c`, as `migrate` types the column in this database, and its
    /// import.
    fn column(&self, c: &Column) -> (String, &'static str) {
        let n = js_string(&c.name);
        if self.pg() {
            match c.ty {
                ColType::Text => (format!("text({n})"), "text"),
                ColType::Json => (format!("jsonb({n})"), "jsonb"),
                // bigint, read as a JavaScript number: jsonlift's integers are JSON numbers,
                // exact up to 2^53 in the records it serves as well.
                ColType::Integer => (format!("bigint({n}, {{ mode: \"number\" }})"), "bigint"),
                ColType::Boolean => (format!("boolean({n})"), "boolean"),
                ColType::Real => (format!("doublePrecision({n})"), "doublePrecision"),
            }
        } else {
            match c.ty {
                ColType::Text => (format!("text({n})"), "text"),
                ColType::Json => (format!("text({n}, {{ mode: \"json\" }})"), "text"),
                ColType::Integer => (format!("integer({n})"), "integer"),
                ColType::Boolean => (format!("integer({n}, {{ mode: \"boolean\" }})"), "integer"),
                ColType::Real => (format!("real({n})"), "real"),
            }
        }
    }

    /// Whether the key is declared on the column (else with `primaryKey({ columns })` on the
    /// table). On SQLite: generated ids (the database numbers them, so an insert may leave them
    /// out) and keys that are never NULL and not integers; a natural integer key is declared on
    /// the table, since on the column Drizzle would take it for a rowid the database fills in,
    /// which it is not (jsonlift types it `INT` to keep the record order). PostgreSQL has no
    /// rowid: every key is the column's, and only an identity is filled in.
    fn column_level_pk(&self, t: &Table, c: &Column) -> bool {
        c.primary_key
            && (self.pg() || c.role == Role::Id || (c.ty != ColType::Integer && !nullable(t, c)))
    }

    /// What follows `.primaryKey()` on a generated id: on PostgreSQL it is an identity column
    /// (which Drizzle then leaves out of an insert); SQLite's rowid needs nothing.
    fn generated_key(&self) -> &'static str {
        if self.pg() {
            ".generatedByDefaultAsIdentity()"
        } else {
            ""
        }
    }
}

/// What a table object of Drizzle has itself: a column may not be called so.
const TABLE_MEMBERS: &[&str] = &["_", "$inferSelect", "$inferInsert", "getSQL"];

/// The TypeScript names of a table and its columns.
struct TableNames {
    var: String,
    cols: Vec<String>,
    /// PostgreSQL's bookkeeping columns `_rowid` (when the table has no generated key) and
    /// `_exact`, which the DDL adds before and after the schema's columns.
    rowid: Option<String>,
    exact: Option<String>,
    /// Taken in the table's row objects: its columns, then its relations.
    scope: Names,
}

/// A foreign key: column `col` of table `from` refers to column `to_col` of table `to`.
struct Edge {
    from: usize,
    col: usize,
    to: usize,
    to_col: usize,
    /// The relation on `from` (`one`) and on `to` (`many`).
    one: String,
    many: String,
}

pub fn generate(schema: &Schema, options: &CodegenOptions) -> String {
    let mut flavor = Flavor {
        dialect: options.dialect,
        schema_var: None,
    };
    let pg = flavor.pg();
    let order: Vec<usize> = (0..schema.collections.len())
        .flat_map(|c| schema.tables_of(c))
        .collect();
    let reserved: Vec<&str> = ORM_IMPORTS
        .iter()
        .chain(flavor.imports())
        .copied()
        .collect();
    let mut globals = Names::with(&reserved);
    let mut names: Vec<TableNames> = schema
        .tables
        .iter()
        .map(|t| {
            let mut scope = Names::with(TABLE_MEMBERS);
            let cols = t
                .columns
                .iter()
                .map(|c| scope.claim(&prop(&c.name)))
                .collect();
            let rowid = (pg && !has_generated_key(t)).then(|| scope.claim(PG_ROWID));
            let exact = pg.then(|| scope.claim(PG_EXACT));
            TableNames {
                var: String::new(),
                cols,
                rowid,
                exact,
                scope,
            }
        })
        .collect();
    for &ti in &order {
        names[ti].var = globals.claim(&ident(&schema.tables[ti].name));
    }
    // After the tables, which keep their own names: `jl_appSchema`.
    if let Some(s) = options.named_pg_schema() {
        flavor.schema_var = Some(globals.claim(&format!("{}Schema", ident(s))));
    }
    let edges = edges(schema, &order, &mut names);

    let mut used = Vec::new();
    let mut body = String::new();
    for &ti in &order {
        table(schema, ti, &flavor, &names, &mut used, &mut body);
    }
    for &ti in &order {
        let ones: Vec<&Edge> = edges.iter().filter(|e| e.from == ti).collect();
        let manys: Vec<&Edge> = edges.iter().filter(|e| e.to == ti).collect();
        if ones.is_empty() && manys.is_empty() {
            continue;
        }
        used.push("relations");
        let var = &names[ti].var;
        let helpers = match (ones.is_empty(), manys.is_empty()) {
            (false, false) => "{ one, many }",
            (false, true) => "{ one }",
            _ => "{ many }",
        };
        let rvar = globals.claim(&format!("{var}Relations"));
        let _ = writeln!(
            body,
            "\nexport const {rvar} = relations({var}, ({helpers}) => ({{"
        );
        for e in ones {
            let (to, tn) = (&names[e.to].var, &names[e.to].cols[e.to_col]);
            let _ = writeln!(
                body,
                "  {}: one({to}, {{ fields: [{var}.{}], references: [{to}.{tn}], relationName: {} }}),",
                e.one,
                names[ti].cols[e.col],
                relation_name(schema, e)
            );
        }
        for e in manys {
            let _ = writeln!(
                body,
                "  {}: many({}, {{ relationName: {} }}),",
                e.many,
                names[e.from].var,
                relation_name(schema, e)
            );
        }
        body.push_str("}));\n");
    }

    let mut out = String::from(
        "// Drizzle ORM schema of a jsonlift database, generated by `jsonlift codegen drizzle` from\n\
         // jsonlift.toml: regenerate it rather than editing it. jsonlift's own DDL creates the\n\
         // tables (with CHECKs and triggers this file does not repeat): read and write with\n\
         // Drizzle, but do not push or migrate them with drizzle-kit.\n",
    );
    if pg {
        out.push_str(
            "//\n\
             // PostgreSQL: foreign keys are DEFERRABLE INITIALLY IMMEDIATE in the database, and\n\
             // triggers fill positions and document ids left NULL. `_rowid` and `_exact` are\n\
             // jsonlift's own columns (see their comments).\n",
        );
    }
    out.push('\n');
    let orm: Vec<&str> = ORM_IMPORTS
        .iter()
        .copied()
        .filter(|i| used.contains(i))
        .collect();
    if !orm.is_empty() {
        let _ = writeln!(out, "import {{ {} }} from \"drizzle-orm\";", orm.join(", "));
    }
    if flavor.schema_var.is_some() {
        used.push("pgSchema");
    }
    let core: Vec<String> = flavor
        .imports()
        .iter()
        .filter(|i| used.contains(i))
        .map(|i| {
            if *i == flavor.any_column() {
                format!("type {i}")
            } else {
                i.to_string()
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "import {{ {} }} from \"{}\";",
        core.join(", "),
        flavor.module()
    );
    if let (Some(v), Some(s)) = (&flavor.schema_var, options.named_pg_schema()) {
        let _ = writeln!(
            out,
            "\n/** The PostgreSQL schema holding the tables (`pg_schema` in jsonlift.toml). */\nexport const {v} = pgSchema({});",
            js_string(s)
        );
    }
    out.push_str(&body);
    out
}

/// Every foreign key, with its relation names: on the referring table the referred row, named
/// after the column (`course_id` → `course`); on the referred table the referring rows, named
/// after their table (`modules`). Names never collide with columns or each other.
fn edges(schema: &Schema, order: &[usize], names: &mut [TableNames]) -> Vec<Edge> {
    let by_name: HashMap<&str, usize> = schema
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for &from in order {
        let t = &schema.tables[from];
        for (col, c) in t.columns.iter().enumerate() {
            let Some(fk) = &c.references else { continue };
            let Some(&to) = by_name.get(fk.table.as_str()) else {
                continue;
            };
            let Some(to_col) = schema.tables[to].col(&fk.column) else {
                continue;
            };
            let target = names[to].var.clone();
            let base = match one_name(&c.name) {
                Some(b) if !names[from].scope.is_taken(&b) => b,
                _ => target,
            };
            let one = names[from].scope.claim(&base);
            out.push(Edge {
                from,
                col,
                to,
                to_col,
                one,
                many: String::new(),
            });
        }
    }
    for e in &mut out {
        let source = names[e.from].var.clone();
        let base = if names[e.to].scope.is_taken(&source) {
            format!("{source}_by_{}", names[e.from].cols[e.col])
        } else {
            source
        };
        e.many = names[e.to].scope.claim(&base);
    }
    out
}

/// `course_id` → `course`, `postId` → `post`, `_parent` (a child's default) → `parent`; `None`
/// when nothing is left or nothing was taken off (a `value` column is better named after its
/// target).
fn one_name(column: &str) -> Option<String> {
    let trimmed = column.trim_start_matches('_');
    let stem = ["_id", "Id", "ID", "_key", "Key"]
        .iter()
        .find_map(|s| trimmed.strip_suffix(s))
        .unwrap_or(trimmed);
    let stem = stem.trim_end_matches('_');
    if stem.is_empty() || (stem == trimmed && column != "_parent") {
        return None;
    }
    Some(prop(stem))
}

/// Both sides of a relation carry the same name: the referring table and column, unique.
fn relation_name(schema: &Schema, e: &Edge) -> String {
    let t = &schema.tables[e.from];
    js_string(&format!("{}.{}", t.name, t.columns[e.col].name))
}

/// A one-line description of what the rows of a table are.
fn describe(schema: &Schema, ti: usize) -> String {
    let t = &schema.tables[ti];
    let c = &schema.collections[t.collection];
    if c.table == ti {
        return if t.document {
            format!("The one document of collection `{}`.", c.name)
        } else {
            format!("Collection `{}`: one row per record.", c.name)
        };
    }
    if let Some(j) = t.join {
        let path = path_of(schema, j);
        return format!(
            "Shared entities of `{path}`, each stored once (`{}` joins them to their parents).",
            schema.tables[j].name
        );
    }
    let path = path_of(schema, ti);
    match t.elements {
        Elements::Entities { table, .. } => format!(
            "`{path}`: one row per element, in order, pointing at its entity in `{}`.",
            schema.tables[table].name
        ),
        _ => format!("`{path}`: one row per element, in order."),
    }
}

/// `courses[].modules[]`: where the elements of a child table sit in a record.
fn path_of(schema: &Schema, ti: usize) -> String {
    let t = &schema.tables[ti];
    match t.parent {
        None => schema.collections[t.collection].name.clone(),
        Some(p) => format!("{}.{}[]", path_of(schema, p), t.parent_path.join(".")),
    }
}

fn table(
    schema: &Schema,
    ti: usize,
    flavor: &Flavor,
    names: &[TableNames],
    used: &mut Vec<&'static str>,
    out: &mut String,
) {
    let t = &schema.tables[ti];
    let tn = &names[ti];
    let (table_fn, import) = flavor.table_fn();
    used.extend(import);
    let _ = write!(
        out,
        "\n/** {} */\nexport const {} = {table_fn}({}, {{\n",
        describe(schema, ti),
        tn.var,
        js_string(&t.name)
    );
    let mut extras = Vec::new();
    if let Some(rowid) = &tn.rowid {
        used.push("bigint");
        let _ = writeln!(
            out,
            "  /** jsonlift's: PostgreSQL has no rowid, so this numbers the rows in the order they were added\n   *  (the record order). The database fills it in; leave it out of inserts and updates. */"
        );
        let _ = writeln!(
            out,
            "  {rowid}: bigint({}, {{ mode: \"number\" }}).generatedByDefaultAsIdentity().unique(),",
            js_string(PG_ROWID)
        );
    }
    for (ci, c) in t.columns.iter().enumerate() {
        let (mut s, import) = flavor.column(c);
        used.push(import);
        let column_pk = flavor.column_level_pk(t, c);
        if column_pk {
            s.push_str(".primaryKey()");
            if c.role == Role::Id {
                s.push_str(flavor.generated_key());
            }
        } else if c.primary_key {
            used.push("primaryKey");
            extras.push(format!("primaryKey({{ columns: [t.{}] }})", tn.cols[ci]));
        }
        if !nullable(t, c) && !column_pk {
            s.push_str(".notNull()");
        }
        if let Some(d) = &c.default {
            // The DDL's DEFAULT itself: Drizzle leaves the column out of an insert without it.
            used.push("sql");
            let _ = write!(
                s,
                ".default(sql`{}`)",
                template_text(&d.sql(c.ty, flavor.dialect))
            );
        }
        if c.unique && !c.primary_key {
            s.push_str(".unique()");
        }
        if let Some(fk) = &c.references
            && let Some(to) = schema.tables.iter().position(|x| x.name == fk.table)
            && let Some(to_col) = schema.tables[to].col(&fk.column)
        {
            used.push(flavor.any_column());
            let action = match fk.on_delete {
                OnDelete::Cascade => "cascade",
                OnDelete::SetNull => "set null",
                OnDelete::Restrict => "restrict",
            };
            let _ = write!(
                s,
                ".references((): {} => {}.{}, {{ onDelete: \"{action}\", onUpdate: \"cascade\" }})",
                flavor.any_column(),
                names[to].var,
                names[to].cols[to_col]
            );
        }
        let _ = writeln!(out, "  {}: {s},", tn.cols[ci]);
    }
    if let Some(exact) = &tn.exact {
        let _ = writeln!(
            out,
            "  /** jsonlift's: the exact text of JSON values that jsonb would rewrite (key order, number\n   *  spellings), `{{\"column\": \"text\"}}`, NULL for most rows; jsonlift serves and exports that\n   *  text instead of the jsonb value. Leave it out of inserts; an update that writes a JSON\n   *  column must set it to null, or jsonlift keeps serving the old text. */"
        );
        let _ = writeln!(out, "  {exact}: text({}),", js_string(PG_EXACT));
        used.push("text");
    }
    let col = |name: &str| format!("t.{}", tn.cols[t.col(name).expect("a column of the table")]);
    for g in unique_groups(t) {
        used.push("unique");
        let cols: Vec<String> = g.iter().map(|c| col(c)).collect();
        extras.push(format!("unique().on({})", cols.join(", ")));
    }
    for ix in indexes(t) {
        used.push("index");
        let cols: Vec<String> = ix.columns.iter().map(|c| col(c)).collect();
        let name = if flavor.pg() {
            pg_name(&ix.name)
        } else {
            &ix.name
        };
        let mut s = format!("index({}).on({})", js_string(name), cols.join(", "));
        if ix.partial {
            used.push("sql");
            let _ = write!(s, ".where(sql`${{{}}} IS NOT NULL`)", cols[0]);
        }
        extras.push(s);
    }
    if extras.is_empty() {
        out.push_str("});\n");
    } else {
        out.push_str("}, (t) => [\n");
        for e in extras {
            let _ = writeln!(out, "  {e},");
        }
        out.push_str("]);\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_names_drop_the_key_suffix() {
        assert_eq!(one_name("course_id").as_deref(), Some("course"));
        assert_eq!(one_name("postId").as_deref(), Some("post"));
        assert_eq!(one_name("_parent").as_deref(), Some("parent"));
        assert_eq!(one_name("value"), None);
        assert_eq!(one_name("_id"), None);
        assert_eq!(one_name("user_key").as_deref(), Some("user"));
        assert_eq!(one_name("user-key"), None);
    }
}

/// Text as the body of a JavaScript template literal, verbatim.
fn template_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('`', "\\`")
        .replace("${", "\\${")
}
