//! Records of one collection, read and written one at a time on an open connection: the
//! operations behind the API (get, list, insert, replace, patch, delete, import) and behind the
//! replay of audit entries. Records go in through [`shred`] (the same validation as `migrate`)
//! and come out through [`rebuild`] (the same exact shapes as `export`). Every write also
//! enters its audit entry (a new one, or when replaying the original: [`Log`]); the caller owns
//! the transaction (see [`super::Store::write`]). Everything here runs on a [`Tx`], whatever the
//! database.

use super::StoreError;
use super::backend::{Cells, OrderBy, Refusal, Test, Tx};
use super::cursor::{RowCursor, children_of};
use super::refusal::{problem, row_path};
use super::search::search_text;
use crate::audit::{self, Action, Actor, Log};
use crate::json::{JsonPath, Number, Value};
use crate::schema::rebuild::rebuild;
use crate::schema::shred::{Cell, FieldError, Ids, Row, shred};
use crate::schema::{ColType, Role, Schema, Table};
use crate::source::Format;

/// Where a field's values are, as [`Records::place`] finds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Place {
    /// In this column of the collection's table (a text, number or boolean, or JSON).
    Column(usize),
    /// Nowhere: the schema does not name it and no record holds it.
    Nowhere,
    /// At a path inside this JSON column that the project indexes (`indexes =
    /// [["demographics.location"]]`; [`Records::json_path`] gives the path).
    Path(usize),
    /// Somewhere only the rebuilt records can tell (an array, an object, `_extra`, a literal
    /// dotted key).
    Records,
}

/// What [`Records::search_test`] gives: the filter, and whether it selects exactly the matches.
pub struct SearchTest {
    pub filter: (usize, Test),
    pub exact: bool,
}

/// One collection of the schema, ready to be read and written.
#[derive(Clone, Copy)]
pub struct Records<'s> {
    pub schema: &'s Schema,
    pub coll: usize,
}

impl<'s> Records<'s> {
    pub fn new(schema: &'s Schema, coll: usize) -> Records<'s> {
        Records { schema, coll }
    }

    /// By collection name.
    pub fn named(schema: &'s Schema, name: &str) -> Option<Records<'s>> {
        let coll = schema.collections.iter().position(|c| c.name == name)?;
        Some(Records { schema, coll })
    }

    fn name(&self) -> &'s str {
        &self.schema.collections[self.coll].name
    }

    fn ti(&self) -> usize {
        self.schema.collections[self.coll].table
    }

    fn table(&self) -> &'s Table {
        &self.schema.tables[self.ti()]
    }

    /// Whether this collection is one document (`stats.json`) rather than a list of records.
    pub fn is_document(&self) -> bool {
        self.table().document
    }

