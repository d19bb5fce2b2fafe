//! `migrate` into PostgreSQL, with the guarantees it has on SQLite. The whole run is one
//! PostgreSQL transaction that holds the tables against other writers from start to end:
//! 1. what PostgreSQL holds is read into a scratch SQLite database (the collections whose
//!    tables still match the project file; the others are reloaded from their files anyway);
//! 2. the migration runs there, as on SQLite: the sources backed up, every record validated,
//!    loaded and verified against its source, references checked, the ledger and the audit log
//!    written, and a second run finding nothing to do;
//! 3. the result replaces jsonlift's tables in PostgreSQL (binary COPY; every row compared
//!    with the scratch database's; then keys, indexes and foreign keys) before COMMIT.
//!
//! Into a fresh schema (no jsonlift tables yet) steps 2 and 3 overlap: every row goes into
//! PostgreSQL with binary COPY as the scratch database takes it
//! ([`Replacement::load`]), so PostgreSQL's work runs beside the migration's instead of after
//! it; the same comparison follows. Where the tables allow it
//! ([`may_load_alone`](super::load::may_load_alone)), the scratch database does not even store
//! the rows: PostgreSQL's keys, unique constraints and references, built after the load,
//! refuse whatever storing them would have refused. A refusal, a problem found or any other
//! failure rolls that attempt back, and the run starts again storing the rows, which names
//! every problem at its file, line and column as before.
//!
//! A change of jsonlift.toml is done before step 1, in place on PostgreSQL and in this same
//! transaction ([`evolve_in_place`]: `ALTER TABLE` wherever PostgreSQL can, see
//! [`plan_pg`](super::plan_pg)), so that the tables it leaves are as the project file describes
//! them and the scratch run has nothing to rewrite: what the app made on the tables is kept.
//!
//! A failure or a kill at any point leaves PostgreSQL as it was: nothing is committed before
//! the last step, and PostgreSQL rolls back a transaction whose client is gone.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::numbered::{self, SqlFile};
use super::{DiscardOnDrop, Options, Report, database_name, db_backup_options, migrate_with};
use super::{evolve, plan};
use crate::config::Project;
use crate::schema::Schema;
use crate::store::Tx;
use crate::store::backend::{Evolution, LedgerRow};
use crate::store::postgres::connect::PgUrl;
use crate::store::postgres::db::{PgConn, SESSIONS_GRACE};
use crate::store::postgres::replacement::Replacement;
use crate::store::transfer::CopyReport;

pub fn migrate(project: &Project, opts: &Options, url: &PgUrl) -> anyhow::Result<Report> {
    let mut alone = false;
    let done = migrate_once(project, opts, url, true, &mut alone);
    if !alone {
        return done;
    }
    // Loaded alone, some problems are found only by PostgreSQL, and without their place: the
    // run again names every problem, as a run into SQLite does.
    match &done {
        Ok(r) if r.status != "failed" => return done,
        Ok(_) => tracing::info!(
            "problems found; loading again, the rows stored on the way, to list them all"
        ),
        Err(e) => tracing::info!(
            "the load into a fresh schema failed ({e:#}); loading again, the rows stored on the way, to say where"
        ),
    }
    drop(done);
    migrate_once(project, opts, url, false, &mut alone)
}

