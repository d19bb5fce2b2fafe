//! PostgreSQL's own client programs, `pg_dump` and `pg_restore`, which back up and restore a
//! PostgreSQL database: they know every object kind of every server version, which jsonlift
//! could never keep up with itself. This module finds them, checks they can work with the
//! server (pg_dump refuses a server newer than itself), and runs them with the connection the
//! project's URL names, the password passed in the child's environment (`PGPASSWORD`), never
//! on its command line, where `ps` would show it to every user of the machine.
//!
//! A missing or too old program is a [`ToolError`]: one message naming the program and how to
//! install it, exit 2, before anything is written.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::bail;

use crate::store::postgres::connect::{PasswordSources, PgUrl, SslMode, password};

/// Why a client program cannot be used; the CLI exits 2 (something to install, not to retry).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "{tool} was not found on PATH; jsonlift runs it to {purpose} a PostgreSQL database. Install PostgreSQL's client programs{matching}: `apt-get install postgresql-client{suffix}` (Debian, Ubuntu), `dnf install postgresql` (Fedora), `brew install libpq` (macOS). Nothing was changed"
    )]
    Missing {
        tool: &'static str,
        purpose: &'static str,
        matching: String,
        suffix: String,
    },
    #[error(
        "{tool} at {path} is version {have}, older than the server (PostgreSQL {server}); {tool} cannot work with a newer server. Install the client programs of PostgreSQL {server} or later: `apt-get install postgresql-client-{server}`, and put them first on PATH. Nothing was changed"
    )]
    TooOld {
        tool: &'static str,
        path: String,
        have: String,
        server: u32,
    },
}

/// One of the two programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Dump,
    Restore,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Dump => "pg_dump",
            Tool::Restore => "pg_restore",
        }
    }

    fn purpose(self) -> &'static str {
        match self {
            Tool::Dump => "back up",
            Tool::Restore => "check and restore backups of",
        }
    }
}

/// A client program found on PATH, and its major version.
#[derive(Debug, Clone)]
pub struct Found {
    pub tool: Tool,
    pub path: PathBuf,
    pub major: u32,
}

/// Finds `tool` on PATH and, when the server's major version is known, checks it is at least
/// that version. `pg_dump` must be (it refuses a newer server); `pg_restore` is held to the
/// same rule, since an archive from the server's own pg_dump may be in a format an older
/// pg_restore cannot read.
pub fn find(tool: Tool, server_major: Option<u32>) -> Result<Found, ToolError> {
    let missing = || ToolError::Missing {
        tool: tool.name(),
        purpose: tool.purpose(),
        matching: server_major
            .map(|m| format!(" (version {m} or later, as the server)"))
            .unwrap_or_default(),
        suffix: server_major.map(|m| format!("-{m}")).unwrap_or_default(),
    };
    let path = on_path(tool.name()).ok_or_else(missing)?;
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|_| missing())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(major) = major_of(&text) else {
        return Err(missing());
    };
    if let Some(server) = server_major.filter(|&s| major < s) {
        return Err(ToolError::TooOld {
            tool: tool.name(),
            path: path.display().to_string(),
            have: text
                .trim()
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_string(),
            server,
        });
    }
    Ok(Found { tool, path, major })
}

/// The first executable file named `name` in the directories of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The major version in `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`: 15 (and 9 for
/// the 9.6 series, which no supported server is).
pub fn major_of(version_line: &str) -> Option<u32> {
    let v = version_line
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    v.split(['.', 'b', 'r', 'd']).next()?.parse().ok()
}

/// A libpq connection parameter value, quoted: a database name with `=` in it would otherwise
/// be read as a whole connection string.
fn conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Found {
    /// The program with the connection `url` names: host, port, user and database as
    /// arguments, the password (found as jsonlift finds it: the URL, `PGPASSWORD`, the
    /// password file) and `sslmode` in the child's environment.
    pub fn command(&self, url: &PgUrl) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg(format!("--host={}", url.host))
            .arg(format!("--port={}", url.port))
            .arg(format!("--username={}", url.user))
            .arg(format!("--dbname=dbname={}", conninfo_value(&url.dbname)))
            // A prompt would hang a CLI run from a script: fail instead when no password works.
            .arg("--no-password")
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGAPPNAME", format!("jsonlift {}", self.tool.name()))
            .env("PGSSLMODE", url.sslmode.as_str());
        // jsonlift checks certificates against Mozilla's roots; libpq 16 and later can use the
        // system's ("system"), the nearest it has. Older ones need PGSSLROOTCERT set by hand.
        if matches!(url.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
            && std::env::var_os("PGSSLROOTCERT").is_none()
            && self.major >= 16
        {
            cmd.env("PGSSLROOTCERT", "system");
        }
        if let Some(pw) = password(url, &PasswordSources::from_env()).password {
            cmd.env("PGPASSWORD", pw);
        }
        cmd
    }

    /// The program on a file alone, no server (`pg_restore --list FILE`).
    pub fn offline(&self) -> Command {
        Command::new(&self.path)
    }
}

/// Runs a prepared command; a failure carries what the program said on stderr.
pub fn run(tool: Tool, cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", tool.name()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        bail!(
            "{} failed ({}): {}",
            tool.name(),
            out.status,
            if err.is_empty() {
                "it said nothing".to_string()
            } else {
                err.join(" / ")
            }
        );
    }
    Ok(out)
}

/// `pg_restore --list FILE`: the archive's table of contents, which pg_restore can only print
/// after reading the whole header and every entry (a damaged or foreign file fails).
pub fn list(restore: &Found, file: &Path) -> anyhow::Result<String> {
    let out = run(
        Tool::Restore,
        restore.offline().arg("--list").arg(OsStr::new(file)),
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_are_read_from_the_version_line() {
        assert_eq!(
            major_of("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of("pg_restore (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(major_of("pg_dump (PostgreSQL) 16rc1"), Some(16));
        assert_eq!(major_of("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_of("nonsense"), None);
    }

    #[test]
    fn database_names_are_quoted_as_connection_values() {
        assert_eq!(conninfo_value("app"), "'app'");
        assert_eq!(conninfo_value("a=b c'd\\"), "'a=b c\\'d\\\\'");
    }
}
