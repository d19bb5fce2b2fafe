//! Progress: a bar with bytes and records/s on a terminal, plain lines otherwise, nothing with
//! `--json` or `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Bar,
    Lines,
    Quiet,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn auto(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }

    pub fn source(&self, name: &str, total: u64) -> SourceBar {
        let bar = (*self == Progress::Bar).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{prefix:>24} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.set_prefix(name.to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        SourceBar {
            bar,
            name: name.to_string(),
            started: Instant::now(),
            mode: *self,
        }
    }
}

pub struct SourceBar {
    bar: Option<ProgressBar>,
    name: String,
    started: Instant,
    mode: Progress,
}

impl SourceBar {
    pub fn set(&self, bytes: u64, records: u64) {
        if let Some(b) = &self.bar {
            b.set_position(bytes);
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            b.set_message(format!(
                "{records} records ({:.0}/s)",
                records as f64 / secs
            ));
        }
    }

    pub fn finish(&self, bytes: u64, records: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if self.mode != Progress::Quiet {
            eprintln!(
                "read {}: {records} records, {:.1} MB in {secs:.2}s ({:.0} records/s)",
                self.name,
                bytes as f64 / 1e6,
                records as f64 / secs.max(1e-9)
            );
        }
    }
}