/// One attempt of [`migrate`]. `may_go_alone`: the scratch database need not store the rows
/// where [`load::may_load_alone`](super::load::may_load_alone) allows; `went_alone` says
/// whether it did not.
fn migrate_once(
    project: &Project,
    opts: &Options,
    url: &PgUrl,
    may_go_alone: bool,
    went_alone: &mut bool,
) -> anyhow::Result<Report> {
    *went_alone = false;
    let schema = Schema::build(project)?;
    let name = database_name(project);
    let dir = project.migrations_dir();
    let mut conn = PgConn::open(url, project.pg_schema(), !opts.dry_run)?;
    let mut rep = conn.replacement()?;
    let existing = rep.existing().to_vec();
    let scratch = tempfile::tempdir()?;
    let scratch_db = scratch.path().join("migrate.db");
    let kept = if existing.is_empty() {
        Evolution::default()
    } else {
        rep.tx().evolution_read()?
    };
    // The folder against what was applied, before anything runs (an edited file, a gap or a
    // duplicate is refused here, with nothing changed).
    let files = numbered::status(&dir, kept.migrations.clone())?.pending;
    let plan_file = files.iter().position(SqlFile::is_plan);
    let at = crate::clock::now();
    let mut applied_here = Vec::new();
    // The tables are as the kept `[collections]` made them (an earlier jsonlift kept none:
    // then as the project file describes them, where they match it).
    let old = kept
        .schema
        .as_ref()
        .map(|(toml, _)| plan::old_schema(project, toml))
        .transpose()?;
    let as_made = old.as_ref().unwrap_or(&schema);
    let changing = kept
        .schema
        .as_ref()
        .is_some_and(|(toml, _)| *toml != plan::saved_toml(project).unwrap_or_default());
    if changing && !opts.dry_run {
        // A running server keeps the schema it started with: tables changed under it would be
        // written in the old shape.
        let others = rep.other_sessions(project.pg_schema(), SESSIONS_GRACE)?;
        if !others.is_empty() {
            bail!(
                "changing the tables in place needs every `jsonlift serve` on this database stopped (a running server keeps the schema it started with): {name} is in use by {}; nothing was changed",
                others.join("; ")
            );
        }
    }
    // A database backup before changing it, so the change can be undone (`jsonlift restore`);
    // taken by pg_dump in its own snapshot, which this transaction has not changed yet.
    let before = if !existing.is_empty()
        && opts.database_backups
        && !opts.dry_run
        && (changing || opts.reimport || !files.is_empty())
    {
        Some(
            crate::backup::take_database(project, db_backup_options(project, "migrate-before"))
                .context("backing up the database before changing it; nothing was changed")?,
        )
    } else {
        None
    };
    // Discarded unless the change is committed.
    let mut discard = Discard(before.clone());
    // The evolution done in place, before the rest of the run (its summary).
    let mut evolved: Option<Vec<String>> = None;
    if !existing.is_empty() {
        // Other writers wait until this run commits or rolls back (readers go on): what is read
        // now is what is replaced at the end.
        let present = rep.hold(as_made)?;
        // The numbered files before a `plan --write` file run before the plan, on the tables
        // as they are.
        for f in &files[..plan_file.unwrap_or(0)] {
            apply_file(&mut rep, f, &at)?;
            applied_here.push(f.name.clone());
        }
        if !opts.reimport {
            let done = evolve_in_place(
                &mut rep,
                project,
                &schema,
                plan_file.map(|k| &files[k]),
                (
                    &at,
                    before
                        .as_ref()
                        .map(|b| b.data.to_string_lossy().into_owned()),
                ),
            )?;
            if let (Some(_), Some(k)) = (&done, plan_file) {
                applied_here.push(files[k].name.clone());
            }
            evolved = done;
        }
        // After an evolution in place the tables are as the project file describes them.
        let (as_made, present) = match evolved {
            Some(_) => (&schema, rep.matching(&schema)?),
            None => (as_made, present),
        };
        rep.read_into(as_made, &present, &scratch_db)
            .with_context(|| format!("reading {name}"))?;
    }
    // The scratch run plans and applies the change of jsonlift.toml (and records its `plan
    // --write` file); the other numbered files are PostgreSQL's SQL, run here.
    let scratch_files = scratch.path().join("migrations");
    std::fs::create_dir_all(&scratch_files)?;
    let applied_before = if existing.is_empty() {
        0
    } else {
        plan_file.unwrap_or(0)
    };
    for f in kept
        .migrations
        .iter()
        .map(|m| dir.join(&m.name))
        .chain(files[..applied_before].iter().map(|f| f.path.clone()))
        .chain(plan_file.map(|k| files[k].path.clone()))
    {
        std::fs::copy(&f, scratch_files.join(f.file_name().unwrap_or_default()))
            .with_context(|| format!("reading {}", f.display()))?;
    }
    let mut local = project
        .clone()
        .with_database(&scratch_db.display().to_string())?;
    local.config.migrations_dir = Some(scratch_files.display().to_string());
    let local_opts = Options {
        database_backups: false,
        ..*opts
    };
    let written = |e: anyhow::Error| e.context(format!("writing {name}; nothing was committed"));
    // Into a fresh schema, the rows go into PostgreSQL as the scratch database takes them;
    // what was sent is compared with what PostgreSQL holds below.
    let (mut report, sent) = if existing.is_empty() && !opts.dry_run {
        let alone = may_go_alone && super::load::may_load_alone(&schema);
        *went_alone = alone;
        rep.drop_tables(&schema)?;
        let (report, sent) = rep
            .load(&schema, alone, |sink| {
                migrate_with(&local, &local_opts, Some(sink))
            })
            .map_err(written)?;
        (report, Some(sent))
    } else {
        (migrate_with(&local, &local_opts, None)?, None)
    };
    // The scratch run's snapshot of the sources is of no use unless this run commits.
    let mut snapshot = DiscardOnDrop(report.backup.clone());
    // Collections new to the database, loaded from their files by the scratch run (which
    // changed nothing else): only their tables are written below.
    let only_new = if sent.is_none()
        && !opts.reimport
        && report.status == "migrated"
        && report.evolved.is_empty()
        && !report.collections.is_empty()
    {
        let loaded: Vec<usize> = report
            .collections
            .iter()
            .filter_map(|c| schema.collections.iter().position(|s| s.name == c.name))
            .collect();
        (loaded.len() == report.collections.len() && tables_absent(&mut rep, &schema, &loaded)?)
            .then_some(loaded)
    } else {
        None
    };
    report.database = PathBuf::from(&name);
    report.sql_applied.splice(0..0, applied_here);
    let rewrite = report.status == "migrated"
        || report.status.starts_with("evolved")
        || report.status.ends_with("upgraded");
    if let Some(summary) = &evolved {
        report.evolved.splice(0..0, summary.iter().cloned());
        if report.status.starts_with("already migrated") {
            report.status = "evolved in place".into();
        }
    }
    let after = if existing.is_empty() {
        &files[..]
    } else {
        &files[plan_file.map_or(0, |k| k + 1)..]
    };
    let after: Vec<&SqlFile> = after.iter().filter(|f| !f.is_plan()).collect();
    // A database migrated before jsonlift kept its `[collections]` keeps them now.
    let keep = if rewrite || existing.is_empty() {
        None
    } else {
        crate::store::database::Db::open(local.database(), local.pg_schema(), local.busy_timeout())?
            .read(|t| Ok(t.evolution_read()?))?
            .schema
            .filter(|s| Some(&s.0) != kept.schema.as_ref().map(|k| &k.0))
    };
    if report.status == "failed"
        || opts.dry_run
        || (!rewrite
            && evolved.is_none()
            && report.sql_applied.is_empty()
            && after.is_empty()
            && keep.is_none())
    {
        // Nothing to write: failed, a dry run, or already migrated (what ran here is rolled
        // back with the transaction).
        snapshot.0 = None;
        return Ok(report);
    }
    if let (true, Some(added)) = (rewrite, &only_new) {
        // The other tables keep what the app made on them (grants, comments, triggers).
        let mut source = crate::store::database::Db::open(
            local.database(),
            local.pg_schema(),
            local.busy_timeout(),
        )?;
        let bar = opts.progress.rows(&format!("write {name}"), 0);
        source
            .read(|src| rep.add_collections(src, &schema, added, &|n| bar.inc(n)))
            .map_err(written)?;
    } else if rewrite {
        // What the app made on jsonlift's tables (its tables' foreign keys into them, its
        // views) is put back once they are rewritten; a key the new tables cannot hold
        // refuses the change.
        let names: Vec<String> = as_made
            .tables
            .iter()
            .chain(&schema.tables)
            .map(|t| t.name.clone())
            .collect();
        let dependents = rep.dependents(&names)?;
        let mut source = crate::store::database::Db::open(
            local.database(),
            local.pg_schema(),
            local.busy_timeout(),
        )?;
        match &sent {
            // The rows are in: the scratch database gives jsonlift's own tables, and the
            // source to compare a table with cell by cell where it does not match.
            Some(sent) => source
                .read(|src| rep.finish_load(src, &schema, sent, None, &mut CopyReport::default())),
            None => {
                // The tables as they were made go (a dropped collection's, a nested field's
                // child table), then the scratch database replaces jsonlift's tables.
                rep.drop_tables(as_made)?;
                let bar = opts.progress.rows(&format!("write {name}"), 0);
                source.read(|src| {
                    rep.fill(src, &schema, true, None, &mut CopyReport::default(), &|n| {
                        bar.inc(n)
                    })
                })
            }
        }
        .map_err(written)?;
        for sql in &dependents {
            rep.script(sql).map_err(|(e, _)| {
                anyhow::anyhow!(
                    "{sql}: {e}\nthe app's own table or view no longer fits jsonlift's new tables; change it in a numbered SQL migration first; nothing was committed"
                )
            })?;
        }
    }
    if let Some(s) = keep {
        rep.tx().evolution_write(&Evolution {
            schema: Some(s),
            migrations: Vec::new(),
        })?;
    }
    // The numbered files after the load and the plan, in this same transaction.
    for f in &after {
        apply_file(&mut rep, f, &at)?;
        report.sql_applied.push(f.name.clone());
    }
    if !after.is_empty() {
        let entries: Vec<serde_json::Value> = after
            .iter()
            .map(|f| serde_json::json!({"migration": f.name, "sha256": f.sha256}))
            .collect();
        rep.ledger_append(LedgerRow {
            id: 0,
            started_at: at.clone(),
            finished_at: crate::clock::now(),
            action: "sql".into(),
            schema_hash: String::new(),
            sources: serde_json::Value::Array(entries).to_string(),
            backup: None,
            version: env!("CARGO_PKG_VERSION").into(),
        })?;
    }
    if !rewrite && evolved.is_none() && !report.sql_applied.is_empty() {
        report.status = "numbered migrations applied".into();
    }
    // The crash tests kill the process here: everything is written, nothing committed.
    crate::backup::pause_at("migrate:postgres-written");
    rep.commit()
        .with_context(|| format!("committing {name}; nothing was committed"))?;
    discard.0 = None;
    snapshot.0 = None;
    if !report.evolved.is_empty() {
        crate::backup::pause_at("evolve:committed");
    }
    if before.is_some()
        && let Err(e) =
            crate::backup::take_database(project, db_backup_options(project, "migrate-after"))
    {
        tracing::warn!(
            "the migration is committed, but the database backup after it failed: {e:#}; run `jsonlift backup`"
        );
    }
    Ok(report)
}

