//! The strict JSON parser on arbitrary bytes: no panic, errors point inside the input, and an
//! accepted value written back (compact, and in the style detected from the input) parses to
//! the same value; a record parsed with its members as compact text
//! ([`parse::parse_record`]) is the same record, or the same error; and a JSON text written in a
//! style without its tree ([`parse::write_styled`]) is what the tree gives, or the same error.
#![no_main]

use jsonlift::json::parse::{Opaque, parse_record, write_styled};
use jsonlift::json::{Value, detect_style, parse, to_compact_string, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tree = parse(data, 128);
    match (parse_record(data, 128, 0, &Opaque::All), &tree) {
        (Ok((mut v, compact)), Ok(want)) => {
            if let (Value::Object(members), Value::Object(expected)) = (&mut v, want) {
                for (i, text) in compact {
                    assert_eq!(text, to_compact_string(&expected[i].1));
                    members[i].1 = parse(text.as_bytes(), 128).expect("compact text parses");
                }
            }
            assert_eq!(&v, want);
        }
        (Err(a), Err(b)) => assert_eq!(&a, b),
        (a, b) => panic!("parse_record {a:?} but parse {b:?}"),
    }
    match tree {
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
            // A column's text written back in a file's style is what the tree gives, whether
            // the text is compact or spelled as the input spells it.
            let mut want = Vec::new();
            write::write_value(&mut want, &v, &style, 1).unwrap();
            let mut styled = Vec::new();
            write_styled(&mut styled, &compact, &style, 1, 128).unwrap();
            assert_eq!(styled, want);
            if let Ok(text) = std::str::from_utf8(data) {
                let mut styled = Vec::new();
                write_styled(&mut styled, text, &style, 1, 128).unwrap();
                assert_eq!(styled, want);
            }
        }
        Err(e) => {
            assert!(e.offset <= data.len(), "error offset past the end");
            if let Ok(text) = std::str::from_utf8(data) {
                assert_eq!(
                    write_styled(&mut Vec::new(), text, &detect_style(data), 1, 128),
                    Err(e)
                );
            }
        }
    }
});
