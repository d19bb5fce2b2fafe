//! The audit log: one row in `_jsonlift_audit` per change to a record, written in the same
//! transaction as the change, so the log and the data can never disagree. It is what
//! `GET /_admin/audit` shows and what point-in-time recovery replays.

use serde::{Deserialize, Serialize};

use crate::json::{Value, parse, to_compact_string};
use crate::store::{StoreError, Tx};

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Insert,
    Update,
    Delete,
    /// A record added by a bulk import.
    Import,
    /// A folder record's file renamed with its content unchanged (the live sync): the record
    /// stays as it was; `old`/`new` are `{"file": …}` with the file name before and after.
    Rename,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Insert => "insert",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Import => "import",
            Action::Rename => "rename",
        }
    }
}

/// Who asked for a change: the token's name and the request it came with.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: String,
    pub request_id: String,
}

/// One audit row as stored. `old`/`new` are the records in their source shape (JSON text);
/// for `migrate` entries `new` is a summary of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: i64,
    pub at: String,
    pub collection: String,
    pub key: Option<String>,
    pub action: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
}

impl Entry {
    /// `old`/`new` parsed back into values (number spellings and key order intact).
    pub fn old_value(&self) -> Option<Value> {
        self.old
            .as_deref()
            .and_then(|t| parse(t.as_bytes(), 10_000).ok())
    }
    pub fn new_value(&self) -> Option<Value> {
        self.new
            .as_deref()
            .and_then(|t| parse(t.as_bytes(), 10_000).ok())
    }
}

/// How a write is entered in the audit log.
#[derive(Debug, Clone, Copy)]
pub enum Log<'a> {
    /// A new entry, stamped now, for this actor: every write the API makes.
    New(&'a Actor),
    /// An entry already in a log, entered exactly as it was (same id, time, actor and record
    /// texts): replaying the live database's log onto a restored backup.
    Original(&'a Entry),
}

/// An entry about to be appended: its id is the log's next.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub at: String,
    pub collection: String,
    pub key: Option<String>,
    pub action: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
}

/// Enters a write in the log as `log` says; the caller's transaction makes it atomic with the
/// change it records.
pub fn log(
    tx: &dyn Tx,
    collection: &str,
    key: Option<&str>,
    action: Action,
    old: Option<&Value>,
    new: Option<&Value>,
    log: Log,
) -> Result<(), StoreError> {
    match log {
        Log::New(actor) => append(tx, collection, key, action, old, new, actor),
        Log::Original(e) => tx.audit_insert(e),
    }
}

/// Appends one new entry, stamped now; the caller's transaction makes it atomic with the
/// change it records.
pub fn append(
    tx: &dyn Tx,
    collection: &str,
    key: Option<&str>,
    action: Action,
    old: Option<&Value>,
    new: Option<&Value>,
    actor: &Actor,
) -> Result<(), StoreError> {
    tx.audit_append(&NewEntry {
        at: crate::clock::now(),
        collection: collection.to_string(),
        key: key.map(str::to_string),
        action: action.as_str().to_string(),
        old: old.map(to_compact_string),
        new: new.map(to_compact_string),
        actor: Some(actor.name.clone()),
        request_id: Some(actor.request_id.clone()),
    })
}

/// The `collection` of entries about the database itself rather than a record: backups taken
/// and restores done through the server or the CLI (issue #18: admin actions with their actor).
/// Point-in-time recovery enters them in the log as they were and changes no record.
pub const DATABASE: &str = "_database";

/// An entry about the database itself: `action` is `backup` or `restore`, `key` the backup's
/// name, `details` what else there is to know (reason, moment, entries replayed).
pub fn database_entry(
    action: &str,
    backup: &str,
    details: &serde_json::Value,
    actor: &Actor,
) -> NewEntry {
    NewEntry {
        at: crate::clock::now(),
        collection: DATABASE.to_string(),
        key: Some(backup.to_string()),
        action: action.to_string(),
        old: None,
        new: Some(details.to_string()),
        actor: Some(actor.name.clone()),
        request_id: (!actor.request_id.is_empty()).then(|| actor.request_id.clone()),
    }
}

/// Which entries to read; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub collection: Option<String>,
    pub key: Option<String>,
    /// Entries at or after this RFC 3339 time (`2026-01-02T03:04:05Z` or with microseconds).
    pub since: Option<String>,
    /// Entries with an id above this one (to page or to follow the log).
    pub after_id: Option<i64>,
    pub limit: Option<usize>,
}

/// The entries as a JSON array whose `old`/`new` are the records themselves, not strings.
pub fn to_json(entries: &[Entry]) -> Value {
    let text = |s: &Option<String>| match s {
        Some(s) => Value::String(s.clone()),
        None => Value::Null,
    };
    let record = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| parse(t.as_bytes(), 10_000).ok())
            .unwrap_or(Value::Null)
    };
    Value::Array(
        entries
            .iter()
            .map(|e| {
                Value::Object(vec![
                    (
                        "id".into(),
                        Value::Number(crate::json::Number::from_i64(e.id)),
                    ),
                    ("at".into(), Value::String(e.at.clone())),
                    ("collection".into(), Value::String(e.collection.clone())),
                    ("key".into(), text(&e.key)),
                    ("action".into(), Value::String(e.action.clone())),
                    ("old".into(), record(&e.old)),
                    ("new".into(), record(&e.new)),
                    ("actor".into(), text(&e.actor)),
                    ("request_id".into(), text(&e.request_id)),
                ])
            })
            .collect(),
    )
}
