//! Record writes for bench/backup.sh: N puts through the record write path (each with its audit
//! entry, one transaction each), so that `restore --at` has N audit entries to replay.
//! `cargo run --release --example bench_writes -- jsonlift.toml notes N [start]`.

use std::path::Path;
use std::time::{Duration, Instant};

use jsonlift::backup::write;
use jsonlift::config::Project;
use jsonlift::schema::Schema;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (config, coll) = (&args[1], &args[2]);
    let n: u64 = args[3].parse()?;
    let start: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let project = Project::load(Path::new(config))?;
    let schema = Schema::build(&project)?;
    let conn = jsonlift::store::sqlite::open(&project.database_path(), Duration::from_secs(30))?;
    let t0 = Instant::now();
    for i in start..start + n {
        let rec = format!(
            "{{\"id\": \"w{i}\", \"title\": \"written after the migration, number {i}\", \"body\": \"{}\"}}",
            "b".repeat(200)
        );
        write::write(&conn, &schema, coll, &format!("w{i}"), Some(&rec), "bench")?;
    }
    eprintln!("{n} writes in {:.2}s", t0.elapsed().as_secs_f64());
    Ok(())
}
