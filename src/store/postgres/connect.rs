//! Reaching the PostgreSQL server a `postgres://` URL names, the way libpq users expect: the
//! same URL form, the same password sources in the same order (the URL, `PGPASSWORD`, the
//! password file), the same `sslmode` meanings. Every failure becomes one [`ConnectError`]
//! saying what to do, with the URL's password masked: these messages end up in terminals, CI
//! logs and issue reports.
//!
//! The environment and the password file are passed in ([`PasswordSources`]) rather than read
//! deep inside, so the lookup rules are unit-tested without touching the process environment.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// PostgreSQL's default port.
const DEFAULT_PORT: u16 = 5432;

/// How long to wait for the TCP connection. libpq waits forever by default; a CLI that hangs on
/// a firewalled host helps nobody, and a server that does not answer in this long is not one
/// to load data into.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The oldest server jsonlift works with (`server_version_num`): 12 is the oldest release
/// with generated columns, and everything older is out of support upstream.
const MIN_SERVER_VERSION: u32 = 120_000;

/// `sslmode`, with libpq's meanings: `allow` connects without TLS and with it only if the
/// server refuses that; `prefer` with TLS when the server has it; `require` encrypts without
/// checking the certificate (as libpq does without a root certificate file); `verify-ca` and
/// `verify-full` check it against Mozilla's roots, `verify-full` the host name too.
///
/// Without `sslmode` in the URL: `allow` on this machine (a loopback address or `localhost`),
/// where encryption protects nothing and costs both ends CPU on every row (0.1–0.2 s of a
/// 2.1 s migration into PostgreSQL, BENCHMARKS.md), `prefer` elsewhere, as libpq's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's name of the mode (as in the URL and `PGSSLMODE`).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Whether `host` is this machine: a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A parsed `postgres://user:password@host:port/dbname?sslmode=...` URL. Its `Display` (and
/// `Debug`) mask the password, so it can go into any message or log.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// `postgres` or `postgresql`, as written, so messages show the URL the user recognizes.
    scheme: String,
    pub user: String,
    password: Option<String>,
    pub host: String,
    pub port: u16,
    /// Defaults to the user name, as in libpq.
    pub dbname: String,
    pub sslmode: SslMode,
    /// Whether the URL said `sslmode` (shown in messages only then).
    sslmode_written: bool,
}

/// Why a text is not a PostgreSQL URL jsonlift can use. The message never repeats the URL's
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

impl PgUrl {
    /// Whether `text` is meant as a PostgreSQL URL rather than a file path.
    pub fn is_url(text: &str) -> bool {
        scheme_of(text).is_some_and(|s| s == "postgres" || s == "postgresql")
    }

    pub fn parse(text: &str) -> Result<PgUrl, UrlError> {
        let err = |m: String| Err(UrlError(m));
        let scheme = match scheme_of(text) {
            Some(s) if s == "postgres" || s == "postgresql" => s,
            _ => return err("a PostgreSQL URL starts with postgres:// or postgresql://".into()),
        };
        let rest = &text[scheme.len() + 3..];
        // As libpq: credentials end at the first `@` before any `/`; special characters in them
        // are percent-encoded.
        let (userinfo, rest) = match rest.find(['@', '/']) {
            Some(i) if rest.as_bytes()[i] == b'@' => (Some(&rest[..i]), &rest[i + 1..]),
            _ => (None, rest),
        };
        let (authority, rest) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };

