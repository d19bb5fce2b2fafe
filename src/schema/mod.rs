//! The schema: the single source of truth built from `jsonlift.toml`. From it derive the DDL
//! ([`ddl`]), validation and the taking apart of records into rows ([`shred`]), and the putting
//! back together of records from rows ([`rebuild`]) that verify and export rely on.

pub mod ddl;
pub mod defaults;
pub mod dialect;
pub mod fingerprint;
pub mod rebuild;
#[cfg(test)]
mod rebuild_tests;
pub mod shred;
pub mod statements;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::config::{CollectionConfig, ConfigError, FieldConfig, FieldSpec, Project, Unique};
use crate::json::{Number, Value};
use crate::source::{CompactFields, Format, Limits, MemberSpec, SourceSpec};

pub use defaults::FieldDefault;
pub use types::{ScalarType, is_date, is_timestamp, is_uuid};

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Integer,
    Real,
    Boolean,
    /// Exact JSON text.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    Cascade,
    SetNull,
    Restrict,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    pub table: String,
    pub column: String,
    pub on_delete: OnDelete,
}

/// What a column is for; the bookkeeping columns have fixed roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Generated integer key (`_id`).
    Id,
    /// The record's key in the file: object key, TinyDB doc id, or file path.
    Key,
    Parent,
    Position,
    Field,
    /// The element of an array of scalars.
    Value,
    Extra,
    Meta,
    /// Filled from the file and the record, never read back into it: the columns of a shared
    /// table other than the key and the document ([`Shared`]).
    Derived,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub role: Role,
    pub not_null: bool,
    pub unique: bool,
    pub primary_key: bool,
    pub index: bool,
    /// The column's CHECK expressions: the project file's `check`, then those jsonlift writes
    /// for an enum, a minimum, a maximum or a boolean (which the shredder enforces itself).
    pub checks: Vec<String>,
    /// How many of `checks`, from the first, are the project file's own.
    pub own_checks: usize,
    pub references: Option<ForeignKey>,
    /// For `Role::Field` columns: the field's JSON path inside the record, for messages.
    pub field_path: Vec<String>,
    /// The field's `default`, the column's SQL `DEFAULT`.
    pub default: Option<FieldDefault>,
}

impl Column {
    fn new(name: &str, ty: ColType, role: Role) -> Column {
        Column {
            name: name.to_string(),
            ty,
            role,
            not_null: false,
            unique: false,
            primary_key: false,
            index: false,
            checks: Vec::new(),
            own_checks: 0,
            references: None,
            field_path: Vec::new(),
            default: None,
        }
    }
}

/// A field of an object node.
#[derive(Debug, Clone)]
pub struct Field {
    /// The JSON key.
    pub name: String,
    pub kind: FieldKind,
    pub required: bool,
    pub enumeration: Option<Vec<Value>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `default` in jsonlift.toml: what a new record without the field gets.
    pub default: Option<FieldDefault>,
}

#[derive(Debug, Clone)]
pub enum FieldKind {
    /// A typed column.
    Scalar { ty: ScalarType, col: usize },
    /// A JSON column holding any value exactly.
    Json { col: usize },
    /// An object flattened into columns of the same table.
    Object { fields: Vec<Field> },
    /// An array stored as rows of a child table.
    Child { table: usize },
}

/// What the rows of a child table hold.
#[derive(Debug, Clone)]
pub enum Elements {
    /// Objects, described by the table's `fields`.
    Objects,
    /// Scalars of one type in the `value` column.
    Scalars { ty: ScalarType, col: usize },
    /// Any JSON value in the `value` column.
    Json { col: usize },
    /// Shared entities (many-to-many): this is the join table, and each row's `col` holds the
    /// key of a row of entity table `table`, where the element is stored once for all parents.
    Entities { table: usize, col: usize },
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub collection: usize,
    pub columns: Vec<Column>,
    /// The object node stored in each row (empty for arrays of scalars).
    pub fields: Vec<Field>,
    pub elements: Elements,
    /// The column other tables point at.
    pub pk: usize,
    pub id_col: Option<usize>,
    pub key_col: Option<usize>,
    pub parent: Option<usize>,
    pub parent_col: Option<usize>,
    pub pos_col: Option<usize>,
    pub extra_col: Option<usize>,
    /// `_meta`; none in a shared table, whose records are kept whole in `document`.
    pub meta_col: Option<usize>,
    pub children: Vec<usize>,
    /// For a shared-entity table: the join table whose rows point at it.
    pub join: Option<usize>,
    /// Single-row table for a document source.
    pub document: bool,
    pub uniques: Vec<Vec<String>>,
    pub indexes: Vec<Vec<String>>,
    /// The JSON keys leading from the parent's object to this array (child tables only).
    pub parent_path: Vec<String>,
    /// For a collection sharing its table with others ([`Shared`]): which rows are its own.
    pub shared: Option<Shared>,
    /// The hint added to a key that does not match its type, when the project file names the
    /// key without declaring its type (it is then text).
    pub untyped_key: Option<String>,
    /// SQLite statements for this table, built once (they are used for every record).
    pub sql: TableSql,
}

/// A folder collection sharing one table with other folder collections, each row marked with
/// the collection's `type` (seed 004's `documents` table: `id`, `type`, `name`, `document`,
/// `file_path`, `file_modified`, `created_at`, `updated_at`). Each such collection has its own
/// [`Table`] of the same name and the same columns; every statement on it reads, counts,
/// updates and deletes only the rows of its type (`ddl::from`, `ddl::only`). The record is
/// kept whole in `document` (the table's overflow column: no field is declared), the key
/// column `id` is the file's path inside the folder, and the rest is derived when a row is
/// written and never read back into the record.
#[derive(Debug, Clone)]
pub struct Shared {
    /// This collection's value in the `type` column.
    pub value: String,
    /// Every type of the table, for its CHECK.
    pub types: Vec<String>,
    pub type_col: usize,
    pub name_col: usize,
    /// The field whose text is the `name` (`name_field`, default `name`); without one, the
    /// file name without its extension.
    pub name_field: String,
    pub path_col: usize,
    /// The folder as jsonlift.toml names it (`file_path` is this, `/`, the file's path in it).
    pub folder: String,
    pub modified_col: usize,
    pub created_col: usize,
    pub updated_col: usize,
}

