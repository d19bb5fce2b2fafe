//! What `backup` and `restore` do to a project's PostgreSQL schema as a whole: read what it
//! holds in the snapshot `pg_dump` is pointed at, set it aside and make an empty one under its
//! name (with the same owner), put it back, drop a schema kept aside, and the sessions of other
//! jsonlift processes on it. The SQL lives here, beside the rest of the backend, so that the
//! backup modules run `pg_dump`/`pg_restore` and keep manifests without a client of their own.

use std::collections::BTreeMap;

use anyhow::Context;

use super::connect::server_version;
use super::db::{PgConn, SESSIONS_GRACE, other_sessions};
use super::tx::PgTx;
use crate::schema::ddl::quote;
use crate::store::Tx;

/// What a schema holds in one snapshot, as a backup's manifest records it.
pub struct Held {
    /// Rows per table, by name.
    pub counts: BTreeMap<String, u64>,
    /// The last audit entry's id (0 without one) and time.
    pub audit_id: i64,
    pub audit_at: Option<String>,
    /// The schema fingerprint each source's migration recorded: (source, fingerprint).
    pub schema_hashes: Vec<(String, String)>,
}

impl PgConn {
    /// The server's major version (15 for 15.20), to hold the client programs to.
    pub fn server_major(&mut self) -> anyhow::Result<u32> {
        let v = server_version(&mut self.client).context("reading the server's version")?;
        Ok(v.0 / 10_000)
    }

    /// Runs `f` with the name of an exported snapshot (`pg_export_snapshot()`) of a read-only
    /// REPEATABLE READ transaction and what the schema holds in it. The snapshot lives until
    /// `f` returns: `pg_dump --snapshot=<name>` run by `f` dumps exactly what [`Held`] says.
    pub fn in_exported_snapshot<R>(
        &mut self,
        f: impl FnOnce(&str, Held) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let statements = &mut self.statements;
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let snapshot: String = tx.query_one("SELECT pg_export_snapshot()", &[])?.get(0);
        let tables: Vec<String> = tx
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut counts = BTreeMap::new();
        for t in &tables {
            let n: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {}", quote(t)), &[])?
                .get(0);
            counts.insert(t.clone(), n as u64);
        }
        let (audit_id, audit_at) = if tables.iter().any(|t| t == "_jsonlift_audit") {
            tx.query_opt(
                "SELECT id, at FROM _jsonlift_audit ORDER BY id DESC LIMIT 1",
                &[],
            )?
            .map(|r| (r.get::<_, i64>(0), Some(r.get::<_, String>(1))))
            .unwrap_or((0, None))
        } else {
            (0, None)
        };
        let schema_hashes = PgTx::new(&mut tx, statements)
            .sources()?
            .into_values()
            .map(|s| (s.path, s.schema_hash))
            .collect();
        let held = Held {
            counts,
            audit_id,
            audit_at,
            schema_hashes,
        };
        let out = f(&snapshot, held)?;
        // Only now: the exported snapshot lives as long as the transaction that exported it.
        tx.commit()?;
        Ok(out)
    }

    /// The current schema's size on the server (tables, their indexes and TOAST).
    pub fn schema_size(&mut self) -> anyhow::Result<u64> {
        let n: i64 = self
            .client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm')",
                &[],
            )?
            .get(0);
        Ok(n as u64)
    }

    /// Whether schema `name` exists.
    pub fn schema_exists(&mut self, name: &str) -> anyhow::Result<bool> {
        Ok(self
            .client
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&name])?
            .is_some())
    }

    /// Drops schema `name` and everything in it.
    pub fn drop_schema(&mut self, name: &str) -> anyhow::Result<()> {
        self.client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", quote(name)))?;
        Ok(())
    }

    /// In one transaction: schema `live` renamed to `aside` (when given), and an empty schema
    /// made under its name, owned by the owner of the one set aside.
    pub fn set_aside(&mut self, live: &str, aside: Option<&str>) -> anyhow::Result<()> {
        let mut tx = self.client.transaction()?;
        if let Some(aside) = aside {
            tx.batch_execute(&format!(
                "ALTER SCHEMA {} RENAME TO {}",
                quote(live),
                quote(aside)
            ))?;
        }
        tx.batch_execute(&format!("CREATE SCHEMA {}", quote(live)))?;
        if let Some(aside) = aside {
            let owner: String = tx
                .query_one(
                    "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1",
                    &[&aside],
                )?
                .get(0);
            tx.batch_execute(&format!("ALTER SCHEMA {} OWNER TO {owner}", quote(live)))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Undoes [`PgConn::set_aside`] in one transaction: schema `live` (as made since) dropped,
    /// `aside` (when given) renamed back to it.
    pub fn put_back(&mut self, live: &str, aside: Option<&str>) -> anyhow::Result<()> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(live)))?;
        if let Some(aside) = aside {
            tx.batch_execute(&format!(
                "ALTER SCHEMA {} RENAME TO {}",
                quote(aside),
                quote(live)
            ))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets the audit log's id sequence past its largest id (entries written with their ids,
    /// as a replay writes them).
    pub fn sync_audit_ids(&mut self) -> anyhow::Result<()> {
        self.client.batch_execute(
            "SELECT setval(pg_get_serial_sequence('_jsonlift_audit', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM _jsonlift_audit",
        )?;
        Ok(())
    }

    /// The other jsonlift processes working on `pg_schema` ([`other_sessions`], after its
    /// grace period).
    pub fn other_jsonlift_processes(&mut self, pg_schema: &str) -> anyhow::Result<Vec<String>> {
        Ok(other_sessions(&mut self.client, pg_schema, SESSIONS_GRACE)?)
    }
}