        let (user, password) = match userinfo {
            None => (String::new(), None),
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (
                    decode(user, "user name")?,
                    Some(decode(pw, "password")?).filter(|p| !p.is_empty()),
                ),
                None => (decode(u, "user name")?, None),
            },
        };
        if user.is_empty() {
            return err(format!(
                "the URL names no user: write {scheme}://USER@HOST:PORT/DATABASE"
            ));
        }

        if authority.contains(',') {
            return err("the URL names several hosts; jsonlift connects to one".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((h, after)) = v6.split_once(']') else {
                return err("the URL's host has a `[` without its `]`".into());
            };
            match after.strip_prefix(':') {
                Some(p) => (h.to_string(), Some(p)),
                None if after.is_empty() => (h.to_string(), None),
                None => return err("the URL's host is not followed by `:PORT` or `/`".into()),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (decode(h, "host")?, Some(p)),
                None => (decode(authority, "host")?, None),
            }
        };
        // Over TCP, as most URLs mean; a URL without a host means the local machine.
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        let port = match port {
            None | Some("") => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return err(format!("the URL's port {p:?} is not a port number")),
            },
        };

        let dbname = decode(path.strip_prefix('/').unwrap_or(path), "database name")?;
        let dbname = if dbname.is_empty() {
            user.clone()
        } else {
            dbname
        };

        let mut sslmode = None;
        let mut unknown = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k, "parameter name")?;
            if k == "sslmode" {
                let v = decode(v, "sslmode")?;
                sslmode = Some(SslMode::parse(&v).ok_or_else(|| {
                    UrlError(format!(
                        "sslmode={v} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ))
                })?);
            } else {
                unknown.push(format!("`{k}`"));
            }
        }
        if !unknown.is_empty() {
            return err(format!(
                "jsonlift does not read the URL parameter{} {}; the one it reads is sslmode \
                 (disable, allow, prefer, require, verify-ca, verify-full)",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            ));
        }

        let default_sslmode = if is_loopback(&host) {
            SslMode::Allow
        } else {
            SslMode::Prefer
        };
        Ok(PgUrl {
            scheme,
            user,
            password,
            host,
            port,
            dbname,
            sslmode: sslmode.unwrap_or(default_sslmode),
            sslmode_written: sslmode.is_some(),
        })
    }

    /// The password written in the URL, if any.
    pub fn url_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// `createdb` with the options that reach this server, for the hint of a missing database.
    fn createdb_command(&self) -> String {
        format!(
            "createdb -h {} -p {} -U {} {}",
            self.host, self.port, self.user, self.dbname
        )
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, encode(&self.user))?;
        if self.password.is_some() {
            f.write_str(":***")?;
        }
        if self.host.contains(':') {
            write!(f, "@[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "@{}:{}", encode(&self.host), self.port)?;
        }
        write!(f, "/{}", encode(&self.dbname))?;
        if self.sslmode_written {
            write!(f, "?sslmode={}", self.sslmode.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    /// The masked form: a derived `Debug` would print the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

/// The `scheme` of `scheme://...`, lowercased; `None` for anything else (a file path).
pub fn scheme_of(text: &str) -> Option<String> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then(|| scheme.to_ascii_lowercase())
}

/// Percent-decoding of one URL component; `what` names it in the error (never its value, which
/// may be the password).
fn decode(s: &str, what: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => out.push(b),
                None => {
                    return Err(UrlError(format!(
                        "the URL's {what} has a `%` not followed by two hex digits"
                    )));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| UrlError(format!("the URL's {what} is not UTF-8 once decoded")))
}

/// Percent-encodes what would change the meaning of a URL component, so the masked URL reads
/// back as the same URL.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The password

/// Where a password may come from besides the URL, as libpq looks: `PGPASSWORD`, then the
/// password file (`PGPASSFILE`, else `~/.pgpass`).
#[derive(Debug, Clone, Default)]
pub struct PasswordSources {
    pub pgpassword: Option<String>,
    pub pgpassfile: Option<PathBuf>,
}

impl PasswordSources {
    /// What this process's environment says.
    pub fn from_env() -> PasswordSources {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        PasswordSources {
            pgpassword: var("PGPASSWORD").and_then(|v| v.into_string().ok()),
            pgpassfile: var("PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".pgpass"))),
        }
    }
}

/// The password to log in with and where it came from (said in a refused login's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Password {
    pub password: Option<String>,
    pub from: String,
}

/// The URL's password, else `PGPASSWORD`, else the first matching line of the password file.
/// An empty one counts as none, as in libpq.
pub fn password(url: &PgUrl, sources: &PasswordSources) -> Password {
    if let Some(p) = url.url_password() {
        return Password {
            password: Some(p.to_string()),
            from: "the password in the URL".into(),
        };
    }
    if let Some(p) = sources.pgpassword.as_deref().filter(|p| !p.is_empty()) {
        return Password {
            password: Some(p.to_string()),
            from: "the password in PGPASSWORD".into(),
        };
    }
    if let Some(file) = &sources.pgpassfile {
        match pgpass_lookup(file, url) {
            Ok(Some(p)) => {
                return Password {
                    password: Some(p),
                    from: format!("the password from {}", file.display()),
                };
            }
            Ok(None) => {}
            Err(why) => {
                tracing::warn!("{why}");
                return Password {
                    password: None,
                    from: format!("no password given ({why})"),
                };
            }
        }
    }
    Password {
        password: None,
        from: "no password given".into(),
    }
}

/// The password file's entry for this URL. `Ok(None)`: no file, or no line matches. `Err`: the
/// file is there but ignored, and why — libpq's rule: a file others may read or write is not
/// trusted with passwords.
pub fn pgpass_lookup(file: &Path, url: &PgUrl) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(_) => return Ok(None),
    };
    if !meta.is_file() {
        return Err(format!(
            "password file {} is not a plain file: ignored",
            file.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "password file {} has group or world access; permissions should be u=rw (0600) or less: ignored",
                file.display()
            ));
        }
    }
    let text = std::fs::read(file)
        .map_err(|e| format!("cannot read password file {}: {e}", file.display()))?;
    let text = String::from_utf8_lossy(&text);
    Ok(pgpass_find(&text, url))
}

