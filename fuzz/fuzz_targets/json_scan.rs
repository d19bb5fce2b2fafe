//! The streaming scanner on arbitrary bytes, with a tiny buffer so values straddle refills: no
//! panic, and it agrees with the parser: a document the parser accepts is captured whole, and
//! what the scanner captures is the exact text of that value.
#![no_main]

use jsonlift::json::{Scanner, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut s) = Scanner::with_capacity(data, 16) else {
        return;
    };
    s.set_max_depth(128);
    let mut out = Vec::new();
    let captured = s.capture_value(&mut out).map(|_| out.clone());
    let whole = parse(data, 128);
    if let Ok(v) = &whole {
        let text = captured.expect("the scanner refused a value the parser accepts");
        assert_eq!(&parse(&text, 128).expect("captured text parses"), v);
        s.expect_end().expect("nothing after the value");
    }
});
