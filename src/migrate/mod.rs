//! The migration: validate, back up the sources, load in one transaction, verify every record
//! before committing, and record the run so that a second run knows there is nothing to do.
//! `check` is the same load into a throw-away database; `verify` and `export` read a finished one.

pub mod drift;
pub mod evolve;
pub mod export;
pub mod json_store;
pub mod load;
pub mod numbered;
pub mod plan;
pub mod plan_pg;
pub mod postgres;
pub mod progress;
pub mod report;
pub mod snapshot;
pub mod upgrade;
pub mod verify;
pub mod write_back;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::Digest;

use crate::backup;
use crate::clock;
use crate::config::Project;
use crate::error::Problem;
use crate::json::{JsonPath, Seg};
use crate::schema::Schema;
use crate::schema::fingerprint::{self, SchemaState};
use crate::schema::shred::Ids;
use crate::source::{self, Format, Layout, SourceSpec};
use crate::store::backend::SourceState;
use crate::store::bulk;
use crate::store::database::Db;
use crate::store::sqlite_load::LoadDb;
use crate::store::sqlite_migration::{self, SqliteMigration};
use crate::store::transfer::RowSink;
use crate::writeback;
use load::{load_source, place, record_file};
pub use progress::Progress;
pub use report::{CollectionReport, Report};
use snapshot::{Reads, SourceBackup};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub dry_run: bool,
    pub reimport: bool,
    pub progress: Progress,
    /// Back up the database before changing it, and after, and get a new one to disk before it
    /// is published. Off for a scratch database (a migration into PostgreSQL runs in one), which
    /// is read once and thrown away: built in the page cache, it may never reach the disk.
    pub database_backups: bool,
}

/// The fingerprint of a source to be taken while it is backed up.
const DEFERRED: (u64, String) = (0, String::new());

/// Size and sha256 of a source as it is now.
fn fingerprint(spec: &SourceSpec) -> std::io::Result<(u64, String)> {
    if source::is_none(spec) {
        // Nothing is read: the source never changes.
        Ok((0, "none".into()))
    } else if source::is_sqlite(spec) {
        source::sqlite::fingerprint(spec)
    } else if is_folder(spec) {
        backup::hash_folder(&spec.path)
    } else {
        backup::hash_file(&spec.path)
    }
}

fn is_sqlite(spec: &SourceSpec) -> bool {
    source::is_sqlite(spec)
}

fn is_folder(spec: &SourceSpec) -> bool {
    matches!(spec.members[0].format, Format::Folder | Format::Prompty)
}

fn format_name(spec: &SourceSpec) -> String {
    if source::is_sqlite(spec) || source::is_none(spec) {
        format!("{:?}", spec.members[0].format).to_lowercase()
    } else if spec.members.len() > 1 || spec.members[0].name.is_some() {
        if spec.members.iter().any(|m| m.format == Format::Tinydb) {
            "tinydb".into()
        } else {
            "dbjson".into()
        }
    } else {
        format!("{:?}", spec.members[0].format).to_lowercase()
    }
}

/// Removes databases half-built by runs that were killed (their process is gone): they were
/// never renamed into place, so nothing refers to them.
fn remove_stale_builds(db_path: &Path, name: &str) {
    let Some(dir) = db_path.parent() else { return };
    let prefix = format!(".{name}.jsonlift-tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        if crate::process::gone_named(rest.split('-').next().unwrap_or_default()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Deletes a file (and its -wal/-shm companions) on drop unless disarmed: a database being built
/// must never be left behind by a failure.
struct TempDb {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if self.armed {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
            }
        }
    }
}

/// Removes a folder on drop unless emptied: the snapshot of a migration that did not commit.
struct DiscardOnDrop(Option<PathBuf>);

impl Drop for DiscardOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

enum Target {
    /// A new file that is renamed over `final_path` when complete.
    Fresh {
        temp: TempDb,
        final_path: PathBuf,
        writeback: Option<writeback::Behind>,
    },
    /// The existing database, changed in one transaction.
    InPlace,
    /// A throw-away copy (dry run, check).
    Scratch { _dir: tempfile::TempDir },
}

/// Marks the start of a phase of `migrate` in the log (`JSONLIFT_LOG=jsonlift::phase=info`):
/// the crash harness reads these to tell which phase each kill interrupted.
fn phase(name: &str) {
    tracing::info!(target: "jsonlift::phase", "{name}");
}

pub fn migrate(project: &Project, opts: &Options) -> anyhow::Result<Report> {
    migrate_with(project, opts, None)
}