/// The password of the first line of a `.pgpass` text that matches the URL:
/// `host:port:database:user:password`, each of the first four a value or `*` for any, `\:` and
/// `\\` escaping a colon and a backslash, `#` starting a comment line.
pub fn pgpass_find(text: &str, url: &PgUrl) -> Option<String> {
    let port = url.port.to_string();
    let want = [
        url.host.as_str(),
        port.as_str(),
        url.dbname.as_str(),
        url.user.as_str(),
    ];
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            let fields = pgpass_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|((value, wildcard), w)| *wildcard || value == w);
            matches.then(|| fields[4].0.clone())
        })
        .filter(|p| !p.is_empty())
}

/// A `.pgpass` line split at its unescaped colons, each field unescaped and marked when it is
/// the wildcard (a lone unescaped `*`; `\*` is a literal star).
fn pgpass_fields(line: &str) -> Vec<(String, bool)> {
    let mut fields = Vec::new();
    let mut value = String::new();
    let mut raw_star = true;
    let mut chars = line.chars();
    let mut len = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // A trailing backslash stands for itself, as in libpq.
                value.push(chars.next().unwrap_or('\\'));
                raw_star = false;
                len += 1;
            }
            ':' if fields.len() < 4 => {
                fields.push((std::mem::take(&mut value), raw_star && len == 1));
                raw_star = true;
                len = 0;
            }
            // The password ends at the next unescaped colon.
            ':' => break,
            _ => {
                if c != '*' {
                    raw_star = false;
                }
                value.push(c);
                len += 1;
            }
        }
    }
    fields.push((value, raw_star && len == 1));
    fields
}

// ---------------------------------------------------------------------------------------------
// Connecting

/// A server's `server_version_num`, shown as PostgreSQL writes its version (`15.19`, `9.6.24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerVersion(pub u32);

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n >= 100_000 {
            write!(f, "{}.{}", n / 10_000, n % 10_000)
        } else {
            write!(f, "{}.{}.{}", n / 10_000, n / 100 % 100, n % 100)
        }
    }
}

/// Why no usable connection was had. Each message names the URL, password masked, and says
/// what to do; the CLI exits 2 on all of them (the project names a database it cannot use).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "{url}: cannot reach the PostgreSQL server ({cause}); is the server running? check host and port"
    )]
    Unreachable { url: String, cause: String },
    /// The login was refused: `what` is the server's reason and what to do about it.
    #[error("{url}: the server refused the login: {what}")]
    BadPassword { url: String, what: String },
    #[error("{url}: database \"{dbname}\" does not exist; create it with `{createdb}`")]
    NoDatabase {
        url: String,
        dbname: String,
        createdb: String,
    },
    #[error("{url}: the server runs PostgreSQL {version}; jsonlift needs PostgreSQL 12 or later")]
    TooOld { url: String, version: ServerVersion },
    #[error("{url}: TLS failed: {cause}; {hint}")]
    Tls {
        url: String,
        cause: String,
        hint: &'static str,
    },
    /// The server takes no more connections for now (`max_connections` reached, or starting
    /// up): worth another try in a moment.
    #[error("{url}: the server takes no more connections now: {cause}")]
    Busy { url: String, cause: String },
    #[error("{url}: {cause}")]
    Other { url: String, cause: String },
}

