//! json-server 0.17.4's list-query conventions, in memory and free of HTTP, so the API server
//! answers `GET /api/posts?author.name=ana&_sort=views&_order=desc&_page=2` with the same
//! records, order and headers json-server would give for the same data.
//!
//! [`ListQuery::parse`] reads the decoded query pairs (it can fail: an invalid `_like`
//! pattern, `_sort` given twice); [`run`] applies it to a collection's records in
//! json-server's order: `q`, field filters, `_sort`, `X-Total-Count`, `_page`/`_start`/`_end`/
//! `_limit`, then `_embed`/`_expand` on what is left. [`show`] does `_embed`/`_expand` for
//! `GET /posts/1`; [`ListQuery::parse_nested`] is `GET /posts/1/comments`. Every convention
//! and every deliberate difference is written down in docs/api-query.md.

pub use crate::json::js;
/// The text the search index holds for a record: json-server's `q` semantics, which the store
/// keeps beside the index it fills.
pub use crate::store::search::search_text;
pub mod like;
pub mod params;
pub mod pluralize;
pub mod sort;

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;

use crate::json::Value;
use js::{Js, PropPath, loose_ge, loose_le, loose_lt, number_to_string, parse_int};
use params::{Item, Param};

/// A query json-server would answer with a 500 (its code throws), or that jsonlift cannot
/// evaluate; the server answers 400 with this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("query parameter `{param}`: {message}")]
    Pattern { param: String, message: String },
    #[error(
        "query parameter `{param}` must be given once, as plain text (got {got}); write `{param}=a,b` for several fields"
    )]
    NotText { param: String, got: &'static str },
}

/// Where the data for `_embed` and `_expand` comes from, and the naming conventions
/// (json-server's `--id` and `--foreignKeySuffix`).
pub trait Resolver {
    /// All records of a collection, in storage order; `None` when there is no such
    /// array collection.
    fn records(&self, collection: &str) -> Option<Vec<Value>>;
    /// At least every record of `collection` whose top-level `field`, as JavaScript prints
    /// it, is one of `texts` (others may come too), in storage order; `None` when there is no
    /// such array collection. `_embed`/`_expand` look up only the records a page refers to
    /// through this; the default is every record.
    fn records_matching(
        &self,
        collection: &str,
        field: &str,
        texts: &[String],
    ) -> Option<Vec<Value>> {
        let _ = (field, texts);
        self.records(collection)
    }
    fn id_key(&self) -> &str {
        "id"
    }
    fn foreign_key_suffix(&self) -> &str {
        "Id"
    }
}

/// The parts of the request URL json-server builds `Link` from (`req.protocol`, the `Host`
/// header and `req.originalUrl`, the path and query exactly as the client sent them).
#[derive(Debug, Clone, PartialEq)]
pub struct UrlParts {
    pub protocol: String,
    pub host: String,
    pub original_url: String,
}

impl UrlParts {
    fn full(&self) -> String {
        format!("{}://{}{}", self.protocol, self.host, self.original_url)
    }
}

/// One page of results and the headers that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    /// `X-Total-Count`: the number of matches before slicing. `None` when json-server sends
    /// no such header (no `_page`, `_limit` or `_end`).
    pub total: Option<usize>,
    /// `Link` (first/prev/next/last), present exactly when `_page` is given; it can be the
    /// empty string, as json-server sends on a page past the end.
    pub link: Option<String>,
}

impl Page {
    /// The `Access-Control-Expose-Headers` value json-server sends alongside.
    pub fn expose_headers(&self) -> Option<&'static str> {
        match (self.total, &self.link) {
            (Some(_), Some(_)) => Some("X-Total-Count, Link"),
            (Some(_), None) => Some("X-Total-Count"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gte,
    Lte,
    Like,
    /// jsonlift's addition (json-server 0.17.4 ignores `_gt`/`_lt`).
    Gt,
    Lt,
}

#[derive(Debug, Clone)]
enum Operand {
    Str(String),
    /// An object from bracket syntax.
    Obj,
    Re(Regex),
}

#[derive(Debug, Clone)]
struct Filter {
    /// The parameter as given (`views_gte`).
    key: String,
    op: Op,
    path: PropPath,
    operands: Vec<Operand>,
    /// For `_gt`/`_lt` keys: the key taken whole, used instead when a record has such a
    /// field (what json-server would do with it).
    literal: Option<(PropPath, Vec<Operand>)>,
}

/// What `_embed` and `_expand` ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Relations {
    embed: Vec<String>,
    expand: Vec<String>,
}

impl Relations {
    /// Reads `_embed` and `_expand` only (all `GET /posts/1` looks at).
    pub fn parse(pairs: &[(String, String)]) -> Result<Relations, QueryError> {
        Relations::from_grouped(&params::group(pairs))
    }

