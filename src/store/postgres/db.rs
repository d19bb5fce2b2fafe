//! One connection to jsonlift's PostgreSQL database: in the project's schema (`pg_schema`,
//! first on the search path), with its prepared statements, running closures in transactions
//! as the seam's [`Tx`]; and the tables themselves: created from the schema, recognised,
//! dropped.

use anyhow::Context;

use super::connect::{PgUrl, connect};
use super::tx::{PgTx, Statements};
use crate::schema::Schema;
use crate::schema::ddl::{
    add_foreign_keys, add_keys, create_table, create_table_bare, extra_index, indexes,
    internal_tables, quote,
};
use crate::store::{Dialect, StoreError, Tx};

pub struct PgConn {
    pub(super) client: postgres::Client,
    pub(crate) statements: Statements,
    /// The masked URL and schema, for messages.
    pub name: String,
}

/// How a transaction is begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One snapshot for every statement.
    Read,
    /// Serializable: two servers writing at once cannot both read the same "largest key" and
    /// both insert after it; the loser is told to retry (SQLSTATE 40001).
    Write,
}

impl PgConn {
    /// Connects and puts `pg_schema` first on the search path (creating it when `create`).
    pub fn open(url: &PgUrl, pg_schema: &str, create: bool) -> anyhow::Result<PgConn> {
        let mut client = connect(url)?;
        if create {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote(pg_schema)))
                .with_context(|| format!("{url}: creating schema {pg_schema}"))?;
        }
        // The schema in the session's name: `restore` finds the sessions working on a schema
        // in pg_stat_activity by it (and so can a DBA).
        client
            .batch_execute(&format!(
                "SET search_path TO {}; SET application_name TO '{}'",
                quote(pg_schema),
                Self::application_name(pg_schema)
            ))
            .with_context(|| format!("{url}: schema {pg_schema}"))?;
        Ok(PgConn {
            client,
            statements: Statements::default(),
            name: format!("{url} (schema {pg_schema})"),
        })
    }

    /// The `application_name` of this process's sessions on `pg_schema`: `jsonlift <pid>/<schema>`
    /// (a schema name is lower-case letters, digits and `_`, as the project file requires:
    /// nothing to escape). The process id lets `restore` name the server to stop, as the
    /// SQLite lock file's holders are named. PostgreSQL keeps the first 63 bytes.
    pub fn application_name(pg_schema: &str) -> String {
        Self::application_name_of(std::process::id(), pg_schema)
    }

    /// The `application_name` process `pid` gives its sessions on `pg_schema`, as PostgreSQL
    /// keeps it (the first 63 bytes).
    pub fn application_name_of(pid: u32, pg_schema: &str) -> String {
        let mut name = format!("jsonlift {pid}/{pg_schema}");
        name.truncate(63);
        name
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    pub fn run<T, E: From<StoreError>>(
        &mut self,
        mode: Mode,
        f: impl FnOnce(&dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let pg = |e: postgres::Error| E::from(StoreError::Other(anyhow::Error::new(e)));
        let mut tx = match mode {
            Mode::Read => self
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
            Mode::Write => self
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::Serializable)
                .start(),
        }
        .map_err(pg)?;
        let out = f(&PgTx::new(&mut tx, &mut self.statements))?;
        // A write whose request already answered 408 is rolled back (dropping `tx`).
        if mode == Mode::Write {
            crate::store::deadline::may_commit()?;
        }
        let done = tx.commit().map_err(pg);
        if mode == Mode::Write {
            crate::store::deadline::committed(done.is_ok());
        }
        done?;
        Ok(out)
    }
}

impl PgConn {
    /// Runs `f` on what the schema holds, in one read-only transaction that sees a single
    /// moment (`jsonlift plan`); `None`, without running it, when the schema holds no
    /// jsonlift tables yet.
    pub fn read_view<R>(
        &mut self,
        f: impl FnOnce(&dyn Tx) -> anyhow::Result<R>,
    ) -> anyhow::Result<Option<R>> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        if jsonlift_tables(&mut tx)?.is_empty() {
            return Ok(None);
        }
        f(&PgTx::new(&mut tx, &mut self.statements)).map(Some)
    }
}