#[derive(Debug, Clone, Default)]
pub struct TableSql {
    pub insert: String,
    pub by_rowid: String,
    /// `rowid` and the columns of the rows with rowids from ?1 to ?2, in rowid order.
    pub by_rowid_range: String,
    pub children: String,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column of the top-level field `name` when it is a JSON field.
    pub fn json_col(&self, name: &str) -> Option<usize> {
        match self.fields.iter().find(|f| f.name == name)?.kind {
            FieldKind::Json { col } => Some(col),
            _ => None,
        }
    }

    /// An entry of `indexes` that is a dotted path into JSON rather than a column
    /// (`demographics.location`): the JSON column and the keys inside it. The path starts at a
    /// field of type `json` (the rest of the path is inside its column) or at a field the
    /// schema does not name (inside the overflow column: a shared table's `document`). Keys
    /// are plain: not empty, no `"`, not all digits (lodash reads those as array positions).
    pub fn json_path(&self, entry: &str) -> Option<(usize, Vec<String>)> {
        if self.col(entry).is_some() {
            return None;
        }
        let segs: Vec<String> = entry.split('.').map(str::to_string).collect();
        let plain = |s: &String| {
            !s.is_empty() && !s.contains('"') && !s.bytes().all(|b| b.is_ascii_digit())
        };
        if !segs.iter().all(plain) {
            return None;
        }
        match self.fields.iter().find(|f| f.name == segs[0]) {
            Some(Field {
                kind: FieldKind::Json { col },
                ..
            }) if segs.len() > 1 => Some((*col, segs[1..].to_vec())),
            Some(_) => None,
            None => Some((self.extra_col?, segs)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub name: String,
    pub table: usize,
    pub source: usize,
    pub member: usize,
    pub format: Format,
    /// The field that is the natural key, if any.
    pub key_field: Option<String>,
    /// Top-level fields the API accepts on writes and never returns (`hidden = true`).
    pub hidden: Vec<String>,
    /// Top-level fields the API does not let a write set or change (`read_only = true`).
    pub read_only_fields: Vec<String>,
    /// The API serves the collection for reading only (`read_only = true` on the collection).
    pub read_only: bool,
    /// Whether `q=` has a search index (`search`; on by default for folder collections).
    pub search: bool,
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub tables: Vec<Table>,
    pub collections: Vec<Collection>,
    pub sources: Vec<SourceSpec>,
}

impl Schema {
    /// What a reader of a source whose members hold collections `colls` gives as text instead
    /// of trees ([`CompactFields`]): their top-level JSON fields, stored only as text.
    pub fn compact_fields(&self, colls: &[usize]) -> CompactFields {
        let keys = colls.iter().map(|&c| {
            let t = &self.tables[self.collections[c].table];
            let json = t
                .fields
                .iter()
                .filter(|f| matches!(f.kind, FieldKind::Json { .. }));
            json.map(|f| f.name.clone()).collect()
        });
        CompactFields::Keys(keys.collect())
    }

    pub fn build(project: &Project) -> Result<Schema, ConfigError> {
        Builder {
            project,
            tables: Vec::new(),
            collections: Vec::new(),
            sources: Vec::new(),
        }
        .run()
    }

    /// The collections fed by one source, in member order.
    pub fn collections_of(&self, source: usize) -> impl Iterator<Item = &Collection> {
        self.collections.iter().filter(move |c| c.source == source)
    }

    pub fn collection_for(&self, source: usize, member: usize) -> &Collection {
        self.collections
            .iter()
            .find(|c| c.source == source && c.member == member)
            .expect("every member has a collection")
    }

    /// Whether table `ti` is the one its table is created for: the first of a shared table's
    /// collections ([`Shared`]), every other table.
    pub fn creates(&self, ti: usize) -> bool {
        let name = &self.tables[ti].name;
        self.tables[..ti].iter().all(|t| &t.name != name)
    }

    /// Tables of a collection: the root, then its descendants depth-first (parents before
    /// children; a shared-entity table just before the join table that points at it).
    pub fn tables_of(&self, collection: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![self.collections[collection].table];
        while let Some(t) = stack.pop() {
            if let Elements::Entities { table, .. } = self.tables[t].elements {
                out.push(table);
            }
            out.push(t);
            stack.extend(self.tables[t].children.iter().rev());
        }
        out
    }
}

struct Builder<'a> {
    project: &'a Project,
    tables: Vec<Table>,
    collections: Vec<Collection>,
    sources: Vec<SourceSpec>,
}

const NAMES_HINT: &str = "rename one of them with `column = \"...\"` (or `key_column`, `extra_column`, `id_column`, `parent_column`, `position_column`)";

impl Builder<'_> {
    fn err(&self, msg: String) -> ConfigError {
        self.project.invalid(msg)
    }

    fn run(mut self) -> Result<Schema, ConfigError> {
        let cfg = &self.project.config;
        if cfg.collections.is_empty() {
            return Err(
                self.err("no collections: add a [collections.NAME] table with a `source`".into())
            );
        }
        let limits = Limits {
            max_depth: self.project.max_depth(),
        };
        for (name, cc) in &cfg.collections {
            // A collection without a source lives in the database only: an empty stand-in source
            // of its own, never read from disk.
            let (path, display) = match &cc.source {
                Some(s) => (self.project.resolve(s), s.clone()),
                None => (
                    self.project.resolve(&format!(".jsonlift/no-source/{name}")),
                    format!("(no source: {name})"),
                ),
            };
            let format = match cc.format {
                _ if cc.source.is_none() => {
                    if cc.format.is_some() || cc.member.is_some() {
                        return Err(self.err(format!(
                            "collections.{name}: `format` and `member` describe a source; a collection without `source` lives only in the database"
                        )));
                    }
                    Format::Database
                }
                Some(f) => f,
                None if cc.member.is_some() => Format::Array,
                // A missing source is reported by the reader with the other problems (exit 1,
                // not a project-file error); its format cannot matter then.
                None if !path.exists() => Format::Array,
                None => crate::source::guess_format(&path).map_err(|p| {
                    self.err(format!("collections.{name}: {p}\nhint: set `format` (array, object, document, tinydb, jsonl, folder, prompty, sqlite)"))
                })?,
            };
            let sqlite = self.sqlite_member(name, cc, format)?;
            let member_spec = MemberSpec {
                name: cc.member.clone(),
                format,
                pattern: cc.pattern.clone().unwrap_or_else(|| {
                    if format == Format::Prompty {
                        "*.prompty".into()
                    } else {
                        "*.json".into()
                    }
                }),
                recursive: cc.recursive,
                body_field: cc.body_field.clone().unwrap_or_else(|| "body".into()),
                sqlite,
            };
            self.check_format(name, cc, format)?;
            let source = self.add_member(&path, &display, member_spec, limits, name)?;
            let member = self.sources[source].members.len() - 1;
            let collection = self.collections.len();
            let table = match &cc.doc_type {
                Some(ty) => self.add_shared_table(name, cc, format, collection, ty, &display)?,
                None => self.add_root_table(name, cc, format, collection)?,
            };
            let (hidden, read_only_fields) = self.visibility(name, cc)?;
            self.collections.push(Collection {
                name: name.clone(),
                table,
                source,
                member,
                format,
                key_field: cc.key.clone(),
                hidden,
                read_only_fields,
                read_only: cc.read_only,
                // On by default where records are documents people edit and search (a folder
                // of files, seed 004): elsewhere the index, about three times the records'
                // text on SQLite and built by every migrate, is asked for (`search = true`).
                search: cc
                    .search
                    .unwrap_or(matches!(format, Format::Folder | Format::Prompty)),
            });
        }
        self.resolve_references()?;
        self.share_tables()?;
        let mut seen = HashSet::new();
        for t in self.tables.iter().filter(|t| t.shared.is_none()) {
            if t.name.starts_with("_jsonlift") {
                return Err(self.err(format!(
                    "table name {:?} is reserved for jsonlift's own tables",
                    t.name
                )));
            }
            if !seen.insert(t.name.to_lowercase()) {
                return Err(self.err(format!(
                    "two tables are named {:?}; set `table = \"...\"` on one of them",
                    t.name
                )));
            }
        }
        for t in &mut self.tables {
            t.sql = statements::table_sql(t);
        }
        Ok(Schema {
            tables: self.tables,
            collections: self.collections,
            sources: self.sources,
        })
    }

    /// The root table of a folder collection that shares its table with others ([`Shared`]):
    /// seed 004's columns, the record whole in `document`.
    fn add_shared_table(
        &mut self,
        name: &str,
        cc: &CollectionConfig,
        format: Format,
        collection: usize,
        ty: &str,
        folder: &str,
    ) -> Result<usize, ConfigError> {
        let ctx = format!("collections.{name}");
        if !matches!(format, Format::Folder | Format::Prompty) || cc.source.is_none() {
            return Err(self.err(format!(
                "{ctx}.type: only folder collections (of JSON or .prompty files) share a table by `type`; this one's source is {}",
                if cc.source.is_none() { "none".to_string() } else { format!("{format:?}").to_lowercase() }
            )));
        }
        if ty.is_empty() {
            return Err(self.err(format!("{ctx}.type: must not be empty")));
        }
        // The record is the `document`: nothing of it has a column of its own.
        let refused = [
            ("fields", !cc.fields.is_empty()),
            ("key", cc.key.is_some()),
            ("key_column", cc.key_column.is_some()),
            ("extra_column", cc.extra_column.is_some()),
            ("unique", !cc.unique.is_empty()),
        ];
        if let Some((key, _)) = refused.iter().find(|(_, set)| *set) {
            return Err(self.err(format!(
                "{ctx}.{key}: a collection sharing table {:?} by `type` keeps each record whole in its `document` column, keyed by the file's path (`id`); remove `{key}`",
                cc.table.as_deref().unwrap_or(name)
            )));
        }
        let mut t = empty_table(cc.table.as_deref().unwrap_or(name), collection);
        let text = |t: &mut Table, n: &str, role: Role, not_null: bool, index: bool| {
            let mut c = Column::new(n, ColType::Text, role);
            c.not_null = not_null;
            c.index = index;
            push_col(t, c)
        };
        let id = text(&mut t, "id", Role::Key, true, false);
        t.columns[id].primary_key = true;
        t.key_col = Some(id);
        t.pk = id;
        let type_col = text(&mut t, "type", Role::Derived, true, true);
        let name_col = text(&mut t, "name", Role::Derived, true, true);
        let mut doc = Column::new("document", ColType::Json, Role::Extra);
        doc.not_null = true;
        t.extra_col = Some(push_col(&mut t, doc));
        let path_col = text(&mut t, "file_path", Role::Derived, true, true);
        let modified_col = text(&mut t, "file_modified", Role::Derived, true, false);
        let created_col = text(&mut t, "created_at", Role::Derived, false, false);
        let updated_col = text(&mut t, "updated_at", Role::Derived, false, false);
        t.columns[created_col].default = Some(defaults::FieldDefault::CurrentTimestamp);
        t.columns[updated_col].default = Some(defaults::FieldDefault::CurrentTimestamp);
        t.shared = Some(Shared {
            value: ty.to_string(),
            types: Vec::new(),
            type_col,
            name_col,
            name_field: cc.name_field.clone().unwrap_or_else(|| "name".into()),
            path_col,
            folder: folder.trim_end_matches('/').to_string(),
            modified_col,
            created_col,
            updated_col,
        });
        // Paths into the documents (`demographics.location`): expression indexes.
        t.indexes = cc.indexes.clone();
        self.check_indexes(&t, &ctx)?;
        let idx = self.tables.len();
        self.tables.push(t);
        Ok(idx)
    }

    /// Every entry of a table's `indexes` is a column or a path into a JSON column
    /// ([`Table::json_path`]); a shared table takes paths only (its columns are indexed).
    fn check_indexes(&self, t: &Table, ctx: &str) -> Result<(), ConfigError> {
        for entry in t.indexes.iter().flatten() {
            let column = t.col(entry).is_some() && t.shared.is_none();
            if !column && t.json_path(entry).is_none() {
                return Err(self.err(format!(
                    "{ctx}.indexes: {entry:?} is no column of table {:?} and no path into a JSON field (a field of type json, or one the schema does not name, then its keys: \"demographics.location\")",
                    t.name
                )));
            }
        }
        Ok(())
    }

    /// Checks the collections sharing a table (folder collections each with its own `type`,
    /// no other table of that name) and gives each the table's list of types, for the CHECK.
    fn share_tables(&mut self) -> Result<(), ConfigError> {
        let coll = |b: &Self, t: &Table| b.collections[t.collection].name.clone();
        for i in 0..self.tables.len() {
            let Some(sh) = &self.tables[i].shared else {
                continue;
            };
            let name = self.tables[i].name.to_lowercase();
            let mut types = Vec::new();
            for (j, other) in self.tables.iter().enumerate() {
                if other.name.to_lowercase() != name {
                    continue;
                }
                let Some(o) = &other.shared else {
                    let c = coll(self, other);
                    return Err(self.err(format!(
                        "collections.{c}{}: table {:?} is shared by folder collections with a `type` ({}); {}",
                        if other.parent.is_none() { ".type" } else { "" },
                        other.name,
                        coll(self, &self.tables[i]),
                        if other.parent.is_none() {
                            "give this collection its own `type` (a folder collection) or another `table`"
                        } else {
                            "name this child table otherwise with `table = \"...\"`"
                        }
                    )));
                };
                if j < i && o.value == sh.value {
                    return Err(self.err(format!(
                        "collections.{}.type: {:?} is already the type of collections.{} in table {:?}; each collection sharing a table needs its own",
                        coll(self, &self.tables[i]),
                        sh.value,
                        coll(self, other),
                        other.name
                    )));
                }
                types.push(o.value.clone());
            }
            let t = &mut self.tables[i];
            let sh = t.shared.as_mut().expect("checked above");
            let list: Vec<String> = types.iter().map(|v| ddl::literal(v)).collect();
            t.columns[sh.type_col].checks = vec![format!("\"type\" IN ({})", list.join(", "))];
            sh.types = types;
        }
        Ok(())
    }

    /// The collection's hidden and read-only fields (`hidden`/`read_only = true`), checked:
    /// top-level fields only (the API strips and guards whole fields), and never the key, which
    /// every URL carries.
    fn visibility(
        &self,
        name: &str,
        cc: &crate::config::CollectionConfig,
    ) -> Result<(Vec<String>, Vec<String>), ConfigError> {
        fn nested(
            b: &Builder,
            at: &str,
            fields: &indexmap::IndexMap<String, crate::config::FieldConfig>,
        ) -> Result<(), ConfigError> {
            for (f, fc) in fields {
                let spec = fc.spec();
                if spec.hidden || spec.read_only {
                    return Err(b.err(format!(
                        "{at}.{f}: `hidden` and `read_only` apply to a collection's top-level fields only"
                    )));
                }
                nested(b, &format!("{at}.{f}.fields"), &spec.fields)?;
            }
            Ok(())
        }
        let (mut hidden, mut read_only) = (Vec::new(), Vec::new());
        let key = cc.key.as_deref().unwrap_or("id");
        for (f, fc) in &cc.fields {
            let spec = fc.spec();
            if (spec.hidden || spec.read_only) && f == key {
                return Err(self.err(format!(
                    "collections.{name}.fields.{f}: the key field cannot be hidden or read-only (every URL names it)"
                )));
            }
            if spec.hidden {
                hidden.push(f.clone());
            }
            if spec.read_only {
                read_only.push(f.clone());
            }
            nested(
                self,
                &format!("collections.{name}.fields.{f}.fields"),
                &spec.fields,
            )?;
        }
        Ok((hidden, read_only))
    }

    fn check_format(
        &self,
        name: &str,
        cc: &CollectionConfig,
        format: Format,
    ) -> Result<(), ConfigError> {
        let member_ok = matches!(
            format,
            Format::Array | Format::Object | Format::Document | Format::Tinydb
        );
        if cc.member.is_some() && !member_ok {
            return Err(self.err(format!(
                "collections.{name}: `member` works with formats array, object, document and tinydb, not {format:?}"
            )));
        }
        if format == Format::Tinydb && cc.member.is_none() {
            return Err(self.err(format!(
                "collections.{name}: a TinyDB file holds tables; name this collection's table with `member = \"_default\"` (or the table's name)"
            )));
        }
        if format == Format::Document && cc.key.is_some() {
            return Err(self.err(format!(
                "collections.{name}: a document is one record and has no `key`"
            )));
        }
        Ok(())
    }

    /// What a collection reads from a SQLite source: `source_table` or `query`, and the columns
    /// whose text is JSON (its top-level fields of type array, object or json).
    fn sqlite_member(
        &self,
        name: &str,
        cc: &CollectionConfig,
        format: Format,
    ) -> Result<Option<crate::source::sqlite::SqliteMember>, ConfigError> {
        if format != Format::Sqlite {
            if cc.source_table.is_some() || cc.query.is_some() {
                return Err(self.err(format!(
                    "collections.{name}: `source_table` and `query` read a SQLite source (`format = \"sqlite\"`)"
                )));
            }
            return Ok(None);
        }
        let json = cc
            .fields
            .iter()
            .filter(|(_, f)| matches!(f.spec().ty.as_str(), "array" | "object" | "json"))
            .map(|(n, _)| n.clone())
            .collect();
        match (&cc.source_table, &cc.query) {
            (Some(t), None) => Ok(Some(crate::source::sqlite::SqliteMember {
                table: Some(t.clone()),
                query: None,
                name: t.clone(),
                json,
            })),
            (None, Some(q)) => Ok(Some(crate::source::sqlite::SqliteMember {
                table: None,
                query: Some(q.clone()),
                name: name.to_string(),
                json,
            })),
            _ => Err(self.err(format!(
                "collections.{name}: a SQLite source needs `source_table = \"TABLE\"` or `query = \"SELECT ...\"` (one of them)"
            ))),
        }
    }

    fn add_member(
        &mut self,
        path: &PathBuf,
        display: &str,
        member: MemberSpec,
        limits: Limits,
        name: &str,
    ) -> Result<usize, ConfigError> {
        if let Some(i) = self.sources.iter().position(|s| &s.path == path) {
            let s = &self.sources[i];
            // The tables of one legacy database: each collection names its own.
            let sqlite = |f: Format| f == Format::Sqlite;
            if sqlite(member.format) || s.members.iter().any(|m| sqlite(m.format)) {
                if !s.members.iter().all(|m| sqlite(m.format)) || !sqlite(member.format) {
                    return Err(self.err(format!(
                        "collections.{name}: {display:?} is read as a SQLite database by one collection and as something else by another"
                    )));
                }
                if s.members.iter().any(|m| m.sqlite == member.sqlite) {
                    return Err(self.err(format!(
                        "collections.{name}: another collection reads the same table of {display:?}"
                    )));
                }
                self.sources[i].members.push(member);
                return Ok(i);
            }
            if member.name.is_none() || s.members.iter().any(|m| m.name.is_none()) {
                return Err(self.err(format!(
                    "collections.{name}: source {display:?} is used by several collections; each must name its top-level key with `member`"
                )));
            }
            if s.members.iter().any(|m| m.name == member.name) {
                return Err(self.err(format!(
                    "collections.{name}: member {:?} of {display:?} is already taken by another collection",
                    member.name.unwrap_or_default()
                )));
            }
            let tiny = |f: Format| f == Format::Tinydb;
            if s.members
                .iter()
                .any(|m| tiny(m.format) != tiny(member.format))
            {
                return Err(self.err(format!(
                    "collections.{name}: {display:?} mixes TinyDB tables and other members; a TinyDB file holds only tables"
                )));
            }
            self.sources[i].members.push(member);
            return Ok(i);
        }
        self.sources.push(SourceSpec {
            path: path.clone(),
            display: display.to_string(),
            members: vec![member],
            limits,
            skip: Vec::new(),
        });
        Ok(self.sources.len() - 1)
    }

    fn add_root_table(
        &mut self,
        name: &str,
        cc: &CollectionConfig,
        format: Format,
        collection: usize,
    ) -> Result<usize, ConfigError> {
        let table_name = cc.table.clone().unwrap_or_else(|| name.to_string());
        let ctx = format!("collections.{name}");
        let mut t = empty_table(&table_name, collection);
        let mut fields_cfg = cc.fields.clone();
        if let Some(key) = &cc.key
            && !fields_cfg.contains_key(key)
        {
            // The key must be stored somewhere; text is the common case and a wrong guess is
            // reported on each record with a hint.
            fields_cfg.insert(key.clone(), FieldConfig::Short("text".into()));
            let bare = key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let toml_key = if bare {
                key.clone()
            } else {
                format!("{key:?}")
            };
            t.untyped_key = Some(format!(
                "\nhint: `key = {key:?}` has no type in [{ctx}.fields], so it is text; declare one, e.g. {toml_key} = \"integer\""
            ));
        }
        // Bookkeeping columns come first so the table reads naturally.
        match format {
            Format::Document => {
                let mut c = Column::new("_id", ColType::Integer, Role::Id);
                c.primary_key = true;
                c.checks.push("\"_id\" = 1".into());
                t.id_col = Some(push_col(&mut t, c));
                t.document = true;
            }
            Format::Object | Format::Tinydb | Format::Folder | Format::Prompty => {
                let default = match format {
                    Format::Tinydb => "_doc_id",
                    Format::Object => "_key",
                    _ => "_file",
                };
                let kc = cc.key_column.clone().unwrap_or_else(|| default.into());
                let ty = if format == Format::Tinydb {
                    ColType::Integer
                } else {
                    ColType::Text
                };
                let mut c = Column::new(&kc, ty, Role::Key);
                c.not_null = true;
                c.primary_key = cc.key.is_none();
                c.unique = cc.key.is_some();
                t.key_col = Some(push_col(&mut t, c));
            }
            Format::Array | Format::Jsonl | Format::Sqlite | Format::Database => {
                if cc.key.is_none() {
                    let mut c = Column::new("_id", ColType::Integer, Role::Id);
                    c.primary_key = true;
                    t.id_col = Some(push_col(&mut t, c));
                }
            }
        }
        if cc.key_column.is_some() && t.key_col.is_none() {
            return Err(self.err(format!(
                "{ctx}: `key_column` applies to object, tinydb, folder and prompty sources only"
            )));
        }
        let fields = self.build_fields(&mut t, &fields_cfg, &[], true, &ctx, "")?;
        t.fields = fields;
        if format == Format::Prompty {
            let body = cc.body_field.clone().unwrap_or_else(|| "body".into());
            if !t.fields.iter().any(|f| f.name == body) {
                let col = push_col(&mut t, field_col(&body, ColType::Text, &[body.clone()]));
                t.fields.push(Field {
                    name: body,
                    kind: FieldKind::Scalar {
                        ty: ScalarType::Text,
                        col,
                    },
                    required: false,
                    enumeration: None,
                    min: None,
                    max: None,
                    default: None,
                });
            }
        }
        if let Some(key) = &cc.key {
            let f = t
                .fields
                .iter()
                .find(|f| &f.name == key)
                .expect("key field added above");
            let col = match f.kind {
                FieldKind::Scalar { col, .. } => col,
                _ => {
                    return Err(self.err(format!(
                        "{ctx}: key field {key:?} must be a scalar (text, integer, uuid...)"
                    )));
                }
            };
            t.columns[col].primary_key = true;
            t.columns[col].not_null = true;
            t.pk = col;
        } else {
            t.pk = t
                .id_col
                .or(t.key_col)
                .expect("a key column exists when no key field is named");
        }
        let extra = cc.extra_column.clone().unwrap_or_else(|| "_extra".into());
        t.extra_col = Some(push_col(
            &mut t,
            Column::new(&extra, ColType::Json, Role::Extra),
        ));
        t.meta_col = Some(push_col(
            &mut t,
            Column::new("_meta", ColType::Json, Role::Meta),
        ));
        t.uniques = cc.unique.clone();
        t.indexes = cc.indexes.clone();
        let idx = self.tables.len();
        self.tables.push(t);
        self.finish_table(idx, &ctx)?;
        Ok(idx)
    }

    /// Builds the fields of an object node into table `t`; child tables are added to `self`.
    /// `present`: the node is in every row (a record or an element, or a required object
    /// flattened into one), so a required field's column is NOT NULL.
    fn build_fields(
        &mut self,
        t: &mut Table,
        cfg: &indexmap::IndexMap<String, FieldConfig>,
        path: &[String],
        present: bool,
        ctx: &str,
        prefix: &str,
    ) -> Result<Vec<Field>, ConfigError> {
        let mut out = Vec::new();
        for (name, fc) in cfg {
            let spec = fc.spec();
            let fctx = format!("{ctx}.fields.{name}");
            let mut fpath = path.to_vec();
            fpath.push(name.clone());
            let column = spec
                .column
                .clone()
                .unwrap_or_else(|| format!("{prefix}{name}"));
            let enumeration = match &spec.enumeration {
                Some(vals) => Some(
                    vals.iter()
                        .map(toml_to_value)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|m| self.err(format!("{fctx}: enum: {m}")))?,
                ),
                None => None,
            };
            let shared = [&spec.key, &spec.join_table, &spec.entity_column];
            if shared.iter().any(|o| o.is_some()) && (spec.ty != "array" || spec.key.is_none()) {
                return Err(self.err(format!(
                    "{fctx}: `key`, `join_table` and `entity_column` describe an array of shared entities: they need `type = \"array\"` and `key`"
                )));
            }
            let kind = match spec.ty.as_str() {
                "json" => {
                    let mut c = field_col(&column, ColType::Json, &fpath);
                    self.constraints(&mut c, &spec, &fctx)?;
                    FieldKind::Json {
                        col: push_col(t, c),
                    }
                }
                "object" if spec.flatten => {
                    let pre = spec.prefix.clone().unwrap_or_else(|| format!("{column}_"));
                    FieldKind::Object {
                        fields: self.build_fields(
                            t,
                            &spec.fields,
                            &fpath,
                            present && spec.required,
                            &fctx,
                            &pre,
                        )?,
                    }
                }
                "object" => FieldKind::Json {
                    col: push_col(t, field_col(&column, ColType::Json, &fpath)),
                },
                "array" => {
                    if spec.key.is_some() {
                        let join = self.add_entity_tables(t, &fpath, &spec, &fctx)?;
                        t.children.push(join);
                        FieldKind::Child { table: join }
                    } else if !spec.fields.is_empty() || spec.table.is_some() {
                        let child = self.add_child_table(t, &fpath, &spec, &fctx)?;
                        // Linked to `t` in finish_table, once `t` has its index and key.
                        t.children.push(child);
                        FieldKind::Child { table: child }
                    } else {
                        if let Some(of) = &spec.of {
                            ScalarType::parse(of).ok_or_else(|| {
                                self.err(format!("{fctx}: unknown element type {of:?}"))
                            })?;
                        }
                        if spec.references.is_some() {
                            return Err(self.err(format!(
                                "{fctx}: `references` on an array needs its elements in a child table: add `of = \"TYPE\"` and `table = \"...\"`"
                            )));
                        }
                        FieldKind::Json {
                            col: push_col(t, field_col(&column, ColType::Json, &fpath)),
                        }
                    }
                }
                other => {
                    let ty = ScalarType::parse(other).ok_or_else(|| {
                        self.err(format!(
                            "{fctx}: unknown type {other:?}; use text, integer, real, boolean, timestamp, date, uuid, json, object or array"
                        ))
                    })?;
                    let mut c = field_col(&column, ty.col_type(), &fpath);
                    c.not_null = spec.required && present;
                    self.constraints(&mut c, &spec, &fctx)?;
                    if let Some(vals) = &enumeration {
                        let list: Vec<String> = vals
                            .iter()
                            .map(|v| ty.sql_literal(v))
                            .collect::<Option<_>>()
                            .ok_or_else(|| {
                                self.err(format!("{fctx}: enum values must all be of type {other}"))
                            })?;
                        c.checks
                            .push(format!("{} IN ({})", ddl::quote(&column), list.join(", ")));
                    }
                    if let Some(min) = spec.min {
                        c.checks.push(format!("{} >= {}", ddl::quote(&column), min));
                    }
                    if let Some(max) = spec.max {
                        c.checks.push(format!("{} <= {}", ddl::quote(&column), max));
                    }
                    if ty == ScalarType::Boolean {
                        c.checks.push(format!("{} IN (0, 1)", ddl::quote(&column)));
                    }
                    FieldKind::Scalar {
                        ty,
                        col: push_col(t, c),
                    }
                }
            };
            // A required JSON value is never null (shred refuses it), so the column is NOT NULL
            // as a required scalar's is: clients reflecting the table see it is required.
            if let FieldKind::Json { col } = kind {
                t.columns[col].not_null = spec.required && present;
            }
            let mut field = Field {
                name: name.clone(),
                kind,
                required: spec.required,
                enumeration,
                min: spec.min,
                max: spec.max,
                default: None,
            };
            if let Some(v) = &spec.default {
                let d = toml_to_value(v)
                    .and_then(|v| FieldDefault::of(&field, v))
                    .map_err(|m| self.err(format!("{fctx}.default: {m}")))?;
                // Also the column's SQL DEFAULT, where the field has a column of its own.
                if let FieldKind::Scalar { col, .. } | FieldKind::Json { col } = field.kind {
                    t.columns[col].default = Some(d.clone());
                }
                field.default = Some(d);
            }
            out.push(field);
        }
        Ok(out)
    }

