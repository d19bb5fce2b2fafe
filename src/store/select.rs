//! The SQL of [`Tx::tally`](super::Tx::tally) and [`Tx::select`](super::Tx::select), spelled
//! once for both databases: the placeholder (`?N` or `$N`) and the rowid column come from the
//! dialect, and each backend binds the cells it is handed back in its own way. Values are
//! always bound, never spelled into the SQL; column names come from the schema.
//!
//! A search (`q`, [`Test::Search`]) joins the collection's search index rather than testing
//! `rowid IN (<matches>)`: the subquery gathers every match before the first row comes out (21
//! ms for a term in 40 000 of 100 000 posts, for a page of 10), where the join lets FTS5 hand
//! out its matches in rowid order and stop after the page's (0.2 ms), and counts them about a
//! third faster. Columns are qualified with their table, since the index has columns too.

use super::backend::{OrderBy, Test};
use crate::schema::ddl::{from, json_kind, json_text, quote, rowid_column};
use crate::schema::dialect::Dialect;
use crate::schema::shred::Cell;
use crate::schema::{ColType, Table};

/// A statement and its parameters: (column the value is compared with, none for a search
/// term, value), in order.
pub struct Sql<'a> {
    pub text: String,
    pub params: Vec<(Option<usize>, &'a Cell<'static>)>,
}

struct Builder<'a> {
    d: Dialect,
    params: Vec<(Option<usize>, &'a Cell<'static>)>,
    /// The search index is joined and its match not yet tested (the first search's; any
    /// other is a subquery).
    join_open: bool,
}

impl<'a> Builder<'a> {
    fn new(d: Dialect, filters: &[(usize, Test)]) -> Self {
        Builder {
            d,
            params: Vec::new(),
            join_open: joins_search(filters),
        }
    }

    fn mark(&mut self, col: usize, cell: &'a Cell<'static>) -> String {
        self.mark_as(Some(col), cell)
    }

    fn mark_as(&mut self, col: Option<usize>, cell: &'a Cell<'static>) -> String {
        self.params.push((col, cell));
        match self.d {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }

    /// The condition that a row passes `test` on column `col`.
    fn test(&mut self, t: &Table, col: usize, test: &'a Test) -> String {
        let c = column(t, col);
        let list = |b: &mut Self, cells: &'a [Cell<'static>]| {
            cells
                .iter()
                .map(|v| b.mark(col, v))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match test {
            Test::In(values) if values.is_empty() => "1 = 0".into(),
            Test::In(values) => format!("{c} IN ({})", list(self, values)),
            Test::NotIn(values) if values.is_empty() => format!("{c} IS NOT NULL"),
            Test::NotIn(values) => {
                format!("{c} IS NOT NULL AND {c} NOT IN ({})", list(self, values))
            }
            Test::Compare(cmps) if cmps.is_empty() => "1 = 0".into(),
            Test::Compare(cmps) => {
                let any: Vec<String> = cmps
                    .iter()
                    .map(|(cmp, v)| format!("{c} {} {}", cmp.sql(), self.mark(col, v)))
                    .collect();
                format!("({})", any.join(" OR "))
            }
            Test::Null => format!("{c} IS NULL"),
            Test::JsonText(_, values) if values.is_empty() => "1 = 0".into(),
            Test::JsonText(path, values) => {
                let col = &t.columns[col].name;
                let marks: Vec<String> = values.iter().map(|v| self.mark_as(None, v)).collect();
                let string = match self.d {
                    Dialect::Sqlite => "text",
                    Dialect::Postgres => "string",
                };
                format!(
                    "{} IN ({}) AND {} = '{string}'",
                    json_text(self.d, col, path),
                    marks.join(", "),
                    json_kind(self.d, col, path)
                )
            }
            Test::JsonNotScalar(path) => {
                let kind = json_kind(self.d, &t.columns[col].name, path);
                match self.d {
                    Dialect::Sqlite => format!("{kind} IN ('array', 'object')"),
                    Dialect::Postgres => format!(
                        "{kind} IN ('array', 'object') OR ({c} IS NULL AND {} IS NOT NULL)",
                        quote(crate::schema::ddl::PG_EXACT)
                    ),
                }
            }
            Test::JsonHeld(path) => {
                format!(
                    "{} IS NOT NULL",
                    json_kind(self.d, &t.columns[col].name, path)
                )
            }
            Test::Search(term) => {
                let p = self.mark_as(None, term);
                if std::mem::take(&mut self.join_open) {
                    super::search::match_sql(self.d, t, &p)
                } else {
                    format!(
                        "{}.{} IN ({})",
                        quote(&t.name),
                        rowid_column(t, self.d),
                        super::search::lookup_sql(self.d, t, &p)
                    )
                }
            }
        }
    }

    /// ` WHERE <every filter>`, or nothing when there is none: SQLite counts a whole table
    /// from its b-tree pages' cell counts only when the statement has no WHERE at all (`WHERE
    /// 1 = 1` steps through every row: 20 ms instead of 0.2 for a million rows).
    fn wheres(&mut self, t: &Table, filters: &'a [(usize, Test)]) -> String {
        if filters.is_empty() {
            return String::new();
        }
        let all: Vec<String> = filters
            .iter()
            .map(|(col, test)| format!("({})", self.test(t, *col, test)))
            .collect();
        format!(" WHERE {}", all.join(" AND "))
    }
}

/// Column `col` of `t`, qualified.
fn column(t: &Table, col: usize) -> String {
    format!("{}.{}", quote(&t.name), quote(&t.columns[col].name))
}

/// Whether some filter searches, so that the search index is joined.
fn joins_search(filters: &[(usize, Test)]) -> bool {
    filters.iter().any(|(_, f)| matches!(f, Test::Search(_)))
}

/// `t` (only its collection's rows, in a shared table: [`from`]), joined with its search
/// index when a filter searches ([`joins_search`]).
fn source(d: Dialect, t: &Table, filters: &[(usize, Test)]) -> String {
    let mut from = from(t, d);
    if joins_search(filters) {
        from.push_str(&super::search::join_sql(d, t));
    }
    from
}

/// `SELECT count(*), <rows also passing each of also>… FROM t [WHERE <filters>]`.
pub fn tally<'a>(
    d: Dialect,
    t: &Table,
    filters: &'a [(usize, Test)],
    also: &'a [(usize, Test)],
) -> Sql<'a> {
    let mut b = Builder::new(d, filters);
    // The filters first: the joined index's match is theirs (`?N`/`$N` name their values).
    let wheres = b.wheres(t, filters);
    let mut cols = vec!["count(*)".to_string()];
    for (col, test) in also {
        let cond = b.test(t, *col, test);
        // A sum of no rows is NULL: coalesced so that every column reads as a number.
        cols.push(format!(
            "coalesce(sum(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"
        ));
    }
    Sql {
        text: format!(
            "SELECT {} FROM {}{wheres}",
            cols.join(", "),
            source(d, t, filters)
        ),
        params: b.params,
    }
}

