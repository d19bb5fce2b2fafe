//! `field_like=pattern`: json-server builds `new RegExp(pattern, 'i')`. This translates a
//! JavaScript pattern into the `regex` crate's syntax where the meaning is the same, and
//! refuses, with a message, what the crate cannot do (backreferences, lookaround).
//!
//! Translated so the meaning stays JavaScript's: `\d` `\w` `\s` `\b` and `.` get their
//! JavaScript (ASCII / JS-whitespace / not-a-line-terminator) sets; `\uXXXX`, `\xXX`, `\cX`,
//! `\0`; a `{` that does not start a quantifier, a lone `]` or `}` are literals (Annex B);
//! identity escapes such as `\p` or `\-` are the character itself; `[]` matches nothing and
//! `[^]` anything. Remaining differences are documented in docs/api-query.md.

use regex::{Regex, RegexBuilder};

/// JavaScript's `\s`.
const JS_SPACE: &str =
    r"\t\n\x0B\x0C\r \xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";
const JS_WORD: &str = "0-9A-Za-z_";
const JS_DIGIT: &str = "0-9";
const NOTHING: &str = r"[^\x{0}-\x{10FFFF}]";

/// The most memory one compiled `_like` pattern may take.
const PROGRAM_LIMIT: usize = 1 << 20;

/// Compiles a `_like` pattern, case-insensitive, as json-server does.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    RegexBuilder::new(&translated)
        .case_insensitive(true)
        // The compiled program and the lazy DFA's cache each get a budget (the crate's
        // defaults are 10 MiB and 2 MiB): a pattern such as `(\w{1,1000}){1,1000}` is refused
        // rather than compiled at length.
        .size_limit(PROGRAM_LIMIT)
        .dfa_size_limit(PROGRAM_LIMIT)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or("").trim().to_string();
            format!("invalid regular expression /{pattern}/: {last}")
        })
}

fn unsupported(pattern: &str, what: &str) -> String {
    format!("regular expression /{pattern}/ uses {what}, which jsonlift does not support")
}

/// The pattern in `regex` syntax.
pub fn translate(pattern: &str) -> Result<String, String> {
    let c: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    // JavaScript refuses a quantifier on a quantifier (`a**`), which the crate accepts;
    // 0: none before, 1: after a quantifier (a lazy `?` may follow), 2: after the lazy `?`.
    let mut quantified = 0;
    while i < c.len() {
        let is_quantifier =
            matches!(c[i], '*' | '+' | '?') || (c[i] == '{' && quantifier_len(&c, i).is_some());
        if is_quantifier {
            quantified = match (quantified, c[i]) {
                (0, _) => 1,
                (1, '?') => 2,
                _ => {
                    return Err(format!(
                        "invalid regular expression /{pattern}/: nothing to repeat"
                    ));
                }
            };
        } else {
            quantified = 0;
        }
        match c[i] {
            '\\' => {
                i = escape(pattern, &c, i + 1, false, &mut out)?;
                continue;
            }
            '.' => out.push_str(r"[^\n\r\x{2028}\x{2029}]"),
            '[' => {
                i = class(pattern, &c, i + 1, &mut out)?;
                continue;
            }
            '(' if c.get(i + 1) == Some(&'?') => match (c.get(i + 2), c.get(i + 3)) {
                (Some(':'), _) => {
                    out.push_str("(?:");
                    i += 3;
                    continue;
                }
                (Some('=' | '!'), _) | (Some('<'), Some('=' | '!')) => {
                    return Err(unsupported(pattern, "lookaround"));
                }
                (Some('<'), _) => {
                    out.push_str("(?<");
                    i += 3;
                    continue;
                }
                _ => {
                    return Err(format!(
                        "invalid regular expression /{pattern}/: invalid group"
                    ));
                }
            },
            '{' => match quantifier_len(&c, i) {
                Some(len) => {
                    out.extend(&c[i..i + len]);
                    i += len;
                    continue;
                }
                None => out.push_str(r"\{"),
            },
            '}' => out.push_str(r"\}"),
            ']' => out.push_str(r"\]"),
            other => out.push(other),
        }
        i += 1;
    }
    Ok(out)
}