/// Whether an error is PostgreSQL asking for the transaction to be tried again (a
/// serialization failure or a deadlock between two writers), or another writer having taken
/// the audit id this one read as free (the audit log numbers its entries as the largest plus
/// one: PostgreSQL may report that clash as a duplicate key rather than a serialization
/// failure).
pub fn is_retryable(e: &StoreError) -> bool {
    use postgres::error::SqlState;
    let StoreError::Other(e) = e else {
        return false;
    };
    e.chain().any(|c| {
        let Some(e) = c.downcast_ref::<postgres::Error>() else {
            return false;
        };
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => true,
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => true,
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => e
                .as_db_error()
                .and_then(|d| d.constraint())
                .is_some_and(|n| n == "_jsonlift_audit_pkey"),
            _ => false,
        }
    })
}

/// Whether `e` says the database cannot be used at all now, rather than that this request
/// was wrong: the server cannot be reached or dropped the connection, or the project's schema,
/// one of its tables or one of their columns is gone (dropped under the server). What makes
/// `serve --watch` answer from the files (`crate::sync::fallback`).
pub fn is_unusable(e: &StoreError) -> bool {
    use super::connect::ConnectError;
    let StoreError::Other(e) = e else {
        return false;
    };
    e.chain().any(|c| {
        if let Some(c) = c.downcast_ref::<ConnectError>() {
            return matches!(
                c,
                ConnectError::Unreachable { .. }
                    | ConnectError::Busy { .. }
                    | ConnectError::NoDatabase { .. }
            );
        }
        let Some(e) = c.downcast_ref::<postgres::Error>() else {
            return false;
        };
        let lost = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        match e.code().map(|c| c.code()) {
            // Connection exceptions; the server shutting down or starting; an undefined
            // table, column or schema.
            Some(c) => {
                c.starts_with("08")
                    || c.starts_with("57P")
                    || ["42P01", "42703", "3F000"].contains(&c)
            }
            None => e.is_closed() || lost,
        }
    })
}

/// `<base><suffix>` within PostgreSQL's 63-byte names, `base` shortened to fit (a longer name
/// would be cut silently, and could meet another).
pub fn schema_named(base: &str, suffix: &str) -> String {
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = base.chars().take(keep).collect();
    format!("{base}{suffix}")
}

/// Drops schema `name` with everything in it, if it exists.
pub fn drop_schema(url: &PgUrl, name: &str) -> anyhow::Result<()> {
    connect(url)?
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(name)))
        .with_context(|| format!("{url}: dropping schema {name}"))
}

/// Schema `fresh` takes the name `live`, in one transaction; what `live` held, if anything, is
/// kept as schema `aside` (an empty one is dropped). Returns whether anything was kept.
pub fn swap_schema(url: &PgUrl, fresh: &str, live: &str, aside: &str) -> anyhow::Result<bool> {
    let mut client = connect(url)?;
    let mut tx = client.transaction()?;
    let held: Option<i64> = tx
        .query_opt(
            "SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid) \
             FROM pg_namespace n WHERE n.nspname = $1",
            &[&live],
        )?
        .map(|r| r.get(0));
    let kept = match held {
        None => false,
        Some(0) => {
            tx.batch_execute(&format!("DROP SCHEMA {}", quote(live)))?;
            false
        }
        Some(_) => {
            tx.batch_execute(&format!(
                "ALTER SCHEMA {} RENAME TO {}",
                quote(live),
                quote(aside)
            ))?;
            true
        }
    };
    tx.batch_execute(&format!(
        "ALTER SCHEMA {} RENAME TO {}",
        quote(fresh),
        quote(live)
    ))?;
    tx.commit()
        .with_context(|| format!("{url}: putting schema {fresh} in place of {live}"))?;
    Ok(kept)
}

/// The statements that create jsonlift's tables for `schema` in the current schema: its own
/// tables, then each collection's, parents first. `for_load`: without keys, foreign keys,
/// indexes and triggers, which [`after_load_sql`] adds once the rows are in (one pass each, not
/// one lookup per row); but the partial index of rows holding unnamed keys, which is empty.
pub fn create_sql(schema: &Schema, for_load: bool) -> Vec<String> {
    let mut out = internal_tables(Dialect::Postgres);
    for c in 0..schema.collections.len() {
        for t in schema.tables_of(c) {
            // A table shared by several collections is made once.
            if !schema.creates(t) {
                continue;
            }
            let t = &schema.tables[t];
            if for_load {
                out.push(create_table_bare(t));
                // Kept up as the rows go in, at no cost while none holds an unnamed key;
                // built after the load it would be one more scan of the table.
                out.extend(extra_index(t));
            } else {
                out.push(create_table(t, Dialect::Postgres));
                out.extend(indexes(t, Dialect::Postgres));
            }
        }
    }
    out
}

