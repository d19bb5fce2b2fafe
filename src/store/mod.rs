//! The database side: the dialects, and the SQLite store.

pub mod dialect;
pub mod sqlite;

pub use dialect::Dialect;