/// Deletes the database backup taken before a change that was not committed.
struct Discard(Option<crate::backup::manifest::Entry>);

impl Drop for Discard {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.discard();
        }
    }
}

/// Runs `f` on what PostgreSQL holds, for `jsonlift plan`: one read-only transaction that sees
/// a single moment.
pub fn read_view<R>(
    project: &Project,
    url: &PgUrl,
    f: impl FnOnce(&dyn Tx) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let mut conn = PgConn::open(url, project.pg_schema(), false)?;
    match conn.read_view(f)? {
        Some(r) => Ok(r),
        None => anyhow::bail!(
            "{} holds no jsonlift tables yet: there is nothing to plan; `jsonlift migrate` makes them from the sources",
            conn.name
        ),
    }
}

/// The change of jsonlift.toml done in place on PostgreSQL, in the migration's transaction
/// (`ALTER TABLE` where it can, only the tables that must be made anew rebuilt: see
/// [`plan_pg`](super::plan_pg)), after the database backup, with every record re-checked and
/// read back, and recorded. `None` when there is no such change, or one this cannot do alone
/// (a new collection to load from its files: the whole run then goes through the scratch
/// database). Returns the plan's summary; the collections it adds are loaded from their files
/// by the rest of the run.
fn evolve_in_place(
    rep: &mut Replacement,
    project: &Project,
    schema: &Schema,
    plan_file: Option<&SqlFile>,
    (at, backup): (&str, Option<String>),
) -> anyhow::Result<Option<Vec<String>>> {
    let (plan, carry) = {
        let ptx = rep.tx();
        let recorded = ptx.sources()?;
        let changed = plan::changed_sources(schema, &recorded);
        let pending = evolve::prepare_on(project, schema, Some(&ptx), &recorded, &changed)?;
        let Some(plan) = pending
            .plan
            .filter(|p| !p.is_empty() || !p.added.is_empty())
        else {
            return Ok(None);
        };
        if let Some(f) = plan_file
            && !numbered::plan_matches(f, &plan.summary(), &plan.sql())
        {
            bail!(
                "{} was written by `jsonlift plan --write`, but the plan from jsonlift.toml is no longer what it says (the file or jsonlift.toml changed since); write it again with `jsonlift plan --write` after removing it; nothing was changed",
                f.path.display()
            );
        }
        tracing::info!(target: "jsonlift::phase", "evolve");
        let carry = evolve::read_and_check(&ptx, project, &plan)?;
        (plan, carry)
    };
    // What the app's tables and views have on the tables made anew, put back after.
    let rebuilt: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.mode == plan::Mode::Rebuild)
        .flat_map(|c| plan.old.tables_of(c.old_ci))
        .map(|t| plan.old.tables[t].name.clone())
        .collect();
    let dependents = if rebuilt.is_empty() {
        Vec::new()
    } else {
        rep.dependents(&rebuilt)?
    };
    let ptx = rep.tx();
    evolve::apply_in_place(&ptx, &plan, &carry, &dependents)?;
    crate::store::search::refresh(&ptx, &plan.new, &[], true)?;
    crate::backup::pause_at("evolve:applied");
    evolve::record_on(&ptx, &plan, plan_file, at)?;
    let (entries, hash) = evolve::ledger_entries(
        Some(&plan),
        plan_file.map(std::slice::from_ref).unwrap_or_default(),
    );
    rep.ledger_append(LedgerRow {
        id: 0,
        started_at: at.to_string(),
        finished_at: crate::clock::now(),
        action: "evolve".into(),
        schema_hash: hash,
        sources: entries.to_string(),
        backup,
        version: env!("CARGO_PKG_VERSION").into(),
    })?;
    Ok(Some(plan.summary()))
}

/// Whether none of the tables of `collections` is in PostgreSQL yet (a new collection may
/// share a table that is: then every table is written anew).
fn tables_absent(
    rep: &mut Replacement,
    schema: &Schema,
    collections: &[usize],
) -> anyhow::Result<bool> {
    let ptx = rep.tx();
    for &c in collections {
        for t in schema.tables_of(c) {
            if ptx.columns(&schema.tables[t].name)?.is_some() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Runs one numbered file's statements on PostgreSQL inside the migration's transaction, and
/// records it with its sha256.
fn apply_file(rep: &mut Replacement, f: &SqlFile, at: &str) -> anyhow::Result<()> {
    // Whole, as PostgreSQL splits it: a function body's `;` is not the end of a statement.
    numbered::run_whole(f, |sql| rep.script(sql))?;
    rep.tx().evolution_write(&Evolution {
        schema: None,
        migrations: vec![numbered::applied(f, at)],
    })?;
    Ok(())
}