    fn from_grouped(grouped: &[(String, Param)]) -> Result<Relations, QueryError> {
        let get = |name: &str| grouped.iter().find(|(k, _)| k == name).map(|(_, p)| p);
        let mut rel = Relations::default();
        if let Some(p) = get("_embed").filter(|p| p.truthy()) {
            // An object names the property `[object Object]`, which no collection has.
            rel.embed = p.items.iter().map(|i| i.js_string().to_string()).collect();
        }
        if let Some(p) = get("_expand").filter(|p| p.truthy()) {
            if p.items.contains(&Item::Obj) {
                return Err(QueryError::NotText {
                    param: "_expand".into(),
                    got: "an object",
                });
            }
            rel.expand = p.items.iter().map(|i| i.js_string().to_string()).collect();
        }
        Ok(rel)
    }

    pub fn is_empty(&self) -> bool {
        self.embed.is_empty() && self.expand.is_empty()
    }
}

/// A parsed list query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Lower-cased full-text term; `Some("")` matches nothing (json-server's `q=&q=x`).
    q: Option<String>,
    filters: Vec<Filter>,
    sort: Vec<PropPath>,
    desc: Vec<bool>,
    start: Option<Param>,
    end: Option<Param>,
    limit: Option<Param>,
    page: Option<Param>,
    relations: Relations,
    /// The most records a paged request (`_page`, `_limit`, `_end`) gets: `[serve]
    /// max_page_size`. A list without paging is not capped, as in json-server.
    pub max_page: Option<usize>,
}

/// Parameters json-server takes out before filtering (`_page` is not among them).
const RESERVED: &[&str] = &[
    "q", "_start", "_end", "_sort", "_order", "_limit", "_embed", "_expand",
];

fn not_text(param: &str, p: &Param) -> QueryError {
    QueryError::NotText {
        param: param.into(),
        got: if p.array {
            "several values"
        } else {
            "an object"
        },
    }
}

impl ListQuery {
    /// Parses decoded query pairs in request order (repeated keys allowed).
    pub fn parse(pairs: &[(String, String)]) -> Result<ListQuery, QueryError> {
        ListQuery::from_grouped(params::group(pairs))
    }

    /// `GET /<parent>/<id>/<collection>`: the query plus `<singular(parent)><suffix>=<id>`,
    /// replacing any such parameter, as json-server's nested router does.
    pub fn parse_nested(
        pairs: &[(String, String)],
        parent: &str,
        parent_id: &str,
        foreign_key_suffix: &str,
    ) -> Result<ListQuery, QueryError> {
        let mut grouped = params::group(pairs);
        let key = format!("{}{foreign_key_suffix}", pluralize::singular(parent));
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, p)) => *p = Param::single(parent_id),
            None => grouped.push((key, Param::single(parent_id))),
        }
        ListQuery::from_grouped(grouped)
    }

    fn from_grouped(grouped: Vec<(String, Param)>) -> Result<ListQuery, QueryError> {
        like_budget(&grouped)?;
        let get = |name: &str| grouped.iter().find(|(k, _)| k == name).map(|(_, p)| p);
        let q = match get("q").filter(|p| p.truthy()) {
            None => None,
            Some(p) => match &p.items[0] {
                Item::Str(s) => Some(s.to_lowercase()),
                Item::Obj => return Err(not_text("q", p)),
            },
        };
        let (mut sort, mut desc) = (Vec::new(), Vec::new());
        if let Some(p) = get("_sort").filter(|p| p.truthy()) {
            let fields = p.as_str().ok_or_else(|| not_text("_sort", p))?;
            sort = fields.split(',').map(PropPath::new).collect();
            if let Some(o) = get("_order").filter(|p| p.truthy()) {
                let orders = o.as_str().ok_or_else(|| not_text("_order", o))?;
                desc = orders
                    .split(',')
                    .map(|s| s.to_lowercase() == "desc")
                    .collect();
            }
        }
        let mut filters = Vec::new();
        for (key, p) in &grouped {
            if RESERVED.contains(&key.as_str()) || key == "callback" || key == "_" {
                continue;
            }
            filters.push(filter(key, p)?);
        }
        Ok(ListQuery {
            q,
            filters,
            sort,
            desc,
            start: get("_start").cloned(),
            end: get("_end").cloned(),
            limit: get("_limit").cloned(),
            page: get("_page").cloned(),
            relations: Relations::from_grouped(&grouped)?,
            max_page: None,
        })
    }

    /// The `_embed`/`_expand` part.
    pub fn relations(&self) -> &Relations {
        &self.relations
    }

    /// The plain `field=value` filters (a field or a dotted path of plain names, any of the
    /// values), for a store that can pre-select the records matching them all: [`run`] on that
    /// subset gives the same page as on every record, provided each named field is held by at
    /// least one record (else json-server ignores the parameter). `None` when the answer
    /// depends on the whole collection in another way: an equality with brackets or an
    /// object, or a `_gt`/`_lt` key (which a record holding that literal key turns into an
    /// equality).
    pub fn equalities(&self) -> Option<Vec<(&str, Vec<&str>)>> {
        let mut out = Vec::new();
        for f in &self.filters {
            match f.op {
                Op::Ne | Op::Gte | Op::Lte | Op::Like => {}
                Op::Gt | Op::Lt => return None,
                Op::Eq => {
                    // `name` or `a.b.c` of such names, exactly as lodash splits it.
                    let plain = f.key.split('.').eq(f.path.segs.iter().map(String::as_str))
                        && f.path.segs.iter().all(|seg| {
                            !seg.is_empty()
                                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        });
                    let values: Option<Vec<&str>> = f
                        .operands
                        .iter()
                        .map(|o| match o {
                            Operand::Str(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect();
                    out.push((f.key.as_str(), values.filter(|_| plain)?));
                }
            }
        }
        Some(out)
    }
}

/// A filter's operator, as a store sees it ([`ListQuery::parts`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterOp {
    /// `String(value) === v` for some `v`; dropped when no record holds the field.
    Eq,
    /// `String(value) !== v` for every `v`; a record without the field never passes.
    Ne,
    /// `v <= value` for some `v` (JavaScript's loose comparison).
    Gte,
    /// `v >= value`.
    Lte,
    /// `v < value` (jsonlift's `_gt`).
    Gt,
    /// `v > value`.
    Lt,
    /// A regular expression: only in memory.
    Like,
}

/// One field filter of a query, as a store that would run it in SQL sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPart<'a> {
    pub op: FilterOp,
    /// The field: a name or a dotted path of plain names (`author.name`) exactly as lodash
    /// splits it; `None` for anything else (brackets, quotes), which only memory can follow.
    pub field: Option<&'a str>,
    /// The values, `None` when one of them is an object (bracket syntax) or a pattern.
    pub values: Option<Vec<&'a str>>,
    /// For `_gt`/`_lt`: the whole key, which means an equality on a record that holds it.
    pub literal: Option<&'a str>,
}

