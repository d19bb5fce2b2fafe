//! JSON as jsonlift needs it: a value type that keeps what other parsers throw away
//! (key order, the exact text of every number, duplicate-key detection), a fast slice parser
//! that reports byte offsets and JSON paths, a pull scanner that walks huge files without
//! holding them, and a writer that can reproduce the original file's formatting.

mod value;
pub use value::{JsonPath, Number, Seg, Value};

pub mod parse;
pub use parse::{ParseError, line_col, locate, parse, parse_nested};

pub mod write;
pub use write::{Style, detect_style, to_compact_string, write_value};

pub mod js;

pub mod scan;
pub use scan::{Pos, ScanError, Scanner, ValuePos};