impl ConnectError {
    /// Whether trying again shortly may succeed ([`ConnectError::Busy`]).
    pub fn is_busy(&self) -> bool {
        matches!(self, ConnectError::Busy { .. })
    }
}

/// Connects with the password from the environment as libpq finds it, and checks the server
/// is recent enough.
pub fn connect(url: &PgUrl) -> Result<postgres::Client, ConnectError> {
    connect_with(url, &PasswordSources::from_env())
}

/// [`connect`] with the password sources given.
pub fn connect_with(
    url: &PgUrl,
    sources: &PasswordSources,
) -> Result<postgres::Client, ConnectError> {
    let pw = password(url, sources);
    let mut client = match open(url, &pw, url.sslmode) {
        // Refused without TLS by a `hostssl` line of pg_hba.conf (28000): libpq's `allow`
        // tries again with it. A wrong password (28P01) is not worth another try.
        Err(e)
            if url.sslmode == SslMode::Allow
                && e.as_db_error().is_some_and(|d| d.code().code() == "28000") =>
        {
            open(url, &pw, SslMode::Require)
        }
        done => done,
    }
    .map_err(|e| classify(url, &pw, &e))?;
    let version = server_version(&mut client).map_err(|e| ConnectError::Other {
        url: url.to_string(),
        cause: format!("cannot read the server's version: {}", describe(&e)),
    })?;
    if version.0 < MIN_SERVER_VERSION {
        return Err(ConnectError::TooOld {
            url: url.to_string(),
            version,
        });
    }
    Ok(client)
}

/// One connection attempt in TLS mode `mode` (`allow` as `disable`).
fn open(url: &PgUrl, pw: &Password, mode: SslMode) -> Result<postgres::Client, postgres::Error> {
    let mut cfg = postgres::Config::new();
    cfg.host(&url.host)
        .port(url.port)
        .user(&url.user)
        .dbname(&url.dbname)
        .application_name("jsonlift")
        .connect_timeout(CONNECT_TIMEOUT)
        .ssl_mode(match mode {
            SslMode::Disable | SslMode::Allow => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        });
    if let Some(p) = &pw.password {
        cfg.password(p);
    }
    cfg.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(
        mode,
    )))
}

/// `SHOW server_version_num`, as a simple query (it works on every server and pooler).
pub fn server_version(client: &mut postgres::Client) -> Result<ServerVersion, postgres::Error> {
    let mut text = None;
    for m in client.simple_query("SHOW server_version_num")? {
        if let postgres::SimpleQueryMessage::Row(row) = m {
            text = row.get(0).map(str::to_string);
        }
    }
    // A server that answers with no number is not one jsonlift knows: treat it as too old.
    Ok(ServerVersion(
        text.and_then(|t| t.trim().parse().ok()).unwrap_or(0),
    ))
}

