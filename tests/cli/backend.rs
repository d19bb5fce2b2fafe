//! Which database the serve tests run on (issue #14, item 5): `serve` must answer the same on
//! SQLite and on PostgreSQL, so its tests run on both. By default a project's database is a
//! SQLite file; with `JSONLIFT_TEST_BACKEND=postgres` the project helpers (`serve::example`,
//! [`Project::on_test_backend`]) put it in a fresh schema of the server in
//! `JSONLIFT_TEST_POSTGRES`, held by the [`Project`] and dropped with it. `.ci/run` runs the serve
//! tests a second time that way.
//!
//! A test about SQLite itself (its file, WAL, lock file, query plans, file backups) says so with
//! [`sqlite_only`], loudly, instead of passing without having run. What a test looks at inside
//! the database goes through the neutral helpers here ([`Project::sql1`],
//! [`Project::db_state`], [`Project::assert_db_sound_on_backend`]).

use crate::postgres::PgSchema;
use crate::util::*;

/// Whether this run puts the projects' databases on PostgreSQL.
pub fn on_postgres() -> bool {
    match std::env::var("JSONLIFT_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("JSONLIFT_TEST_BACKEND={other}: expected sqlite or postgres"),
    }
}

/// The server the PostgreSQL run uses. Asking for that run without a server is a mistake to
/// say, not a reason to run on SQLite after all.
fn postgres_url() -> String {
    match std::env::var("JSONLIFT_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "JSONLIFT_TEST_BACKEND=postgres needs JSONLIFT_TEST_POSTGRES \
             (e.g. postgres://postgres@127.0.0.1:5432/test)"
        ),
    }
}

/// On the PostgreSQL run: says loudly that `test` checks something only SQLite has (`why`) and
/// returns true, for the test to return. On SQLite: false.
pub fn sqlite_only(test: &str, why: &str) -> bool {
    if !on_postgres() {
        return false;
    }
    eprintln!("\n-------- SQLite only: {test}: {why}; NOT run on PostgreSQL --------\n");
    true
}

impl Project {
    /// A project with this project file, its database on the backend of this run.
    pub fn on_backend(toml: &str) -> Project {
        Project::new(toml).on_test_backend()
    }

    /// Whether the project's database holds tables: the SQLite file exists, or the
    /// PostgreSQL schema has a table.
    pub fn db_exists(&self) -> bool {
        match &self.pg {
            Some(pg) => {
                pg.q1(&format!(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
                    pg.name
                )) != "0"
            }
            None => self.db_path().exists(),
        }
    }

    /// The SQLite database, for checks that read what only SQLite has (its catalog, pragmas,
    /// its text of a value). On the PostgreSQL run: says loudly that `test`'s checks of `what`
    /// were not run there, and gives `None` (the test returns; what it checked before, the
    /// migration, verification and export, did run).
    pub fn sqlite_checks(&self, test: &str, what: &str) -> Option<rusqlite::Connection> {
        if self.pg.is_some() {
            eprintln!(
                "\n-------- SQLite only: {test}: {what}; NOT checked on PostgreSQL --------\n"
            );
            return None;
        }
        Some(open_db(&self.db_path()))
    }

    /// Runs one statement both databases read alike (foreign keys enforced, as jsonlift's own
    /// connections have them); the number of rows it changed.
    #[track_caller]
    pub fn exec(&self, sql: &str) -> u64 {
        self.exec_as(sql, true)
    }

    /// Runs one statement as a client with foreign keys off would (SQLite's default; on
    /// PostgreSQL, replication mode skips their triggers): rows may point at nothing.
    pub fn exec_without_foreign_keys(&self, sql: &str) -> u64 {
        self.exec_as(sql, false)
    }