/// A query taken apart for a store ([`ListQuery::parts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Parts<'a> {
    /// The lower-cased `q` term, when given (`Some("")` matches nothing).
    pub q: Option<&'a str>,
    pub filters: Vec<FilterPart<'a>>,
    /// `_sort` keys, `(field, descending)`; the field as in [`FilterPart::field`].
    pub sort: Vec<(Option<&'a str>, bool)>,
}

/// `name` or `a.b.c` of such names, exactly as lodash splits it.
fn plain_path(p: &PropPath) -> Option<&str> {
    let plain = p.raw.split('.').eq(p.segs.iter().map(String::as_str))
        && p.segs.iter().all(|seg| {
            !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    plain.then_some(p.raw.as_str())
}

impl ListQuery {
    /// The filters and sort keys, for a store that runs what it can of them in SQL and leaves
    /// the rest to [`run`] (src/api/list.rs says which go where, and why that is exact).
    pub fn parts(&self) -> Parts<'_> {
        let filters = self
            .filters
            .iter()
            .map(|f| FilterPart {
                op: match f.op {
                    Op::Eq => FilterOp::Eq,
                    Op::Ne => FilterOp::Ne,
                    Op::Gte => FilterOp::Gte,
                    Op::Lte => FilterOp::Lte,
                    Op::Gt => FilterOp::Gt,
                    Op::Lt => FilterOp::Lt,
                    Op::Like => FilterOp::Like,
                },
                field: plain_path(&f.path),
                values: f
                    .operands
                    .iter()
                    .map(|o| match o {
                        Operand::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
                literal: f.literal.as_ref().map(|_| f.key.as_str()),
            })
            .collect();
        let sort = self
            .sort
            .iter()
            .enumerate()
            .map(|(i, p)| (plain_path(p), self.desc.get(i).copied().unwrap_or(false)))
            .collect();
        Parts {
            q: self.q.as_deref(),
            filters,
            sort,
        }
    }
}

/// The most bytes of `_like` patterns one request may send, all patterns together.
pub const LIKE_MAX_BYTES: usize = 4096;
/// The most `_like` patterns one request may send.
pub const LIKE_MAX_PATTERNS: usize = 16;

/// A request's budget for `_like`: compiling a pattern costs time and memory that grow with
/// it (each is also capped when compiled, [`like::compile`]), so one request may send only so
/// many, so long; more is refused (400) before anything is compiled.
fn like_budget(grouped: &[(String, Param)]) -> Result<(), QueryError> {
    let (mut count, mut bytes) = (0, 0);
    for (_, p) in grouped.iter().filter(|(k, _)| k.ends_with("_like")) {
        for i in &p.items {
            count += 1;
            bytes += i.js_string().len();
        }
    }
    if count > LIKE_MAX_PATTERNS || bytes > LIKE_MAX_BYTES {
        return Err(QueryError::Pattern {
            param: "_like".into(),
            message: format!(
                "{count} patterns of {bytes} bytes in all; one request may send at most {LIKE_MAX_PATTERNS} `_like` patterns of {LIKE_MAX_BYTES} bytes in all"
            ),
        });
    }
    Ok(())
}

fn operands(key: &str, p: &Param, op: Op) -> Result<Vec<Operand>, QueryError> {
    p.items
        .iter()
        .map(|item| match (op, item) {
            (Op::Like, _) => like::compile(item.js_string())
                .map(Operand::Re)
                .map_err(|message| QueryError::Pattern {
                    param: key.to_string(),
                    message,
                }),
            (_, Item::Str(s)) => Ok(Operand::Str(s.clone())),
            (_, Item::Obj) => Ok(Operand::Obj),
        })
        .collect()
}

fn filter(key: &str, p: &Param) -> Result<Filter, QueryError> {
    // json-server's suffixes, then jsonlift's `_gt`/`_lt`.
    let suffixes = [
        ("_lte", Op::Lte),
        ("_gte", Op::Gte),
        ("_ne", Op::Ne),
        ("_like", Op::Like),
        ("_gt", Op::Gt),
        ("_lt", Op::Lt),
    ];
    let (path, op) = suffixes
        .iter()
        .find_map(|(s, op)| key.strip_suffix(s).map(|path| (path, *op)))
        .unwrap_or((key, Op::Eq));
    let literal = match op {
        Op::Gt | Op::Lt => Some((PropPath::new(key), operands(key, p, Op::Eq)?)),
        _ => None,
    };
    Ok(Filter {
        key: key.to_string(),
        op,
        path: PropPath::new(path),
        operands: operands(key, p, op)?,
        literal,
    })
}

impl Filter {
    fn matches(&self, op: Op, path: &PropPath, operands: &[Operand], record: &Value) -> bool {
        let value = path.get(record);
        if value.is_nullish() {
            return false;
        }
        let text = || value.to_js_string();
        let prim = |o: &Operand| match o {
            Operand::Str(s) => Js::Str(Cow::Owned(s.clone())),
            _ => Js::Str(Cow::Borrowed("[object Object]")),
        };
        match op {
            Op::Eq => {
                let text = text();
                operands
                    .iter()
                    .any(|o| matches!(o, Operand::Str(s) if *s == text))
            }
            Op::Ne => {
                let text = text();
                operands
                    .iter()
                    .all(|o| !matches!(o, Operand::Str(s) if *s == text))
            }
            Op::Like => {
                let text = text();
                operands
                    .iter()
                    .any(|o| matches!(o, Operand::Re(re) if re.is_match(&text)))
            }
            // `value <= elementValue` for `_gte`, `>=` for `_lte`.
            Op::Gte => operands.iter().any(|o| loose_le(&prim(o), &value)),
            Op::Lte => operands.iter().any(|o| loose_ge(&prim(o), &value)),
            Op::Gt => operands
                .iter()
                .any(|o| loose_lt(&prim(o), &value) == Some(true)),
            Op::Lt => operands
                .iter()
                .any(|o| loose_lt(&value, &prim(o)) == Some(true)),
        }
    }
}

/// A filter resolved against the collection: which path and operator it really applies.
struct Active<'f> {
    filter: &'f Filter,
    op: Op,
    path: &'f PropPath,
    operands: &'f [Operand],
}

/// json-server drops a parameter no record has (except the operator suffixes, `callback`
/// and `_`); so does jsonlift, logging it.
fn resolve<'f>(filters: &'f [Filter], collection: &str, records: &[Value]) -> Vec<Active<'f>> {
    let mut out = Vec::new();
    for f in filters {
        if let Some((path, ops)) = &f.literal
            && records.iter().any(|r| path.has(r))
        {
            out.push(Active {
                filter: f,
                op: Op::Eq,
                path,
                operands: ops,
            });
            continue;
        }
        if f.op == Op::Eq && !records.iter().any(|r| f.path.has(r)) {
            tracing::debug!(
                collection,
                param = f.key.as_str(),
                "query parameter names no field of any record; ignored (as json-server does)"
            );
            continue;
        }
        out.push(Active {
            filter: f,
            op: f.op,
            path: &f.path,
            operands: &f.operands,
        });
    }
    out
}