/// [`migrate`], every row loaded from a source also handed to `sink` as it was stored (the
/// migration into PostgreSQL loads it alongside this one's scratch SQLite database).
fn migrate_with(
    project: &Project,
    opts: &Options,
    sink: Option<&mut dyn RowSink>,
) -> anyhow::Result<Report> {
    if let crate::config::Database::Postgres(url) = project.database() {
        return postgres::migrate(project, opts, url);
    }
    let t0 = Instant::now();
    let started_at = clock::now();
    let schema = Schema::build(project)?;
    let db_path = project.database_path();
    let mut report = Report::new("migrate", db_path.clone());
    legacy_checks(project, &schema, &db_path)?;

    let Some(Survey {
        exists,
        mut prints,
        recorded,
        mut to_load,
        changed,
        restyled,
        pending,
    }) = survey(project, opts, &schema, &db_path, &mut report)?
    else {
        report.status = "failed".into();
        return Ok(report);
    };
    // A running server keeps the schema it started with: tables changed under it would be
    // written in the old shape. Held (as a restore holds it) until the change is committed.
    let _no_server = match &pending.plan {
        Some(p) if !p.is_empty() && !opts.dry_run => Some(
            backup::lock::hold_restore_lock(&db_path).context(
                "changing the tables in place needs every `jsonlift serve` on this database stopped (a running server keeps the schema it started with); nothing was changed",
            )?,
        ),
        _ => None,
    };
    // Unchanged sources whose tables an earlier jsonlift defined: rewritten first, on their own.
    let earlier: Vec<usize> = upgrade::sources_to_upgrade(&schema, &recorded)
        .into_iter()
        .filter(|si| !changed.contains(si))
        .collect();
    if !earlier.is_empty() {
        if opts.dry_run {
            report.upgraded = earlier_tables(&schema, &earlier);
        } else {
            report.upgraded = upgrade_in_place(project, &schema, &earlier)?;
        }
    }
    if to_load.is_empty() && changed.is_empty() && pending.is_empty() {
        already_migrated(
            project,
            opts,
            &schema,
            (&recorded, &restyled, &pending),
            &mut report,
        )?;
        report.seconds = t0.elapsed().as_secs_f64();
        return Ok(report);
    }
    if !changed.is_empty() && !opts.reimport {
        bail!(
            "sources changed since the last migration:\n{}\nRun `jsonlift verify` to see the differences, or `jsonlift migrate --reimport` to replace those collections with the current files (changes made in the database since are lost; a backup is taken first).",
            changed_sources(&schema, &recorded, &prints, &changed).join("\n")
        );
    }
    to_load.extend(changed);
    to_load.sort_unstable();

    // Back up what is about to be read; the load reads the copies (a file's copy block by block
    // as it is written), so what is loaded is exactly what was hashed even if an application
    // writes the files meanwhile.
    let scratch = if opts.dry_run {
        Some(tempfile::tempdir()?)
    } else {
        None
    };
    let backup_root = match &scratch {
        Some(d) => d.path().join("backups"),
        None => project.backup_dir(),
    };
    phase("backup");
    // Until the migration commits, the snapshot is of no use: any failure removes it. (Declared
    // before the backup, so the copy has stopped when it is removed.)
    let mut discard = DiscardOnDrop(None);
    let (mut source_backup, reads) =
        SourceBackup::start(&schema.sources, &to_load, &project.root, &backup_root)?;
    discard.0 = Some(source_backup.dir().to_path_buf());
    let Reads {
        specs: copies,
        bytes: feeds,
    } = reads;
    let Opened {
        db,
        target,
        db_backup,
    } = open_target(project, opts, &db_path, exists, scratch)?;
    // Foreign keys are checked after the load (the `verify` phase), not enforced while it runs
    // ([`SqliteMigration::begin`]).
    db.begin()?;
    // The plan from a changed jsonlift.toml first (the new sources may load into a table it
    // changes), then the sources, then the numbered SQL files after the plan, all in this
    // transaction.
    let at = clock::now();
    let backup = db_backup
        .as_ref()
        .map(|b| b.data.to_string_lossy().into_owned());
    // Everything the run changes, in this transaction; whether to commit it.
    let outcome = (|| -> anyhow::Result<bool> {
        if !pending.is_empty() {
            phase("evolve");
        }
        evolve::run(&db, project, &pending, &prints, &at, &mut report)?;
        phase("load");
        let db_backup = db_backup.as_ref().map(|b| b.data.to_string_lossy());
        if !load_all(
            &db,
            &schema,
            &to_load,
            (&copies, feeds),
            (&mut source_backup, &mut prints),
            &mut report,
            opts,
            &started_at,
            (!exists, db_backup.as_deref()),
            sink,
        )? {
            return Ok(false);
        }
        evolve::finish(
            &db,
            &pending,
            &at,
            (&started_at, backup.as_deref()),
            &mut report,
        )?;
        // The search indexes: rebuilt for the collections reloaded, and for all after an
        // evolution (which may change what the records hold); built where missing.
        let reloaded: Vec<usize> = (0..schema.collections.len())
            .filter(|&c| to_load.contains(&schema.collections[c].source))
            .collect();
        crate::store::search::refresh(&db.tx(), &schema, &reloaded, !report.evolved.is_empty())?;
        // Last, after the numbered SQL files (which may still read the legacy tables, as seed
        // 002's `006_convert_legacy_media` does).
        if project.config.drop_source_tables && !opts.dry_run {
            drop_source_tables(&db, &schema, &to_load, &db_path)?;
        }
        Ok(true)
    })();
    match outcome {
        Ok(true) => {
            phase("commit");
            db.commit()?;
            // A scratch database's commit (PostgreSQL's run, which takes no backups) is
            // not the evolution's: PostgreSQL's own commit is, and pauses there.
            if !report.evolved.is_empty() && opts.database_backups {
                backup::pause_at("evolve:committed");
            }
        }
        outcome => {
            db.rollback();
            drop(db);
            if let Some(b) = &db_backup {
                b.discard();
            }
            outcome?;
            report.status = "failed".into();
            report.seconds = t0.elapsed().as_secs_f64();
            return Ok(report);
        }
    }
    match target {
        Target::Fresh {
            mut temp,
            final_path,
            writeback,
        } => {
            phase("publish");
            publish_new(db, &mut temp, &final_path, writeback, opts.database_backups)?;
            discard.0 = None;
            report.status = "migrated".into();
            report.backup = Some(source_backup.dir().to_path_buf());
        }
        Target::InPlace => {
            drop(db);
            report.status = match (to_load.is_empty(), report.evolved.is_empty()) {
                (false, _) => "migrated",
                (true, false) => "evolved in place",
                (true, true) => "numbered migrations applied",
            }
            .into();
            if to_load.is_empty() {
                // No source was read: the empty snapshot goes (with `discard`); the database
                // backup before the change is in the ledger.
            } else {
                discard.0 = None;
                report.backup = Some(source_backup.dir().to_path_buf());
            }
            // And one after: point-in-time recovery cannot replay a reimport, it starts here.
            if !opts.database_backups {
            } else if let Err(e) =
                backup::take(project, db_backup_options(project, "migrate-after"))
            {
                tracing::warn!(
                    "the migration is committed, but the database backup after it failed: {e:#}; run `jsonlift backup`"
                );
            }
        }
        Target::Scratch { .. } => {
            drop(db);
            report.status = "dry run: everything checked, nothing written".into();
        }
    }
    phase("done");
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// What `migrate` reports when it has nothing to load, only perhaps the kept `[collections]`
/// of a database migrated before jsonlift kept them to record.
fn already_migrated(
    project: &Project,
    opts: &Options,
    schema: &Schema,
    (recorded, restyled, pending): (&HashMap<String, SourceState>, &[String], &evolve::Pending),
    report: &mut Report,
) -> anyhow::Result<()> {
    if !opts.dry_run {
        // A run killed while it backed up the sources left a snapshot without manifest: a
        // run with something to load sweeps such leftovers as it starts its own backup,
        // one with nothing to do does it here.
        backup::sources::sweep_incomplete(&project.backup_dir());
    }
    if pending.save_needed && !opts.dry_run {
        // A database migrated before jsonlift kept its `[collections]`: kept now, so that
        // a later change of jsonlift.toml can be planned.
        let db_path = project.database_path();
        SqliteMigration::in_place(&db_path, project.busy_timeout())?
            .save_schema(&pending.saved, &clock::now())
            .map_err(|e| sqlite_migration::if_locked(e, &db_path))?;
    }
    report.status = if !restyled.is_empty() {
        "already migrated; sources written again with the same content, their new fingerprints recorded"
    } else if report.upgraded.is_empty() {
        "already migrated"
    } else if opts.dry_run {
        "dry run: table definitions would be rewritten, nothing written"
    } else {
        "already migrated; table definitions upgraded"
    }
    .into();
    for c in &schema.collections {
        let spec = &schema.sources[c.source];
        report.collections.push(CollectionReport {
            name: c.name.clone(),
            table: schema.tables[c.table].name.clone(),
            source: spec.display.clone(),
            records: recorded.get(&spec.display).map(|s| s.records).unwrap_or(0),
            ..CollectionReport::default()
        });
    }
    Ok(())
}

/// The sources that changed since they were loaded, a line each with what changed.
fn changed_sources(
    schema: &Schema,
    recorded: &HashMap<String, SourceState>,
    prints: &[(u64, String)],
    changed: &[usize],
) -> Vec<String> {
    changed
        .iter()
        .map(|&si| {
            let colls: Vec<&str> = schema.collections_of(si).map(|c| c.name.as_str()).collect();
            let spec = &schema.sources[si];
            let what = if recorded[&spec.display].sha256 != prints[si].1 {
                "its content"
            } else {
                "the schema of its collections"
            };
            format!(
                "  {} ({what} changed since it was migrated; feeds {})",
                spec.display,
                colls.join(", ")
            )
        })
        .collect()
}

/// The database a run changes, opened ([`open_target`]).
struct Opened {
    db: SqliteMigration,
    target: Target,
    /// The backup of an existing database taken before changing it.
    db_backup: Option<backup::manifest::Entry>,
}

/// Opens what the run changes: a copy in `scratch` for a dry run, the existing database (backed
/// up first), or a new file beside where it goes, published by a rename once complete.
fn open_target(
    project: &Project,
    opts: &Options,
    db_path: &Path,
    exists: bool,
    scratch: Option<tempfile::TempDir>,
) -> anyhow::Result<Opened> {
    let mut db_backup = None;
    let (db, target) = if let Some(dir) = scratch {
        let path = dir.path().join("dry-run.db");
        let live = exists.then(|| (db_path, project.busy_timeout()));
        (
            SqliteMigration::scratch(&path, live)?,
            Target::Scratch { _dir: dir },
        )
    } else if exists {
        // A database backup before changing it, so the change can be undone (`jsonlift restore`).
        if opts.database_backups {
            let before = backup::take(project, db_backup_options(project, "migrate-before"))
                .context("backing up the database before changing it; nothing was changed")?;
            db_backup = Some(before);
        }
        (
            SqliteMigration::in_place(db_path, project.busy_timeout())?,
            Target::InPlace,
        )
    } else {
        let name = db_path
            .file_name()
            .context("database path has no file name")?
            .to_string_lossy();
        remove_stale_builds(db_path, &name);
        let temp = db_path.with_file_name(format!(".{name}.jsonlift-tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        let guard = TempDb {
            path: temp.clone(),
            armed: true,
        };
        let db = SqliteMigration::new_file(&temp, &db_path, opts.database_backups)
            .with_context(|| format!("creating {}", temp.display()))?;
        (
            db,
            Target::Fresh {
                temp: guard,
                final_path: db_path.to_path_buf(),
                // A new database goes to disk as it is built; the fsync before it is
                // published waits less.
                writeback: opts
                    .database_backups
                    .then(|| writeback::Behind::start(&temp)),
            },
        )
    };
    Ok(Opened {
        db,
        target,
        db_backup,
    })
}

/// Puts a new database in place once its transaction committed: every page on disk (when
/// `durable`), then renamed over `final_path` (and the folder's entry on disk too), so the file
/// there is the old one or the complete new one, whatever happens.
fn publish_new(
    db: SqliteMigration,
    temp: &mut TempDb,
    final_path: &Path,
    writeback: Option<writeback::Behind>,
    durable: bool,
) -> anyhow::Result<()> {
    let _slow = crate::writeback::watch("getting the new database to disk (fsync)");
    drop(writeback);
    db.publish()?;
    if durable {
        std::fs::File::open(&temp.path)?.sync_all()?;
    }
    std::fs::rename(&temp.path, final_path)
        .with_context(|| format!("moving the new database to {}", final_path.display()))?;
    if let Some(dir) = final_path.parent().filter(|_| durable) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    temp.armed = false;
    Ok(())
}

/// What a run finds to do before it changes anything: the sources as they are now against what
/// the database recorded of them, and the change of jsonlift.toml pending.
struct Survey {
    /// The database exists (a new one has nothing recorded).
    exists: bool,
    /// Each source's size and sha256 now ([`DEFERRED`]: a file to be hashed as it is backed up).
    prints: Vec<(u64, String)>,
    recorded: HashMap<String, SourceState>,
    /// The sources never loaded.
    to_load: Vec<usize>,
    /// The sources whose files (or collections' schema) changed since they were loaded.
    changed: Vec<usize>,
    /// The files written again with the same records: their new fingerprints were recorded.
    restyled: Vec<String>,
    pending: evolve::Pending,
}

/// Surveys the sources and the database ([`Survey`]); `None` when a source cannot be read (the
/// problems are in `report`).
fn survey(
    project: &Project,
    opts: &Options,
    schema: &Schema,
    db_path: &Path,
    report: &mut Report,
) -> anyhow::Result<Option<Survey>> {
    // What the sources are now, and what the database says they were. A new database has
    // nothing to compare with: a single file is then hashed once, while it is backed up.
    let exists = db_path.exists();
    let mut prints = Vec::new();
    for spec in &schema.sources {
        // A database source is fingerprinted by its content, read where it lies.
        let print = if exists || is_folder(spec) || is_sqlite(spec) || source::is_none(spec) {
            fingerprint(spec)
        } else {
            std::fs::File::open(&spec.path).map(|_| DEFERRED)
        };
        match print {
            Ok(p) => prints.push(p),
            Err(e) => {
                report.problem(Problem::new(
                    spec.display.clone(),
                    format!("cannot read the source: {e}"),
                ));
                prints.push((0, String::new()));
            }
        }
    }
    if !report.ok {
        return Ok(None);
    }
    let recorded = if exists {
        sqlite_migration::recorded_sources(db_path, project.busy_timeout())?
    } else {
        HashMap::new()
    };
    // Sources whose collections jsonlift.toml now describes otherwise: evolved in place
    // (unless --reimport replaces them from their files).
    let evolving = if opts.reimport {
        Vec::new()
    } else {
        plan::changed_sources(schema, &recorded)
    };
    let mut to_load = Vec::new();
    let mut changed = Vec::new();
    for (si, spec) in schema.sources.iter().enumerate() {
        match recorded.get(&spec.display) {
            None => to_load.push(si),
            // A collection without a source is never reloaded: the database is all it has.
            Some(_) if source::is_none(spec) => {}
            Some(_) if evolving.contains(&si) => {}
            Some(s)
                if s.sha256 == prints[si].1
                    && fingerprint::schema_state(schema, si, &s.schema_hash)
                        != SchemaState::Changed => {}
            Some(_) => changed.push(si),
        }
    }
    // Files whose bytes changed but whose records are what the database holds (the files
    // `export` wrote, copied back; a file re-formatted): not a change. Their new fingerprint
    // and layout are recorded, and nothing is reloaded.
    let mut restyled = Vec::new();
    if exists && !opts.reimport && !changed.is_empty() {
        // (A SQLite source's fingerprint is its content already.)
        let same = verify::same_content(project, schema, &changed, |si| {
            !is_sqlite(&schema.sources[si])
                && recorded.get(&schema.sources[si].display).is_some_and(|s| {
                    fingerprint::schema_state(schema, si, &s.schema_hash) == SchemaState::Current
                })
        })?;
        changed.retain(|si| !same.iter().any(|(s, _)| s == si));
        if !opts.dry_run && !same.is_empty() {
            let mut states = Vec::new();
            for (si, layout) in same {
                let spec = &schema.sources[si];
                let mut state = recorded[&spec.display].clone();
                (state.size, state.sha256) = prints[si].clone();
                state.layout = layout;
                states.push(state);
                restyled.push(spec.display.clone());
            }
            sqlite_migration::record_sources(db_path, project.busy_timeout(), &states)?;
        }
    }
    let pending = if exists {
        sqlite_migration::read_only(db_path, project.busy_timeout(), |tx| {
            evolve::prepare_on(project, schema, Some(tx), &recorded, &evolving)
        })?
    } else {
        evolve::prepare_on(project, schema, None, &recorded, &evolving)?
    };
    Ok(Some(Survey {
        exists,
        prints,
        recorded,
        to_load,
        changed,
        restyled,
        pending,
    }))
}

/// What a SQLite source that is the database itself asks for (issue #17): no collection's table
/// may take the name of a legacy table (the load would replace it), and `drop_source_tables`
/// drops only legacy tables of the database being migrated into, never another file's.
fn legacy_checks(project: &Project, schema: &Schema, db_path: &Path) -> anyhow::Result<()> {
    let mut into_itself = false;
    for spec in schema.sources.iter().filter(|s| is_sqlite(s)) {
        if !source::sqlite::is_same_file(spec, db_path) {
            if project.config.drop_source_tables {
                bail!(
                    "{}: drop_source_tables = true drops the legacy tables from the database migrated into, and {} is another file, which jsonlift never changes; migrate into it (`database = {:?}`) or remove drop_source_tables",
                    project.path.display(),
                    spec.display,
                    spec.display
                );
            }
            continue;
        }
        into_itself = true;
        let legacy = source::sqlite::legacy_tables(&spec.path)
            .with_context(|| format!("reading the tables of {}", spec.display))?;
        for (ci, c) in schema.collections.iter().enumerate() {
            for t in schema.tables_of(ci) {
                let name = &schema.tables[t].name;
                if let Some(l) = legacy.iter().find(|l| l.eq_ignore_ascii_case(name)) {
                    bail!(
                        "{}: collections.{}: its table {name} would replace the legacy table {l} of {}, the database migrated into; give the collection's table another name (`table = \"...\"`, or the child table's `table`)",
                        project.path.display(),
                        c.name,
                        spec.display
                    );
                }
            }
        }
    }
    if project.config.drop_source_tables && !into_itself {
        bail!(
            "{}: drop_source_tables = true, but no SQLite source is the database migrated into",
            project.path.display()
        );
    }
    Ok(())
}

/// Drops the legacy tables read by the sources loaded now from the database itself, and records
/// in the ledger that they are gone (a second `migrate` then finds nothing to do).
fn drop_source_tables(
    db: &SqliteMigration,
    schema: &Schema,
    to_load: &[usize],
    db_path: &Path,
) -> anyhow::Result<()> {
    let mut recorded = db.sources()?;
    for &si in to_load {
        let spec = &schema.sources[si];
        if !is_sqlite(spec) || !source::sqlite::is_same_file(spec, db_path) {
            continue;
        }
        phase("drop source tables");
        // Inside the migration's transaction, after its verification, with the sources'
        // backup complete.
        let dropped = source::sqlite::source_tables(spec);
        db.drop_legacy_tables(&dropped)?;
        tracing::info!(tables = ?dropped, "legacy tables dropped after the verified migration");
        if let Some(mut state) = recorded.remove(&spec.display) {
            if let Some(l) = &mut state.layout.sqlite {
                l.dropped = true;
            }
            state.sha256 = source::sqlite::DROPPED.into();
            state.size = 0;
            db.write_source(&state)?;
        }
    }
    Ok(())
}

/// Loads, checks foreign keys, verifies and records, inside the open transaction. Returns
/// whether to commit (false when problems were found; they are in `report`).
#[allow(clippy::too_many_arguments)]
fn load_all(
    db: &SqliteMigration,
    schema: &Schema,
    to_load: &[usize],
    (copies, mut feeds): (&HashMap<usize, SourceSpec>, HashMap<usize, source::Bytes>),
    (source_backup, prints): (&mut SourceBackup, &mut [(u64, String)]),
    report: &mut Report,
    opts: &Options,
    started_at: &str,
    (fresh, db_backup): (bool, Option<&str>),
    mut sink: Option<&mut dyn RowSink>,
) -> anyhow::Result<bool> {
    db.prepare_load()?;
    // The rows go to the sink alone: this database holds none of them ([`RowSink::alone`]).
    let alone = sink.as_ref().is_some_and(|s| s.alone());
    let mut deferred = Vec::new();
    for &si in to_load {
        for (ci, _) in schema
            .collections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source == si)
        {
            // Their UNIQUE constraints are given back after the load.
            db.make_tables(schema, ci, &mut deferred)?;
        }
    }
    let mut ids = Ids::new(schema.tables.len());
    let mut layouts = HashMap::new();
    let mut counts = Vec::new();
    // Every record is verified as it is loaded: read back, rebuilt, compared with the source.
    for &si in to_load {
        if let Some(loaded) = load_source(
            db.load_db(),
            schema,
            si,
            &copies[&si],
            feeds.remove(&si),
            &mut ids,
            report,
            &opts.progress,
            true,
            sink.as_mut().map(|s| &mut **s as &mut dyn RowSink),
        )? {
            report.collections.extend(loaded.collections);
            layouts.insert(si, loaded.layout);
            counts.push((si, loaded.rows, loaded.fetched));
        }
        if report.full() {
            break;
        }
    }
    drop(feeds);
    if !report.ok {
        // A source that could not be read because its copy failed: the copy's error says why.
        return match source_backup.failed() {
            Some(e) => Err(e),
            None => Ok(false),
        };
    }
    // The snapshot must be complete and durable before anything is committed; what it hashed
    // is what was loaded.
    let snap = {
        let _slow = crate::writeback::watch("backing up the sources (copy and fsync)");
        source_backup.wait()?
    };
    for &si in to_load {
        let spec = &schema.sources[si];
        // A file was hashed while copied; a folder's copy is hashed as a whole, as its
        // fingerprint is.
        let copied = match snap
            .entry_of(&spec.path)
            .filter(|_| !is_folder(spec) && !is_sqlite(spec))
        {
            Some(e) => (e.size, e.sha256.clone()),
            None => fingerprint(&copies[&si])?,
        };
        if prints[si] == DEFERRED {
            prints[si] = copied;
        } else if copied.1 != prints[si].1 {
            bail!(
                "{} changed while it was being backed up; run again when the application is not writing it",
                spec.display
            );
        }
    }
    let backup_dir = snap.dir().to_path_buf();
    phase("verify");
    // The UNIQUE constraints first: they find the duplicates, named at their records before
    // anything is committed, and a reference to a UNIQUE column is checked through its index.
    let settings = db.begin_index_builds()?;
    let duplicates = db.build_uniques(schema, &deferred, PLACED_AT_MOST)?;
    if !duplicates.is_empty() {
        duplicate_problems(db.load_db(), schema, to_load, copies, report, &duplicates)?;
        return Ok(false);
    }
    db.restore_definitions(schema, &deferred)?;
    if fresh {
        // Every row is new: the links from children to parents were read back with the rows,
        // so only the tables with other references are scanned.
        let tables = tables_with_references(schema);
        if !tables.is_empty() {
            foreign_key_problems(db, schema, to_load, copies, report, Some(&tables))?;
        }
    } else {
        // An existing database: the reloaded tables and every table referring to them.
        foreign_key_problems(db, schema, to_load, copies, report, None)?;
    }
    if !report.ok {
        return Ok(false);
    }
    // Every other index in one sorted pass, now that the rows are in. Not in the scratch
    // database of a migration into PostgreSQL (the rows also went to `sink`): PostgreSQL
    // builds its own, and nothing looks a row up by them here.
    let indexed = if sink.is_some() { &[][..] } else { to_load };
    for &si in indexed {
        for (ci, _) in schema
            .collections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source == si)
        {
            for t in schema.tables_of(ci) {
                db.create_indexes(&schema.tables[t])?;
            }
        }
    }
    db.end_index_builds(settings)?;
    check_counts(db, schema, &counts, (fresh, alone), report)?;
    if !report.ok {
        return Ok(false);
    }
    phase("record");
    record_loaded(
        db,
        schema,
        to_load,
        (prints, &mut layouts),
        report,
        opts,
        (started_at, &backup_dir, db_backup),
    )?;
    Ok(true)
}