    /// The field holding the record's key, when the key is a field of the record.
    pub fn key_field(&self) -> Option<&'s str> {
        self.schema.collections[self.coll].key_field.as_deref()
    }

    // ----- reading ---------------------------------------------------------------------------

    /// The key as a value of the key column; `None` when it cannot be one (so no record has it).
    fn key_cell(&self, key: &str) -> Option<Cell<'static>> {
        let t = self.table();
        match t.columns[t.pk].ty {
            // Only the canonical spelling: `01`, `+1` or `-0` name no record (as in json-server,
            // which compares ids as text), so each record has one URL and one audit key.
            ColType::Integer => key
                .parse::<i64>()
                .ok()
                .filter(|n| n.to_string() == key)
                .map(Cell::Int),
            _ => Some(Cell::Text(key.to_string().into())),
        }
    }

    fn rowid(&self, tx: &dyn Tx, key: &str) -> Result<Option<i64>, StoreError> {
        let Some(cell) = self.key_cell(key) else {
            return Ok(None);
        };
        let t = self.table();
        tx.rowid_by(t, t.pk, &cell)
    }

    fn cells(&self, tx: &dyn Tx, rowid: i64) -> Result<Cells, StoreError> {
        tx.row(self.table(), rowid)
    }

    fn rebuild(&self, tx: &dyn Tx, cells: &[Cell<'static>]) -> Result<Value, StoreError> {
        let mut fetch = |t: usize, parent: &Cell<'static>| children_of(tx, self.schema, t, parent);
        Ok(rebuild(self.schema, self.ti(), cells, &mut fetch)?.1)
    }

    /// The record with this key, exactly as it would be in the source file.
    pub fn get(&self, tx: &dyn Tx, key: &str) -> Result<Option<Value>, StoreError> {
        match self.rowid(tx, key)? {
            Some(rowid) => Ok(Some(self.rebuild(tx, &self.cells(tx, rowid)?)?)),
            None => Ok(None),
        }
    }

    /// Every record in source order (the order of the file, then the order of insertion).
    pub fn list(&self, tx: &dyn Tx) -> Result<Vec<Value>, StoreError> {
        let mut cursor = RowCursor::new(self.schema, self.ti());
        let mut out = Vec::new();
        while let Some(cells) = cursor.next(tx)? {
            out.push(self.rebuild(tx, &cells)?);
        }
        Ok(out)
    }

    /// The rowids, in source order, of the records whose top-level `field` equals one of its
    /// values for each `(field, values)` given, compared as json-server compares
    /// (`String(value) === param`), found through the columns (and their indexes) instead of
    /// rebuilding every record; a field no record holds is skipped, as json-server ignores
    /// such a parameter. `None` when that cannot be exact: a field the schema does not name but
    /// some record holds, a field without a plain text or integer column, a value whose
    /// JavaScript spelling differs from the column's (`01`, `1e3`, integers beyond 2^53), or a
    /// column without any value (whether the field is held then only the records can tell).
    pub fn rowids_equal(
        &self,
        tx: &dyn Tx,
        equalities: &[(&str, Vec<&str>)],
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let t = self.table();
        let mut wheres: Vec<(usize, Vec<Cell<'static>>)> = Vec::new();
        for (field, values) in equalities {
            let ci = match self.place(tx, field)? {
                // Held by no record: a parameter json-server ignores (`_page` is one).
                Place::Nowhere => continue,
                Place::Records | Place::Path(_) => return Ok(None),
                Place::Column(ci) => ci,
            };
            let mut cells = Vec::new();
            for v in values {
                cells.push(match t.columns[ci].ty {
                    ColType::Text => Cell::Text(v.to_string().into()),
                    // JavaScript prints every integer below 2^53 in this one canonical form.
                    ColType::Integer => match v.parse::<i64>() {
                        Ok(i) if i.unsigned_abs() < 1 << 53 && i.to_string() == *v => Cell::Int(i),
                        _ => return Ok(None),
                    },
                    // A boolean prints `true` or `false`; any other text matches none.
                    ColType::Boolean => match *v {
                        "true" => Cell::Int(1),
                        "false" => Cell::Int(0),
                        _ => Cell::Null,
                    },
                    _ => return Ok(None),
                });
            }
            // A column without any value: whether the field is held only the records can tell.
            if !tx.any_value(t, ci)? {
                return Ok(None);
            }
            wheres.push((ci, cells));
        }
        Ok(Some(tx.rowids_where(t, &wheres)?))
    }

    /// Where the records keep top-level field or dotted path `field` (`author.name`, into a
    /// flattened object), for a filter or a sort in SQL.
    pub fn place(&self, tx: &dyn Tx, field: &str) -> Result<Place, StoreError> {
        let t = self.table();
        let segs: Vec<&str> = field.split('.').collect();
        let named = |name: &str| t.fields.iter().any(|f| f.name == name);
        // A declared path into JSON, unless a record has the literal dotted key.
        if let Some((ci, _)) = self.json_path(field)
            && !(segs.len() > 1 && (named(field) || self.held_in_extra(tx, field)?))
        {
            return Ok(Place::Path(ci));
        }
        let Some(ci) = t.columns.iter().position(|c| {
            c.role == Role::Field
                && c.field_path
                    .iter()
                    .map(String::as_str)
                    .eq(segs.iter().copied())
        }) else {
            // A top-level field the schema does not name lives in the overflow column, if
            // anywhere. A field the schema names without a column of its own (an array, an
            // object) or a path into one: only the records can tell.
            if segs.len() == 1 && !named(field) && !self.held_in_extra(tx, field)? {
                return Ok(Place::Nowhere);
            }
            return Ok(Place::Records);
        };
        // `a.b` is the literal key `"a.b"` in a record that has one (lodash's `get`).
        if segs.len() > 1 && (named(field) || self.held_in_extra(tx, field)?) {
            return Ok(Place::Records);
        }
        Ok(Place::Column(ci))
    }

    /// The JSON column and the path inside it of `field`, when the project indexes that path
    /// (an entry of `indexes`; [`crate::schema::Table::json_path`]).
    pub fn json_path(&self, field: &str) -> Option<(usize, Vec<String>)> {
        let t = self.table();
        t.indexes
            .iter()
            .flatten()
            .any(|e| e == field)
            .then(|| t.json_path(field))
            .flatten()
    }

    /// Whether any record holds a value at `path` in JSON column `ci`, and whether any holds
    /// there (or may hold: [`Test::JsonNotScalar`]) an array or an object.
    pub fn path_kinds(
        &self,
        tx: &dyn Tx,
        ci: usize,
        path: &[String],
    ) -> Result<(bool, bool), StoreError> {
        let also = [
            (ci, Test::JsonHeld(path.to_vec())),
            (ci, Test::JsonNotScalar(path.to_vec())),
        ];
        let (_, n) = tx.tally(self.table(), &[], &also)?;
        Ok((n[0] > 0, n[1] > 0))
    }

    /// The type of column `ci` of the collection's table (from [`Records::place`]).
    pub fn column_type(&self, ci: usize) -> ColType {
        self.table().columns[ci].ty
    }

    /// Whether any row holds a value (not NULL) in column `ci`.
    pub fn any_value(&self, tx: &dyn Tx, ci: usize) -> Result<bool, StoreError> {
        tx.any_value(self.table(), ci)
    }

    /// [`Tx::tally`] on the collection's table.
    pub fn tally(
        &self,
        tx: &dyn Tx,
        filters: &[(usize, Test)],
        also: &[(usize, Test)],
    ) -> Result<(u64, Vec<u64>), StoreError> {
        tx.tally(self.table(), filters, also)
    }

    /// [`Tx::select`] on the collection's table.
    pub fn select(
        &self,
        tx: &dyn Tx,
        filters: &[(usize, Test)],
        order: &[OrderBy],
        skip: u64,
        take: Option<u64>,
    ) -> Result<Vec<i64>, StoreError> {
        tx.select(self.table(), filters, order, skip, take)
    }

    /// The test that narrows a `q` search (`q` lower-cased) to its candidates through the
    /// collection's search index ([`super::search`]), and whether the candidates are exactly
    /// the matches ([`super::search::exact`]; otherwise they include every match, and others);
    /// `None` when there is no index or the term is too short for it.
    pub fn search_test(&self, tx: &dyn Tx, q: &str) -> Result<Option<SearchTest>, StoreError> {
        let t = self.table();
        Ok(match super::search::term(q) {
            Some(term) if tx.search_ready(t)? => {
                let bound = super::search::bound_term(tx.dialect(), term);
                Some(SearchTest {
                    filter: (t.pk, Test::Search(Cell::Text(bound.into()))),
                    exact: super::search::exact(term),
                })
            }
            _ => None,
        })
    }

    /// The rows whose search text contains `q`'s term, most relevant first (SQLite: FTS5's
    /// bm25; PostgreSQL: the most occurrences for the text's length); `None` as for
    /// [`Records::search_test`].
    pub fn search_ranked(&self, tx: &dyn Tx, q: &str) -> Result<Option<Vec<i64>>, StoreError> {
        let t = self.table();
        match super::search::term(q) {
            Some(term) if tx.search_ready(t)? => Ok(Some(tx.search_ranked(t, term)?)),
            _ => Ok(None),
        }
    }

    /// The records in rows `rowids` (from [`Records::rowids_equal`]), in that order.
    pub fn at_rowids(&self, tx: &dyn Tx, rowids: &[i64]) -> Result<Vec<Value>, StoreError> {
        tx.rows(self.table(), rowids)?
            .iter()
            .map(|cells| self.rebuild(tx, cells))
            .collect()
    }

    /// The record in row `rowid` (from [`Records::rowids_equal`]).
    pub fn at_rowid(&self, tx: &dyn Tx, rowid: i64) -> Result<Value, StoreError> {
        self.rebuild(tx, &self.cells(tx, rowid)?)
    }

    /// Whether any record holds top-level `field` among the fields the schema does not name.
    fn held_in_extra(&self, tx: &dyn Tx, field: &str) -> Result<bool, StoreError> {
        let t = self.table();
        match t.extra_col {
            Some(extra) => tx.extra_holds(t, extra, field),
            None => Ok(false),
        }
    }

    /// Every record with its key, in source order (for shapes keyed outside the record).
    pub fn list_keyed(&self, tx: &dyn Tx) -> Result<Vec<(String, Value)>, StoreError> {
        let mut cursor = RowCursor::new(self.schema, self.ti());
        let mut out = Vec::new();
        while let Some(cells) = cursor.next(tx)? {
            let key = self.key_of(&cells);
            out.push((key, self.rebuild(tx, &cells)?));
        }
        Ok(out)
    }

    /// The single record of a document collection (`None` before one is written).
    pub fn document(&self, tx: &dyn Tx) -> Result<Option<Value>, StoreError> {
        self.get(tx, "1")
    }

    fn key_of(&self, cells: &[Cell<'static>]) -> String {
        let t = self.table();
        cell_text(&cells[t.key_col.unwrap_or(t.pk)])
    }

    // ----- writing ---------------------------------------------------------------------------

    /// Adds a record at the end of the collection, generating its key when the record has none
    /// (integer keys: the largest plus one, as json-server does; text and uuid keys: a random
    /// uuid). Returns the key and the record as stored.
    pub fn insert(
        &self,
        tx: &dyn Tx,
        record: Value,
        actor: &Actor,
    ) -> Result<(String, Value), StoreError> {
        self.insert_as(tx, record, actor, Action::Insert)
    }

    fn insert_as(
        &self,
        tx: &dyn Tx,
        mut record: Value,
        actor: &Actor,
        action: Action,
    ) -> Result<(String, Value), StoreError> {
        if self.is_document() {
            return Err(StoreError::invalid(
                JsonPath::root(),
                format!("{} is a single document: replace it with PUT", self.name()),
            ));
        }
        if let Value::Object(o) = &mut record {
            crate::schema::defaults::fill(self.schema, &self.table().fields, o);
        }
        let key = self.key_for_new(tx, &mut record)?;
        if self.rowid(tx, &key)?.is_some() {
            return Err(StoreError::Conflict(vec![FieldError {
                path: self.key_path(),
                message: format!("a record with key {key:?} already exists"),
            }]));
        }
        self.store(tx, &key, &record, None)?;
        audit::append(
            tx,
            self.name(),
            Some(&key),
            action,
            None,
            Some(&record),
            actor,
        )?;
        Ok((key, record))
    }

    /// Replaces the record with this key, keeping its place in the collection; the key in the
    /// record, when present, must be this key. Returns the record it replaced.
    ///
    /// A body without its key field gets it last, as json-server's PUT does (lodash-id's
    /// `replaceById` empties the record, copies the body in, then sets `id`).
    pub fn replace(
        &self,
        tx: &dyn Tx,
        key: &str,
        mut record: Value,
        actor: &Actor,
    ) -> Result<(Value, Value), StoreError> {
        if let (Some(field), Value::Object(fields)) = (self.key_field(), &mut record) {
            if !fields.iter().any(|(k, _)| k == field) {
                fields.push((field.to_string(), self.key_value(key)));
            }
        }
        self.replace_logged(tx, key, record, Log::New(actor))
    }

    fn replace_logged(
        &self,
        tx: &dyn Tx,
        key: &str,
        record: Value,
        log: Log,
    ) -> Result<(Value, Value), StoreError> {
        let Some(rowid) = self.rowid(tx, key)? else {
            return Err(self.not_found(key));
        };
        let old = self.rebuild(tx, &self.cells(tx, rowid)?)?;
        let record = self.with_key(record, key)?;
        self.store(tx, key, &record, Some(rowid))?;
        audit::log(
            tx,
            self.name(),
            self.audit_key(key),
            Action::Update,
            Some(&old),
            Some(&record),
            log,
        )?;
        Ok((old, record))
    }

    /// Refuses the write about to be made to the record with this key unless the record is as
    /// `expect` says (`None`: no condition). Called inside the write's transaction, before it
    /// changes anything, so no other write can come between the check and the change.
    pub fn expect(
        &self,
        tx: &dyn Tx,
        key: &str,
        expect: Option<&Expect>,
    ) -> Result<(), StoreError> {
        let Some(expect) = expect else {
            return Ok(());
        };
        let current = self.get(tx, key)?;
        let reason = match (expect, &current) {
            (_, None) => "no such record, so no version of it matches".to_string(),
            (Expect::Exists, Some(_)) => return Ok(()),
            (Expect::Version(vs), Some(r)) => {
                let now = version(r);
                if vs.contains(&now) {
                    return Ok(());
                }
                format!(
                    "changed since it was read: its version is {now:?}, not {}; read it again and retry",
                    vs.iter()
                        .map(|v| format!("{v:?}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            }
        };
        Err(StoreError::Stale {
            collection: self.name().to_string(),
            key: key.to_string(),
            reason,
        })
    }

    /// Merges `changes` into the record's top-level fields (json-server's PATCH: fields present
    /// are set, in place; new fields are added at the end; nothing is removed).
    pub fn patch(
        &self,
        tx: &dyn Tx,
        key: &str,
        changes: Value,
        actor: &Actor,
    ) -> Result<Value, StoreError> {
        let Value::Object(changes) = changes else {
            return Err(StoreError::invalid(
                JsonPath::root(),
                format!("a patch is an object, found {}", changes.kind()),
            ));
        };
        let Some(Value::Object(mut fields)) = self.get(tx, key)? else {
            return Err(self.not_found(key));
        };
        for (k, v) in changes {
            match fields.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => fields.push((k, v)),
            }
        }
        Ok(self.replace(tx, key, Value::Object(fields), actor)?.1)
    }

    /// Deletes the record; its nested arrays go with it, and records of other collections that
    /// refer to it follow their `on_delete`. Returns the deleted record.
    pub fn delete(&self, tx: &dyn Tx, key: &str, actor: &Actor) -> Result<Value, StoreError> {
        self.delete_logged(tx, key, Log::New(actor))
    }

    fn delete_logged(&self, tx: &dyn Tx, key: &str, log: Log) -> Result<Value, StoreError> {
        let Some(rowid) = self.rowid(tx, key)? else {
            return Err(self.not_found(key));
        };
        let old = self.rebuild(tx, &self.cells(tx, rowid)?)?;
        self.remove(tx, key, rowid)?;
        audit::log(
            tx,
            self.name(),
            self.audit_key(key),
            Action::Delete,
            Some(&old),
            None,
            log,
        )?;
        Ok(old)
    }

    /// Replaces the document of a document collection (writes it if there is none yet).
    pub fn put_document(
        &self,
        tx: &dyn Tx,
        record: Value,
        actor: &Actor,
    ) -> Result<Value, StoreError> {
        self.put(tx, "1", Some(record), actor)
            .map(|v| v.expect("a put returns the record"))
    }

    /// Adds every record, or none: all problems of all records are reported, each at
    /// `$[i]...` (its place in the imported array). Returns the keys, in order.
    pub fn import(
        &self,
        tx: &dyn Tx,
        records: Vec<Value>,
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut invalid = Vec::new();
        let mut conflicts = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            let at = JsonPath::root().index(i);
            match self.insert_as(tx, record, actor, Action::Import) {
                Ok((key, _)) => keys.push(key),
                Err(StoreError::Invalid(errs)) => invalid.extend(rebase(&at, errs)),
                Err(StoreError::Conflict(errs)) => conflicts.extend(rebase(&at, errs)),
                Err(e) => return Err(e),
            }
        }
        match (invalid.is_empty(), conflicts.is_empty()) {
            (true, true) => Ok(keys),
            (false, _) => {
                invalid.extend(conflicts);
                Err(StoreError::Invalid(invalid))
            }
            (true, false) => Err(StoreError::Conflict(conflicts)),
        }
    }

    /// Makes the record with `key` be `record`, or deletes it when `record` is `None`: insert,
    /// update and delete alike. Returns the record.
    pub fn put(
        &self,
        tx: &dyn Tx,
        key: &str,
        record: Option<Value>,
        actor: &Actor,
    ) -> Result<Option<Value>, StoreError> {
        self.put_logged(tx, key, record, Log::New(actor))
    }

    /// [`Records::put`], entered in the audit log as `log` says: replaying an audit entry
    /// passes the entry itself ([`Log::Original`]), so the log gets exactly that row and no
    /// other (also when the change finds nothing to do, as deleting an absent record).
    pub fn put_logged(
        &self,
        tx: &dyn Tx,
        key: &str,
        record: Option<Value>,
        log: Log,
    ) -> Result<Option<Value>, StoreError> {
        let existing = self.rowid(tx, key)?;
        match (record, existing) {
            (None, None) => {
                if let Log::Original(e) = log {
                    tx.audit_insert(e)?;
                }
                Ok(None)
            }
            (None, Some(_)) => self.delete_logged(tx, key, log).map(|_| None),
            (Some(r), Some(_)) => self
                .replace_logged(tx, key, r, log)
                .map(|(_, new)| Some(new)),
            (Some(r), None) => {
                let r = self.with_key(r, key)?;
                self.store(tx, key, &r, None)?;
                audit::log(
                    tx,
                    self.name(),
                    self.audit_key(key),
                    Action::Insert,
                    None,
                    Some(&r),
                    log,
                )?;
                Ok(Some(r))
            }
        }
    }

    // ----- by file (live sync) ------------------------------------------------------------------

    /// Every record with what identifies it in its source: the key column's value when the
    /// collection has one (a folder's file name, an object's key, a TinyDB document id), the
    /// record's key, and the record; in source order. What `crate::sync` compares a re-read
    /// file with.
    pub fn entries(&self, tx: &dyn Tx) -> Result<Vec<Entry>, StoreError> {
        let t = self.table();
        let mut cursor = RowCursor::new(self.schema, self.ti());
        let mut out = Vec::new();
        while let Some(cells) = cursor.next(tx)? {
            out.push(Entry {
                at: t.key_col.map(|c| cell_text(&cells[c])),
                key: cell_text(&cells[t.pk]),
                value: self.rebuild(tx, &cells)?,
            });
        }
        Ok(out)
    }

    /// Makes the record stored under key-column value `at` (a folder's file, an object's key, a
    /// TinyDB document id) be `record`, or deletes it (`None`): what a changed, added or removed
    /// file or entry means. A record whose key field was edited in the file is deleted under
    /// its old key and added under the new one. Returns whether anything changed.
    pub fn put_at(
        &self,
        tx: &dyn Tx,
        at: &str,
        record: Option<Value>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let t = self.table();
        let kc = t
            .key_col
            .expect("put_at is for collections with a key column");
        let rowid = match self.at_cell(at) {
            Some(cell) => tx.rowid_by(t, kc, &cell)?,
            None => None,
        };
        let old = match rowid {
            Some(r) => {
                let cells = self.cells(tx, r)?;
                Some((cell_text(&cells[t.pk]), self.rebuild(tx, &cells)?))
            }
            None => None,
        };
        let Some(record) = record else {
            return match old {
                Some((key, _)) => self.delete(tx, &key, actor).map(|_| true),
                None => Ok(false),
            };
        };
        let key = match self.key_field() {
            None => at.to_string(),
            Some(field) => match record.get(field) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.as_str().to_string(),
                Some(v) => {
                    return Err(StoreError::invalid(
                        JsonPath::root().key(field),
                        format!(
                            "the key field holds {}, not a key",
                            crate::schema::shred::describe(v)
                        ),
                    ));
                }
                None => {
                    return Err(StoreError::invalid(
                        JsonPath::root(),
                        format!("missing required field {field:?} (the key)"),
                    ));
                }
            },
        };
        match (old, rowid) {
            (Some((old_key, old_value)), Some(rowid)) if old_key == key => {
                if old_value == record {
                    return Ok(false);
                }
                self.store_at(tx, &key, &record, Some(rowid), Some(at))?;
                audit::append(
                    tx,
                    self.name(),
                    self.audit_key(&key),
                    Action::Update,
                    Some(&old_value),
                    Some(&record),
                    actor,
                )?;
            }
            (old, _) => {
                if let Some((old_key, _)) = old {
                    self.delete(tx, &old_key, actor)?;
                }
                if self.rowid(tx, &key)?.is_some() {
                    return Err(StoreError::Conflict(vec![FieldError {
                        path: self.key_path(),
                        message: format!("another record already has the key {key:?}"),
                    }]));
                }
                self.store_at(tx, &key, &record, None, Some(at))?;
                audit::append(
                    tx,
                    self.name(),
                    self.audit_key(&key),
                    Action::Insert,
                    None,
                    Some(&record),
                    actor,
                )?;
            }
        }
        Ok(true)
    }

    /// Moves the record stored under key-column value `from` to `to` (a file renamed with its
    /// content unchanged): when the key is a field of the record the row stays, only its file
    /// name changes (audited as a `rename`, the record itself untouched); when the key is the
    /// file name, the record is deleted under the old name and added under the new one.
    /// `false` when no record is at `from`.
    pub fn rename_at(
        &self,
        tx: &dyn Tx,
        from: &str,
        to: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let t = self.table();
        let kc = t
            .key_col
            .expect("rename_at is for collections with a key column");
        let Some(rowid) = (match self.at_cell(from) {
            Some(cell) => tx.rowid_by(t, kc, &cell)?,
            None => None,
        }) else {
            return Ok(false);
        };
        if self.key_field().is_none() {
            let cells = self.cells(tx, rowid)?;
            let key = cell_text(&cells[t.pk]);
            let record = self.rebuild(tx, &cells)?;
            self.delete(tx, &key, actor)?;
            return self.put_at(tx, to, Some(record), actor);
        }
        self.move_row(tx, rowid, from, to, Log::New(actor))
    }

    /// Replays a `rename` entry of the audit log: the record with this key gets its file name
    /// back as the entry says. `false` when there is no such record or no file name in it.
    pub fn rename_logged(
        &self,
        tx: &dyn Tx,
        key: &str,
        e: &audit::Entry,
    ) -> Result<bool, StoreError> {
        let file = |v: Option<Value>| match v?.get("file") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let (Some(from), Some(to)) = (file(e.old_value()), file(e.new_value())) else {
            return tx.audit_insert(e).map(|_| false);
        };
        match (self.table().key_col, self.rowid(tx, key)?) {
            (Some(_), Some(rowid)) => self.move_row(tx, rowid, &from, &to, Log::Original(e)),
            // Nothing to move: the entry still goes back into the log as it was.
            _ => tx.audit_insert(e).map(|_| false),
        }
    }

    /// Row `rowid` gets file name `to` (it had `from`), its record untouched, and the audit
    /// entry that says so.
    fn move_row(
        &self,
        tx: &dyn Tx,
        rowid: i64,
        from: &str,
        to: &str,
        log: Log,
    ) -> Result<bool, StoreError> {
        let t = self.table();
        let cells = self.cells(tx, rowid)?;
        let key = cell_text(&cells[t.pk]);
        let record = self.rebuild(tx, &cells)?;
        self.store_at(tx, &key, &record, Some(rowid), Some(to))?;
        let file =
            |f: &str| Value::Object(vec![("file".to_string(), Value::String(f.to_string()))]);
        audit::log(
            tx,
            self.name(),
            self.audit_key(&key),
            Action::Rename,
            Some(&file(from)),
            Some(&file(to)),
            log,
        )?;
        Ok(true)
    }

    /// The record stored under key-column value `at` (a folder's file name).
    pub fn get_at(&self, tx: &dyn Tx, at: &str) -> Result<Option<Value>, StoreError> {
        let t = self.table();
        let (Some(kc), Some(cell)) = (t.key_col, self.at_cell(at)) else {
            return Ok(None);
        };
        match tx.rowid_by(t, kc, &cell)? {
            Some(rowid) => Ok(Some(self.rebuild(tx, &self.cells(tx, rowid)?)?)),
            None => Ok(None),
        }
    }

    /// The key-column value (a folder's file name) of the record with this key.
    pub fn at_of(&self, tx: &dyn Tx, key: &str) -> Result<Option<String>, StoreError> {
        let t = self.table();
        let (Some(kc), Some(rowid)) = (t.key_col, self.rowid(tx, key)?) else {
            return Ok(None);
        };
        Ok(tx.cell(t, rowid, kc)?.map(|c| cell_text(&c)))
    }

    /// Every key-column value (every file name of a folder collection), without rebuilding
    /// the records.
    pub fn ats(&self, tx: &dyn Tx) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let t = self.table();
        let mut out = std::collections::BTreeSet::new();
        let Some(kc) = t.key_col else {
            return Ok(out);
        };
        tx.scan(t, &mut |cells| {
            out.insert(cell_text(&cells[kc]));
            Ok(())
        })?;
        Ok(out)
    }

    /// A key-column value as a cell (a TinyDB document id is an integer).
    fn at_cell(&self, at: &str) -> Option<Cell<'static>> {
        let t = self.table();
        let kc = t.key_col?;
        match t.columns[kc].ty {
            ColType::Integer => at.parse::<i64>().ok().map(Cell::Int),
            _ => Some(Cell::Text(at.to_string().into())),
        }
    }

    // ----- internals -------------------------------------------------------------------------

    fn not_found(&self, key: &str) -> StoreError {
        StoreError::NotFound {
            collection: self.name().to_string(),
            key: key.to_string(),
        }
    }

    fn audit_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        (!self.is_document()).then_some(key)
    }

    fn key_path(&self) -> JsonPath {
        match self.key_field() {
            Some(f) => JsonPath::root().key(f),
            None => JsonPath::root(),
        }
    }

    /// The record with its key field set to `key` (added first when absent); a different key in
    /// the record is a problem, since the key names the record.
    fn with_key(&self, record: Value, key: &str) -> Result<Value, StoreError> {
        let Some(field) = self.key_field() else {
            return Ok(record);
        };
        let Value::Object(mut fields) = record else {
            return Ok(record); // shred reports it
        };
        match fields.iter().find(|(k, _)| k == field) {
            Some((_, v)) if !key_matches(v, key) => Err(StoreError::invalid(
                JsonPath::root().key(field),
                format!(
                    "{} does not match the key {key:?} of the record being written; the key cannot be changed",
                    crate::schema::shred::describe(v)
                ),
            )),
            Some(_) => Ok(Value::Object(fields)),
            None => {
                fields.insert(0, (field.to_string(), self.key_value(key)));
                Ok(Value::Object(fields))
            }
        }
    }

    /// The key as the JSON value of the key field.
    fn key_value(&self, key: &str) -> Value {
        let t = self.table();
        match (t.columns[t.pk].ty, key.parse::<i64>()) {
            (ColType::Integer, Ok(n)) => Value::Number(Number::from_i64(n)),
            _ => Value::String(key.to_string()),
        }
    }

    /// The key of a record about to be inserted, generated (and written into the record when it
    /// is a field) if the record has none.
    fn key_for_new(&self, tx: &dyn Tx, record: &mut Value) -> Result<String, StoreError> {
        let t = self.table();
        if let (Some(field), Value::Object(fields)) = (self.key_field(), &mut *record) {
            if let Some((_, v)) = fields.iter().find(|(k, _)| k == field) {
                return Ok(match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.as_str().to_string(),
                    _ => String::new(), // shred reports the wrong type
                });
            }
            let key = self.generate_key(tx, t.pk)?;
            fields.insert(0, (field.to_string(), self.key_value(&key)));
            return Ok(key);
        }
        self.generate_key(tx, t.key_col.or(t.id_col).unwrap_or(t.pk))
    }

    fn generate_key(&self, tx: &dyn Tx, col: usize) -> Result<String, StoreError> {
        let t = self.table();
        let c = &t.columns[col];
        if c.ty == ColType::Integer {
            let max = tx.max_int(t, col)?;
            // A client may have stored i64::MAX itself: there is no next key, say so (not panic).
            return match max.unwrap_or(0).checked_add(1) {
                Some(next) => Ok(next.to_string()),
                None => Err(StoreError::Conflict(vec![FieldError {
                    path: self.key_path(),
                    message: format!(
                        "no key can be generated: {} already holds the largest integer; send the key",
                        self.name()
                    ),
                }])),
            };
        }
        let id = uuid::Uuid::new_v4().to_string();
        // A file name only when the key is the file's path, not a field of the record.
        if Some(col) != t.key_col {
            return Ok(id);
        }
        Ok(self.file_name(&id))
    }

    /// A folder collection's record is a file under its folder: its name must stay there
    /// (`../../escaped` would be written outside it by `export`, which refuses it; issue #18).
    fn check_file_name(&self, f: &str) -> Result<(), StoreError> {
        if !matches!(
            self.schema.collections[self.coll].format,
            Format::Folder | Format::Prompty
        ) {
            return Ok(());
        }
        let inside = !f.is_empty()
            && !f.starts_with('/')
            && !f.contains(['\\', '\0'])
            && f.split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
        if inside {
            return Ok(());
        }
        Err(StoreError::invalid(
            self.key_path(),
            format!(
                "{f:?} is no file name inside the collection's folder: use a relative path without `.`, `..` or empty segments"
            ),
        ))
    }

    /// `<stem>.json` (`.prompty`) for a record of a folder collection.
    fn file_name(&self, stem: &str) -> String {
        match self.schema.collections[self.coll].format {
            Format::Folder => format!("{stem}.json"),
            Format::Prompty => format!("{stem}.prompty"),
            _ => stem.to_string(),
        }
    }

    /// The key column's value when the record's key is a field (a folder's file name, a
    /// TinyDB document id): a rewritten record keeps its own; a new one gets `<key>.json`
    /// (`.prompty`), or the next document id (TinyDB's largest plus one).
    fn key_col_value(
        &self,
        tx: &dyn Tx,
        key: &str,
        rowid: Option<i64>,
    ) -> Result<String, StoreError> {
        let t = self.table();
        let kc = t.key_col.expect("called for tables with a key column");
        let col = &t.columns[kc];
        if let Some(rowid) = rowid {
            match tx.cell(t, rowid, kc)? {
                Some(Cell::Text(f)) => return Ok(f.into_owned()),
                Some(Cell::Int(n)) => return Ok(n.to_string()),
                _ => {}
            }
        }
        if col.ty == ColType::Integer {
            return self.generate_key(tx, t.key_col.expect("checked above"));
        }
        Ok(self.file_name(key))
    }

    /// Writes the rows of `record` with key `key`: a new row at the end, or (with `rowid`) the
    /// existing row rewritten in place with fresh children. Validation problems, references to
    /// missing records and duplicate keys are all reported with their paths.
    fn store(
        &self,
        tx: &dyn Tx,
        key: &str,
        record: &Value,
        rowid: Option<i64>,
    ) -> Result<(), StoreError> {
        self.store_at(tx, key, record, rowid, None)
    }

    /// [`Records::store`], with the key column's value given (`at`: the file the record is in)
    /// instead of kept or derived from the key.
    fn store_at(
        &self,
        tx: &dyn Tx,
        key: &str,
        record: &Value,
        rowid: Option<i64>,
        at: Option<&str>,
    ) -> Result<(), StoreError> {
        // References are checked below, with paths, once every row is in.
        tx.defer_references()?;
        let ti = self.ti();
        let t = self.table();
        let mut ids = Ids::new(self.schema.tables.len());
        for tj in self.schema.tables_of(self.coll) {
            let tt = &self.schema.tables[tj];
            if let Some(c) = tt.id_col {
                ids.start_after(tj, tx.max_int(tt, c)?.unwrap_or(0));
            }
        }
        if t.id_col.is_some() {
            if let Ok(id) = key.parse::<i64>() {
                ids.set_next(ti, id);
            }
        }
        let file = match (t.key_col, self.key_field()) {
            (Some(_), _) if at.is_some() => at.map(str::to_string),
            (Some(_), Some(_)) => Some(self.key_col_value(tx, key, rowid)?),
            (Some(_), None) => Some(key.to_string()),
            (None, _) => None,
        };
        if let Some(f) = &file {
            self.check_file_name(f)?;
        }
        let mut rows = shred(self.schema, self.coll, file.as_deref(), record, &mut ids)
            .map_err(StoreError::Invalid)?;
        // A rewritten row of a shared table keeps when it was created.
        if let (Some(sh), Some(rowid)) = (&t.shared, rowid) {
            if let Some(created) = tx.cell(t, rowid, sh.created_col)? {
                rows[0].cells[sh.created_col] = created;
            }
        }
        match rowid {
            None => self.insert_rows(tx, &rows, 0)?,
            Some(rowid) => {
                if let Err(r) = tx.update(t, rowid, &rows[0].cells)? {
                    return Err(self.constraint(&rows, 0, &r));
                }
                // Children are rewritten: deleting the direct ones cascades to theirs.
                for &child in &t.children {
                    tx.delete_children(&self.schema.tables[child], &rows[0].cells[t.pk])?;
                }
                self.insert_rows(tx, &rows, 1)?;
            }
        }
        let missing = self.missing_references(tx, &rows)?;
        if !missing.is_empty() {
            return Err(StoreError::Conflict(missing));
        }
        if tx.search_ready(t)? {
            let rowid = match rowid {
                Some(r) => r,
                None => tx
                    .rowid_by(t, t.pk, &rows[0].cells[t.pk])?
                    .ok_or_else(|| anyhow::anyhow!("the row just written is not found"))?,
            };
            tx.search_put(t, rowid, Some(self.search_text(record)))?;
        }
        Ok(())
    }

    /// The text `q=` finds the record by, without its `hidden` fields: `q=` must not reveal
    /// what the API never serves (a password hash found by probing its characters).
    fn search_text(&self, record: &Value) -> String {
        let hidden = &self.schema.collections[self.coll].hidden;
        match record {
            Value::Object(pairs) if !hidden.is_empty() => {
                let shown = pairs.iter().filter(|(k, _)| !hidden.contains(k)).cloned();
                search_text(&Value::Object(shown.collect()))
            }
            _ => search_text(record),
        }
    }

    /// Builds the collection's search index ([`super::search`]) afresh from every record.
    pub fn search_build(&self, tx: &dyn Tx) -> Result<(), StoreError> {
        const PAGE: usize = 1024;
        let t = self.table();
        tx.search_create(t)?;
        let mut after = i64::MIN;
        loop {
            let page = tx.page(t, after, PAGE)?;
            let n = page.len();
            let mut texts = Vec::with_capacity(n);
            for (rowid, cells) in &page {
                texts.push((*rowid, self.search_text(&self.rebuild(tx, cells)?)));
                after = *rowid;
            }
            // A page's texts in one go: a statement per record was most of the build.
            tx.search_fill(t, texts)?;
            if n < PAGE {
                return Ok(());
            }
        }
    }

    fn insert_rows(&self, tx: &dyn Tx, rows: &[Row], from: usize) -> Result<(), StoreError> {
        for (i, row) in rows.iter().enumerate().skip(from) {
            if let Err(r) = tx.insert(&self.schema.tables[row.table], &row.cells)? {
                return Err(self.constraint(rows, i, &r));
            }
        }
        Ok(())
    }

    /// A constraint violation as a problem at its path: duplicates are conflicts (409), failed
    /// checks are invalid data (422).
    fn constraint(&self, rows: &[Row], i: usize, refused: &Refusal) -> StoreError {
        let (path, message) = problem(self.schema, rows, i, refused);
        let err = vec![FieldError { path, message }];
        if refused.unique.is_some() {
            StoreError::Conflict(err)
        } else {
            StoreError::Invalid(err)
        }
    }

    /// Every reference in `rows` to a record that does not exist, at its path.
    fn missing_references(&self, tx: &dyn Tx, rows: &[Row]) -> Result<Vec<FieldError>, StoreError> {
        let mut out = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let t = &self.schema.tables[row.table];
            for (c, col) in t.columns.iter().enumerate() {
                let (Some(fk), Role::Field) = (&col.references, col.role) else {
                    continue;
                };
                if row.cells[c] == Cell::Null {
                    continue;
                }
                if !tx.exists(&fk.table, &fk.column, &row.cells[c])? {
                    let mut path = row_path(self.schema, rows, i);
                    for k in &col.field_path {
                        path = path.key(k);
                    }
                    out.push(FieldError {
                        path,
                        message: format!(
                            "{} points at no record of {} (no {} = {})",
                            col.field_path.join("."),
                            fk.table,
                            fk.column,
                            show(&row.cells[c])
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Deletes the row, after checking that no `restrict` reference would stop it (so the
    /// answer names who refers to the record).
    fn remove(&self, tx: &dyn Tx, key: &str, rowid: i64) -> Result<(), StoreError> {
        let t = self.table();
        let pk = self.key_cell(key).expect("a found key has a cell");
        let mut blockers = Vec::new();
        for other in &self.schema.tables {
            for col in &other.columns {
                let Some(fk) = &col.references else { continue };
                if col.role != Role::Field
                    || fk.table != t.name
                    || fk.on_delete != crate::schema::OnDelete::Restrict
                {
                    continue;
                }
                let n = tx.count_equal(&other.name, &col.name, &pk)?;
                if n > 0 {
                    blockers.push(FieldError {
                        path: JsonPath::root(),
                        message: format!(
                            "{n} row(s) of {} refer to this record through {}; delete or change them first",
                            other.name, col.name
                        ),
                    });
                }
            }
        }
        if !blockers.is_empty() {
            return Err(StoreError::Conflict(blockers));
        }
        tx.delete_row(t, rowid)?;
        if tx.search_ready(t)? {
            tx.search_put(t, rowid, None)?;
        }
        Ok(())
    }
}

/// Whether the key field's value `v` is the key `key` (as text: `7` and `"7"` both name key 7).
/// What a conditional write expects of the record it changes (HTTP's `If-Match`).
#[derive(Debug, Clone)]
pub enum Expect {
    /// That it exists (`*`).
    Exists,
    /// That its [`version`] is one of these.
    Version(Vec<String>),
}

/// A record's version: the first 128 bits of the SHA-256 of its compact JSON text, in hex. It
/// changes exactly when the record does (a field, a value, the order of its keys, a number's
/// spelling), whoever changed it: the API, another server, or the sync applying its file.
pub fn version(record: &Value) -> String {
    use sha2::{Digest as _, Sha256};
    let hash = Sha256::digest(crate::json::to_compact_string(record).as_bytes());
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn key_matches(v: &Value, key: &str) -> bool {
    match v {
        Value::String(s) => s == key,
        Value::Number(n) => {
            n.as_str() == key || n.as_i64().is_some_and(|i| Some(i) == key.parse().ok())
        }
        _ => false,
    }
}

/// One record as [`Records::entries`] lists it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key column's value (file name, object key, document id), when there is one.
    pub at: Option<String>,
    pub key: String,
    pub value: Value,
}

/// A key cell as text (`7`, `bob.json`).
fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Int(i) => i.to_string(),
        Cell::Text(s) => s.to_string(),
        Cell::Real(f) => f.to_string(),
        Cell::Null => String::new(),
    }
}

fn show(c: &Cell) -> String {
    match c {
        Cell::Text(s) => format!("{s:?}"),
        Cell::Int(i) => i.to_string(),
        Cell::Real(f) => f.to_string(),
        Cell::Null => "null".into(),
    }
}

fn rebase(at: &JsonPath, errs: Vec<FieldError>) -> impl Iterator<Item = FieldError> + '_ {
    errs.into_iter().map(move |e| FieldError {
        path: at.join(&e.path),
        message: e.message,
    })
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
