//! English singular/plural as the npm `pluralize` 8.0.0 package does it, because json-server
//! names relations with it: `/posts/1/comments` filters `comments` by `postId` (singular of
//! `posts`), `_embed=comments` on `posts` by `postId`, `_expand=post` looks in `posts`.
//! A full port of its rule tables (irregulars, uncountables, ordered regex rules, case
//! restoration), so unusual collection names (`people`, `data`, `series`) resolve the same.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::{Captures, Regex};

struct Rules {
    plural: Vec<(Regex, &'static str)>,
    singular: Vec<(Regex, &'static str)>,
    uncountable: HashSet<&'static str>,
    /// single → plural
    irregular_singles: HashMap<String, String>,
    /// plural → single
    irregular_plurals: HashMap<String, String>,
}

const IRREGULAR: &[(&str, &str)] = &[
    ("I", "we"),
    ("me", "us"),
    ("he", "they"),
    ("she", "they"),
    ("them", "them"),
    ("myself", "ourselves"),
    ("yourself", "yourselves"),
    ("itself", "themselves"),
    ("herself", "themselves"),
    ("himself", "themselves"),
    ("themself", "themselves"),
    ("is", "are"),
    ("was", "were"),
    ("has", "have"),
    ("this", "these"),
    ("that", "those"),
    ("echo", "echoes"),
    ("dingo", "dingoes"),
    ("volcano", "volcanoes"),
    ("tornado", "tornadoes"),
    ("torpedo", "torpedoes"),
    ("genus", "genera"),
    ("viscus", "viscera"),
    ("stigma", "stigmata"),
    ("stoma", "stomata"),
    ("dogma", "dogmata"),
    ("lemma", "lemmata"),
    ("schema", "schemata"),
    ("anathema", "anathemata"),
    ("ox", "oxen"),
    ("axe", "axes"),
    ("die", "dice"),
    ("yes", "yeses"),
    ("foot", "feet"),
    ("eave", "eaves"),
    ("goose", "geese"),
    ("tooth", "teeth"),
    ("quiz", "quizzes"),
    ("human", "humans"),
    ("proof", "proofs"),
    ("carve", "carves"),
    ("valve", "valves"),
    ("looey", "looies"),
    ("thief", "thieves"),
    ("groove", "grooves"),
    ("pickaxe", "pickaxes"),
    ("passerby", "passersby"),
];

// JavaScript's `\b` and `\w` are ASCII: written out so the crate's Unicode ones don't apply.
const PLURAL: &[(&str, &str)] = &[
    ("s?$", "s"),
    (r"[^\x00-\x7F]$", "$0"),
    ("([^aeiou]ese)$", "$1"),
    ("(ax|test)is$", "$1es"),
    ("(alias|[^aou]us|t[lm]as|gas|ris)$", "$1es"),
    ("(e[mn]u)s?$", "$1s"),
    ("([^l]ias|[aeiou]las|[ejzr]as|[iu]am)$", "$1"),
    (
        "(alumn|syllab|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat)(?:us|i)$",
        "$1i",
    ),
    ("(alumn|alg|vertebr)(?:a|ae)$", "$1ae"),
    ("(seraph|cherub)(?:im)?$", "$1im"),
    ("(her|at|gr)o$", "$1oes"),
    (
        "(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi|curricul|automat|quor)(?:a|um)$",
        "$1a",
    ),
    (
        "(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat)(?:a|on)$",
        "$1a",
    ),
    ("sis$", "ses"),
    ("(?:(kni|wi|li)fe|(ar|l|ea|eo|oa|hoo)f)$", "$1$2ves"),
    ("([^aeiouy]|qu)y$", "$1ies"),
    ("([^ch][ieo][ln])ey$", "$1ies"),
    ("(x|ch|ss|sh|zz)$", "$1es"),
    ("(matr|cod|mur|sil|vert|ind|append)(?:ix|ex)$", "$1ices"),
    (r"(?-u:\b)((?:tit)?m|l)(?:ice|ouse)$", "$1ice"),
    ("(pe)(?:rson|ople)$", "$1ople"),
    ("(child)(?:ren)?$", "$1ren"),
    ("eaux$", "$0"),
    ("m[ae]n$", "men"),
    ("^thou$", "you"),
];

const SINGULAR: &[(&str, &str)] = &[
    ("s$", ""),
    ("(ss)$", "$1"),
    (
        "(wi|kni|(?:after|half|high|low|mid|non|night|[^0-9A-Za-z_]|^)li)ves$",
        "$1fe",
    ),
    ("(ar|(?:wo|[ae])l|[eo][ao])ves$", "$1f"),
    ("ies$", "y"),
    (
        r"(?-u:\b)([pl]|zomb|(?:neck|cross)?t|coll|faer|food|gen|goon|group|lass|talk|goal|cut)ies$",
        "$1ie",
    ),
    (r"(?-u:\b)(mon|smil)ies$", "$1ey"),
    (r"(?-u:\b)((?:tit)?m|l)ice$", "$1ouse"),
    ("(seraph|cherub)im$", "$1"),
    (
        "(x|ch|ss|sh|zz|tto|go|cho|alias|[^aou]us|t[lm]as|gas|(?:her|at|gr)o|[aeiou]ris)(?:es)?$",
        "$1",
    ),
    (
        "(analy|diagno|parenthe|progno|synop|the|empha|cri|ne)(?:sis|ses)$",
        "$1sis",
    ),
    ("(movie|twelve|abuse|e[mn]u)s$", "$1"),
    ("(test)(?:is|es)$", "$1is"),
    (
        "(alumn|syllab|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat)(?:us|i)$",
        "$1us",
    ),
    (
        "(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi|curricul|quor)a$",
        "$1um",
    ),
    (
        "(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat)a$",
        "$1on",
    ),
    ("(alumn|alg|vertebr)ae$", "$1a"),
    ("(cod|mur|sil|vert|ind)ices$", "$1ex"),
    ("(matr|append)ices$", "$1ix"),
    ("(pe)(rson|ople)$", "$1rson"),
    ("(child)ren$", "$1"),
    ("(eau)x?$", "$1"),
    ("men$", "man"),
];

const UNCOUNTABLE_WORDS: &[&str] = &[
    "adulthood",
    "advice",
    "agenda",
    "aid",
    "aircraft",
    "alcohol",
    "ammo",
    "analytics",
    "anime",
    "athletics",
    "audio",
    "bison",
    "blood",
    "bream",
    "buffalo",
    "butter",
    "carp",
    "cash",
    "chassis",
    "chess",
    "clothing",
    "cod",
    "commerce",
    "cooperation",
    "corps",
    "debris",
    "diabetes",
    "digestion",
    "elk",
    "energy",
    "equipment",
    "excretion",
    "expertise",
    "firmware",
    "flounder",
    "fun",
    "gallows",
    "garbage",
    "graffiti",
    "hardware",
    "headquarters",
    "health",
    "herpes",
    "highjinks",
    "homework",
    "housework",
    "information",
    "jeans",
    "justice",
    "kudos",
    "labour",
    "literature",
    "machinery",
    "mackerel",
    "mail",
    "media",
    "mews",
    "moose",
    "music",
    "mud",
    "manga",
    "news",
    "only",
    "personnel",
    "pike",
    "plankton",
    "pliers",
    "police",
    "pollution",
    "premises",
    "rain",
    "research",
    "rice",
    "salmon",
    "scissors",
    "series",
    "sewage",
    "shambles",
    "shrimp",
    "software",
    "species",
    "staff",
    "swine",
    "tennis",
    "traffic",
    "transportation",
    "trout",
    "tuna",
    "wealth",
    "welfare",
    "whiting",
    "wildebeest",
    "wildlife",
    "you",
];

/// Uncountable patterns: added last to both rule lists, so they win.
const UNCOUNTABLE_RULES: &[&str] = &[
    "pok[eé]mon$",
    "[^aeiou]ese$",
    "deer$",
    "fish$",
    "measles$",
    "o[iu]s$",
    "pox$",
    "sheep$",
];

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let compile = |rules: &[(&'static str, &'static str)]| -> Vec<(Regex, &'static str)> {
        rules
            .iter()
            .copied()
            .chain(UNCOUNTABLE_RULES.iter().map(|r| (*r, "$0")))
            .map(|(re, rep)| {
                let re = Regex::new(&format!("(?i){re}")).expect("pluralize rule compiles");
                (re, rep)
            })
            .collect()
    };
    let mut irregular_singles = HashMap::new();
    let mut irregular_plurals = HashMap::new();
    for (single, plural) in IRREGULAR {
        irregular_singles.insert(single.to_lowercase(), plural.to_lowercase());
        irregular_plurals.insert(plural.to_lowercase(), single.to_lowercase());
    }
    Rules {
        plural: compile(PLURAL),
        singular: compile(SINGULAR),
        uncountable: UNCOUNTABLE_WORDS.iter().copied().collect(),
        irregular_singles,
        irregular_plurals,
    }
});