/// `{n}`, `{n,}`, `{n,m}` at `c[i]`: its length.
fn quantifier_len(c: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let digits = |j: usize| {
        c[j.min(c.len())..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count()
    };
    let n = digits(j);
    if n == 0 {
        return None;
    }
    j += n;
    if c.get(j) == Some(&',') {
        j += 1;
        j += digits(j);
    }
    (c.get(j) == Some(&'}')).then_some(j + 1 - i)
}

fn literal(ch: char, out: &mut String) {
    out.push_str(&format!(r"\x{{{:X}}}", ch as u32));
}

fn hex(c: &[char], at: usize, len: usize) -> Option<u32> {
    let s: String = c.get(at..at + len)?.iter().collect();
    if s.chars().all(|d| d.is_ascii_hexdigit()) {
        u32::from_str_radix(&s, 16).ok()
    } else {
        None
    }
}

/// One escape starting after the backslash at `c[i]`; returns the index after it.
fn escape(
    pattern: &str,
    c: &[char],
    i: usize,
    in_class: bool,
    out: &mut String,
) -> Result<usize, String> {
    let Some(&e) = c.get(i) else {
        return Err(format!(
            "invalid regular expression /{pattern}/: \\ at end of pattern"
        ));
    };
    let set = |neg: bool, body: &str, out: &mut String| {
        if neg {
            out.push_str(&format!("[^{body}]"));
        } else if in_class {
            out.push_str(body);
        } else {
            out.push_str(&format!("[{body}]"));
        }
    };
    match e {
        'd' | 'D' => set(e == 'D', JS_DIGIT, out),
        'w' | 'W' => set(e == 'W', JS_WORD, out),
        's' | 'S' => set(e == 'S', JS_SPACE, out),
        'b' if in_class => out.push_str(r"\x08"),
        'b' => out.push_str(r"(?-u:\b)"),
        'B' if !in_class => out.push_str(r"(?-u:\B)"),
        'n' => out.push_str(r"\n"),
        'r' => out.push_str(r"\r"),
        't' => out.push_str(r"\t"),
        'v' => out.push_str(r"\x0B"),
        'f' => out.push_str(r"\x0C"),
        '0' if !c.get(i + 1).is_some_and(char::is_ascii_digit) => out.push_str(r"\x00"),
        '0'..='9' => return Err(unsupported(pattern, "backreferences or octal escapes")),
        'k' if c.get(i + 1) == Some(&'<') => {
            return Err(unsupported(pattern, "named backreferences"));
        }
        'c' if c.get(i + 1).is_some_and(char::is_ascii_alphabetic) => {
            let code = (c[i + 1] as u32) % 32;
            out.push_str(&format!(r"\x{{{code:X}}}"));
            return Ok(i + 2);
        }
        'c' => {
            // Annex B: a `\c` not followed by a letter is a literal backslash and `c`.
            out.push_str(r"\\");
            return Ok(i);
        }
        'x' => match hex(c, i + 1, 2) {
            Some(code) => {
                out.push_str(&format!(r"\x{{{code:X}}}"));
                return Ok(i + 3);
            }
            None => literal('x', out),
        },
        'u' => match hex(c, i + 1, 4) {
            Some(hi @ 0xD800..=0xDBFF) => {
                let lo = (c.get(i + 5) == Some(&'\\') && c.get(i + 6) == Some(&'u'))
                    .then(|| hex(c, i + 7, 4))
                    .flatten()
                    .filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                match lo {
                    Some(lo) => {
                        let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        out.push_str(&format!(r"\x{{{code:X}}}"));
                        return Ok(i + 11);
                    }
                    None => {
                        // A lone surrogate never occurs in a (valid UTF-8) string.
                        out.push_str(NOTHING);
                        return Ok(i + 5);
                    }
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.push_str(NOTHING);
                return Ok(i + 5);
            }
            Some(code) => {
                out.push_str(&format!(r"\x{{{code:X}}}"));
                return Ok(i + 5);
            }
            None => literal('u', out),
        },
        // Identity escape: the character itself.
        other => literal(other, out),
    }
    Ok(i + 1)
}

/// A character class starting after `[` at `c[i]`; returns the index after its `]`.
fn class(pattern: &str, c: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
    let negated = c.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut body = String::new();
    let mut items = 0;
    let mut prev_dash = false;
    loop {
        let Some(&ch) = c.get(i) else {
            return Err(format!(
                "invalid regular expression /{pattern}/: unterminated character class"
            ));
        };
        match ch {
            ']' => break,
            '\\' => {
                i = escape(pattern, c, i + 1, true, &mut body)?;
                items += 1;
                prev_dash = false;
                continue;
            }
            '-' => {
                // A dash between two atoms is a range; elsewhere a literal.
                let between = items > 0 && !prev_dash && c.get(i + 1).is_some_and(|n| *n != ']');
                if between {
                    body.push('-');
                    prev_dash = true;
                } else {
                    body.push_str(r"\-");
                    items += 1;
                    prev_dash = false;
                }
                i += 1;
                continue;
            }
            '[' | '&' | '~' | '^' => {
                body.push('\\');
                body.push(ch);
            }
            other => body.push(other),
        }
        items += 1;
        prev_dash = false;
        i += 1;
    }
    if items == 0 {
        out.push_str(if negated {
            r"[\x{0}-\x{10FFFF}]"
        } else {
            NOTHING
        });
    } else {
        out.push('[');
        if negated {
            out.push('^');
        }
        out.push_str(&body);
        out.push(']');
    }
    Ok(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        compile(pattern).unwrap().is_match(text)
    }

    #[test]
    fn javascript_meanings_are_kept() {
        assert!(m("^JSON", "json-server"));
        assert!(m("ÜBER", "über"));
        assert!(m(r"\d", "a1"));
        assert!(!m(r"\d", "a١")); // Arabic-Indic digit is not \d in JavaScript
        assert!(!m(r"\w", "é"));
        assert!(m(r"\s", "a\u{feff}b"));
        assert!(!m("a.b", "a\rb"));
        assert!(m("a.b", "a\u{85}b"));
        assert!(m(r"\bserver", "json-server"));
        assert!(m("a{", "a{"));
        assert!(m("a{,2}", "a{,2}"));
        assert!(m("a{2}", "aa"));
        assert!(!m("a{2}", "a"));
        assert!(m("]", "]"));
        assert!(m(r"\/", "a/b"));
        assert!(m(r"\u00e9", "É"));
        assert!(m(r"\ud83d\udc4d", "👍"));
        assert!(m(r"\x41", "a"));
        assert!(m(r"\cJ", "\n"));
        assert!(m(r"[\d-]", "-"));
        assert!(m("[a-c]", "B"));
        assert!(m("[^a-c]", "d"));
        assert!(!m("[]", "a"));
        assert!(m("[^]", "\n"));
        assert!(m("[[]", "["));
        assert!(m("[&&]", "&"));
        assert!(m("[-a]", "-"));
        assert!(m("(?<y>\\d{4})", "2024"));
        assert!(m("", "anything"));
        assert!(m(r"\p{L}", "p{L}"));
    }

    #[test]
    fn invalid_and_unsupported_patterns_are_refused() {
        for p in ["(", "[a", "a**", "*a", "\\", "(?x)"] {
            assert!(compile(p).is_err(), "{p}");
        }
        for p in ["(a)\\1", "a(?=b)", "(?<!a)b", "(?<n>a)\\k<n>"] {
            let e = compile(p).unwrap_err();
            assert!(e.contains("does not support"), "{p}: {e}");
        }
    }
}