/// What [`create_sql`] left out for a load of `tables` (in creation order): keys, indexes and
/// triggers, then foreign keys (which need the keys they point at).
pub fn after_load_sql(schema: &Schema, tables: &[usize]) -> Vec<String> {
    let made: Vec<usize> = tables
        .iter()
        .copied()
        .filter(|&t| schema.creates(t))
        .collect();
    let mut out = Vec::new();
    for &t in &made {
        let t = &schema.tables[t];
        out.extend(add_keys(t));
        let made_for_load = extra_index(t);
        out.extend(
            indexes(t, Dialect::Postgres)
                .into_iter()
                .filter(|sql| Some(sql) != made_for_load.as_ref()),
        );
    }
    for &t in &made {
        out.extend(add_foreign_keys(&schema.tables[t]));
    }
    out
}

/// The tables of the current schema that jsonlift made (its own `_jsonlift_*` tables).
pub fn jsonlift_tables(
    client: &mut impl postgres::GenericClient,
) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name LIKE '\\_jsonlift\\_%' ORDER BY 1",
        &[],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Drops every table `schema` describes, and jsonlift's own, from the current schema.
pub fn drop_sql(schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = schema
        .tables
        .iter()
        .map(|t| format!("DROP TABLE IF EXISTS {} CASCADE", quote(&t.name)))
        .collect();
    for t in [
        "_jsonlift_sources",
        "_jsonlift_ledger",
        "_jsonlift_audit",
        "_jsonlift_schema",
        "_jsonlift_migrations",
    ] {
        out.push(format!("DROP TABLE IF EXISTS {t} CASCADE"));
    }
    out
}

