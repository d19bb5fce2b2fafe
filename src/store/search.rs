//! The search index behind `q=` (issue 18 item 1, issue 15 item 6), and the one owner of its
//! tables: `_jsonlift_search_<table>` per list collection, holding each record's searchable
//! text ([`search_text`]: every leaf json-server's `q` looks at, printed and
//! lower-cased as JavaScript would) under the record's rowid.
//!
//! A record whose text contains the term is a candidate. Since the text holds every leaf the
//! test looks at, lower-cased the same way, one per line, every match is a candidate, and for
//! a term without a line end every candidate is a match ([`exact`]): the search then runs in
//! SQL with the rest of the query (count, sort, page). A term with a line end may span two
//! leaves; its candidates are confirmed by the in-memory engine with json-server's own test.
//!
//! - SQLite: an FTS5 table with the trigram tokenizer (substring matching), holding its text
//!   (a contentless table with `contentless_delete` would be smaller, but SQLite before 3.43,
//!   Debian 12's included, cannot open a database that has one: every client of the app's
//!   database must keep working), and case-sensitive: the text and the term are already lower-cased the
//!   JavaScript way, where FTS5's own folding is not JavaScript's `toLowerCase`. A term of
//!   three characters or more, quoted as one phrase, matches exactly the texts containing it;
//!   `rank` is FTS5's bm25.
//! - PostgreSQL: a plain table of the same texts, scanned with `strpos` (no extension to
//!   install); it spares building every record, which is where the time goes.
//!
//! Kept in step: every record write goes through [`super::Records`], which rewrites the row's
//! text in the same transaction; `migrate` builds the index after the load, `serve` and
//! `watch` build it at start when it is missing (a database migrated before it existed, or
//! after an evolution, which drops it) and drop it when the project turns it off
//! (`search = false`); `copy` into PostgreSQL (and so `migrate` there) builds it after the
//! rows. A backup holds the index with the data, so a restore brings both.
//! Rows that other rows' deletes cascade away leave their text behind; the lookup joins the
//! collection's table, so such text finds nothing.

use super::backend::Tx;
use super::{Records, StoreError};
use crate::json::Value;
use crate::json::js::Js;
use crate::schema::ddl::quote;
use crate::schema::dialect::Dialect;
use crate::schema::{Schema, Table};

/// The index table of collection table `t`.
pub fn table_name(t: &Table) -> String {
    match &t.shared {
        // One per collection of a shared table: each builds and drops its own.
        Some(sh) => format!("_jsonlift_search_{}_{}", t.name, sh.value),
        None => format!("_jsonlift_search_{}", t.name),
    }
}

/// Whether a table name is a search index's (left out where jsonlift compares its tables).
pub fn is_index_table(name: &str) -> bool {
    name.starts_with("_jsonlift_search_")
}

/// The shortest term the index can look up: trigrams need three characters.
const MIN_TERM_CHARS: usize = 3;

/// The term as the index looks it up (`q`, already lower-cased), when it can: three
/// characters or more, without U+0000 (which PostgreSQL text cannot hold). `None`: the
/// collection is scanned in memory.
pub fn term(q: &str) -> Option<&str> {
    (q.chars().nth(MIN_TERM_CHARS - 1).is_some() && !q.contains('\0')).then_some(q)
}

/// Whether the texts containing `term` are exactly the records `q` matches: when the term holds
/// no line end, since each line of a text lies within one leaf
/// ([`search_text`]); a term with one may span two leaves.
pub fn exact(term: &str) -> bool {
    !term.contains('\n')
}

/// The value bound for a term in [`lookup_sql`]: an FTS5 phrase on SQLite (quotes doubled, so
/// that no character of the term is query syntax), the term itself on PostgreSQL.
pub fn bound_term(d: Dialect, term: &str) -> String {
    match d {
        Dialect::Sqlite => format!("\"{}\"", term.replace('"', "\"\"")),
        Dialect::Postgres => term.to_string(),
    }
}

