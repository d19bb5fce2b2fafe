//! `jsonlift backups`: list the database backups; `--verify` re-checks each one.

use clap::Args;

use super::ProjectArgs;
use crate::backup::manifest;

#[derive(Debug, Args)]
pub struct BackupsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Re-check every backup's checksum and integrity (decompressing into a temp file).
    #[arg(long)]
    pub verify: bool,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Rows of the collections (not jsonlift's own tables) in a listed backup.
fn rows(b: &serde_json::Value) -> u64 {
    b["counts"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(t, _)| !t.starts_with("_jsonlift_"))
        .filter_map(|(_, n)| n.as_u64())
        .sum()
}

pub fn run(a: &BackupsArgs) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let dir = manifest::folder(&project);
    let (list, ok) = manifest::list_json(&dir, a.verify)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ok);
    }
    let backups = list["backups"].as_array().cloned().unwrap_or_default();
    if backups.is_empty() {
        println!("no database backups in {}", dir.display());
        return Ok(true);
    }
    println!(
        "{:<27} {:>12} {:>10} {:>8} {:<15} status",
        "name", "size", "rows", "audit", "reason"
    );
    for b in &backups {
        let status = match (&b["verified"], b["problem"].as_str()) {
            (serde_json::Value::Null, _) => "not re-checked".to_string(),
            (_, Some(msg)) => format!("FAILED: {msg}"),
            _ => "verified".to_string(),
        };
        println!(
            "{:<27} {:>12} {:>10} {:>8} {:<15} {status}{}",
            b["name"].as_str().unwrap_or_default(),
            b["size"],
            rows(b),
            b["audit_id"],
            b["reason"].as_str().unwrap_or_default(),
            if b["compressed"] == true {
                " (zstd)"
            } else {
                ""
            }
        );
    }
    Ok(ok)
}
