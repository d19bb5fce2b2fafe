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

impl Progress {
    /// A bar counting rows towards `total`, with the rate and the time left; without a
    /// terminal, a line every few seconds.
    pub fn rows(&self, name: &str, total: u64) -> RowsBar {
        let bar = (*self == Progress::Bar).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {human_pos}/{human_len} rows {per_sec} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(name.to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        RowsBar {
            bar,
            name: name.to_string(),
            total,
            done: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
            last_line: std::sync::Mutex::new(Instant::now()),
            mode: *self,
        }
    }
}

/// How often a line is printed without a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct RowsBar {
    bar: Option<ProgressBar>,
    name: String,
    total: u64,
    done: std::sync::atomic::AtomicU64,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
    mode: Progress,
}

impl RowsBar {
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.set_position(done);
        } else if self.mode == Progress::Lines {
            let mut last = self.last_line.lock().expect("progress lock");
            if last.elapsed() >= LINE_EVERY {
                *last = Instant::now();
                eprintln!("{}: {done}/{} rows", self.name, self.total);
            }
        }
    }

    pub fn finish(&self, rows: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if self.mode != Progress::Quiet {
            eprintln!(
                "{}: {rows} rows in {secs:.2}s ({:.0} rows/s)",
                self.name,
                rows as f64 / secs.max(1e-9)
            );
        }
    }
}
