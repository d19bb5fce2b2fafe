//! Problems found in the user's data, with the place they were found.

use std::fmt;

use crate::json::JsonPath;

/// One thing wrong with the input, named by file, line:column and JSON path so the user can go
/// straight to it. Readers, validation and verification all report these.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file as the user knows it (relative to the project file where possible).
    pub file: String,
    /// 1-based line and column (in characters); `None` when the problem has no single place
    /// (a missing file, a count mismatch).
    pub pos: Option<(u64, u64)>,
    pub path: Option<JsonPath>,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            pos: None,
            path: None,
            message: message.into(),
        }
    }
    pub fn at(mut self, line: u64, col: u64) -> Problem {
        self.pos = Some((line, col));
        self
    }
    pub fn with_path(mut self, path: JsonPath) -> Problem {
        self.path = Some(path);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((l, c)) = self.pos {
            write!(f, ":{l}:{c}")?;
        }
        if let Some(p) = &self.path {
            write!(f, ": {p}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Problem {}