/// json-server's `deepQuery`: a truthy leaf whose lower-cased text contains `q`.
fn deep_query(value: &Js, q: &str) -> bool {
    if !value.truthy() || q.is_empty() {
        return false;
    }
    match value {
        Js::Arr(items) => items.iter().any(|v| deep_query(&Js::of(v), q)),
        Js::Obj(pairs) => pairs.iter().any(|(_, v)| deep_query(&Js::of(v), q)),
        other => contains_lowercase(&other.to_js_string(), q),
    }
}

fn contains_lowercase(hay: &str, needle_lower: &str) -> bool {
    if hay.is_ascii() && needle_lower.is_ascii() {
        let n = needle_lower.len();
        return hay
            .as_bytes()
            .windows(n)
            .any(|w| w.eq_ignore_ascii_case(needle_lower.as_bytes()));
    }
    hay.to_lowercase().contains(needle_lower)
}

/// `for (key in record) if (deepQuery(record[key], q))`.
fn record_matches_q(record: &Value, q: &str) -> bool {
    match record {
        Value::Object(pairs) => pairs.iter().any(|(_, v)| deep_query(&Js::of(v), q)),
        Value::Array(items) => items.iter().any(|v| deep_query(&Js::of(v), q)),
        Value::String(s) => s
            .chars()
            .any(|c| deep_query(&Js::Str(Cow::Owned(c.to_string())), q)),
        _ => false,
    }
}

