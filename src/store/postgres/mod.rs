//! PostgreSQL as jsonlift's database (issue #14), beside the SQLite one: [`tx`] is its
//! implementation of the store seam.
//!
//! [`connect`] is the layer beneath it: reading a `postgres://` URL, finding the password
//! (the URL, `PGPASSWORD`, `~/.pgpass`), TLS, and turning every way of not getting a usable
//! connection into one clear [`ConnectError`] that names the URL with its password masked.

pub mod connect;
pub mod db;
pub mod fill;
pub mod load;
pub mod replacement;
pub mod schemas;
pub mod store;
pub mod tx;

pub use connect::{ConnectError, PgUrl, ServerVersion, SslMode, connect, server_version};
