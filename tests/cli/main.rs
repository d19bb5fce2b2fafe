//! Integration tests for the `jsonlift` binary, run against throw-away projects in temp dirs.
//!
//! - `bad_input`: every kind of broken input is refused with the exact place and leaves nothing
//!   behind.
//! - `migrate`: the happy path for each storage shape, plus reimport, dry run, --json, backups.
//! - `verify`: differences between the database and the sources are found and located.
//! - `examples`: every `examples/*/jsonlift.toml` migrates, verifies and exports byte-identically.
//! - `serve`: the HTTP API on a real port: shapes, writes, errors, auth, concurrency.
//! - `jsonserver_query`: list queries answered as json-server 0.17.4 answers them (run live).
//! - `jsonserver_parity`: the real `jsonlift serve` and json-server 0.17.4 on one db.json, the
//!   same reads and writes, compared answer by answer (`jsonserver_common` holds the table).
//! - `shared`: entities shared across records stored once, joined, and exported byte for byte.
//! - `infer`: `init` on every example's data and on the corpus under tests/infer/ round-trips.

mod util;

mod fixtures;

mod bad_input;
mod examples;
mod infer;
mod jsonserver_common;
mod jsonserver_parity;
mod jsonserver_query;
mod migrate;
mod serve;
mod shared;
mod verify;