/// Runs statements written by a user (a numbered SQL migration) inside the caller's
/// transaction; the error is PostgreSQL's own message, with its detail and hint, and the
/// character offset (1-based) in `sql` where PostgreSQL found the fault, when it says. (Run
/// through [`super::tx::Statements::script`], which forgets the prepared statements after.)
pub(super) fn run_located(
    client: &mut impl postgres::GenericClient,
    sql: &str,
) -> Result<(), (String, Option<usize>)> {
    client
        .batch_execute(sql)
        .map_err(|e| match e.as_db_error() {
            Some(d) => {
                let mut m = d.message().to_string();
                if let Some(x) = d.detail() {
                    m.push_str(&format!(" ({x})"));
                }
                if let Some(x) = d.hint() {
                    m.push_str(&format!("; hint: {x}"));
                }
                let at = match d.position() {
                    Some(postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
                    _ => None,
                };
                (m, at)
            }
            None => (e.to_string(), None),
        })
}

/// Puts the id sequence of jsonlift's own `table` after its largest id, once rows were given
/// their ids (a copy, a ledger row written beside one).
pub fn sync_id_sequence(
    client: &mut impl postgres::GenericClient,
    table: &str,
) -> Result<(), postgres::Error> {
    client.execute(
        &format!("SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM {}", quote(table)),
        &[&table],
    )?;
    Ok(())
}

/// How long a restore or a change of tables waits for the sessions of a server that was just
/// stopped to end before it counts them as in use (PostgreSQL ends a backend once it reads its
/// client's EOF).
pub const SESSIONS_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// The other jsonlift processes working on `pg_schema` (a `serve`, a `migrate`), each as "pid P
/// on HOST since TIME, N sessions", once those that are going have had `grace` to go. Each
/// jsonlift connection names its process and schema in `application_name`
/// ([`PgConn::application_name`]); other applications are not seen.
pub fn other_sessions(
    client: &mut impl postgres::GenericClient,
    pg_schema: &str,
    grace: std::time::Duration,
) -> Result<Vec<String>, postgres::Error> {
    let me = std::process::id();
    let deadline = std::time::Instant::now() + grace;
    loop {
        let rows = client.query(
            "SELECT pid, application_name, coalesce(host(client_addr), 'local socket'), \
             to_char(backend_start, 'YYYY-MM-DD HH24:MI:SS') \
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name LIKE 'jsonlift %/%' ORDER BY pid",
            &[],
        )?;
        // Per process: its sessions, where from, since when.
        let mut others: std::collections::BTreeMap<u32, (usize, String, String)> =
            Default::default();
        for r in &rows {
            let app: String = r.get(1);
            let Some(pid) = app
                .strip_prefix("jsonlift ")
                .and_then(|rest| rest.split('/').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me || app != PgConn::application_name_of(pid, pg_schema) {
                continue;
            }
            let e = others.entry(pid).or_insert_with(|| (0, r.get(2), r.get(3)));
            e.0 += 1;
        }
        if others.is_empty() || std::time::Instant::now() >= deadline {
            return Ok(others
                .iter()
                .map(|(pid, (n, host, since))| {
                    format!(
                        "pid {pid} on {host} since {since}, {n} session{}",
                        if *n == 1 { "" } else { "s" }
                    )
                })
                .collect());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What dropping `tables` (with CASCADE) would take from other tables of the current schema:
/// their foreign keys into `tables`, and the views reading them (and views on those); and what
/// the app put on `tables` (grants, comments, its triggers); as the statements that put them
/// back, in the order they were made. A rewrite of jsonlift's
/// tables runs them once the tables are back, so an app's own tables and views keep theirs.
pub fn dependents(
    client: &mut impl postgres::GenericClient,
    tables: &[String],
) -> Result<Vec<String>, postgres::Error> {
    let keys = client.query(
        "SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, con.conname, pg_get_constraintdef(con.oid)) \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid \
         JOIN pg_namespace n ON n.oid = r.relnamespace \
         WHERE con.contype = 'f' AND n.nspname = current_schema() AND r.relname = ANY($1) \
         AND NOT (c.relname = ANY($1)) ORDER BY con.oid",
        &[&tables],
    )?;
    let views = client.query(
        "WITH RECURSIVE deps(oid) AS ( \
           SELECT rw.ev_class FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid \
           JOIN pg_class r ON r.oid = d.refobjid JOIN pg_namespace n ON n.oid = r.relnamespace \
           WHERE d.classid = 'pg_rewrite'::regclass AND n.nspname = current_schema() \
           AND r.relname = ANY($1) AND rw.ev_class <> d.refobjid \
           UNION \
           SELECT rw.ev_class FROM deps JOIN pg_depend d ON d.refobjid = deps.oid \
           JOIN pg_rewrite rw ON rw.oid = d.objid \
           WHERE d.classid = 'pg_rewrite'::regclass AND rw.ev_class <> d.refobjid) \
         SELECT format('CREATE VIEW %s AS %s', deps.oid::regclass, pg_get_viewdef(deps.oid)) \
         FROM deps JOIN pg_class v ON v.oid = deps.oid WHERE v.relkind = 'v' ORDER BY deps.oid",
        &[&tables],
    )?;
    // What the app put on the tables themselves: privileges granted to others, comments, and
    // its own triggers (jsonlift's, which keep a field's default, are made with the tables).
    // What was on a table or a column that is gone goes with it; a trigger that no longer
    // fits the table refuses the change.
    let own = client.query(
        "SELECT format('DO $jsonlift$ BEGIN %s; EXCEPTION WHEN undefined_table %s THEN NULL; END $jsonlift$', \
                sql, CASE WHEN on_column THEN 'OR undefined_column' ELSE '' END) FROM ( \
           SELECT format('GRANT %s ON %I TO %s%s', a.privilege_type, c.relname, \
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                  CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS sql, false AS on_column, 1 AS k, c.oid AS o \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a \
           WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND a.grantee <> c.relowner \
           UNION ALL \
           SELECT CASE WHEN d.objsubid = 0 THEN format('COMMENT ON TABLE %I IS %L', c.relname, d.description) \
                  ELSE format('COMMENT ON COLUMN %I.%I IS %L', c.relname, a.attname, d.description) END, \
                  d.objsubid <> 0, 2, c.oid \
           FROM pg_description d JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid \
           WHERE d.classoid = 'pg_class'::regclass AND n.nspname = current_schema() AND c.relname = ANY($1) \
           UNION ALL \
           SELECT regexp_replace(pg_get_triggerdef(t.oid), '^CREATE TRIGGER', 'CREATE OR REPLACE TRIGGER'), false, 3, t.oid \
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE NOT t.tgisinternal AND n.nspname = current_schema() AND c.relname = ANY($1) \
           AND t.tgname NOT LIKE '%\\_default\\_on\\_write') own ORDER BY k, o",
        &[&tables],
    )?;
    Ok(views
        .iter()
        .chain(&keys)
        .chain(&own)
        .map(|r| r.get(0))
        .collect())
}