/// Runs a list query over all records of `collection` (in storage order).
pub fn run(
    q: &ListQuery,
    collection: &str,
    records: Vec<Value>,
    resolver: &dyn Resolver,
    url: &UrlParts,
) -> Page {
    let active = resolve(&q.filters, collection, &records);
    let mut kept: Vec<Value> = records
        .into_iter()
        .filter(|r| {
            q.q.as_deref().is_none_or(|term| record_matches_q(r, term))
                && active
                    .iter()
                    .all(|a| a.filter.matches(a.op, a.path, a.operands, r))
        })
        .collect();
    if !q.sort.is_empty() {
        sort_records(&mut kept, &q.sort, &q.desc);
    }
    let (range, total, link) = q.window(kept.len(), url);
    kept.truncate(range.end);
    let mut items: Vec<Value> = kept.drain(range.start.min(range.end)..).collect();
    embed_expand(&mut items, &q.relations, collection, resolver);
    Page { items, total, link }
}

impl ListQuery {
    /// Whether the answer depends only on how many records match once a store has applied
    /// every filter of [`ListQuery::equalities`]: no `q`, no `_sort`, no other operator. Then
    /// [`ListQuery::window`] says which of them make the page, and only those need building.
    pub fn positional(&self) -> bool {
        self.q.is_none() && self.sort.is_empty() && self.filters.iter().all(|f| f.op == Op::Eq)
    }

    /// Of `len` matching records in their final order: the positions on the page, then
    /// `X-Total-Count` and `Link` (json-server's `_page`, `_start`/`_end`/`_limit`).
    pub fn window(
        &self,
        len: usize,
        url: &UrlParts,
    ) -> (std::ops::Range<usize>, Option<usize>, Option<String>) {
        let q = self;
        let truthy = |p: &Option<Param>| p.as_ref().is_some_and(Param::truthy);
        let int = |p: &Option<Param>| {
            parse_int(&p.as_ref().map_or("undefined".into(), |p| p.js_string()))
        };
        let total = (truthy(&q.end) || truthy(&q.limit) || truthy(&q.page)).then_some(len);
        let mut link = None;
        let range = if truthy(&q.page) {
            let page = int(&q.page);
            let page = if page >= 1.0 { page } else { 1.0 };
            let limit = int(&q.limit);
            let limit = if limit == 0.0 || limit.is_nan() {
                10.0
            } else {
                limit
            };
            // Capped before the links are made, so that they walk pages of the capped size.
            let limit = self.max_page.map_or(limit, |m| limit.min(m as f64));
            let (range, l) = paginate(len, page, limit, &url.full());
            link = Some(l);
            range
        } else if truthy(&q.end) {
            let start = or_zero(int(&q.start));
            lodash_slice(len, start, int(&q.end))
        } else if truthy(&q.limit) {
            let start = or_zero(int(&q.start));
            lodash_slice(len, start, start + int(&q.limit))
        } else {
            return (0..len, total, link);
        };
        let range = match self.max_page {
            Some(m) if range.len() > m => range.start..range.start + m,
            _ => range,
        };
        (range, total, link)
    }
}

/// `_embed` and `_expand` on a page of records built elsewhere (see [`ListQuery::positional`]).
pub fn relate(items: &mut [Value], q: &ListQuery, collection: &str, resolver: &dyn Resolver) {
    embed_expand(items, &q.relations, collection, resolver);
}

/// `x || 0` for a number.
fn or_zero(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x }
}