    fn constraints(&self, c: &mut Column, spec: &FieldSpec, fctx: &str) -> Result<(), ConfigError> {
        match spec.unique {
            Unique::Flag(u) => c.unique = u,
            Unique::Groups(_) => {
                return Err(self.err(format!("{fctx}: `unique` takes true/false here; lists of columns go on collections and child tables")));
            }
        }
        c.index = spec.index;
        if let Some(check) = &spec.check {
            c.checks.insert(c.own_checks, check.clone());
            c.own_checks += 1;
        }
        self.reference(c, spec, fctx)
    }

    /// `references` and `on_delete` of a field (or of the elements of an array of scalars).
    fn reference(&self, c: &mut Column, spec: &FieldSpec, fctx: &str) -> Result<(), ConfigError> {
        if let Some(r) = &spec.references {
            let on_delete = match spec.on_delete.as_deref().unwrap_or("restrict") {
                "cascade" => OnDelete::Cascade,
                "set null" | "set_null" => OnDelete::SetNull,
                "restrict" | "no action" => OnDelete::Restrict,
                other => {
                    return Err(self.err(format!(
                        "{fctx}: on_delete {other:?}: use cascade, set null or restrict"
                    )));
                }
            };
            // Resolved to a table and column once every collection exists.
            let (table, column) = match r.split_once('.') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (r.clone(), String::new()),
            };
            c.references = Some(ForeignKey {
                table,
                column,
                on_delete,
            });
        } else if spec.on_delete.is_some() {
            return Err(self.err(format!("{fctx}: `on_delete` needs `references`")));
        }
        Ok(())
    }

    /// An array of shared entities: the entity table (one row per distinct key, the element
    /// stored once) and the join table (parent, position, entity key), which is returned.
    fn add_entity_tables(
        &mut self,
        parent: &Table,
        path: &[String],
        spec: &FieldSpec,
        fctx: &str,
    ) -> Result<usize, ConfigError> {
        let key = spec.key.clone().expect("called for arrays with a key");
        if spec.fields.is_empty() || spec.of.is_some() {
            return Err(self.err(format!(
                "{fctx}: `key` makes the elements shared entities, which are objects: describe them with `fields` (and no `of`)"
            )));
        }
        if matches!(spec.unique, Unique::Groups(_)) || spec.references.is_some() {
            return Err(self.err(format!(
                "{fctx}: `unique` groups and `references` do not apply to an array of shared entities (the join table's (parent, position) and the entity key are unique already; references go on the entity's fields)"
            )));
        }
        if !spec.fields.contains_key(&key) {
            return Err(self.err(format!(
                "{fctx}: key {key:?} is not one of the fields; declare it, e.g. `{key} = \"integer\"`"
            )));
        }
        let entity_name = spec
            .table
            .clone()
            .unwrap_or_else(|| format!("{}_{}", parent.name, path.join("_")));
        let mut e = empty_table(&entity_name, parent.collection);
        let mut fields_cfg = spec.fields.clone();
        let mut key_spec = fields_cfg[&key].spec();
        key_spec.required = true;
        fields_cfg.insert(key.clone(), FieldConfig::Long(Box::new(key_spec)));
        e.fields = self.build_fields(&mut e, &fields_cfg, &[], true, fctx, "")?;
        let f = e.fields.iter().find(|f| f.name == key).expect("declared");
        let FieldKind::Scalar { col, .. } = f.kind else {
            return Err(self.err(format!(
                "{fctx}: key {key:?} must be a scalar (text, integer, uuid...)"
            )));
        };
        if !e.children.is_empty() {
            return Err(self.err(format!(
                "{fctx}: a shared entity cannot hold arrays stored in tables (they would be shared too); give such fields `type = \"json\"`"
            )));
        }
        e.columns[col].primary_key = true;
        e.columns[col].not_null = true;
        e.pk = col;
        e.extra_col = Some(push_col(
            &mut e,
            Column::new("_extra", ColType::Json, Role::Extra),
        ));
        e.meta_col = Some(push_col(
            &mut e,
            Column::new("_meta", ColType::Json, Role::Meta),
        ));
        let (key_col, key_ty) = (e.columns[col].name.clone(), e.columns[col].ty);
        let ei = self.tables.len();
        self.tables.push(e);
        self.finish_table(ei, fctx)?;

        let join_name = spec
            .join_table
            .clone()
            .unwrap_or_else(|| format!("{}_{}", parent.name, entity_name));
        let mut t = empty_table(&join_name, parent.collection);
        self.link_columns(&mut t, spec);
        let mut ec = Column::new(
            &spec
                .entity_column
                .clone()
                .unwrap_or_else(|| format!("{entity_name}_{key_col}")),
            key_ty,
            Role::Value,
        );
        ec.not_null = true;
        ec.index = true; // "which parents hold this entity" is the other way to ask
        ec.references = Some(ForeignKey {
            table: entity_name,
            column: key_col,
            on_delete: OnDelete::Restrict,
        });
        let col = push_col(&mut t, ec);
        t.elements = Elements::Entities { table: ei, col };
        t.parent_path = path.to_vec();
        t.meta_col = Some(push_col(
            &mut t,
            Column::new("_meta", ColType::Json, Role::Meta),
        ));
        t.indexes = spec.indexes.clone();
        let ji = self.tables.len();
        self.tables.push(t);
        self.tables[ei].join = Some(ji);
        self.finish_table(ji, fctx)?;
        Ok(ji)
    }

    /// The columns every array table starts with: its own id, the parent's key, the position.
    fn link_columns(&self, t: &mut Table, spec: &FieldSpec) {
        let mut id = Column::new(
            spec.id_column.as_deref().unwrap_or("_id"),
            ColType::Integer,
            Role::Id,
        );
        id.primary_key = true;
        t.id_col = Some(push_col(t, id));
        t.pk = 0;
        // The parent's key type; fixed up in finish_table once the parent is final.
        let mut pc = Column::new(
            spec.parent_column.as_deref().unwrap_or("_parent"),
            ColType::Integer,
            Role::Parent,
        );
        pc.not_null = true;
        pc.index = false; // covered by the (parent, position) unique index
        t.parent_col = Some(push_col(t, pc));
        let mut pos = Column::new(
            spec.position_column.as_deref().unwrap_or("_pos"),
            ColType::Integer,
            Role::Position,
        );
        pos.not_null = true;
        t.pos_col = Some(push_col(t, pos));
    }

    fn add_child_table(
        &mut self,
        parent: &Table,
        path: &[String],
        spec: &FieldSpec,
        fctx: &str,
    ) -> Result<usize, ConfigError> {
        let name = spec
            .table
            .clone()
            .unwrap_or_else(|| format!("{}_{}", parent.name, path.join("_")));
        let mut t = empty_table(&name, parent.collection);
        self.link_columns(&mut t, spec);
        t.parent_path = path.to_vec();
        if spec.fields.is_empty() {
            let of = spec.of.as_deref().unwrap_or("json");
            let vname = spec.value_column.as_deref().unwrap_or("value");
            if of == "json" {
                t.elements = Elements::Json {
                    col: push_col(&mut t, Column::new(vname, ColType::Json, Role::Value)),
                };
            } else {
                let ty = ScalarType::parse(of)
                    .ok_or_else(|| self.err(format!("{fctx}: unknown element type {of:?}")))?;
                let mut c = Column::new(vname, ty.col_type(), Role::Value);
                if ty == ScalarType::Boolean {
                    c.checks.push(format!("{} IN (0, 1)", ddl::quote(vname)));
                }
                // A list of ids of another collection: each element is a foreign key.
                self.reference(&mut c, spec, fctx)?;
                t.elements = Elements::Scalars {
                    ty,
                    col: push_col(&mut t, c),
                };
            }
        } else {
            if spec.references.is_some() {
                return Err(self.err(format!(
                    "{fctx}: `references` applies to arrays of scalars (`of`); put it on a field of the elements"
                )));
            }
            t.elements = Elements::Objects;
            let fields = self.build_fields(&mut t, &spec.fields, &[], true, fctx, "")?;
            t.fields = fields;
            t.extra_col = Some(push_col(
                &mut t,
                Column::new("_extra", ColType::Json, Role::Extra),
            ));
        }
        t.meta_col = Some(push_col(
            &mut t,
            Column::new("_meta", ColType::Json, Role::Meta),
        ));
        if let Unique::Groups(g) = &spec.unique {
            t.uniques = g.clone();
        }
        t.indexes = spec.indexes.clone();
        let idx = self.tables.len();
        self.tables.push(t);
        self.finish_table(idx, fctx)?;
        Ok(idx)
    }

    /// Checks column names, and links children to this (now final) table.
    fn finish_table(&mut self, idx: usize, ctx: &str) -> Result<(), ConfigError> {
        let mut seen = HashMap::new();
        for c in &self.tables[idx].columns {
            if let Some(other) = seen.insert(c.name.to_lowercase(), c.name.clone()) {
                return Err(self.err(format!(
                    "{ctx}: table {:?} would have two columns named {other:?}; {NAMES_HINT}",
                    self.tables[idx].name
                )));
            }
        }
        let t = &self.tables[idx];
        for (group, index) in
            (t.uniques.iter().map(|g| (g, false))).chain(t.indexes.iter().map(|g| (g, true)))
        {
            for col in group {
                // An index may also be on a path into JSON (`demographics.location`).
                if t.col(col).is_none() && !(index && t.json_path(col).is_some()) {
                    return Err(self.err(format!(
                        "{ctx}: unique/indexes name column {col:?}, which table {:?} does not have{}",
                        t.name,
                        if index { " (nor is it a path into a JSON field)" } else { "" }
                    )));
                }
            }
        }
        // Children were created (and listed in `children`) before this table was pushed; patch
        // their parent link now that its index and key are final. Only this table's own
        // children: a sibling child table built earlier is not ours.
        let children = self.tables[idx].children.clone();
        let pk = self.tables[idx].pk;
        let (pname, pcol_name, pty) = {
            let t = &self.tables[idx];
            (t.name.clone(), t.columns[pk].name.clone(), t.columns[pk].ty)
        };
        for c in children {
            let child = &mut self.tables[c];
            child.parent = Some(idx);
            let pc = child.parent_col.unwrap();
            child.columns[pc].ty = pty;
            child.columns[pc].references = Some(ForeignKey {
                table: pname.clone(),
                column: pcol_name.clone(),
                on_delete: OnDelete::Cascade,
            });
            let pos = child.columns[child.pos_col.unwrap()].name.clone();
            let parent_name = child.columns[pc].name.clone();
            child.uniques.insert(0, vec![parent_name, pos]);
        }
        Ok(())
    }

    fn resolve_references(&mut self) -> Result<(), ConfigError> {
        for ti in 0..self.tables.len() {
            for ci in 0..self.tables[ti].columns.len() {
                let Some(fk) = self.tables[ti].columns[ci].references.clone() else {
                    continue;
                };
                let value_ref = self.tables[ti].columns[ci].role == Role::Value
                    && matches!(self.tables[ti].elements, Elements::Scalars { .. });
                if self.tables[ti].columns[ci].role != Role::Field && !value_ref {
                    continue;
                }
                let target = self
                    .collections
                    .iter()
                    .find(|c| c.name == fk.table)
                    .map(|c| c.table)
                    .or_else(|| self.tables.iter().position(|t| t.name == fk.table))
                    .ok_or_else(|| {
                        self.err(format!(
                            "references {:?}: no collection or table of that name",
                            fk.table
                        ))
                    })?;
                let tt = &self.tables[target];
                let column = if fk.column.is_empty() {
                    tt.columns[tt.pk].name.clone()
                } else {
                    let c = tt.col(&fk.column).ok_or_else(|| {
                        self.err(format!(
                            "references {}.{}: no such column",
                            fk.table, fk.column
                        ))
                    })?;
                    if !(tt.columns[c].unique || tt.columns[c].primary_key) {
                        return Err(self.err(format!(
                            "references {}.{}: the target column must be the key or unique",
                            fk.table, fk.column
                        )));
                    }
                    fk.column.clone()
                };
                let table = tt.name.clone();
                if fk.on_delete == OnDelete::SetNull && self.tables[ti].columns[ci].not_null {
                    let name = &self.tables[ti].columns[ci].name;
                    return Err(self.err(format!(
                        "column {name:?}: on_delete = \"set null\" on a required field"
                    )));
                }
                let col = &mut self.tables[ti].columns[ci];
                col.references = Some(ForeignKey {
                    table,
                    column,
                    on_delete: fk.on_delete,
                });
                col.index = true; // foreign keys are looked up on every parent delete
            }
        }
        Ok(())
    }
}

