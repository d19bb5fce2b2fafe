//! [`rebuilds_to`] must answer exactly what building the record with [`rebuild`] and comparing
//! answers: for every record it must say "comes back" on the record's own rows, and for altered
//! records (and altered rows) it must agree with the comparison, never guess.

use std::path::{Path, PathBuf};

use super::rebuild::{rebuild, rebuilds_to};
use super::shred::{Cell, Ids, Row, shred};
use super::{FieldKind, Schema};
use crate::config::Project;
use crate::json::{Number, Value, parse, to_compact_string};
use crate::{infer, source};

/// Most altered values tried per record (spread evenly over all of them).
const MAX_MUTATIONS: usize = 200;
/// Rows of a record whose cells are altered one at a time.
const MAX_MUTATED_ROWS: usize = 4;
/// Records of each collection of a project checked thoroughly (every altered value, altered
/// rows); the others get a sample of altered values, which keeps the test to seconds.
const THOROUGH: usize = 1;
const SAMPLED_MUTATIONS: usize = 40;

#[derive(Default)]
struct Tally {
    records: usize,
    checks: usize,
    differ: usize,
}

/// One record's rows, children served from memory as the loader does.
struct Shredded<'s> {
    schema: &'s Schema,
    ti: usize,
    rows: Vec<Row<'static>>,
}

/// A fetch's answer: rows of a table.
type Fetched<'r> = anyhow::Result<super::rebuild::Rows<'r>>;

impl Shredded<'_> {
    /// The loader's fetch: children (or a shared entity) from the record's own rows.
    fn fetch<'s>(&'s self) -> impl FnMut(usize, &Cell<'static>) -> Fetched<'s> + 's {
        |t, parent| {
            let table = &self.schema.tables[t];
            let pc = table.parent_col.unwrap_or(table.pk);
            Ok(self
                .rows
                .iter()
                .filter(|r| r.table == t && r.cells[pc] == *parent)
                .map(|r| std::borrow::Cow::Borrowed(&r.cells[..]))
                .collect())
        }
    }

    fn rebuild(&self) -> anyhow::Result<(Option<String>, Value)> {
        rebuild(self.schema, self.ti, &self.rows[0].cells, &mut self.fetch())
    }

    /// Whether `rebuilds_to` gives the answer of `rebuild` and compare (a rebuild that fails
    /// must not be answered "same"); returns that answer.
    fn agrees(&self, tally: &mut Tally, key: Option<&str>, expected: &Value) -> bool {
        let built = self.rebuild();
        let cells = &self.rows[0].cells;
        let fast = rebuilds_to(
            self.schema,
            self.ti,
            cells,
            &mut self.fetch(),
            key,
            expected,
        );
        tally.checks += 1;
        let Ok((k, value)) = built else {
            assert!(
                !matches!(fast, Ok(true)),
                "rebuild failed but the check passed"
            );
            return false;
        };
        let want = !(k.is_some() && k.as_deref() != key) && value == *expected;
        tally.differ += usize::from(!want);
        assert_eq!(
            fast.as_ref().ok(),
            Some(&want),
            "rebuilds_to disagrees with rebuild\n  expected {} (key {key:?})\n  rebuilt  {} (key {k:?})\n  cells {:?}",
            to_compact_string(expected),
            to_compact_string(&value),
            self.rows.iter().map(|r| &r.cells).collect::<Vec<_>>()
        );
        want
    }
}

/// Shreds one record and checks it, its altered values and its altered rows.
fn check_record(
    schema: &Schema,
    coll: usize,
    key: Option<&str>,
    value: &Value,
    thorough: bool,
    tally: &mut Tally,
) {
    let Ok(rows) = shred(schema, coll, key, value, &mut Ids::new(schema.tables.len())) else {
        return;
    };
    tally.records += 1;
    let mut s = Shredded {
        schema,
        ti: schema.collections[coll].table,
        rows: rows.into_iter().map(Row::into_owned).collect(),
    };
    assert!(
        s.agrees(tally, key, value),
        "record does not come back: {}",
        to_compact_string(value)
    );
    let most = if thorough {
        MAX_MUTATIONS
    } else {
        SAMPLED_MUTATIONS
    };
    for m in sample(mutations(value, usize::MAX), most) {
        s.agrees(tally, key, &m);
    }
    for k in [None, Some(""), Some("1"), Some("01")] {
        s.agrees(tally, k, value);
    }
    if let Some(k) = key {
        s.agrees(tally, Some(&format!("{k}0")), value);
    }
    if thorough {
        check_altered_cells(&mut s, key, value, tally);
    }
}