/// The rowids of `t` whose text contains the term bound at `placeholder`, as a subquery.
pub fn lookup_sql(d: Dialect, t: &Table, placeholder: &str) -> String {
    let ix = quote(&table_name(t));
    match d {
        Dialect::Sqlite => format!("SELECT rowid FROM {ix} WHERE {ix} MATCH {placeholder}"),
        Dialect::Postgres => {
            format!("SELECT rowid FROM {ix} WHERE strpos(body, {placeholder}) > 0")
        }
    }
}

/// `JOIN <index> ON …`: `t`'s index joined to `t` row for row (after `FROM t`), for
/// [`match_sql`] to test.
pub fn join_sql(d: Dialect, t: &Table) -> String {
    let ix = quote(&table_name(t));
    format!(
        " JOIN {ix} ON {ix}.rowid = {}.{}",
        quote(&t.name),
        crate::schema::ddl::rowid_column(t, d)
    )
}

/// The joined index's rowid ([`join_sql`]): `t`'s.
pub fn joined_rowid(t: &Table) -> String {
    format!("{}.rowid", quote(&table_name(t)))
}

/// The condition that the joined index's text ([`join_sql`]) contains the term bound at
/// `placeholder`.
pub fn match_sql(d: Dialect, t: &Table, placeholder: &str) -> String {
    let ix = quote(&table_name(t));
    match d {
        Dialect::Sqlite => format!("{ix} MATCH {placeholder}"),
        Dialect::Postgres => format!("strpos({ix}.body, {placeholder}) > 0"),
    }
}

/// The rows of `t`'s index whose text contains the term bound as the first parameter, most
/// relevant first: FTS5's bm25 on SQLite; on PostgreSQL, which has no such statistics without
/// an extension, the most occurrences for the text's length (then rowid).
pub fn ranked_sql(d: Dialect, t: &Table) -> String {
    let ix = quote(&table_name(t));
    match d {
        Dialect::Sqlite => format!("SELECT rowid FROM {ix} WHERE {ix} MATCH ?1 ORDER BY rank"),
        Dialect::Postgres => format!(
            "SELECT rowid FROM {ix} WHERE strpos(body, $1) > 0 \
             ORDER BY (length(body) - length(replace(body, $1, '')))::float8 / length(body) DESC, rowid"
        ),
    }
}

/// The statements that create `t`'s index, empty, replacing any.
pub fn create_sql(d: Dialect, t: &Table) -> Vec<String> {
    let ix = quote(&table_name(t));
    let create = match d {
        Dialect::Sqlite => format!(
            "CREATE VIRTUAL TABLE {ix} USING fts5(body, tokenize = 'trigram case_sensitive 1')"
        ),
        Dialect::Postgres => {
            format!("CREATE TABLE {ix} (rowid bigint PRIMARY KEY, body text NOT NULL)")
        }
    };
    vec![format!("DROP TABLE IF EXISTS {ix}"), create]
}

/// The statement that drops `t`'s index.
pub fn drop_sql(t: &Table) -> String {
    format!("DROP TABLE IF EXISTS {}", quote(&table_name(t)))
}

/// Delete row `?1`/`$1`'s text; insert text `2` for row `1`.
pub fn delete_sql(d: Dialect, t: &Table) -> String {
    let p = if d == Dialect::Sqlite { "?1" } else { "$1" };
    format!("DELETE FROM {} WHERE rowid = {p}", quote(&table_name(t)))
}

pub fn insert_sql(d: Dialect, t: &Table) -> String {
    let (a, b) = if d == Dialect::Sqlite {
        ("?1", "?2")
    } else {
        ("$1", "$2")
    };
    format!(
        "INSERT INTO {} (rowid, body) VALUES ({a}, {b})",
        quote(&table_name(t))
    )
}

