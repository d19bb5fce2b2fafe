//! The folder (one record per file) reader on arbitrary bytes: no panic, and accepted input round-trips
//! through the writer `export` uses (same records, keys, key order and number spellings).
#![no_main]

use jsonlift::source::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jsonlift_fuzz::reader_round_trip(data, &[(None, Format::Folder)], "a.json", true);
});
