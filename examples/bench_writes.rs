//! Record writes for bench/backup.sh: N puts through the server's record store (each with its
//! audit entry, one transaction each), so that `restore --at` has N audit entries to replay.
//! `cargo run --release --example bench_writes -- jsonlift.toml notes N`.

use std::path::Path;
use std::time::Instant;

use jsonlift::audit::Actor;
use jsonlift::config::Project;
use jsonlift::schema::Schema;
use jsonlift::store::{Records, SqliteStore, Store};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (config, coll) = (&args[1], &args[2]);
    let n: u64 = args[3].parse()?;
    let project = Project::load(Path::new(config))?;
    let store = SqliteStore::open(&project, Schema::build(&project)?)?;
    let actor = Actor {
        name: "bench".into(),
        request_id: String::new(),
    };
    let t0 = Instant::now();
    for i in 0..n {
        let text = format!(
            "{{\"id\": \"w{i}\", \"title\": \"written after the migration, number {i}\", \"body\": \"{}\"}}",
            "b".repeat(200)
        );
        let value = jsonlift::json::parse(text.as_bytes(), 100)?;
        jsonlift::store::write(&store, |c| {
            let records = Records::named(store.schema(), coll).expect("collection");
            records.put(c, &format!("w{i}"), Some(value.clone()), &actor)
        })?;
    }
    eprintln!("{n} writes in {:.2}s", t0.elapsed().as_secs_f64());
    Ok(())
}