/// Rows inserted and child rows read back, per table, of each source loaded.
type Counts = [(usize, HashMap<usize, u64>, HashMap<usize, u64>)];

/// Each table holds exactly the rows inserted, and every child row was reached from its record
/// while verifying (none is orphaned or duplicated); a problem in `report` otherwise. `fresh`:
/// every row is new; `alone`: the rows went to a sink alone and are counted there.
fn check_counts(
    db: &SqliteMigration,
    schema: &Schema,
    counts: &Counts,
    (fresh, alone): (bool, bool),
    report: &mut Report,
) -> anyhow::Result<()> {
    for (si, rows, fetched) in counts {
        for (ci, _) in schema
            .collections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source == *si)
        {
            for t in schema.tables_of(ci) {
                let name = &schema.tables[t].name;
                let want = rows.get(&t).copied().unwrap_or(0);
                // A collection's own rows of a shared table. Rows the sink alone took are
                // counted there, read back and compared with those sent.
                let have = if alone {
                    want
                } else {
                    db.count(&schema.tables[t], fresh.then_some(want))?
                };
                let reached = if schema.tables[t].parent.is_some() {
                    fetched.get(&t).copied().unwrap_or(0)
                } else {
                    want
                };
                if have != want || reached != want {
                    report.problem(Problem::new(
                        schema.sources[*si].display.clone(),
                        format!("verification failed, nothing was committed: table {name} has {have} rows, {want} were inserted, {reached} were read back"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Records the sources loaded (their fingerprint, layout and schema), an audit entry per
/// collection, and the run in the ledger, with where its backups are.
fn record_loaded(
    db: &SqliteMigration,
    schema: &Schema,
    to_load: &[usize],
    (prints, layouts): (&[(u64, String)], &mut HashMap<usize, Layout>),
    report: &Report,
    opts: &Options,
    (started_at, backup_dir, db_backup): (&str, &Path, Option<&str>),
) -> anyhow::Result<()> {
    let at = clock::now();
    let mut sources = Vec::new();
    for &si in to_load {
        let spec = &schema.sources[si];
        let records: u64 = report
            .collections
            .iter()
            .filter(|c| c.source == spec.display)
            .map(|c| c.records)
            .sum();
        let state = SourceState {
            path: spec.display.clone(),
            format: format_name(spec),
            sha256: prints[si].1.clone(),
            size: prints[si].0,
            layout: layouts.remove(&si).unwrap_or_default(),
            records,
            schema_hash: fingerprint::schema_hash(schema, si),
            migrated_at: at.clone(),
        };
        db.write_source(&state)?;
        for c in schema.collections_of(si) {
            let cr = report.collections.iter().find(|r| r.name == c.name);
            let summary = serde_json::json!({
                "source": spec.display,
                "sha256": state.sha256,
                "records": cr.map(|r| r.records).unwrap_or(0),
                "child_rows": cr.map(|r| r.child_rows.clone()).unwrap_or_default(),
            });
            db.audit_append(&crate::audit::NewEntry {
                at: at.clone(),
                collection: c.name.clone(),
                key: None,
                action: "migrate".into(),
                old: None,
                new: Some(summary.to_string()),
                actor: Some("migration".into()),
                request_id: None,
            })?;
        }
        sources.push(serde_json::json!({"path": spec.display, "sha256": state.sha256, "size": state.size, "records": records}));
    }
    if to_load.is_empty() {
        // Nothing loaded: the evolution or the numbered migrations record the run.
        return Ok(());
    }
    let action = if opts.reimport { "reimport" } else { "migrate" };
    let hash = fingerprint::hex(&sha2::Sha256::digest(
        to_load
            .iter()
            .map(|&si| fingerprint::schema_hash(schema, si))
            .collect::<String>(),
    ));
    db.write_run(
        (started_at, &clock::now()),
        action,
        &hash,
        &serde_json::Value::Array(sources),
        ledger_backup(opts.dry_run, backup_dir, db_backup).as_deref(),
    )?;
    Ok(())
}

/// The ledger's `backup` column: the sources' snapshot folder; when the database was backed up
/// before the change too, `{"sources": folder, "database": backup file}`.
fn ledger_backup(dry_run: bool, sources: &Path, db: Option<&str>) -> Option<String> {
    if dry_run {
        return None;
    }
    let sources = sources.to_string_lossy().into_owned();
    Some(match db {
        None => sources,
        Some(db) => serde_json::json!({"sources": sources, "database": db}).to_string(),
    })
}

fn earlier_tables(schema: &Schema, sources: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for (ci, c) in schema.collections.iter().enumerate() {
        if sources.contains(&c.source) {
            out.extend(
                schema
                    .tables_of(ci)
                    .into_iter()
                    .map(|t| schema.tables[t].name.clone()),
            );
        }
    }
    out
}

/// Rewrites the tables of `sources` in the current form ([`upgrade`]): a database backup first,
/// then one transaction, recorded in the ledger.
fn upgrade_in_place(
    project: &Project,
    schema: &Schema,
    sources: &[usize],
) -> anyhow::Result<Vec<String>> {
    let db_path = project.database_path();
    let before = backup::take(project, db_backup_options(project, "upgrade-before")).context(
        "backing up the database before rewriting its table definitions; nothing was changed",
    )?;
    let started = clock::now();
    let db = SqliteMigration::in_place(&db_path, project.busy_timeout())?;
    // Foreign keys off, or dropping a table that others refer to would cascade into them.
    db.begin()?;
    let done = upgrade::rewrite(&db, schema, sources).and_then(|tables| {
        // The tables were written anew: their search indexes are built again.
        let all: Vec<usize> = (0..schema.collections.len()).collect();
        crate::store::search::refresh(&db.tx(), schema, &all, false)?;
        let sources_json: Vec<serde_json::Value> = sources
            .iter()
            .map(|&si| serde_json::json!({"path": schema.sources[si].display, "tables": earlier_tables(schema, &[si])}))
            .collect();
        db.write_run(
            (&started, &clock::now()),
            "upgrade",
            &fingerprint::schema_hash(schema, sources[0]),
            &serde_json::Value::Array(sources_json),
            Some(&before.data.to_string_lossy()),
        )?;
        Ok(tables)
    });
    match done {
        Ok(tables) => {
            db.commit()?;
            Ok(tables)
        }
        Err(e) => {
            db.rollback();
            before.discard();
            Err(e.context(format!(
                "upgrading the table definitions of {} (made by an earlier jsonlift)",
                db_path.display()
            )))
        }
    }
}

fn db_backup_options(project: &Project, reason: &'static str) -> backup::TakeOptions {
    backup::TakeOptions {
        compress: project.config.backups.compress,
        reason,
    }
}

/// The tables with a foreign key other than the link from a child row to its parent row.
fn tables_with_references(schema: &Schema) -> Vec<usize> {
    (0..schema.tables.len())
        .filter(|&t| {
            let table = &schema.tables[t];
            table
                .columns
                .iter()
                .enumerate()
                .any(|(c, col)| col.references.is_some() && table.parent_col != Some(c))
        })
        .collect()
}

/// Finds the rows whose references point nowhere (in `only` these tables, or in all) and
/// reports each at its place in the source.
fn foreign_key_problems(
    db: &SqliteMigration,
    schema: &Schema,
    to_load: &[usize],
    copies: &HashMap<usize, SourceSpec>,
    report: &mut Report,
    only: Option<&[usize]>,
) -> anyhow::Result<()> {
    let names: Option<Vec<&str>> =
        only.map(|ts| ts.iter().map(|&t| schema.tables[t].name.as_str()).collect());
    let broken = db.broken_references(names.as_deref(), PLACED_AT_MOST)?;
    let mut wanted = Unplaced::new();
    for b in broken {
        let Some(ti) = schema.tables.iter().position(|t| t.name == b.table) else {
            continue;
        };
        let t = &schema.tables[ti];
        let (Some(rowid), Some(value)) = (b.rowid, &b.value) else {
            continue;
        };
        let shown = match value {
            crate::schema::shred::Cell::Text(s) => format!("{s:?}"),
            crate::schema::shred::Cell::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        };
        let message = format!(
            "{} = {shown} points at no record of {} (no row with {} = {shown})",
            b.from, b.parent, b.to
        );
        let (root, root_rowid, mut path) = db.load_db().root_of(schema, ti, rowid)?;
        if let Some(c) = t.col(&b.from) {
            path.0
                .extend(t.columns[c].field_path.iter().map(|k| Seg::Key(k.clone())));
        }
        let coll = &schema.collections[schema.tables[root].collection];
        if to_load.contains(&coll.source) {
            wanted.entry(coll.source).or_default().push((
                coll.member,
                (root_rowid - 1) as u64,
                path,
                message,
            ));
        } else {
            report.problem(Problem::new(
                schema.sources[coll.source].display.clone(),
                format!("table {}: {message}", b.table),
            ));
        }
    }
    place_in_sources(wanted, copies, report)
}

/// Problems found in the rows of tables just loaded, by source, to be placed at their records:
/// (member, record index, path inside the record, message). A table loaded from nothing holds
/// its records' root rows in source order, the n-th at rowid n + 1.
type Unplaced = BTreeMap<usize, Vec<(usize, u64, JsonPath, String)>>;

/// Rows found wrong after a load that are named at their place in the source: at most this
/// many (each costs a read of the source up to its record).
const PLACED_AT_MOST: usize = 200;

/// Reads each source again up to the records of `wanted` and reports each problem at its
/// record's line:column.
fn place_in_sources(
    wanted: Unplaced,
    copies: &HashMap<usize, SourceSpec>,
    report: &mut Report,
) -> anyhow::Result<()> {
    for (si, items) in wanted {
        let spec = &copies[&si];
        // By record; the members of a file need not come in the order of their collections.
        let mut left: BTreeMap<(usize, u64), Vec<(JsonPath, String)>> = BTreeMap::new();
        for (member, index, path, message) in items {
            left.entry((member, index))
                .or_default()
                .push((path, message));
        }
        let mut reader = source::open(spec).map_err(anyhow::Error::new)?;
        let mut counts = vec![0u64; spec.members.len()];
        while !left.is_empty() {
            let Some(Ok(rec)) = reader.next_record() else {
                break;
            };
            let index = counts[rec.member];
            counts[rec.member] += 1;
            for (path, message) in left.remove(&(rec.member, index)).unwrap_or_default() {
                report.problem(place(
                    &rec.origin,
                    record_file(spec, rec.member, rec.key.as_deref()),
                    &path,
                    message,
                ));
            }
        }
        // Never dropped for want of a place.
        for (path, message) in left.into_values().flatten() {
            report.problem(Problem::new(spec.display.clone(), message).with_path(path));
        }
    }
    Ok(())
}

/// Reports each row that repeats a UNIQUE constraint's values of an earlier row at its record,
/// as the insert would have refused it.
fn duplicate_problems(
    db: LoadDb,
    schema: &Schema,
    to_load: &[usize],
    copies: &HashMap<usize, SourceSpec>,
    report: &mut Report,
    duplicates: &[bulk::Duplicate],
) -> anyhow::Result<()> {
    let mut wanted = Unplaced::new();
    for d in duplicates {
        let t = &schema.tables[d.table];
        let cells = db.row(t, d.rowid)?;
        let message = crate::store::refusal::duplicate(t, &cells, &d.columns);
        let (root, root_rowid, path) = db.root_of(schema, d.table, d.rowid)?;
        let coll = &schema.collections[schema.tables[root].collection];
        debug_assert!(
            to_load.contains(&coll.source),
            "only loaded tables are checked"
        );
        wanted.entry(coll.source).or_default().push((
            coll.member,
            (root_rowid - 1) as u64,
            path,
            message,
        ));
    }
    place_in_sources(wanted, copies, report)
}

/// Validates every source against the schema by loading it into a throw-away database (so that
/// keys, uniqueness and references are checked too). Writes nothing.
pub fn check(project: &Project, syntax_only: bool, progress: Progress) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let schema = Schema::build(project)?;
    // check loads into a throw-away database whatever `database` says; the report names it,
    // a PostgreSQL URL with its password masked.
    let mut report = Report::new("check", project.database().to_string().into());
    if syntax_only {
        for spec in &schema.sources {
            let mut reader = match source::open(spec) {
                Ok(r) => r,
                Err(p) => {
                    report.problem(p);
                    continue;
                }
            };
            // Syntax needs no trees: members are checked as they are written out compact.
            reader.give_compact(source::CompactFields::All);
            let bar = progress.source(&spec.display, reader.total_bytes());
            let mut n = 0u64;
            while let Some(r) = reader.next_record() {
                match r {
                    Ok(_) => n += 1,
                    Err(p) => report.problem(p),
                }
            }
            bar.finish(reader.bytes_read(), n);
            report.collections.push(CollectionReport {
                name: String::new(),
                source: spec.display.clone(),
                records: n,
                bytes: reader.total_bytes(),
                ..CollectionReport::default()
            });
        }
        report.status = if report.ok {
            "syntax ok".into()
        } else {
            "problems found".into()
        };
        report.seconds = t0.elapsed().as_secs_f64();
        return Ok(report);
    }
    let dir = tempfile::tempdir()?;
    let db = SqliteMigration::scratch(&dir.path().join("check.db"), None)?;
    db.begin_check(&schema)?;
    let mut ids = Ids::new(schema.tables.len());
    let all: Vec<usize> = (0..schema.sources.len()).collect();
    let specs: HashMap<usize, SourceSpec> = schema.sources.iter().cloned().enumerate().collect();
    for &si in &all {
        if let Some(loaded) = load_source(
            db.load_db(),
            &schema,
            si,
            &specs[&si],
            None,
            &mut ids,
            &mut report,
            &progress,
            false,
            None,
        )? {
            report.collections.extend(loaded.collections);
        }
        if report.full() {
            break;
        }
    }
    if report.ok {
        foreign_key_problems(&db, &schema, &all, &specs, &mut report, None)?;
    }
    report.status = if report.ok {
        "ok".into()
    } else {
        "problems found".into()
    };
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Compares the database with the sources as they are now.
pub fn verify_db(project: &Project, progress: Progress) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let schema = Schema::build(project)?;
    let mut report = Report::new("verify", PathBuf::from(database_name(project)));
    let mut db = open_existing(project, &schema)?;
    db.read(|tx| {
        let recorded = tx.sources()?;
        for (si, spec) in schema.sources.iter().enumerate() {
            // A collection without a source has nothing to be compared with; nor has one whose
            // legacy tables were dropped after its migration (`drop_source_tables`).
            let dropped = recorded
                .get(&spec.display)
                .and_then(|s| s.layout.sqlite.as_ref())
                .is_some_and(|l| l.dropped);
            if !source::is_none(spec) && !dropped {
                verify::verify_source(tx, &schema, si, spec, &mut report, &progress)?;
            }
            for c in schema.collections_of(si) {
                report.collections.push(CollectionReport {
                    name: c.name.clone(),
                    table: schema.tables[c.table].name.clone(),
                    source: spec.display.clone(),
                    records: tx.count(&schema.tables[c.table])?,
                    ..CollectionReport::default()
                });
            }
        }
        verify::dangling_rows(tx, &schema, &mut report)
    })?;
    report.status = if report.ok {
        "database matches the sources".into()
    } else {
        "differences found".into()
    };
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// The project's database as messages name it: the path, or the URL (password masked) and
/// schema.
pub fn database_name(project: &Project) -> String {
    match project.database() {
        crate::config::Database::Sqlite(p) => p.display().to_string(),
        crate::config::Database::Postgres(u) => format!("{u} (schema {})", project.pg_schema()),
    }
}

/// Opens the project's database, SQLite or PostgreSQL, for reading, after checking that it holds
/// the tables `schema` describes ([`drift`]).
pub fn open_existing(project: &Project, schema: &Schema) -> anyhow::Result<Db> {
    let mut db = Db::open(
        project.database(),
        project.pg_schema(),
        project.busy_timeout(),
    )
    .map_err(|e| match project.database() {
        crate::config::Database::Sqlite(path) => sqlite_migration::if_locked(e, path),
        crate::config::Database::Postgres(_) => e,
    })?;
    let name = database_name(project);
    db.read(|tx| drift::ensure(tx, schema, &name))?;
    Ok(db)
}
