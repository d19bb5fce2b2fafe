//! `jsonlift plan`: what `migrate` would do to the live database now that jsonlift.toml
//! changed (docs/evolve.md): the plan as a summary and as SQL, the numbered migrations still to
//! apply, and the records the change would refuse. Reads only; `--write` puts the plan in the
//! migrations folder as the next numbered file, for review.

use anyhow::bail;
use clap::Args;

use super::ProjectArgs;
use crate::config::Database;
use crate::migrate::evolve::{self, Refused};
use crate::migrate::numbered;
use crate::migrate::plan;
use crate::migrate::postgres;
use crate::schema::Schema;
use crate::store::Tx;
use crate::store::database::Db;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the plan into the migrations folder as the next numbered file (NNN_NAME.sql).
    #[arg(long)]
    pub write: bool,
    /// The name of the file --write writes.
    #[arg(long, default_value = "plan", value_name = "NAME")]
    pub name: String,
}

/// What the plan of a database comes to: what is pending, the records it would refuse, the
/// numbered migrations applied.
struct Looked {
    pending: evolve::Pending,
    refused: Vec<String>,
    applied: Vec<crate::store::bookkeeping::AppliedMigration>,
}

fn look(project: &crate::config::Project, schema: &Schema, tx: &dyn Tx) -> anyhow::Result<Looked> {
    let recorded = tx.sources()?;
    let changed = plan::changed_sources(schema, &recorded);
    let pending = evolve::prepare_on(project, schema, Some(tx), &recorded, &changed)?;
    let refused = match pending.plan.as_ref().filter(|p| !p.is_empty()) {
        Some(p) => match evolve::read_and_check(tx, project, p) {
            Ok(_) => Vec::new(),
            Err(e) => match e.downcast::<Refused>() {
                Ok(r) => r.0,
                Err(e) => return Err(e),
            },
        },
        None => Vec::new(),
    };
    Ok(Looked {
        pending,
        refused,
        applied: tx.evolution_read()?.migrations,
    })
}

/// Returns whether `migrate` would apply the plan (false: it would refuse records).
pub fn run(a: &PlanArgs, quiet: bool) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let schema = Schema::build(&project)?;
    // On PostgreSQL the plan is made there, in PostgreSQL's SQL, as `migrate` applies it.
    let (looked, shown) = match project.database() {
        Database::Sqlite(p) => {
            if !p.exists() {
                bail!(
                    "{} does not exist yet: there is nothing to plan; `jsonlift migrate` makes it from the sources",
                    p.display()
                );
            }
            let mut db = Db::open(
                project.database(),
                project.pg_schema(),
                project.busy_timeout(),
            )?;
            (
                db.read(|tx| look(&project, &schema, tx))?,
                p.display().to_string(),
            )
        }
        Database::Postgres(url) => (
            postgres::read_view(&project, url, |tx| look(&project, &schema, tx))?,
            crate::migrate::database_name(&project),
        ),
    };
    let Looked {
        pending,
        refused,
        applied,
    } = looked;
    let the_plan = pending.plan.as_ref().filter(|p| !p.is_empty());
    let summary = the_plan.map(|p| p.summary()).unwrap_or_default();
    let sql = the_plan.map(|p| p.sql()).unwrap_or_default();
    let added = pending
        .plan
        .as_ref()
        .map(|p| p.added.clone())
        .unwrap_or_default();
    let mut written = None;
    if a.write {
        if the_plan.is_none() {
            bail!("jsonlift.toml describes the database as it is: there is no plan to write");
        }
        if let Some(f) = pending.sql.iter().find(|f| f.is_plan()) {
            bail!(
                "{} already holds a plan not yet applied; remove it first to write the plan again",
                f.path.display()
            );
        }
        let dir = project.migrations_dir();
        let files = numbered::scan(&dir)?;
        let name = numbered::next_name(&files, &applied, &a.name);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(&name);
        std::fs::write(&path, numbered::plan_file(&summary, &sql))?;
        written = Some(path);
    }
    if a.json {
        let out = serde_json::json!({
            "database": shown,
            "changes": the_plan.map(|p| serde_json::to_value(&p.changes)).transpose()?,
            "dropped": the_plan.map(|p| serde_json::to_value(&p.dropped)).transpose()?,
            "added": added,
            "summary": summary,
            "sql": sql,
            "pending_migrations": pending.sql.iter().map(|f| &f.name).collect::<Vec<_>>(),
            "refused": refused,
            "written": written,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(refused.is_empty());
    }
    if quiet {
        return Ok(refused.is_empty());
    }
    if the_plan.is_none() && pending.sql.is_empty() {
        println!("plan: jsonlift.toml describes the database as it is; nothing to do");
        return Ok(true);
    }
    if the_plan.is_some() {
        println!("Changes from jsonlift.toml ({shown}):");
        for s in &summary {
            println!("  {s}");
        }
        println!("\nSQL:");
        for s in &sql {
            if s.starts_with("--") {
                println!("{s}");
            } else {
                println!("{s};");
            }
        }
    }
    if !pending.sql.is_empty() {
        println!("\nNumbered migrations to apply, in order:");
        for f in &pending.sql {
            println!("  {}", f.name);
        }
    }
    if !refused.is_empty() {
        println!(
            "\n`jsonlift migrate` would refuse this change: {} record(s) do not fit it:",
            refused.len()
        );
        for r in &refused {
            println!("  {r}");
        }
    }
    if let Some(p) = written {
        println!("\nwritten: {}", p.display());
    } else if refused.is_empty() {
        println!("\n`jsonlift migrate` applies this in one transaction, after a database backup.");
    }
    Ok(refused.is_empty())
}