/// `pluralize.plural(word)`.
pub fn plural(word: &str) -> String {
    let r = &*RULES;
    replace_word(word, &r.irregular_singles, &r.irregular_plurals, &r.plural)
}

/// `pluralize.singular(word)`.
pub fn singular(word: &str) -> String {
    let r = &*RULES;
    replace_word(
        word,
        &r.irregular_plurals,
        &r.irregular_singles,
        &r.singular,
    )
}

fn replace_word(
    word: &str,
    replace: &HashMap<String, String>,
    keep: &HashMap<String, String>,
    rules: &[(Regex, &'static str)],
) -> String {
    let token = word.to_lowercase();
    if keep.contains_key(&token) {
        return restore_case(word, &token);
    }
    if let Some(to) = replace.get(&token) {
        return restore_case(word, to);
    }
    if token.is_empty() || RULES.uncountable.contains(token.as_str()) {
        return word.to_string();
    }
    for (re, rep) in rules.iter().rev() {
        if let Some(caps) = re.captures(word) {
            let m = caps.get(0).expect("group 0");
            let result = interpolate(rep, &caps);
            let restored = if m.as_str().is_empty() {
                // The case of the character before an empty match (`s?$` on `post`).
                let before: String = word[..m.start()].chars().last().into_iter().collect();
                restore_case(&before, &result)
            } else {
                restore_case(m.as_str(), &result)
            };
            return format!("{}{}{}", &word[..m.start()], restored, &word[m.end()..]);
        }
    }
    word.to_string()
}

/// `$0`, `$1`, `$2` from the match; missing groups are empty.
fn interpolate(rep: &str, caps: &Captures) -> String {
    let mut out = String::new();
    let mut chars = rep.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '$'
            && let Some(d) = chars.peek().and_then(|d| d.to_digit(10))
        {
            chars.next();
            out.push_str(caps.get(d as usize).map_or("", |m| m.as_str()));
        } else {
            out.push(ch);
        }
    }
    out
}

/// pluralize's `restoreCase`: the replacement takes the case pattern of what it replaces.
fn restore_case(word: &str, token: &str) -> String {
    if word == token {
        return token.to_string();
    }
    if word == word.to_lowercase() {
        return token.to_lowercase();
    }
    if word == word.to_uppercase() {
        return token.to_uppercase();
    }
    let first: String = word.chars().take(1).collect();
    if first == first.to_uppercase() {
        let mut chars = token.chars();
        return match chars.next() {
            Some(c) => c
                .to_uppercase()
                .chain(chars.as_str().to_lowercase().chars())
                .collect(),
            None => String::new(),
        };
    }
    token.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_npm_package() {
        // Expected values taken from pluralize 8.0.0 under node.
        for (word, s) in [
            ("posts", "post"),
            ("comments", "comment"),
            ("people", "person"),
            ("categories", "category"),
            ("series", "series"),
            ("data", "datum"),
            ("news", "news"),
            ("addresses", "address"),
            ("Users", "User"),
            ("USERS", "USER"),
            ("statuses", "status"),
            ("movies", "movie"),
            ("wolves", "wolf"),
            ("knives", "knife"),
            ("children", "child"),
            ("profile", "profile"),
            ("they", "she"),
            ("", ""),
        ] {
            assert_eq!(singular(word), s, "singular({word})");
        }
        for (word, p) in [
            ("post", "posts"),
            ("person", "people"),
            ("category", "categories"),
            ("user", "users"),
            ("bus", "buses"),
            ("box", "boxes"),
            ("mouse", "mice"),
            ("Post", "Posts"),
            ("datum", "data"),
            ("sheep", "sheep"),
            ("ox", "oxen"),
            ("author", "authors"),
            ("café", "café"),
            ("日本", "日本"),
        ] {
            assert_eq!(plural(word), p, "plural({word})");
        }
    }
}
