//! Parse throughput on ~50 MB of generated small records, against serde_json on the same
//! bytes. Run with `cargo run --release --example parse_throughput [MB]`; nothing is kept.

use std::time::Instant;

use jsonlift::json::{Scanner, parse, parse_nested};

/// An array of records like an application's storage holds, and where each record's text is.
fn generate(target: usize) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut s = String::from("[\n");
    let mut spans = Vec::new();
    let mut i = 0u64;
    while s.len() < target {
        if i > 0 {
            s.push_str(",\n");
        }
        let start = s.len() + 2;
        s.push_str(&format!(
            "  {{\n    \"id\": {i},\n    \"name\": \"user number {i}\",\n    \"email\": \"user{i}@example.com\",\n    \"active\": {},\n    \"score\": {}.{},\n    \"tags\": [\"a\", \"b\\\"q\", \"caf\\u00e9\"],\n    \"address\": {{\"city\": \"Zürich\", \"zip\": \"80{:02}\"}},\n    \"created\": \"2024-05-01T10:00:00Z\",\n    \"note\": null\n  }}",
            i.is_multiple_of(2),
            i % 1000,
            i % 97,
            i % 100
        ));
        spans.push((start, s.len()));
        i += 1;
    }
    s.push_str("\n]\n");
    (s.into_bytes(), spans)
}

/// Best of five runs, in seconds.
fn best(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let target_mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let (data, spans) = generate(target_mb << 20);
    let mb = data.len() as f64 / 1e6;
    println!("{mb:.1} MB, {} records", spans.len());

    let ours = best(|| {
        std::hint::black_box(parse(&data, 128).unwrap());
    });
    let serde = best(|| {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&data).unwrap());
    });
    println!(
        "whole document:   jsonlift {:>5.0} MB/s   serde_json {:>5.0} MB/s",
        mb / ours,
        mb / serde
    );

    let ours = best(|| {
        for &(a, b) in &spans {
            std::hint::black_box(parse(&data[a..b], 128).unwrap());
        }
    });
    let serde = best(|| {
        for &(a, b) in &spans {
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&data[a..b]).unwrap());
        }
    });
    println!(
        "record by record: jsonlift {:>5.0} MB/s   serde_json {:>5.0} MB/s",
        mb / ours,
        mb / serde
    );

    // Streaming through the scanner (what the readers do), from memory to leave the disk out.
    let ours = best(|| {
        let mut sc = Scanner::new(&data[..]).unwrap();
        sc.expect(b'[').unwrap();
        let mut buf = Vec::new();
        loop {
            sc.capture_value(&mut buf).unwrap();
            std::hint::black_box(parse_nested(&buf, 128, 1).unwrap());
            if !sc.comma_or_end(b']').unwrap() {
                break;
            }
        }
    });
    let serde = best(|| {
        std::hint::black_box(serde_json::from_reader::<_, serde_json::Value>(&data[..]).unwrap());
    });
    println!(
        "streamed:         jsonlift {:>5.0} MB/s   serde_json {:>5.0} MB/s (from_reader)",
        mb / ours,
        mb / serde
    );
}
