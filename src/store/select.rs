//! The SQL of [`Tx::tally`](super::Tx::tally) and [`Tx::select`](super::Tx::select), spelled
//! once for both databases: the placeholder (`?N` or `$N`) and the rowid column come from the
//! dialect, and each backend binds the cells it is handed back in its own way. Values are
//! always bound, never spelled into the SQL; column names come from the schema.

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
}

impl<'a> Builder<'a> {
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
        let c = quote(&t.columns[col].name);
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
                format!("{} IS NOT NULL", json_kind(self.d, &t.columns[col].name, path))
            }
            Test::Search(term) => {
                let p = self.mark_as(None, term);
                format!(
                    "{} IN ({})",
                    rowid_column(t, self.d),
                    super::search::lookup_sql(self.d, t, &p)
                )
            }
        }
    }

    fn filters(&mut self, t: &Table, filters: &'a [(usize, Test)]) -> String {
        if filters.is_empty() {
            return "1 = 1".into();
        }
        filters
            .iter()
            .map(|(col, test)| format!("({})", self.test(t, *col, test)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// `SELECT count(*), <rows also passing each of also>… FROM t WHERE <filters>`.
pub fn tally<'a>(
    d: Dialect,
    t: &Table,
    filters: &'a [(usize, Test)],
    also: &'a [(usize, Test)],
) -> Sql<'a> {
    let mut b = Builder {
        d,
        params: Vec::new(),
    };
    let mut cols = vec!["count(*)".to_string()];
    for (col, test) in also {
        let cond = b.test(t, *col, test);
        // A sum of no rows is NULL: coalesced so that every column reads as a number.
        cols.push(format!(
            "coalesce(sum(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"
        ));
    }
    let wheres = b.filters(t, filters);
    Sql {
        text: format!(
            "SELECT {} FROM {} WHERE {wheres}",
            cols.join(", "),
            from(t, d)
        ),
        params: b.params,
    }
}

/// `SELECT rowid FROM t WHERE <filters> ORDER BY <order>, rowid LIMIT … OFFSET …`.
pub fn select<'a>(
    d: Dialect,
    t: &Table,
    filters: &'a [(usize, Test)],
    order: &[OrderBy],
    skip: u64,
    take: Option<u64>,
) -> Sql<'a> {
    let mut b = Builder {
        d,
        params: Vec::new(),
    };
    let wheres = b.filters(t, filters);
    let rowid = rowid_column(t, d);
    let mut keys: Vec<String> = order
        .iter()
        .map(|o| {
            // Spelled out: SQLite puts NULL first ascending, PostgreSQL last.
            let mut c = quote(&t.columns[o.col].name);
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
        "SELECT {rowid} FROM {} WHERE {wheres} ORDER BY {}",
        from(t, d),
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