fn sort_records(records: &mut Vec<Value>, sort: &[PropPath], desc: &[bool]) {
    let order: Vec<usize> = {
        let criteria: Vec<Vec<Js>> = records
            .iter()
            .map(|r| sort.iter().map(|p| p.get(r)).collect())
            .collect();
        let mut idx: Vec<usize> = (0..records.len()).collect();
        sort::v8_sort(&mut idx, &mut |a, b| {
            sort::compare_multiple((&criteria[*a], *a), (&criteria[*b], *b), desc)
        });
        idx
    };
    let mut slots: Vec<Option<Value>> = std::mem::take(records).into_iter().map(Some).collect();
    *records = order
        .iter()
        .map(|i| slots[*i].take().expect("each index once"))
        .collect();
}

/// lodash's `toInteger`.
fn to_integer(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else if x.is_infinite() {
        x.signum() * f64::MAX
    } else {
        x.trunc()
    }
}

/// lodash's `_.slice(array, start, end)`.
fn lodash_slice(len: usize, start: f64, end: f64) -> std::ops::Range<usize> {
    let n = len as f64;
    let mut s = to_integer(start);
    let mut e = to_integer(end);
    if s < 0.0 {
        s = if -s > n { 0.0 } else { n + s };
    }
    if e > n {
        e = n;
    }
    if e < 0.0 {
        e += n;
    }
    if s > e || s >= n {
        return 0..0;
    }
    s as usize..e as usize
}

/// `Array.prototype.slice(start, end)` bounds.
fn native_slice(len: usize, start: f64, end: f64) -> std::ops::Range<usize> {
    let n = len as f64;
    let rel = |x: f64| {
        let x = if x.is_nan() { 0.0 } else { x.trunc() };
        if x < 0.0 { (n + x).max(0.0) } else { x.min(n) }
    };
    let (s, e) = (rel(start), rel(end));
    if e > s { s as usize..e as usize } else { 0..0 }
}

/// json-server's `utils.getPage` and the `Link` header built from it: each link is the
/// request URL with its first `page=<current>` replaced.
fn paginate(len: usize, page: f64, limit: f64, full_url: &str) -> (std::ops::Range<usize>, String) {
    let range = native_slice(len, (page - 1.0) * limit, page * limit);
    let count = range.len();
    if count == 0 {
        return (range, String::new());
    }
    let prev = (page > 1.0).then_some(page - 1.0);
    let next = (page * limit < len as f64).then_some(page + 1.0);
    let (current, first, last) = if count != len {
        (Some(page), Some(1.0), Some((len as f64 / limit).ceil()))
    } else {
        (None, None, None)
    };
    let from = format!(
        "page={}",
        current.map_or("undefined".to_string(), number_to_string)
    );
    let links: Vec<String> = [
        ("first", first),
        ("prev", prev),
        ("next", next),
        ("last", last),
    ]
    .into_iter()
    .filter_map(|(rel, n)| {
        let n = n.filter(|n| *n != 0.0)?;
        let url = full_url.replacen(&from, &format!("page={}", number_to_string(n)), 1);
        Some(format!("<{url}>; rel=\"{rel}\""))
    })
    .collect();
    (range, links.join(", "))
}

/// A record's key set the way JavaScript assignment does it: an existing key keeps its place;
/// `undefined` removes it from the JSON output (but keeps the place until then).
struct Assign {
    pairs: Vec<(String, Option<Value>)>,
}

impl Assign {
    fn new(record: Value) -> Result<Assign, Value> {
        match record {
            Value::Object(pairs) => Ok(Assign {
                pairs: pairs.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            }),
            other => Err(other),
        }
    }
    fn get(&self, key: &str) -> Option<&Value> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_ref())
    }
    fn set(&mut self, key: &str, value: Option<Value>) {
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.pairs.push((key.to_string(), value)),
        }
    }
    fn finish(self) -> Value {
        Value::Object(
            self.pairs
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
        )
    }
}

/// Strict-equality key of a primitive (`===`, as `_.matches` compares); `None` for objects.
fn strict_key(v: &Js) -> Option<String> {
    Some(match v {
        Js::Null => "l".into(),
        Js::Bool(b) => format!("b{b}"),
        Js::Num(n) => format!("n{}", number_to_string(*n)),
        Js::Str(s) => format!("s{s}"),
        _ => return None,
    })
}

