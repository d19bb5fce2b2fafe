//! `export`: every source written back from the database at the same relative path, in its
//! original shape and formatting. This is the way back from a migration.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use super::report::{CollectionReport, Report};
use super::{Progress, open_existing};
use crate::config::Project;
use crate::schema::Schema;
use crate::schema::rebuild::rebuild_for_writing;
use crate::source::{self, Layout, Style};
use crate::store::Tx;
use crate::store::cursor::RowCursor;
use crate::store::cursor::children_of;

/// The layout assumed for a source that has none recorded: JSON.stringify(x, null, 2) + newline.
pub fn default_layout() -> Layout {
    Layout {
        style: Style {
            indent: Some("  ".into()),
            colon: ": ".into(),
            comma: ",".into(),
            ascii: false,
            trailing_newline: true,
            crlf: false,
        },
        ..Layout::default()
    }
}

/// Where source `path` goes under `out`: the same path relative to the project folder.
fn out_path(project: &Project, path: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let rel = path
        .strip_prefix(&project.root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| {
            // A source outside the project folder keeps its absolute path under `external/`.
            let mut p = PathBuf::from("external");
            p.extend(
                path.components()
                    .filter(|c| matches!(c, Component::Normal(_))),
            );
            p
        });
    Ok(out.join(rel))
}

pub fn export(project: &Project, out: &Path, progress: Progress) -> anyhow::Result<Report> {
    export_with(project, out, progress, false)
}

/// [`export`]; with `all`, each collection without a source is written too, as a JSON array in
/// `<out>/<collection>.json` (it has no file of its own to go back to).
pub fn export_with(
    project: &Project,
    out: &Path,
    progress: Progress,
    all: bool,
) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let schema = Schema::build(project)?;
    let mut db = open_existing(project, &schema)?;
    let mut report = Report::new(
        "export",
        std::path::PathBuf::from(super::database_name(project)),
    );
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (si, spec) in schema.sources.iter().enumerate() {
        let target = if source::is_none(spec) {
            if !all {
                continue;
            }
            let name = &schema
                .collections_of(si)
                .next()
                .expect("one collection")
                .name;
            out.join(format!("{name}.json"))
        } else {
            out_path(project, &spec.path, out)?
        };
        let same = |a: &Path, b: &Path| {
            a.canonicalize()
                .ok()
                .is_some_and(|a| Some(a) == b.canonicalize().ok())
        };
        if same(&target, &spec.path) {
            bail!(
                "exporting to {} would overwrite the source {}; choose another --out folder",
                out.display(),
                spec.display
            );
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let started = Instant::now();
        let counts = db.read(|tx| {
            let layout = tx
                .sources()?
                .remove(&spec.display)
                .map(|s| s.layout)
                .filter(|_| !source::is_none(spec))
                .unwrap_or_else(default_layout);
            let total = schema
                .collections_of(si)
                .map(|c| tx.count(&schema.tables[c.table]))
                .sum::<Result<u64, _>>()?;
            let bar = progress.rows(&format!("export {}", spec.display), total);
            let counts = write_from_db(tx, &schema, si, &layout, &target, Some(&bar))?;
            bar.finish(counts.iter().sum());
            Ok(counts)
        })?;
        for c in schema.collections_of(si) {
            report.collections.push(CollectionReport {
                name: c.name.clone(),
                table: schema.tables[c.table].name.clone(),
                source: target.display().to_string(),
                records: counts[c.member],
                seconds: started.elapsed().as_secs_f64(),
                ..CollectionReport::default()
            });
        }
    }
    report.status = format!("exported to {}", out.display());
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Writes source `si` from the database to `target` in its shape and `layout`; returns the
/// records written per member.
pub fn write_from_db(
    tx: &dyn Tx,
    schema: &Schema,
    si: usize,
    layout: &Layout,
    target: &Path,
    bar: Option<&super::progress::RowsBar>,
) -> anyhow::Result<Vec<u64>> {
    let spec = &schema.sources[si];
    let mut counts = vec![0u64; spec.members.len()];
    let mut feed = |member: usize, emit: &mut source::Emit| -> anyhow::Result<()> {
        let coll = schema.collection_for(si, member);
        let mut cursor = RowCursor::new(schema, coll.table);
        let mut fetch = |t: usize, parent: &crate::schema::shred::Cell<'static>| {
            children_of(tx, schema, t, parent)
        };
        while let Some(cells) = cursor.next(tx)? {
            // JSON fields go from their columns' text into the file, with no tree between.
            let (key, value, cols) = rebuild_for_writing(schema, coll.table, &cells, &mut fetch)?;
            let texts: Vec<(&str, &str)> = cols
                .iter()
                .filter_map(|(name, col)| match &cells[*col] {
                    crate::schema::shred::Cell::Text(s) => Some((name.as_str(), s.as_ref())),
                    _ => None,
                })
                .collect();
            emit(key.as_deref(), &value, &texts)?;
            counts[member] += 1;
            if let Some(b) = bar {
                b.inc(1);
            }
        }
        Ok(())
    };
    source::write_source(spec, layout, target, &mut feed)
        .with_context(|| format!("writing {}", target.display()))?;
    Ok(counts)
}
