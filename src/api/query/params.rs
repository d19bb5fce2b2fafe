//! Query pairs as json-server receives them: Express 4 parses the query string with `qs`
//! (`arrayLimit: 1000`, `allowPrototypes: true`), so a repeated key becomes an array,
//! `key[]=v` and `key[3]=v` array items, and `key[sub]=v` an object. The shape matters:
//! `q` takes the first of several, `_page` reads an array as its `,`-joined text, an object
//! never equals a string. This module models exactly that much of `qs`.

/// One element of a parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Str(String),
    /// An object from bracket syntax (`key[sub]=v`): JavaScript prints it `[object Object]`.
    Obj,
}

impl Item {
    /// `String(item)`.
    pub fn js_string(&self) -> &str {
        match self {
            Item::Str(s) => s,
            Item::Obj => "[object Object]",
        }
    }
}

/// A parameter's value: a string, an array of items, or an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub items: Vec<Item>,
    /// A JavaScript array (repeated key or `[]` syntax) rather than the single item.
    pub array: bool,
}

impl Param {
    /// JavaScript truthiness: arrays and objects always, strings when not empty.
    pub fn truthy(&self) -> bool {
        self.array || !matches!(self.items.first(), Some(Item::Str(s)) if s.is_empty())
    }

    /// `String(value)`: arrays joined with `,`.
    pub fn js_string(&self) -> String {
        let parts: Vec<&str> = self.items.iter().map(Item::js_string).collect();
        parts.join(",")
    }

    /// The value when it is one plain string (not an array, not an object).
    pub fn as_str(&self) -> Option<&str> {
        match (self.array, self.items.as_slice()) {
            (false, [Item::Str(s)]) => Some(s),
            _ => None,
        }
    }

    pub fn single(s: &str) -> Param {
        Param {
            items: vec![Item::Str(s.to_string())],
            array: false,
        }
    }
}

/// How a key's bracket suffix shapes its value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    Plain,
    ArrayItem,
    Object,
}

/// `qs`'s `parameterLimit`: pairs after the first thousand are dropped.
const PARAMETER_LIMIT: usize = 1000;
/// Express's `arrayLimit` for `key[n]`.
const ARRAY_LIMIT: usize = 1000;

/// Groups decoded pairs by their `qs` parent key, in first-appearance order.
pub fn group(pairs: &[(String, String)]) -> Vec<(String, Param)> {
    let mut out: Vec<(String, Param)> = Vec::new();
    for (raw_key, value) in pairs.iter().take(PARAMETER_LIMIT) {
        let Some((key, form)) = split_key(raw_key) else {
            continue;
        };
        let item = match form {
            Form::Object => Item::Obj,
            _ => Item::Str(value.clone()),
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, p)) => {
                // An object absorbs later values; anything else grows into an array.
                if !(p.items == [Item::Obj] && !p.array) {
                    p.items.push(item);
                    p.array = true;
                }
            }
            None => {
                let array = form == Form::ArrayItem;
                out.push((
                    key,
                    Param {
                        items: vec![item],
                        array,
                    },
                ));
            }
        }
    }
    out
}

/// The parent key and the form of `key` (`None`: `qs` drops it).
fn split_key(key: &str) -> Option<(String, Form)> {
    let (parent, rest) = match key.find('[') {
        None => (key, ""),
        Some(0) => {
            // `[name]rest` parses as `name` + `rest`, where only bracketed segments count (as in
            // `qs`, text between them is not a segment): `[a]x[]` is `a` + `[]`.
            let close = matching_close(key, 0)?;
            let name = &key[1..close];
            let after = &key[close + 1..];
            (name, after.find('[').map_or("", |i| &after[i..]))
        }
        Some(i) => (&key[..i], &key[i..]),
    };
    if parent.is_empty() || parent == "__proto__" {
        return None;
    }
    let form = if rest.is_empty() {
        Form::Plain
    } else {
        match matching_close(rest, 0) {
            Some(close) if close + 1 == rest.len() => {
                let inner = &rest[1..close];
                let index = inner.is_empty()
                    || (inner.bytes().all(|b| b.is_ascii_digit())
                        && (inner == "0" || !inner.starts_with('0'))
                        && inner.parse::<usize>().is_ok_and(|n| n < ARRAY_LIMIT));
                if index { Form::ArrayItem } else { Form::Object }
            }
            _ => Form::Object,
        }
    };
    Some((parent.to_string(), form))
}

/// The `]` balancing the `[` at `open`.
fn matching_close(s: &str, open: usize) -> Option<usize> {
    let mut level = 0;
    for (i, b) in s.bytes().enumerate().skip(open) {
        match b {
            b'[' => level += 1,
            b']' => {
                level -= 1;
                if level == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(pairs: &[(&str, &str)]) -> Vec<(String, Param)> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        group(&pairs)
    }

    #[test]
    fn shapes_follow_qs() {
        let r = g(&[
            ("a", "1"),
            ("a", "2"),
            ("b[]", "x"),
            ("c[k]", "y"),
            ("d", ""),
        ]);
        assert_eq!(r[0].0, "a");
        assert!(r[0].1.array && r[0].1.js_string() == "1,2");
        assert!(r[1].1.array && r[1].1.js_string() == "x");
        assert_eq!(r[2].1.items, [Item::Obj]);
        assert!(r[2].1.truthy());
        assert!(!r[3].1.truthy());
        assert_eq!(r[3].1.as_str(), Some(""));
        let r = g(&[
            ("[a]", "1"),
            ("", "x"),
            ("__proto__", "z"),
            ("e[1001]", "w"),
        ]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1.as_str(), Some("1"));
        assert_eq!(r[1].1.items, [Item::Obj]);
        // Text after a leading `[name]` that is not a segment (found by the fuzzer: a
        // multi-byte character there was sliced through).
        let r = g(&[("[1]\u{FFFD}[]", "3"), ("[t]x", "4")]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, "1");
        assert!(r[0].1.array && r[0].1.js_string() == "3", "[1]x[] is 1[]");
        assert_eq!(r[1].0, "t");
        assert_eq!(r[1].1.as_str(), Some("4"), "[t]x is t");
    }
}
