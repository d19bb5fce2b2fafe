//! `jsonlift backups`: list the database backups; `--verify` re-checks each one.

use clap::Args;

use super::ProjectArgs;
use crate::backup::db::verify;
use crate::backup::manifest::{self, Entry};

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

fn rows(e: &Entry) -> u64 {
    e.manifest
        .counts
        .iter()
        .filter(|(t, _)| !t.starts_with("_jsonlift_"))
        .map(|(_, n)| n)
        .sum()
}

pub fn run(a: &BackupsArgs) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let dir = manifest::folder(&project);
    let entries = manifest::list(&dir)?;
    let mut ok = true;
    let mut out = Vec::new();
    for e in &entries {
        let verified = if a.verify {
            match verify(e, None) {
                Ok(_) => Some(Ok(())),
                Err(err) => {
                    ok = false;
                    Some(Err(format!("{err:#}")))
                }
            }
        } else {
            None
        };
        out.push((e, verified));
    }
    if a.json {
        let list: Vec<serde_json::Value> = out
            .iter()
            .map(|(e, v)| {
                let mut j = serde_json::to_value(&e.manifest).unwrap_or_default();
                j["name"] = e.name().into();
                j["path"] = e.data.display().to_string().into();
                j["verified"] = match v {
                    None => serde_json::Value::Null,
                    Some(Ok(())) => true.into(),
                    Some(Err(_)) => false.into(),
                };
                if let Some(Err(msg)) = v {
                    j["problem"] = msg.clone().into();
                }
                j
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"folder": dir, "backups": list}))?
        );
        return Ok(ok);
    }
    if entries.is_empty() {
        println!("no database backups in {}", dir.display());
        return Ok(true);
    }
    println!(
        "{:<27} {:>12} {:>10} {:>8} {:<15} status",
        "name", "size", "rows", "audit", "reason"
    );
    for (e, v) in &out {
        let m = &e.manifest;
        let status = match v {
            None => "not re-checked".to_string(),
            Some(Ok(())) => "verified".to_string(),
            Some(Err(msg)) => format!("FAILED: {msg}"),
        };
        println!(
            "{:<27} {:>12} {:>10} {:>8} {:<15} {status}{}",
            e.name(),
            m.size,
            rows(e),
            m.audit_id,
            m.reason,
            if m.compressed { " (zstd)" } else { "" }
        );
    }
    Ok(ok)
}