/// Sorts a failed connection into what the user should do about it. tokio-postgres keeps its
/// error kinds private; its messages for them are stable and are what we match on.
fn classify(url: &PgUrl, pw: &Password, e: &postgres::Error) -> ConnectError {
    let u = url.to_string();
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            // invalid_password, invalid_authorization_specification (also pg_hba refusals,
            // whose message says so)
            "28P01" | "28000" => ConnectError::BadPassword {
                url: u,
                what: refused_login(url, pw, code, db.message()),
            },
            "3D000" => ConnectError::NoDatabase {
                url: u,
                dbname: url.dbname.clone(),
                createdb: url.createdb_command(),
            },
            // too_many_connections, cannot_connect_now
            "53300" | "57P03" => ConnectError::Busy {
                url: u,
                cause: format!("{} (SQLSTATE {code})", db.message()),
            },
            _ => ConnectError::Other {
                url: u,
                cause: format!("{} (SQLSTATE {code})", db.message()),
            },
        };
    }
    let kind = e.to_string();
    let cause = source_text(e);
    if kind.starts_with("error performing TLS handshake") {
        let hint = if cause.contains("does not support TLS") {
            "the server does not accept TLS connections: enable ssl on the server, or leave sslmode=require out of the URL"
        } else if matches!(url.sslmode, SslMode::VerifyCa | SslMode::VerifyFull) {
            "the server's certificate is not signed by a public authority jsonlift trusts (Mozilla's roots); use sslmode=require to encrypt without checking it"
        } else {
            "check the server's ssl settings, or use sslmode=disable on a trusted network"
        };
        return ConnectError::Tls {
            url: u,
            cause,
            hint,
        };
    }
    if kind.starts_with("error connecting to server") || kind.starts_with("timeout") {
        return ConnectError::Unreachable { url: u, cause };
    }
    if cause.contains("password missing") {
        return ConnectError::BadPassword {
            url: u,
            what: refused_login(url, pw, "28P01", "the server asks for a password"),
        };
    }
    ConnectError::Other {
        url: u,
        cause: describe(e),
    }
}

/// The server's reason for refusing a login, where the password came from, and the fix. 28000
/// also covers an unknown user and a pg_hba.conf that lets no one in from here, where a
/// password would not help.
fn refused_login(url: &PgUrl, pw: &Password, code: &str, message: &str) -> String {
    if code == "28P01" {
        format!(
            "{message} (with {}); set the password in the URL, PGPASSWORD or ~/.pgpass",
            pw.from
        )
    } else if message.contains("does not exist") {
        format!(
            "{message}; check the user name in the URL, or create the role with `createuser -h {} -p {} {}`",
            url.host, url.port, url.user
        )
    } else {
        format!(
            "{message}; the server's pg_hba.conf decides who may log in from where, and how; \
             if it wants a password, set it in the URL, PGPASSWORD or ~/.pgpass"
        )
    }
}

/// The error's causes below its kind, joined: what actually went wrong.
fn source_text(e: &postgres::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// The error's kind and causes on one line.
fn describe(e: &postgres::Error) -> String {
    let src = source_text(e);
    let kind = e.to_string();
    if src == kind {
        kind
    } else {
        format!("{kind}: {src}")
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

/// The rustls client configuration for a mode. The provider is named here rather than
/// installed process-wide, so no other crate's choice of provider can make this ambiguous.
fn tls_config(mode: SslMode) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions");
    let roots = || {
        Arc::new(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    };
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::VerifyFull => {
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots(), provider)
                .build()
                .expect("Mozilla's roots are valid")
        }
        SslMode::VerifyCa => Arc::new(AnyName(
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots(), provider)
                .build()
                .expect("Mozilla's roots are valid"),
        )),
        // disable and allow never get here; prefer and require encrypt without checking who
        // answers
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
            Arc::new(Unverified(provider))
        }
    };
    builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// `sslmode=require`/`prefer`: any certificate is accepted (libpq's meaning: encryption, not
