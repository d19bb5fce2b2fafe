//! PostgreSQL as jsonlift's database (issue #14). The backend proper — DDL, COPY loads, the
//! store `serve` runs on — will live in this folder, beside the SQLite one.
//!
//! [`connect`] is the layer beneath it: reading a `postgres://` URL, finding the password
//! (the URL, `PGPASSWORD`, `~/.pgpass`), TLS, and turning every way of not getting a usable
//! connection into one clear [`ConnectError`] that names the URL with its password masked.

pub mod connect;

pub use connect::{ConnectError, PgUrl, ServerVersion, SslMode, connect, server_version};
