//! `jsonlift watch`: the live file sync of `serve --watch` without HTTP. The initial sync's
//! line goes to stdout, then every change to a source file is applied until SIGINT or SIGTERM
//! (the change in flight is committed first).

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::ProjectArgs;
use crate::config::Project;
use crate::schema::Schema;

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `[sync] debounce_ms`, or its default.
pub(super) fn debounce(project: &Project) -> Duration {
    Duration::from_millis(
        project
            .config
            .sync
            .debounce_ms
            .unwrap_or(crate::sync::DEFAULT_DEBOUNCE_MS),
    )
}

pub fn run(a: &WatchArgs, quiet: bool) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let schema = Schema::build(&project)?;
    let store = super::serve::open_database(&project, schema)?;
    let (watch, line) = crate::sync::Watch::start(store, debounce(&project))?;
    if !quiet {
        println!("{line}");
        println!("jsonlift watch: watching; stop with Ctrl-C");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    rt.block_on(super::serve::shutdown());
    watch.stop();
    tracing::info!("watch stopped");
    Ok(true)
}