/// authentication of the server), but the handshake's signatures are still checked, so the
/// session is encrypted to whoever holds the presented certificate's key.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the certificate chain must lead to a trusted root, but the name in it
/// need not be the host's.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_sslmode_tls_is_only_asked_for_off_this_machine() {
        for (u, mode) in [
            ("postgres://app@127.0.0.1/app", SslMode::Allow),
            ("postgres://app@127.8.0.2:6000/app", SslMode::Allow),
            ("postgres://app@localhost/app", SslMode::Allow),
            ("postgres://app@[::1]:5432/app", SslMode::Allow),
            ("postgres://app@/app", SslMode::Allow),
            ("postgres://app@db.example/app", SslMode::Prefer),
            ("postgres://app@10.0.0.5/app", SslMode::Prefer),
            (
                "postgres://app@127.0.0.1/app?sslmode=prefer",
                SslMode::Prefer,
            ),
            (
                "postgres://app@db.example/app?sslmode=allow",
                SslMode::Allow,
            ),
        ] {
            let parsed = PgUrl::parse(u).unwrap();
            assert_eq!(parsed.sslmode, mode, "{u}");
            // A mode not written is not shown.
            assert_eq!(
                parsed.to_string().contains("sslmode"),
                u.contains("sslmode"),
                "{u}"
            );
        }
    }

    /// Against the test server (which has TLS on, as Debian's package sets it up): a URL of
    /// this machine without `sslmode` connects without TLS, `sslmode=prefer` with it.
    #[test]
    fn a_server_on_this_machine_is_reached_without_tls_unless_asked() {
        let Some(url) = crate::store::testing::postgres_url(
            "a_server_on_this_machine_is_reached_without_tls_unless_asked",
        ) else {
            return;
        };
        let base = url.split('?').next().unwrap().to_string();
        let encrypted = |u: &str| -> bool {
            let mut client = connect(&PgUrl::parse(u).unwrap()).unwrap();
            client
                .query_one(
                    "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                    &[],
                )
                .unwrap()
                .get(0)
        };
        assert!(!encrypted(&base), "{base}: TLS on this machine");
        let mut client = connect(&PgUrl::parse(&base).unwrap()).unwrap();
        let ssl: String = client.query_one("SHOW ssl", &[]).unwrap().get(0);
        if ssl == "on" {
            assert!(
                encrypted(&format!("{base}?sslmode=prefer")),
                "prefer without TLS"
            );
        }
    }

    fn url(s: &str) -> PgUrl {
        PgUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_parts_and_masks_the_password() {
        let u = url("postgres://app:s3cr%3At@db:6543/appdb?sslmode=require");
        assert_eq!(
            (u.user.as_str(), u.url_password(), u.host.as_str(), u.port),
            ("app", Some("s3cr:t"), "db", 6543)
        );
        assert_eq!(u.dbname, "appdb");
        assert_eq!(u.sslmode, SslMode::Require);
        assert_eq!(
            u.to_string(),
            "postgres://app:***@db:6543/appdb?sslmode=require"
        );
        assert!(!format!("{u:?}").contains("s3cr"));

        let u = url("postgresql://app@db/app");
        assert_eq!((u.port, u.sslmode), (5432, SslMode::Prefer));
        assert_eq!(u.to_string(), "postgresql://app@db:5432/app");

        // The database defaults to the user, the host to the local machine.
        let u = url("postgres://app:pw@");
        assert_eq!((u.host.as_str(), u.dbname.as_str()), ("localhost", "app"));
        assert_eq!(u.to_string(), "postgres://app:***@localhost:5432/app");

        let u = url("postgres://app@[::1]:7000/x");
        assert_eq!((u.host.as_str(), u.port), ("::1", 7000));
        assert_eq!(u.to_string(), "postgres://app@[::1]:7000/x");

        // Unencoded `?` and `/`-free specials in a password stay in it, as in libpq.
        let u = url("postgres://app:p?w:d@db/app");
        assert_eq!(u.url_password(), Some("p?w:d"));
    }

    #[test]
    fn refuses_what_it_cannot_use_without_echoing_the_password() {
        for (text, says) in [
            ("postgres://db/app", "names no user"),
            ("postgres://app:hunter2@db:99999/app", "not a port number"),
            ("postgres://app:hunter2@db:x/app", "not a port number"),
            ("postgres://app:hunter2@a,b/app", "several hosts"),
            (
                "postgres://app:hunter2@db/app?sslmode=maybe",
                "sslmode=maybe",
            ),
            (
                "postgres://app:hunter2@db/app?application_name=x&connect_timeout=3",
                "parameters `application_name`, `connect_timeout`",
            ),
            ("postgres://app:hunter2%zz@db/app", "password has a `%`"),
            ("mysql://app:hunter2@db/app", "starts with postgres://"),
        ] {
            let e = PgUrl::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{text}: {e}");
        }
    }

    #[test]
    fn tells_urls_from_paths() {
        assert!(PgUrl::is_url("postgres://a@b/c"));
        assert!(PgUrl::is_url("PostgreSQL://a@b/c"));
        assert!(!PgUrl::is_url("app.db"));
        assert!(!PgUrl::is_url("postgres:app.db"));
        assert!(!PgUrl::is_url("data/postgres/app.db"));
        assert_eq!(scheme_of("mysql://x").as_deref(), Some("mysql"));
        assert_eq!(scheme_of("/tmp/a://b"), None);
    }

    #[test]
    fn versions_read_as_postgres_writes_them() {
        assert_eq!(ServerVersion(150019).to_string(), "15.19");
        assert_eq!(ServerVersion(110022).to_string(), "11.22");
        assert_eq!(ServerVersion(90624).to_string(), "9.6.24");
    }

    #[test]
    fn password_comes_from_the_url_then_pgpassword_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        write_private(&file, "db:5432:app:app:from-file\n");
        let sources = PasswordSources {
            pgpassword: Some("from-env".into()),
            pgpassfile: Some(file.clone()),
        };
        let with = url("postgres://app:from-url@db/app");
        let without = url("postgres://app@db/app");
        assert_eq!(
            password(&with, &sources).password.as_deref(),
            Some("from-url")
        );
        assert_eq!(
            password(&without, &sources).password.as_deref(),
            Some("from-env")
        );
        assert_eq!(
            password(&without, &sources).from,
            "the password in PGPASSWORD"
        );
        let no_env = PasswordSources {
            pgpassword: Some(String::new()), // empty counts as unset
            pgpassfile: Some(file.clone()),
        };
        let p = password(&without, &no_env);
        assert_eq!(p.password.as_deref(), Some("from-file"));
        assert!(p.from.contains("pgpass"), "{}", p.from);
        let nothing = PasswordSources {
            pgpassword: None,
            pgpassfile: Some(dir.path().join("absent")),
        };
        assert_eq!(password(&without, &nothing).password, None);
    }

    #[test]
    fn pgpass_wildcards_escapes_and_first_match() {
        let text = "\
# comment line: host:port:db:user:password
other:5432:app:app:not-this-host
db:6543:app:app:not-this-port
*:*:other\\:db:app:escaped-db
db:*:*:sp\\\\cial:back\\\\slash\\:colon:ignored-after-colon
*:5432:*:app:wildcard
db:5432:app:app:too-late
";
        let find = |u: &str| pgpass_find(text, &url(u));
        assert_eq!(find("postgres://app@db/app").as_deref(), Some("wildcard"));
        assert_eq!(
            find("postgres://app@anyhost:1/other%3Adb").as_deref(),
            Some("escaped-db")
        );
        assert_eq!(
            find("postgres://sp%5Ccial@db:9/x").as_deref(),
            Some("back\\slash:colon")
        );
        // `\*` is a literal star, not a wildcard.
        let star = "\\*:5432:starred:app:literal-star\n";
        assert_eq!(pgpass_find(star, &url("postgres://app@db/starred")), None);
        assert_eq!(
            pgpass_find(star, &url("postgres://app@%2A/starred")).as_deref(),
            Some("literal-star")
        );
        assert_eq!(find("postgres://app@db:6000/app"), None);
        assert_eq!(find("postgres://nobody@db/app"), None);
        // Lines with fewer than five fields never match; an empty password is none.
        assert_eq!(pgpass_find("*:*:*:*\n", &url("postgres://a@b/c")), None);
        assert_eq!(pgpass_find("*:*:*:*:\n", &url("postgres://a@b/c")), None);
        assert_eq!(
            pgpass_find("*:*:*:*:crlf\r\n", &url("postgres://a@b/c")).as_deref(),
            Some("crlf")
        );
    }

    #[cfg(unix)]
    #[test]
    fn pgpass_readable_by_others_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:secret\n").unwrap();
        let u = url("postgres://app@db/app");
        for (mode, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false)] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = pgpass_lookup(&file, &u);
            if ok {
                assert_eq!(got, Ok(Some("secret".into())), "{mode:o}");
            } else {
                let why = got.unwrap_err();
                assert!(why.contains("group or world access"), "{mode:o}: {why}");
                let p = password(
                    &u,
                    &PasswordSources {
                        pgpassword: None,
                        pgpassfile: Some(file.clone()),
                    },
                );
                assert_eq!(p.password, None);
                assert!(p.from.contains("0600"), "{}", p.from);
            }
        }
        // A folder where the file should be is not read.
        assert!(pgpass_lookup(dir.path(), &u).is_err());
    }

    fn write_private(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}
