//! The timestamp parser (`restore --at`, `/_admin/restore`, `/_admin/audit?since=`) on
//! arbitrary text: no panic (a non-ASCII offset once panicked, issue #18), and a time it accepts
//! is one it can write back: written in the form `now()` writes, it parses to the same moment,
//! and that text is the form itself.
#![no_main]

use jsonlift::clock::{from_micros, parse_micros};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(micros) = parse_micros(text) {
        let written = from_micros(micros);
        assert_eq!(parse_micros(&written), Some(micros), "{text:?} -> {written}");
        assert_eq!(from_micros(micros), written);
        assert!(written.len() == 27 && written.ends_with('Z'), "{written}");
    }
});