/// The distinct non-null values of top-level `key` in `items`, as JavaScript prints them.
fn texts_of(items: &[Value], key: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .filter_map(|i| i.get(key))
        .filter(|v| !matches!(v, Value::Null))
        .map(|v| Js::of(v).to_js_string().into_owned())
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

/// `_embed` and `_expand` on each record, looking each related collection up once.
fn embed_expand(items: &mut [Value], rel: &Relations, collection: &str, resolver: &dyn Resolver) {
    if rel.is_empty() || items.is_empty() {
        return;
    }
    let id_key = resolver.id_key();
    let suffix = resolver.foreign_key_suffix();
    let fk = format!("{}{suffix}", pluralize::singular(collection));
    // name → (records, children grouped by foreign key)
    let embeds: Vec<(&str, Vec<Value>, HashMap<String, Vec<usize>>)> = rel
        .embed
        .iter()
        .map(|name| {
            let children = resolver
                .records_matching(name, &fk, &texts_of(items, id_key))
                .unwrap_or_default();
            let mut by_fk: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, c) in children.iter().enumerate() {
                if let Some(Some(k)) = c.get(&fk).map(|v| strict_key(&Js::of(v))) {
                    by_fk.entry(k).or_default().push(i);
                }
            }
            (name.as_str(), children, by_fk)
        })
        .collect();
    let expands: Vec<(&str, Option<(Vec<Value>, HashMap<String, usize>)>)> = rel
        .expand
        .iter()
        .map(|name| {
            let refs = texts_of(items, &format!("{name}{suffix}"));
            let found = resolver
                .records_matching(&pluralize::plural(name), id_key, &refs)
                .map(|docs| {
                    let mut by_id = HashMap::new();
                    for (i, d) in docs.iter().enumerate() {
                        // `doc.id.toString() === id.toString()`, first match wins.
                        if let Some(id) = d.get(id_key).filter(|v| !matches!(v, Value::Null)) {
                            by_id
                                .entry(Js::of(id).to_js_string().into_owned())
                                .or_insert(i);
                        }
                    }
                    (docs, by_id)
                });
            (name.as_str(), found)
        })
        .collect();
    for item in items.iter_mut() {
        let mut rec = match Assign::new(std::mem::replace(item, Value::Null)) {
            Ok(rec) => rec,
            Err(other) => {
                *item = other;
                continue;
            }
        };
        for (name, children, by_fk) in &embeds {
            let id = rec.get(id_key).map_or(Js::Undefined, Js::of);
            let matched = strict_key(&id)
                .and_then(|k| by_fk.get(&k))
                .map(|idx| idx.iter().map(|i| children[*i].clone()).collect())
                .unwrap_or_default();
            rec.set(name, Some(Value::Array(matched)));
        }
        for (name, found) in &expands {
            let Some((docs, by_id)) = found else { continue };
            let reference = rec
                .get(&format!("{name}{suffix}"))
                .filter(|v| !matches!(v, Value::Null))
                .map(|v| Js::of(v).to_js_string().into_owned());
            let doc = reference
                .and_then(|r| by_id.get(&r))
                .map(|i| docs[*i].clone());
            rec.set(name, doc);
        }
        *item = rec.finish();
    }
}