/// Insert texts for `n` rows at once into `t`'s index (SQLite: parameters `?` in pairs of
/// rowid and text).
pub fn insert_rows_sql(t: &Table, n: usize) -> String {
    format!(
        "INSERT INTO {} (rowid, body) VALUES {}",
        quote(&table_name(t)),
        vec!["(?, ?)"; n].join(", ")
    )
}

/// The binary COPY that fills `t`'s index on PostgreSQL (rowid `int8`, text `text`).
pub fn copy_sql(t: &Table) -> String {
    format!(
        "COPY {} (rowid, body) FROM STDIN (FORMAT binary)",
        quote(&table_name(t))
    )
}

/// The text stored for a record: PostgreSQL text cannot hold U+0000, kept as U+FFFD (a term
/// with U+0000 never reaches the index, see [`term`]; one with U+FFFD gets extra candidates).
pub fn stored_text(d: Dialect, text: String) -> String {
    if d == Dialect::Postgres && text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// Makes every list collection's index exist where the project wants one and nowhere else:
/// builds the missing ones, drops the unwanted. Returns the collections built.
pub fn ensure(tx: &dyn Tx, schema: &Schema) -> Result<Vec<String>, StoreError> {
    let mut built = Vec::new();
    for (c, coll) in schema.collections.iter().enumerate() {
        let records = Records::new(schema, c);
        let t = &schema.tables[coll.table];
        let wanted = coll.search && !records.is_document();
        match (wanted, tx.search_ready(t)?) {
            (true, false) => {
                records.search_build(tx)?;
                built.push(coll.name.clone());
            }
            (false, true) => tx.search_drop(t)?,
            _ => {}
        }
    }
    Ok(built)
}

/// After collections `reloaded` were written anew (every collection when `all`): their
/// indexes are dropped, then [`ensure`] builds every missing one.
pub fn refresh(
    tx: &dyn Tx,
    schema: &Schema,
    reloaded: &[usize],
    all: bool,
) -> Result<Vec<String>, StoreError> {
    for (c, coll) in schema.collections.iter().enumerate() {
        if all || reloaded.contains(&c) {
            tx.search_drop(&schema.tables[coll.table])?;
        }
    }
    ensure(tx, schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_shorter_than_a_trigram_or_with_nul_are_scanned() {
        assert_eq!(term("ab"), None);
        assert_eq!(term("éé"), None);
        assert_eq!(term("abc"), Some("abc"));
        assert_eq!(term("éßx"), Some("éßx"));
        assert_eq!(term("a\0bc"), None);
    }

    #[test]
    fn a_phrase_quotes_its_quotes() {
        assert_eq!(bound_term(Dialect::Sqlite, r#"a"b OR c"#), r#""a""b OR c""#);
        assert_eq!(bound_term(Dialect::Postgres, r#"a"b"#), r#"a"b"#);
    }
}

/// The text a `q` search looks in, for a search index: every leaf json-server's `deepQuery` (`api::query`) tests,
/// printed and lower-cased as it compares them, each followed by a line end. A record matches
/// a (lower-cased) term exactly when this text contains it, provided the term holds no line
/// end: every line of the text lies within one leaf. A term with a line end may span two
/// leaves, so the text containing it only makes the record a candidate.
pub fn search_text(record: &Value) -> String {
    fn leaves(value: &Js, out: &mut String) {
        if !value.truthy() {
            return;
        }
        match value {
            Js::Arr(items) => items.iter().for_each(|v| leaves(&Js::of(v), out)),
            Js::Obj(pairs) => pairs.iter().for_each(|(_, v)| leaves(&Js::of(v), out)),
            other => {
                out.push_str(&other.to_js_string().to_lowercase());
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    match record {
        Value::Object(pairs) => pairs.iter().for_each(|(_, v)| leaves(&Js::of(v), &mut out)),
        Value::Array(items) => items.iter().for_each(|v| leaves(&Js::of(v), &mut out)),
        // Tested one character at a time.
        Value::String(s) => s
            .chars()
            .for_each(|c| leaves(&Js::Str(c.to_string().into()), &mut out)),
        _ => {}
    }
    out
}
