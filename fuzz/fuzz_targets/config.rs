//! The project-file parser and the schema built from it, on arbitrary text: no panic. The
//! sources it names do not exist (or are whatever the folder holds): a problem, not a crash.
#![no_main]

use jsonlift::config::Project;
use jsonlift::schema::Schema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = std::env::temp_dir().join("jsonlift-fuzz-config");
    if let Ok(project) = Project::parse(&dir.join("jsonlift.toml"), text) {
        let _ = Schema::build(&project);
    }
});
