use std::process::ExitCode;

use clap::Parser;
use jsonlift::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

// Records are many small allocations; mimalloc handles that pattern far better than glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // SQLite allocates its page cache with the C library's malloc, which gives the top of the
    // heap back to the kernel whenever enough of it is free, making every core flush its TLB,
    // then faults it in again: several percent of a large migration. Keep what was freed.
    // SAFETY: a malloc tuning call at start-up, before any thread exists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
    let cli = Cli::parse();
    // A server logs each request by default; the other verbs stay quiet.
    let serving = matches!(cli.command, jsonlift::cli::Command::Serve(_));
    let level = match cli.verbose {
        0 if serving => "info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("JSONLIFT_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Past a file-size limit, writes should fail with an error we report and roll back from,
    // not kill the process mid-write.
    // SAFETY: setting a signal to SIG_IGN at start-up, before any thread exists.
    // And `jsonlift ... | head` should end quietly, as Unix tools do, not panic on a closed pipe.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The database libraries' process-wide settings, before any thread or connection exists.
    jsonlift::store::init();
    run(cli)
}