fn empty_table(name: &str, collection: usize) -> Table {
    Table {
        name: name.to_string(),
        collection,
        columns: Vec::new(),
        fields: Vec::new(),
        elements: Elements::Objects,
        pk: 0,
        id_col: None,
        key_col: None,
        parent: None,
        parent_col: None,
        pos_col: None,
        extra_col: None,
        meta_col: None,
        children: Vec::new(),
        join: None,
        document: false,
        uniques: Vec::new(),
        indexes: Vec::new(),
        parent_path: Vec::new(),
        shared: None,
        untyped_key: None,
        sql: TableSql::default(),
    }
}

fn push_col(t: &mut Table, c: Column) -> usize {
    t.columns.push(c);
    t.columns.len() - 1
}

fn field_col(name: &str, ty: ColType, path: &[String]) -> Column {
    let mut c = Column::new(name, ty, Role::Field);
    c.field_path = path.to_vec();
    c
}

fn toml_to_value(v: &toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Number(Number::from_i64(*i)),
        toml::Value::Float(f) => Value::Number(Number::from_f64(*f).ok_or("not a finite number")?),
        toml::Value::Boolean(b) => Value::Bool(*b),
        // A `default` may be a list or a table (an `enum` value never is: its check refuses).
        toml::Value::Array(a) => {
            Value::Array(a.iter().map(toml_to_value).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_value(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unsupported value {other}")),
    })
}
