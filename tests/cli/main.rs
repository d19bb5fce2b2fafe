//! Integration tests for the `jsonlift` binary, run against throw-away projects in temp dirs.
//!
//! - `bad_input`: every kind of broken input is refused with the exact place and leaves nothing
//!   behind.
//! - `migrate`: the happy path for each storage shape, plus reimport, dry run, --json, backups.
//! - `postgres`: every example on PostgreSQL (migrate, verify, export byte for byte), jsonb
//!   exactness, `copy` both ways, reimport and failure, `serve` with audit and drift.
//! - `readme`: the README's tour and sample error say what the bundled example does.
//! - `postgres_backup`: `backup`, `backups --verify`, `restore` and `restore --at` on
//!   PostgreSQL (pg_dump/pg_restore): the backed-up state back, the previous schema aside, one
//!   snapshot while writing, corrupted backups and missing client programs refused.
//! - `compat`: a project file changed after the migration (drift) is refused by every reader;
//!   a database made by an earlier jsonlift is upgraded in place by `migrate`, edits kept.
//! - `evolve`: a changed jsonlift.toml applied in place by `migrate` (`plan`, each kind of
//!   change, API edits kept, refusals listing every record, kills mid-evolution) and numbered
//!   SQL migrations (order, once, sha256, edited/gap/duplicate refused, rollback, `plan --write`).
//! - `defaults`: required fields NOT NULL and `default = …` as the columns' SQL DEFAULT (issue
//!   #16): rows other clients insert, API writes, evolutions, `CURRENT_TIMESTAMP`, bad defaults.
//! - `verify`: differences between the database and the sources are found and located.
//! - `examples`: every `examples/*/jsonlift.toml` migrates, verifies and exports byte-identically.
//! - `backup`: database backups, restore and point-in-time recovery; every fault leaves the
//!   database as it was. `backup_serve`: the same while `serve` runs (schedule, admin routes).
//! - `backend`: `JSONLIFT_TEST_BACKEND=postgres` runs the serve tests with the database on
//!   PostgreSQL (issue #14); tests about SQLite itself say "SQLite only" there.
//! - `serve`: the HTTP API on a real port: shapes, writes, errors, auth, concurrency.
//! - `serve_backends`: the same requests to a server on SQLite and one on PostgreSQL, every
//!   answer compared byte for byte (json-server's table, refusals of every kind, U+0000).
//! - `serve_admin`: `/_admin/metrics`, `/_admin/openapi.json`, `/_admin/health`,
//!   `[serve] max_page_size`. `serve_crud`: CRUD on every example, then export byte for byte.
//! - `serve_crash`, `serve_concurrent`, `serve_hostile` (with `serve_harness`): the serve
//!   reliability suite of RELIABILITY.md: SIGKILLs, 4 servers x 64 writers, hostile HTTP.
//! - `jsonserver_query`: list queries answered as json-server 0.17.4 answers them (run live).
//! - `jsonserver_parity`: the real `jsonlift serve` and json-server 0.17.4 on one db.json, the
//!   same reads and writes, compared answer by answer (`jsonserver_common` holds the table).
//! - `shared`: entities shared across records stored once, joined, and exported byte for byte.
//! - `interop`: every example (and shared entities, awkward names) used by a Python app on the
//!   machine's own SQLite 3.40: integrity, NULLs, dump/restore, automap and the models of
//!   `codegen sqlalchemy` (`interop.py`; a venv is made once under the target dir).
//! - `codegen_ts`: `codegen drizzle`, `json-schema` and `zod` on every example, checked by their
//!   consumers: tsc, Drizzle over better-sqlite3 against SQLite's own counts, ajv and Zod on every
//!   record the API serves and on records broken the ways jsonlift refuses.
//! - `infer`: `init` on every example's data and on the corpus under tests/infer/ round-trips.
//! - `corpus`: the hostile input corpus in tests/corpus/ (and inputs too big to commit).
//! - `crash`: `migrate` SIGKILLed at random moments leaves the database as before or complete.
//! - `postgres_connect`: a `postgres://` database: an unreachable server, a refused password, a
//!   missing database, a server older than 12, TLS refused — each one message with the password
//!   masked, exit 2, nothing written (a fake server in the file, and `JSONLIFT_TEST_POSTGRES`).
//! - `watch_fallback`: `serve --watch` on a database corrupt at start, or deleted or corrupted
//!   while serving: reads from the files, writes 503, the database rebuilt, the broken one kept.
//! - `watch`: live file sync (`serve --watch`, `watch`): edits, adds, deletes, renames, every
//!   editor save pattern and a 500-file burst on real files; broken files reported and kept at
//!   their last good version; single-file sources diffed record by record; reload; the ledger.
//! - `documents`: seed 004's `documents` table shared by folder collections (`table`, `type`):
//!   migrate, export, serve and watch per type, on SQLite and PostgreSQL; bad declarations.
//! - `dashboard`: the page at `/_admin/` in headless Chromium (WebDriver over HTTP): a token
//!   typed in, files edited on disk and the page following by itself, escaping, its CSP.
//! - `crash_backup`: `backup`, `restore` and `restore --at` SIGKILLed at random moments and at
//!   each step: the live database old or new, never a broken backup listed as valid.

mod util;

mod backend;

mod fixtures;

mod backup;
mod backup_serve;
mod bad_input;
mod codegen_ts;
mod compat;
mod corpus;
mod crash;
mod crash_backup;
mod dashboard;
mod defaults;
mod documents;
mod evolve;
mod examples;
mod infer;
mod interop;
mod jsonserver_common;
mod jsonserver_parity;
mod jsonserver_query;
mod legacy;
mod migrate;
mod postgres;
mod postgres_backup;
mod postgres_connect;
mod readme;
mod serve;
mod serve_admin;
mod serve_backends;
mod serve_concurrent;
mod serve_crash;
mod serve_crud;
mod serve_harness;
mod serve_hostile;
mod shared;
mod verify;
mod watch;
mod watch_fallback;
