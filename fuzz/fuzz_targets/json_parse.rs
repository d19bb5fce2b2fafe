//! The strict JSON parser on arbitrary bytes: no panic, errors point inside the input, and an
//! accepted value written back (compact, and in the style detected from the input) parses to
//! the same value.
#![no_main]

use jsonlift::json::{detect_style, parse, to_compact_string, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data, 128) {
        Ok(v) => {
            let compact = to_compact_string(&v);
            assert_eq!(
                parse(compact.as_bytes(), 128).expect("compact output parses"),
                v
            );
            let style = detect_style(data);
            let mut out = Vec::new();
            write::write_document(&mut out, &v, &style, false).unwrap();
            assert_eq!(parse(&out, 128).expect("styled output parses"), v);
        }
        Err(e) => assert!(e.offset <= data.len(), "error offset past the end"),
    }
});
