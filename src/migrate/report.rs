//! What a command reports: per-collection figures and the problems found, printable as a table
//! or as JSON for scripts.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;

use crate::error::Problem;

/// At most this many problems are kept; the rest are counted.
pub const MAX_PROBLEMS: usize = 1000;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub command: &'static str,
    pub ok: bool,
    pub status: String,
    pub database: PathBuf,
    pub collections: Vec<CollectionReport>,
    #[serde(serialize_with = "problems_json")]
    pub problems: Vec<Problem>,
    /// Problems found beyond [`MAX_PROBLEMS`].
    pub more_problems: u64,
    pub backup: Option<PathBuf>,
    /// Tables made by an earlier jsonlift whose definitions were rewritten in the current form
    /// (`migrate`), or would be (`migrate --dry-run`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgraded: Vec<String>,
    /// What a schema evolution changed (`migrate` after a change of jsonlift.toml), one line
    /// each (docs/evolve.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evolved: Vec<String>,
    /// The numbered SQL migrations applied by this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql_applied: Vec<String>,
    pub seconds: f64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CollectionReport {
    pub name: String,
    pub table: String,
    pub source: String,
    pub records: u64,
    pub child_rows: IndexMap<String, u64>,
    pub bytes: u64,
    pub seconds: f64,
}

impl Report {
    pub fn new(command: &'static str, database: PathBuf) -> Report {
        Report {
            command,
            database,
            ok: true,
            ..Report::default()
        }
    }

    pub fn problem(&mut self, p: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.more_problems += 1;
        }
        self.ok = false;
    }

    pub fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS
    }
}

fn problems_json<S: serde::Serializer>(problems: &[Problem], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct P<'a> {
        file: &'a str,
        line: Option<u64>,
        col: Option<u64>,
        path: Option<String>,
        message: &'a str,
    }
    s.collect_seq(problems.iter().map(|p| P {
        file: &p.file,
        line: p.pos.map(|x| x.0),
        col: p.pos.map(|x| x.1),
        path: p.path.as_ref().map(ToString::to_string),
        message: &p.message,
    }))
}