/// `SELECT rowid FROM t [WHERE <filters>] ORDER BY <order>, rowid LIMIT … OFFSET …`.
pub fn select<'a>(
    d: Dialect,
    t: &Table,
    filters: &'a [(usize, Test)],
    order: &[OrderBy],
    skip: u64,
    take: Option<u64>,
) -> Sql<'a> {
    let mut b = Builder::new(d, filters);
    let wheres = b.wheres(t, filters);
    // Joined, the index's rowid (the same): FTS5 knows it hands out its matches in that order.
    let rowid = if joins_search(filters) {
        super::search::joined_rowid(t)
    } else {
        format!("{}.{}", quote(&t.name), rowid_column(t, d))
    };
    let mut keys: Vec<String> = order
        .iter()
        .map(|o| {
            // Spelled out: SQLite puts NULL first ascending, PostgreSQL last.
            let mut c = column(t, o.col);
            // Text in JavaScript's order (SQLite's BINARY is not; see the collation).
            if t.columns[o.col].ty == ColType::Text && d == Dialect::Sqlite {
                c = format!("{c} COLLATE {}", super::sqlite::JS_COLLATION);
            }
            let dir = if o.desc { "DESC" } else { "ASC" };
            if !o.nulls {
                format!("{c} {dir}")
            } else if o.desc {
                format!("{c} DESC NULLS FIRST")
            } else {
                format!("{c} ASC NULLS LAST")
            }
        })
        .collect();
    keys.push(rowid.clone());
    let mut text = format!(
        "SELECT {rowid} FROM {}{wheres} ORDER BY {}",
        source(d, t, filters),
        keys.join(", ")
    );
    match (take, skip) {
        (Some(n), s) => text.push_str(&format!(" LIMIT {n} OFFSET {s}")),
        (None, 0) => {}
        // SQLite has no OFFSET without LIMIT; -1 is its "no limit".
        (None, s) if d == Dialect::Sqlite => text.push_str(&format!(" LIMIT -1 OFFSET {s}")),
        (None, s) => text.push_str(&format!(" OFFSET {s}")),
    }
    Sql {
        text,
        params: b.params,
    }
}