/// `GET /<collection>/<id>?_embed=…&_expand=…` on the record found.
pub fn show(record: Value, rel: &Relations, collection: &str, resolver: &dyn Resolver) -> Value {
    let mut items = [record];
    embed_expand(&mut items, rel, collection, resolver);
    let [record] = items;
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Db(Vec<(&'static str, Value)>);
    impl Resolver for Db {
        fn records(&self, c: &str) -> Option<Vec<Value>> {
            match self.0.iter().find(|(k, _)| *k == c) {
                Some((_, Value::Array(a))) => Some(a.clone()),
                _ => None,
            }
        }
    }

    fn v(text: &str) -> Value {
        crate::json::parse(text.as_bytes(), 64).unwrap()
    }

    fn records(text: &str) -> Vec<Value> {
        match v(text) {
            Value::Array(a) => a,
            _ => unreachable!(),
        }
    }

    fn ids(page: &Page) -> String {
        let ids: Vec<String> = page
            .items
            .iter()
            .map(|r| {
                r.get("id")
                    .map_or("-".into(), crate::json::to_compact_string)
            })
            .collect();
        ids.join(",")
    }

    fn url(u: &str) -> UrlParts {
        UrlParts {
            protocol: "http".into(),
            host: "h".into(),
            original_url: u.into(),
        }
    }

    fn go(query: &str, data: &str) -> Page {
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let q = ListQuery::parse(&pairs).unwrap();
        run(
            &q,
            "posts",
            records(data),
            &Db(vec![]),
            &url(&format!("/posts?{query}")),
        )
    }

    const DATA: &str = r#"[{"id":1,"n":1.0,"s":"b"},{"id":2,"n":"10","s":"A"},{"id":3,"s":null},{"id":4,"n":2,"n_gt":"x"}]"#;

    #[test]
    fn operators_follow_javascript() {
        assert_eq!(ids(&go("n=1", DATA)), "1"); // 1.0 prints "1"
        assert_eq!(ids(&go("nosuch=1", DATA)), "1,2,3,4"); // unknown: ignored
        assert_eq!(ids(&go("n_ne=1", DATA)), "2,4"); // missing field never matches
        assert_eq!(ids(&go("n_gte=2", DATA)), "4"); // "2" <= "10" compares text: false
        assert_eq!(ids(&go("s_lte=a", DATA)), "2"); // "A" < "a" < "b"
        assert_eq!(ids(&go("n_lt=10", DATA)), "1,4");
        // A field named `n_gt` exists: the key is an equality, as json-server reads it.
        assert_eq!(ids(&go("n_gt=x", DATA)), "4");
        assert_eq!(ids(&go("s_like=^[ab]$", DATA)), "1,2");
        assert_eq!(ids(&go("q=A", DATA)), "2");
        assert!(ListQuery::parse(&[("s_like".into(), "(a)\\1".into())]).is_err());
        // The budget per request: too many patterns, or too long in all, or one too costly.
        let many: Vec<(String, String)> = (0..=LIKE_MAX_PATTERNS)
            .map(|_| ("s_like".into(), "a".into()))
            .collect();
        assert!(ListQuery::parse(&many).is_err());
        let long = [("s_like".into(), "a".repeat(LIKE_MAX_BYTES + 1))];
        assert!(ListQuery::parse(&long).is_err());
        let costly = [("s_like".into(), "(\\w{1,1000}){1,1000}".into())];
        let e = ListQuery::parse(&costly).unwrap_err().to_string();
        assert!(e.contains("size limit"), "{e}");
    }

    #[test]
    fn sort_puts_missing_last_and_keeps_number_forms() {
        let p = go("_sort=n&_order=desc", DATA);
        assert_eq!(ids(&p), "3,2,4,1");
        let p = go("_sort=n", DATA);
        assert_eq!(ids(&p), "1,4,2,3");
        assert_eq!(
            crate::json::to_compact_string(&p.items[0]),
            r#"{"id":1,"n":1.0,"s":"b"}"#
        );
    }

    #[test]
    fn pages_and_links() {
        let p = go("homepage=1&_page=1&_limit=3", DATA);
        assert_eq!(ids(&p), "1,2,3");
        assert_eq!(p.total, Some(4));
        // The first `page=1` in the URL is the one replaced, as json-server does.
        assert_eq!(
            p.link.as_deref(),
            Some(
                "<http://h/posts?homepage=1&_page=1&_limit=3>; rel=\"first\", \
                 <http://h/posts?homepage=2&_page=1&_limit=3>; rel=\"next\", \
                 <http://h/posts?homepage=2&_page=1&_limit=3>; rel=\"last\""
            )
        );
        assert_eq!(p.expose_headers(), Some("X-Total-Count, Link"));
        let p = go("_page=5&_limit=3", DATA);
        assert_eq!((p.items.len(), p.link.as_deref()), (0, Some("")));
        let p = go("_start=1&_end=3", DATA);
        assert_eq!((ids(&p).as_str(), p.total, p.link), ("2,3", Some(4), None));
        assert_eq!(go("_start=1", DATA).total, None);
    }

    #[test]
    fn embed_and_expand_keep_key_places() {
        let db = Db(vec![
            (
                "comments",
                v(r#"[{"id":1,"postId":1},{"id":2,"postId":"1"},{"id":3,"postId":1.0}]"#),
            ),
            ("users", v(r#"[{"id":"7","name":"ana"}]"#)),
        ]);
        let rec = v(r#"{"id":1,"comments":"old","user":"x","userId":7,"authorId":1}"#);
        let rel = Relations::parse(&[
            ("_embed".into(), "comments".into()),
            ("_expand".into(), "user".into()),
            ("_expand".into(), "author".into()),
        ])
        .unwrap();
        let out = show(rec, &rel, "posts", &db);
        // postId "1" is not === 1; `user` replaced in place; no `authors` collection: untouched.
        assert_eq!(
            crate::json::to_compact_string(&out),
            r#"{"id":1,"comments":[{"id":1,"postId":1},{"id":3,"postId":1.0}],"user":{"id":"7","name":"ana"},"userId":7,"authorId":1}"#
        );
        // A reference that finds nothing removes the key, as assigning `undefined` does.
        let rec = v(r#"{"id":2,"user":"x","userId":8}"#);
        let out = show(rec, &rel, "posts", &db);
        assert_eq!(
            crate::json::to_compact_string(&out),
            r#"{"id":2,"user":"x","userId":8,"comments":[]}"#.replace(r#""user":"x","#, "")
        );
    }

    #[test]
    fn nested_route_filters_by_singular_foreign_key() {
        let q =
            ListQuery::parse_nested(&[("postId".into(), "9".into())], "posts", "1", "Id").unwrap();
        let data = records(r#"[{"id":1,"postId":1},{"id":2,"postId":2},{"id":3,"postId":"1"}]"#);
        let p = run(&q, "comments", data, &Db(vec![]), &url("/posts/1/comments"));
        assert_eq!(ids(&p), "1,3");
    }
}
