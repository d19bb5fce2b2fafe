//! Rows in bulk: `COPY ... FROM STDIN (FORMAT binary)`, the fastest way into PostgreSQL, with
//! each value in its column's own binary form (jsonb included) and the row's `_exact` texts
//! computed as a single insert would ([`super::tx`]).

use std::error::Error;

use bytes::BufMut;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::tx::{Param, params, pg_err};
use crate::schema::ddl::{PG_EXACT, quote};
use crate::schema::{ColType, Table};
use crate::store::StoreError;
use crate::store::backend::Cells;

/// A JSON text sent as jsonb: its binary form is a version byte, then the text.
#[derive(Debug)]
struct Jsonb<'a>(Option<&'a str>);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(text) => {
                out.put_u8(1);
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// The column types of `t` as COPY sends them, `_exact` last.
fn types(t: &Table) -> Vec<Type> {
    let mut out: Vec<Type> = t
        .columns
        .iter()
        .map(|c| match c.ty {
            ColType::Integer => Type::INT8,
            ColType::Real => Type::FLOAT8,
            ColType::Boolean => Type::BOOL,
            ColType::Text => Type::TEXT,
            ColType::Json => Type::JSONB,
        })
        .collect();
    out.push(Type::TEXT);
    out
}

/// Appends `rows` to table `t` in one COPY (`fresh`: the table was created in this
/// transaction); returns how many went in. A row refused by a
/// constraint fails the whole COPY (the caller's transaction is then rolled back).
pub fn copy_in(
    tx: &mut postgres::Transaction,
    t: &Table,
    fresh: bool,
    rows: &mut dyn Iterator<Item = Result<Cells, StoreError>>,
) -> Result<u64, StoreError> {
    let mut cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    cols.push(quote(PG_EXACT));
    let sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary{})",
        quote(&t.name),
        cols.join(", "),
        // Rows of a table made in this transaction can be written frozen: nothing else can see
        // them before COMMIT, and reading them back (the verification) then dirties no page.
        if fresh { ", FREEZE" } else { "" }
    );
    let sink = tx.copy_in(&sql).map_err(pg_err)?;
    let mut writer = BinaryCopyInWriter::new(sink, &types(t));
    let mut n = 0u64;
    for row in rows {
        let row = row?;
        let values = params(t, &row)?;
        let json: Vec<Option<Jsonb>> = values
            .iter()
            .zip(t.columns.iter().map(|c| c.ty).chain([ColType::Text]))
            .map(|(p, ty)| match (ty, p) {
                (ColType::Json, Param::Text(s)) => Some(Jsonb(s.as_deref())),
                _ => None,
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .zip(&json)
            .map(|(p, j)| match j {
                Some(j) => j as &(dyn ToSql + Sync),
                None => p.as_sql(),
            })
            .collect();
        writer.write(&refs).map_err(pg_err)?;
        n += 1;
    }
    writer.finish().map_err(pg_err)?;
    Ok(n)
}