/// Rows edited as SQL might edit them: each cell of the first rows replaced in turn. The check
/// must agree on the source value and say "same" on whatever those rows now rebuild to.
fn check_altered_cells(s: &mut Shredded, key: Option<&str>, value: &Value, tally: &mut Tally) {
    let schema = s.schema;
    for r in 0..s.rows.len().min(MAX_MUTATED_ROWS) {
        let t = &schema.tables[s.rows[r].table];
        for c in 0..s.rows[r].cells.len() {
            for alt in cell_alternatives(t, c) {
                let old = std::mem::replace(&mut s.rows[r].cells[c], alt);
                s.agrees(tally, key, value);
                if let Ok((k, rebuilt)) = s.rebuild() {
                    assert!(
                        s.agrees(tally, k.as_deref(), &rebuilt),
                        "altered rows do not match their own rebuild"
                    );
                    for m in sample(mutations(&rebuilt, 1), 12) {
                        s.agrees(tally, k.as_deref(), &m);
                    }
                }
                s.rows[r].cells[c] = old;
            }
        }
    }
}

/// Other contents for cell `c` of a row of `t`: odd types, odd numbers, fix-ups.
fn cell_alternatives(t: &super::Table, c: usize) -> Vec<Cell<'static>> {
    let text = |s: &str| Cell::Text(s.to_string().into());
    let mut out = vec![
        Cell::Null,
        Cell::Int(0),
        Cell::Int(1),
        Cell::Int(-7),
        Cell::Int(i64::MIN),
        Cell::Real(0.0),
        Cell::Real(-0.0),
        Cell::Real(2.5),
        Cell::Real(4.0),
        Cell::Real(1e21),
        Cell::Real(1e-7),
        Cell::Real(f64::INFINITY),
        Cell::Real(f64::NAN),
        text("x"),
        text("1"),
    ];
    let names: Vec<&str> = t.fields.iter().map(|f| f.name.as_str()).collect();
    // A few fields of each kind (wide rows would make every alteration times every field).
    let of_kind = |scalar: bool| {
        t.fields
            .iter()
            .filter(move |f| matches!(f.kind, FieldKind::Scalar { .. }) == scalar)
            .map(|f| f.name.as_str())
            .take(4)
    };
    if Some(c) == t.meta_col {
        for n in of_kind(true) {
            for spelling in ["1e0", "1.0", "-0", "01", "2.50", "x"] {
                out.push(text(&format!(r#"{{"r":{{"{n}":"{spelling}"}}}}"#)));
            }
        }
        for n in of_kind(false) {
            out.push(text(&format!(r#"{{"z":["{n}"]}}"#)));
            out.push(text(&format!(r#"{{"o":{{"{n}":{{"e":{{"q":1}}}}}}}}"#)));
        }
        let mut rev: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        rev.reverse();
        out.push(text(&format!(r#"{{"k":[{}]}}"#, rev.join(","))));
        out.push(text(r#"{"k":["zz"]}"#));
        for other in [r#"{"k":"no"}"#, r#""1e0""#, r#""-0""#, "1", "{", "[]"] {
            out.push(text(other));
        }
    }
    if Some(c) == t.extra_col {
        for e in [
            r#"{"zz":1}"#,
            r#"{"zz":null,"a":[1.0]}"#,
            "[]",
            r#""x""#,
            "{",
        ] {
            out.push(text(e));
        }
        if let Some(n) = names.first() {
            out.push(text(&format!(r#"{{"{n}":2}}"#)));
        }
    }
    if t.columns[c].ty == super::ColType::Json {
        for j in ["[1,2]", " [1, 2.0] ", r#"{"a":1}"#, "null", "-0"] {
            out.push(text(j));
        }
    }
    out
}

/// At most `n` of `all`, spread evenly.
fn sample<T>(all: Vec<T>, n: usize) -> impl Iterator<Item = T> {
    let step = all.len().div_ceil(n).max(1);
    all.into_iter().step_by(step)
}

/// Values that differ from `v` in one place at most `depth` levels down (some may turn out
/// equal; that is fine).
fn mutations(v: &Value, depth: usize) -> Vec<Value> {
    let mut out = local_mutations(v);
    if depth == 0 {
        return out;
    }
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                for m in mutations(item, depth - 1) {
                    let mut c = items.clone();
                    c[i] = m;
                    out.push(Value::Array(c));
                }
            }
        }
        Value::Object(entries) => {
            for (i, (_, item)) in entries.iter().enumerate() {
                for m in mutations(item, depth - 1) {
                    let mut c = entries.clone();
                    c[i].1 = m;
                    out.push(Value::Object(c));
                }
            }
        }
        _ => {}
    }
    out
}

/// Changes of `v` itself: another spelling, type or shape.
fn local_mutations(v: &Value) -> Vec<Value> {
    let num = |t: &str| Value::Number(Number::from_text_unchecked(t));
    let mut out = vec![Value::Null];
    match v {
        Value::Null => out = vec![Value::Bool(false), num("0"), Value::String(String::new())],
        Value::Bool(b) => out.extend([Value::Bool(!b), num(if *b { "1" } else { "0" })]),
        Value::Number(n) => {
            let t = n.as_str();
            let body = t.strip_prefix('-').unwrap_or(t);
            let f = n.as_f64();
            let mut texts = vec![
                format!("{t}.0"),
                format!("{t}0"),
                format!("{t}e0"),
                format!("-{t}"),
                body.to_string(),
                format!("0{body}"),
                format!("+{body}"),
                "0".into(),
                "-0".into(),
                "-0.0".into(),
                Number::from_f64_js(f).as_str().to_string(),
                format!("{f:e}"),
                format!("{}", f + 1.0),
                format!("{}", f * (1.0 + f64::EPSILON)),
            ];
            if let Some(d) = Number::from_f64(f) {
                texts.push(d.as_str().to_string());
            }
            if let Some(i) = n.as_i64() {
                texts.extend([(i ^ 1).to_string(), format!("{}", i as f64)]);
            }
            out.extend(texts.iter().map(|t| num(t)));
            out.push(Value::String(t.to_string()));
        }
        Value::String(s) => out.extend([
            Value::String(format!("{s}x")),
            Value::String(s.chars().skip(1).collect()),
            num("1"),
        ]),
        Value::Array(items) => {
            out.push(Value::Array(Vec::new()));
            out.push(Value::Object(Vec::new()));
            if let Some(first) = items.first() {
                let mut longer = items.clone();
                longer.push(first.clone());
                out.push(Value::Array(longer));
                out.push(Value::Array(items[1..].to_vec()));
            }
            if items.len() >= 2 {
                let mut swapped = items.clone();
                swapped.swap(0, 1);
                out.push(Value::Array(swapped));
            }
        }
        Value::Object(entries) => {
            out.push(Value::Array(Vec::new()));
            for i in 0..entries.len() {
                let mut dropped = entries.clone();
                dropped.remove(i);
                out.push(Value::Object(dropped));
                if i + 1 < entries.len() {
                    let mut swapped = entries.clone();
                    swapped.swap(i, i + 1);
                    out.push(Value::Object(swapped));
                }
                let mut renamed = entries.clone();
                renamed[i].0.push('_');
                out.push(Value::Object(renamed));
            }
            for (k, v) in [("zz", num("1")), ("zz", Value::Null)] {
                let mut added = entries.clone();
                added.push((k.to_string(), v.clone()));
                out.push(Value::Object(added.clone()));
                added.rotate_right(1);
                out.push(Value::Object(added));
            }
        }
    }
    out
}

/// Every record of every source of `project` that shreds, checked.
fn check_project(project: &Project, tally: &mut Tally) {
    let Ok(schema) = Schema::build(project) else {
        return;
    };
    let mut seen = vec![0; schema.collections.len()];
    for (si, spec) in schema.sources.iter().enumerate() {
        let Ok(mut reader) = source::open(spec) else {
            continue;
        };
        while let Some(next) = reader.next_record() {
            let Ok(rec) = next else { continue };
            let coll = schema
                .collections
                .iter()
                .position(|c| c.source == si && c.member == rec.member)
                .expect("member has a collection");
            seen[coll] += 1;
            let thorough = seen[coll] <= THOROUGH;
            check_record(
                &schema,
                coll,
                rec.key.as_deref(),
                &rec.value,
                thorough,
                tally,
            );
        }
    }
}

fn case_dirs(under: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(under);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The case's own jsonlift.toml, if it has one, and the one `init` would infer from its data.
fn projects(dir: &Path) -> Vec<Project> {
    let config = dir.join("jsonlift.toml");
    let mut out = Vec::new();
    if let Ok(p) = Project::load(&config) {
        out.push(p);
    }
    if let Ok(inferred) = infer::infer(dir, &[dir.to_path_buf()]) {
        out.push(Project::parse(&config, &inferred.text).unwrap());
    }
    out
}

/// Every case under `under` checked, with its own project file and with the inferred one.
fn check_cases(under: &str) -> Tally {
    let mut tally = Tally::default();
    for dir in case_dirs(under) {
        for p in projects(&dir) {
            check_project(&p, &mut tally);
        }
    }
    eprintln!(
        "{under}: {} records, {} checks, {} of them different",
        tally.records, tally.checks, tally.differ
    );
    tally
}

#[test]
fn the_check_agrees_with_rebuild_on_the_examples() {
    let tally = check_cases("examples");
    assert!(tally.records > 50 && tally.differ > 10_000);
}

#[test]
fn the_check_agrees_with_rebuild_on_the_corpus() {
    let tally = check_cases("tests/corpus");
    assert!(tally.records > 50 && tally.differ > 10_000);
}

#[test]
fn the_check_agrees_with_rebuild_on_the_infer_corpus() {
    let tally = check_cases("tests/infer");
    assert!(tally.records > 100 && tally.differ > 10_000);
}

const EDGE: &str = r#"
[collections.items]
source = "items.json"
format = "object"
[collections.items.fields]
i = "integer"
r = "real"
b = "boolean"
t = "text"
ts = "timestamp"
j = "json"
tags = { type = "array", of = "text" }
reals = { type = "array", of = "real", table = "item_reals" }
ints = { type = "array", of = "integer", table = "item_ints" }
anys = { type = "array", table = "item_anys" }
[collections.items.fields.o]
type = "object"
flatten = true
[collections.items.fields.o.fields]
x = "real"
y = "integer"
[collections.items.fields.kids]
type = "array"
table = "kids"
[collections.items.fields.kids.fields]
n = "integer"
f = "real"
s = "text"
[collections.items.fields.kids.fields.grand]
type = "array"
table = "grand"
[collections.items.fields.kids.fields.grand.fields]
v = "real"
"#;

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0.0",
    "1",
    "1.0",
    "4.50",
    "-2.5",
    "1e21",
    "1e+21",
    "1E21",
    "1e20",
    "100000000000000000000",
    "1e-7",
    "1e-6",
    "0.000001",
    "0.0000001",
    "5e-324",
    "0.1",
    "0.30000000000000004",
    "123456789012345",
    "1234567890123456",
    "123456789012345678",
    "12345678901234567890",
    "9007199254740993",
    "1.7976931348623157e308",
    "1e2",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
];

fn edge_records() -> Vec<String> {
    let mut out = Vec::new();
    for n in NUMBERS {
        // One field per record: a number one field refuses does not hide the others.
        for field in ["i", "r", "j", "o", "reals", "ints", "kids"] {
            let v = match field {
                "o" => format!(r#"{{"x":{n},"y":{n}}}"#),
                "kids" => format!(r#"[{{"n":{n}}},{{"f":{n},"grand":[{{"v":{n}}}]}}]"#),
                "reals" | "ints" => format!("[{n},{n}]"),
                _ => n.to_string(),
            };
            out.push(format!(r#"{{"{field}":{v},"t":"x"}}"#));
        }
    }
    out.extend(
        [
            r#"{}"#,
            r#"{"i":null,"r":null,"b":null,"t":null,"j":null,"o":null,"kids":null,"reals":null}"#,
            r#"{"t":"","b":true,"ts":"2024-04-04T19:29:58.860Z","tags":["en","mobile"]}"#,
            r#"{"t":"ünï \"q\" \\ \n","b":false,"tags":[],"anys":[1,"x",null,{"a":[1.0]}]}"#,
            r#"{"zz":1,"i":2}"#,
            r#"{"i":2,"zz":{"deep":[1,2.0,"x"]},"yy":null}"#,
            r#"{"r":1.5,"i":3}"#,
            r#"{"kids":[],"i":1}"#,
            r#"{"o":{},"kids":[{}]}"#,
            r#"{"o":{"y":1,"x":2.5,"e":true}}"#,
            r#"{"o":{"x":1,"e":true},"t":"a"}"#,
            r#"{"kids":[{"n":1,"s":"a","grand":[{"v":0.5},{"v":-0},{}]},{"grand":null,"n":2,"q":3}]}"#,
            r#"{"kids":[{"s":null,"f":1e21,"grand":[]},{"x":1}],"reals":[1,2.5,1e2,null,-0]}"#,
            r#"{"ints":[1,-0,007],"t":"x"}"#,
            r#"{"ints":[1,-0,0,null],"anys":[]}"#,
            r#"{"j":{"a":null,"b":[]},"tags":null}"#,
        ]
        .map(String::from),
    );
    out
}

fn schema(toml: &str) -> Schema {
    let p = Project::parse(Path::new("/nonexistent/jsonlift.toml"), toml).unwrap();
    Schema::build(&p).unwrap()
}

#[test]
fn the_check_agrees_with_rebuild_on_edge_cases() {
    let s = schema(EDGE);
    let mut tally = Tally::default();
    for (i, text) in edge_records().iter().enumerate() {
        // Texts the parser refuses (`007`) are simply not records.
        let Ok(value) = parse(text.as_bytes(), 64) else {
            continue;
        };
        check_record(&s, 0, Some(&format!("k{i}")), &value, true, &mut tally);
    }
    assert!(
        tally.records > 60,
        "only {} records shredded",
        tally.records
    );
}

#[test]
fn the_check_agrees_with_rebuild_on_integer_keys_documents_and_entities() {
    let mut tally = Tally::default();
    let tinydb = schema(
        "[collections.t]\nsource = \"t.json\"\nformat = \"tinydb\"\nmember = \"t\"\n\
         [collections.t.fields]\nn = \"integer\"\n",
    );
    for key in ["1", "20", "9223372036854775807"] {
        let value = parse(br#"{"n":1,"m":2.0}"#, 8).unwrap();
        check_record(&tinydb, 0, Some(key), &value, true, &mut tally);
    }
    let document = schema(
        "[collections.s]\nsource = \"s.json\"\nformat = \"document\"\n\
         [collections.s.fields]\nxp = \"integer\"\n",
    );
    let value = parse(br#"{"xp":120,"streak":5,"badges":["a"]}"#, 8).unwrap();
    check_record(&document, 0, None, &value, true, &mut tally);
    let movies = schema(super::tests::MOVIES);
    for text in [
        r#"{"id":"m1","cast":[{"id":1,"name":"Ada"},{"id":2,"name":"Bo","x":[1.0]}]}"#,
        r#"{"cast":[{"id":2,"name":"Bo"},{"id":3}],"id":"m2"}"#,
        r#"{"id":"m4","cast":null}"#,
        r#"{"id":"m5","cast":[{"id":1,"name":"Ada"},{"id":1,"name":"Ada"}]}"#,
    ] {
        let value = parse(text.as_bytes(), 8).unwrap();
        check_record(&movies, 0, None, &value, true, &mut tally);
    }
    assert_eq!(tally.records, 8);
}