    #[track_caller]
    fn exec_as(&self, sql: &str, foreign_keys: bool) -> u64 {
        match &self.pg {
            Some(pg) => {
                let mut c = pg.client();
                let role = if foreign_keys { "origin" } else { "replica" };
                c.batch_execute(&format!(
                    "SET search_path TO {}; SET session_replication_role = {role}",
                    pg.name
                ))
                .unwrap();
                c.execute(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            None => {
                let db = open_db(&self.db_path());
                let on = if foreign_keys { "ON" } else { "OFF" };
                db.execute_batch(&format!("PRAGMA foreign_keys = {on}"))
                    .unwrap();
                db.execute(sql, []).unwrap_or_else(|e| panic!("{sql}: {e}")) as u64
            }
        }
    }

    /// The columns of `table`, in order: on PostgreSQL without the `_rowid` that numbers its
    /// rows (it takes its default, as a new row's would).
    pub fn columns(&self, table: &str) -> Vec<String> {
        match &self.pg {
            Some(pg) => pg
                .q(&format!(
                    "SELECT column_name FROM information_schema.columns \
                     WHERE table_schema = '{}' AND table_name = '{table}' ORDER BY ordinal_position",
                    pg.name
                ))
                .into_iter()
                .filter_map(|r| r[0].clone())
                .filter(|c| c != "_rowid")
                .collect(),
            None => columns(&open_db(&self.db_path()), table),
        }
    }

    /// The rows of a query both databases read alike, each cell as text (`NULL` for null).
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match &self.pg {
            Some(pg) => pg
                .q(sql)
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|c| c.unwrap_or_else(|| "NULL".into()))
                        .collect()
                })
                .collect(),
            None => q(&open_db(&self.db_path()), sql),
        }
    }

    /// On the PostgreSQL run, the project file's `database` becomes a new schema of the test
    /// server (the project holds it); on SQLite the project is left as it is.
    pub fn on_test_backend(mut self) -> Project {
        if !on_postgres() {
            return self;
        }
        let pg = PgSchema::new(&postgres_url());
        let toml = String::from_utf8(self.read("jsonlift.toml")).unwrap();
        // Top-level keys must come before the first table: put the database lines first.
        let rest: Vec<&str> = toml
            .lines()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                key != "database" && key != "pg_schema"
            })
            .collect();
        self.write(
            "jsonlift.toml",
            format!("{}{}\n", pg.toml(), rest.join("\n")),
        );
        self.pg = Some(pg);
        self
    }

    /// Writes jsonlift.toml anew, its database kept on the backend of this run (a test that
    /// changes the project file after the first migration).
    pub fn write_toml(&self, toml: &str) {
        match &self.pg {
            Some(pg) => self.write("jsonlift.toml", format!("{}{toml}", pg.toml())),
            None => self.write("jsonlift.toml", toml),
        };
    }

    /// Whether the database has an index named `name`.
    pub fn has_index(&self, name: &str) -> bool {
        self.has("index", name)
    }

    /// Whether the database has a table named `name`.
    pub fn has_table(&self, name: &str) -> bool {
        self.has("table", name)
    }

    /// Whether the database's catalog has a `kind` (`table`, `index`) named `name`.
    fn has(&self, kind: &str, name: &str) -> bool {
        let sql = match &self.pg {
            Some(_) => format!(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relname = '{name}' AND c.relkind = '{}'",
                if kind == "index" { "i" } else { "r" }
            ),
            None => format!(
                "SELECT count(*) FROM sqlite_master WHERE type = '{kind}' AND name = '{name}'"
            ),
        };
        self.sql1(&sql) != "0"
    }

    /// The declared type of a column, as the database spells it.
    pub fn column_type(&self, table: &str, column: &str) -> String {
        match &self.pg {
            Some(_) => self.sql1(&format!(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
            )),
            None => self.sql1(&format!(
                "SELECT type FROM pragma_table_info('{table}') WHERE name = '{column}'"
            )),
        }
    }

    /// One value of a query both databases read alike (`NULL` for null).
    #[track_caller]
    pub fn sql1(&self, sql: &str) -> String {
        match &self.pg {
            Some(pg) => {
                let rows = pg.q(sql);
                assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
                rows[0][0].clone().unwrap_or_else(|| "NULL".into())
            }
            None => q1(&open_db(&self.db_path()), sql),
        }
    }

    /// Every table of the database (jsonlift's own included) with its columns and its rows,
    /// rows sorted: for "nothing changed" comparisons on either database.
    pub fn db_state(&self) -> Vec<String> {
        let Some(pg) = &self.pg else {
            return self.dump();
        };
        let mut out = Vec::new();
        let tables = pg.q("SELECT table_name FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name");
        for t in tables {
            let t = t[0].clone().unwrap();
            let cols = pg.q(&format!(
                "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{t}'"
            ));
            out.push(format!(
                "table {t}: {}",
                cols[0][0].clone().unwrap_or_default()
            ));
            let mut rows: Vec<String> = pg
                .q(&format!("SELECT * FROM \"{}\"", t.replace('"', "\"\"")))
                .into_iter()
                .map(|r| {
                    let cells: Vec<String> = r
                        .into_iter()
                        .map(|c| c.unwrap_or_else(|| "NULL".into()))
                        .collect();
                    format!("row {t}: {}", cells.join(" | "))
                })
                .collect();
            rows.sort();
            out.extend(rows);
        }
        out
    }

    /// The database passes its own checks. SQLite: integrity, foreign keys, WAL. PostgreSQL
    /// checks pages and enforces references as it writes; what can still be wrong is a
    /// constraint left unvalidated (`NOT VALID`), so that is what is looked at.
    #[track_caller]
    pub fn assert_db_sound_on_backend(&self) {
        match &self.pg {
            Some(pg) => assert_eq!(
                pg.q1(
                    "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                     WHERE n.nspname = current_schema() AND NOT c.convalidated"
                ),
                "0"
            ),
            None => assert_db_sound(&open_db(&self.db_path())),
        }
    }
}
