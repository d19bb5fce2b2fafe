//! `jsonlift init` / `jsonlift infer`: the project file inferred from the JSON files themselves.
//!
//! The pipeline, one concept per module:
//! 1. [`discover`] walks the folder and finds the sources (files, folders of records, prompty
//!    folders); [`shape`] probes each JSON file's top levels to pick its reader and say why.
//! 2. One streaming pass per source through the real readers ([`crate::source::open`]) feeds
//!    every record into bounded per-field [`stats`].
//! 3. [`plan`] decides types, required fields, enums, flattening, child tables and JSON columns;
//!    [`relations`] picks keys, foreign keys and unique fields; [`plan::name_collection`] settles
//!    table and column names so none collide.
//! 4. [`write`] renders the TOML with the evidence as comments; the result is loaded back through
//!    [`crate::config`] and [`crate::schema`] before anyone sees it.
//!
//! Bad input (nothing to read, files that do not parse, records that are not objects) gives
//! problems with file, line:column and JSON path, and no project file.

pub mod discover;
pub mod plan;
pub mod relations;
pub mod shape;
pub mod sqlite;
pub mod stats;
pub mod write;

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::error::Problem;
use crate::schema::Schema;
use crate::source::{self, Format, Limits, MemberSpec, SourceSpec};

use discover::{Found, FoundKind};
use plan::{CollectionPlan, CollectionStats, Ctx, Names};
use shape::Shape;
use stats::{Budget, Hashes, KEY_HASH_CAP, record_key_hash};

/// Most problems reported before giving up.
const MAX_PROBLEMS: usize = 100;

/// The inferred project file.
#[derive(Debug, Clone)]
pub struct Inferred {
    pub text: String,
    pub collections: usize,
    pub records: u64,
}

/// One collection to be, before its statistics exist.
struct Draft {
    name: String,
    format: Format,
    member: Option<String>,
    pattern: Option<String>,
    why: String,
    /// A table of a legacy SQLite database.
    sqlite: Option<sqlite::LegacyTable>,
}

/// One source and the collections it feeds (in member order).
struct Job {
    found: Found,
    /// Why the source is read this way.
    why: String,
    drafts: Vec<Draft>,
}

/// Infers the project file for `paths` (files or folders), with paths written relative to
/// `root`, the folder the project file will live in.
pub fn infer(root: &Path, paths: &[PathBuf]) -> Result<Inferred, Vec<Problem>> {
    infer_excluding(root, paths, &[])
}

