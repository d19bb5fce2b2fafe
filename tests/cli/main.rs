//! Integration tests for the `jsonlift` binary, run against throw-away projects in temp dirs.
//!
//! - `bad_input`: every kind of broken input is refused with the exact place and leaves nothing
//!   behind.
//! - `migrate`: the happy path for each storage shape, plus reimport, dry run, --json, backups.
//! - `verify`: differences between the database and the sources are found and located.
//! - `examples`: every `examples/*/jsonlift.toml` migrates, verifies and exports byte-identically.
//! - `infer`: `init` on every example's data and on the corpus under tests/infer/ round-trips.
//! - `corpus`: the hostile input corpus in tests/corpus/ (and inputs too big to commit).
//! - `crash`: `migrate` SIGKILLed at random moments leaves the database as before or complete.

mod util;

mod fixtures;

mod bad_input;
mod corpus;
mod crash;
mod examples;
mod infer;
mod migrate;
mod verify;