/// [`infer`], leaving out the files and folders `exclude` names (glob patterns matched against
/// a name or a path from `root`).
pub fn infer_excluding(
    root: &Path,
    paths: &[PathBuf],
    exclude: &[String],
) -> Result<Inferred, Vec<Problem>> {
    let limits = Limits::default();
    let mut skips = discover::Skips {
        exclude: exclude.to_vec(),
        ..Default::default()
    };
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for p in paths {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        discover::examine(
            &root,
            &p,
            limits.max_depth,
            &mut found,
            &mut problems,
            &mut skips,
        );
    }
    if found.is_empty() && problems.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        problems.push(Problem::new(
            shown.join(", "),
            "no JSON found: looked for *.json, *.jsonl, *.ndjson files and folders of *.prompty files",
        ));
    }
    let mut names = Names::default();
    let mut jobs = Vec::new();
    for f in found {
        match drafts_for(&f, &root, &mut names) {
            Ok((why, drafts)) => jobs.push(Job {
                found: f,
                why,
                drafts,
            }),
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // The streaming pass: statistics for every collection.
    let mut all_stats: Vec<Vec<CollectionStats>> = Vec::new();
    for job in &jobs {
        match gather(&root, job, limits, &mut problems) {
            Some(s) => all_stats.push(s),
            None => all_stats.push(Vec::new()),
        }
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        problems.truncate(MAX_PROBLEMS);
        return Err(problems);
    }
    let mut plans: Vec<CollectionPlan> = Vec::new();
    for (job, stats) in jobs.iter().zip(&all_stats) {
        for (d, s) in job.drafts.iter().zip(stats) {
            let document = d.format == Format::Document;
            let ctx = Ctx {
                parents: s.records,
                noun: "record",
                flatten_depth: 0,
                document,
            };
            let node = plan::plan_node(&s.root, ctx);
            let mut notes = vec![format!("{} read in full", plan::count(s.records, "record"))];
            if s.root.dropped > 0 {
                notes.push(format!(
                    "records have more than {} distinct field names; the rest stay in the _extra JSON column",
                    s.root.fields.len()
                ));
            }
            plans.push(CollectionPlan {
                name: d.name.clone(),
                source: job.found.rel.clone(),
                format: d.format,
                member: d.member.clone(),
                pattern: d.pattern.clone(),
                source_why: job.why.clone(),
                shape_why: d.why.clone(),
                stats: s,
                key: None,
                key_note: String::new(),
                key_column: None,
                extra_column: None,
                node,
                notes,
            });
        }
    }
    for p in &mut plans {
        relations::choose_key(p);
        plan::mark_hidden(p);
    }
    relations::link(&mut plans);
    declared(&mut plans, &jobs);
    for p in &mut plans {
        plan::name_collection(p, &mut names);
    }
    let records = plans.iter().map(|p| p.stats.records).sum();
    let database = database_name(&root);
    let from = root
        .file_name()
        .map(|n| format!("{}/", n.to_string_lossy()))
        .unwrap_or_else(|| root.display().to_string());
    let header = write::Header {
        from: &from,
        database: &database,
        sources: jobs.len(),
        records,
        skipped: &skips.skipped,
    };
    let text = write::project(&header, &plans);
    // The file must load; anything else is a bug here, caught before the user sees it.
    let check = Project::parse(&root.join("jsonlift.toml"), &text)
        .map_err(|e| e.to_string())
        .and_then(|p| Schema::build(&p).map(|_| ()).map_err(|e| e.to_string()));
    if let Err(e) = check {
        return Err(vec![Problem::new(
            "jsonlift.toml",
            format!(
                "internal error: the inferred project file does not load ({e}); please report this with the input's shape"
            ),
        )]);
    }
    Ok(Inferred {
        text,
        collections: plans.len(),
        records,
    })
}

/// What a legacy database declares wins over what the values suggest: its primary key is the
/// key, its unique columns are unique, its foreign keys are references.
fn declared(plans: &mut [CollectionPlan], jobs: &[Job]) {
    let drafts: Vec<&Draft> = jobs.iter().flat_map(|j| &j.drafts).collect();
    let by_table = |t: &str| {
        drafts
            .iter()
            .find(|d| {
                d.sqlite
                    .as_ref()
                    .is_some_and(|s| s.name.eq_ignore_ascii_case(t))
            })
            .map(|d| d.name.clone())
    };
    for (p, d) in plans.iter_mut().zip(&drafts) {
        let Some(t) = &d.sqlite else { continue };
        // The primary key, else a unique column that is never null.
        let declared = t.pk.iter().map(|k| (k, "the table's primary key")).chain(
            t.unique
                .iter()
                .map(|k| (k, "a unique index in the database, never null")),
        );
        for (pk, why) in declared {
            let scalar = p
                .node
                .fields
                .iter()
                .find(|f| &f.name == pk)
                .is_some_and(|f| f.scalar_type().is_some() && f.stats.nulls == 0);
            if scalar && p.stats.records > 0 {
                p.key = Some(pk.clone());
                p.key_note = format!("key {pk:?}: {why}");
                break;
            }
        }
    }
    // A reference needs its target's key.
    let keyed: Vec<String> = plans
        .iter()
        .filter(|p| p.key.is_some())
        .map(|p| p.name.clone())
        .collect();
    for (p, d) in plans.iter_mut().zip(&drafts) {
        let Some(t) = &d.sqlite else { continue };
        for f in &mut p.node.fields {
            if t.unique.contains(&f.name) && p.key.as_ref() != Some(&f.name) && !f.unique {
                f.unique = true;
                f.notes.push("a unique index in the database".into());
            }
            if let Some((_, target)) = t.references.iter().find(|(c, _)| c == &f.name) {
                if let Some(coll) = by_table(target).filter(|c| keyed.contains(c)) {
                    f.references = Some(coll);
                    f.notes
                        .push(format!("a foreign key to table {target} in the database"));
                }
            }
        }
    }
}

/// `<folder>.db` in the project folder.
fn database_name(root: &Path) -> String {
    let stem: String = root
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if stem.is_empty() || stem.starts_with('.') {
        "jsonlift.db".into()
    } else {
        format!("{stem}.db")
    }
}

fn stem_name(found: &Found, root: &Path) -> String {
    let p = &found.path;
    let raw = if p == root {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else if matches!(found.kind, FoundKind::File { .. }) {
        p.file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    plan::table_ident(&raw)
}

fn drafts_for(f: &Found, root: &Path, names: &mut Names) -> Result<(String, Vec<Draft>), Problem> {
    let stem = stem_name(f, root);
    let one = |names: &mut Names, format, pattern: Option<&str>| Draft {
        name: names.claim(&stem),
        format,
        member: None,
        pattern: pattern.map(str::to_string),
        why: String::new(),
        sqlite: None,
    };
    Ok(match &f.kind {
        FoundKind::Folder { why, .. } => (
            why.clone(),
            vec![one(names, Format::Folder, Some("*.json"))],
        ),
        FoundKind::Sqlite { tables } => {
            let why = format!(
                "a SQLite database: {}, one collection each (the file is only read)",
                plan::count(tables.len() as u64, "table")
            );
            let drafts = tables
                .iter()
                .map(|t| {
                    let mut why = format!("table {:?}", t.name);
                    if !t.json.is_empty() {
                        why.push_str(&format!(
                            "; JSON kept as text in {} (every text in them is a JSON array or object), parsed",
                            t.json.join(", ")
                        ));
                    }
                    Draft {
                        name: names.claim(&plan::table_ident(&t.name)),
                        format: Format::Sqlite,
                        member: Some(t.name.clone()),
                        pattern: None,
                        why,
                        sqlite: Some(t.clone()),
                    }
                })
                .collect();
            (why, drafts)
        }
        FoundKind::Prompty { files } => {
            let why = format!(
                "{}: a prompty folder (YAML front matter + template body per file)",
                plan::count(*files as u64, ".prompty file")
            );
            (why, vec![one(names, Format::Prompty, Some("*.prompty"))])
        }
        FoundKind::File { jsonl_ext, probe } => {
            let d = shape::decide(probe, *jsonl_ext, &f.rel)?;
            let drafts = match &d.shape {
                Shape::Array => vec![one(names, Format::Array, None)],
                Shape::Jsonl => vec![one(names, Format::Jsonl, None)],
                Shape::Document => vec![one(names, Format::Document, None)],
                Shape::Keyed => vec![one(names, Format::Object, None)],
                Shape::Tinydb { tables } => tables
                    .iter()
                    .map(|t| {
                        let wanted = if t == "_default" {
                            stem.clone()
                        } else {
                            plan::table_ident(t)
                        };
                        Draft {
                            name: names.claim(&wanted),
                            format: Format::Tinydb,
                            member: Some(t.clone()),
                            pattern: None,
                            why: format!("TinyDB table {t:?}"),
                            sqlite: None,
                        }
                    })
                    .collect(),
                Shape::Members {
                    arrays,
                    documents,
                    keyed,
                    ..
                } => {
                    let mut out = Vec::new();
                    // In file order, so the collections read like the file.
                    let listed: Vec<&String> = match probe {
                        shape::Probe::Object(o) => o.listed.iter().map(|m| &m.name).collect(),
                        _ => Vec::new(),
                    };
                    let listed_len = listed
                        .iter()
                        .filter(|m| {
                            arrays.contains(**m) || documents.contains(**m) || keyed.contains(**m)
                        })
                        .count();
                    for m in listed {
                        let (format, what) = if arrays.contains(m) {
                            (Format::Array, "an array of records")
                        } else if keyed.contains(m) {
                            (Format::Object, "an object of records keyed by name")
                        } else if documents.contains(m) {
                            (Format::Document, "an object: one document")
                        } else {
                            continue;
                        };
                        // A member whose name is no identifier (pycountry's `"3166-2"`) is
                        // named after the file, which says what it is (`iso3166_2`), rather
                        // than `t_3166_2`.
                        let ident = plan::table_ident(m);
                        let (wanted, note) = if ident == *m {
                            (ident, String::new())
                        } else if listed_len == 1 {
                            (
                                stem.clone(),
                                "; named after the file, as the member's name is no identifier"
                                    .to_string(),
                            )
                        } else {
                            (
                                format!("{stem}_{}", ident.trim_start_matches("t_")),
                                "; named after the file and the member, as the member's name is no identifier".to_string(),
                            )
                        };
                        out.push(Draft {
                            name: names.claim(&wanted),
                            format,
                            member: Some(m.clone()),
                            pattern: None,
                            why: format!("member {m:?}: {what}{note}"),
                            sqlite: None,
                        });
                    }
                    out
                }
            };
            (d.why, drafts)
        }
    })
}

/// Reads every record of a job's source once, into the statistics of its collections.
fn gather(
    root: &Path,
    job: &Job,
    limits: Limits,
    problems: &mut Vec<Problem>,
) -> Option<Vec<CollectionStats>> {
    let members = job
        .drafts
        .iter()
        .map(|d| MemberSpec {
            name: d.member.clone(),
            format: d.format,
            pattern: d.pattern.clone().unwrap_or_else(|| "*.json".into()),
            recursive: false,
            body_field: source::prompty::DEFAULT_BODY_FIELD.into(),
            sqlite: d.sqlite.as_ref().map(|t| source::sqlite::SqliteMember {
                table: Some(t.name.clone()),
                query: None,
                name: t.name.clone(),
                json: t.json.clone(),
            }),
        })
        .collect();
    let spec = SourceSpec {
        path: job.found.path.clone(),
        display: job.found.rel.clone(),
        members,
        limits,
        skip: Vec::new(),
    };
    let mut stats: Vec<CollectionStats> = job
        .drafts
        .iter()
        .map(|d| CollectionStats {
            keys: matches!(
                d.format,
                Format::Object | Format::Tinydb | Format::Folder | Format::Prompty
            )
            .then(|| Hashes::new(KEY_HASH_CAP)),
            ..CollectionStats::default()
        })
        .collect();
    let mut budgets: Vec<Budget> = job.drafts.iter().map(|_| Budget::default()).collect();
    let mut reader = match source::open(&spec) {
        Ok(r) => r,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let before = problems.len();
    while let Some(next) = reader.next_record() {
        match next {
            Ok(rec) => {
                let i = rec.member;
                let Some(st) = stats.get_mut(i) else { continue };
                match &rec.value {
                    crate::json::Value::Object(fields) => {
                        st.records += 1;
                        st.root.add(fields, &mut budgets[i]);
                        if let (Some(h), Some(k)) = (&mut st.keys, &rec.key) {
                            h.add(record_key_hash(k, job.drafts[i].format == Format::Tinydb));
                        }
                    }
                    other => {
                        let file = discover::relative(root, &rec.origin.file);
                        problems.push(
                            Problem::new(
                                file,
                                format!(
                                    "a record must be an object, found {}; collection {:?} cannot hold it",
                                    crate::schema::shred::describe(other),
                                    job.drafts[i].name
                                ),
                            )
                            .at(rec.origin.line, rec.origin.col)
                            .with_path(rec.origin.path.clone()),
                        );
                    }
                }
            }
            Err(p) => problems.push(p),
        }
        if problems.len() >= MAX_PROBLEMS {
            return None;
        }
    }
    if let Err(p) = reader.finish() {
        problems.push(p);
    }
    if problems.len() > before {
        return None;
    }
    for s in &mut stats {
        s.root.finish();
        if let Some(k) = &mut s.keys {
            k.finish();
        }
    }
    Some(stats)
}
