//! Keys and relations: the primary key of each collection, UNIQUE on identifier-like fields,
//! and foreign keys from fields that name another collection (`user_id` → users, `postId` →
//! posts, `syllabus_id` → syllabi) when every value is found among that collection's keys.
//!
//! All checks use the capped 64-bit hash sets of [`super::stats`]: a value set that outgrew its
//! cap gives no key and no foreign key, and the comment says so.

use crate::schema::ScalarType;
use crate::source::Format;

use super::plan::{CollectionPlan, Elements, FieldPlan, Kind, Node, count, singular};
use super::stats::{Hashes, KEY_MAX_BYTES, handle_like, id_like, key_name_rank};

/// Splits a reference-like name into the name of what it refers to: `user_id` → `user`,
/// `postId` → `post`, `syllabus_uuid` → `syllabus`.
pub fn ref_stem(name: &str) -> Option<&str> {
    for suf in [
        "_id", "-id", "_uuid", "_key", "Id", "ID", "Uuid", "UUID", "Key",
    ] {
        if let Some(stem) = name.strip_suffix(suf) {
            let stem = stem.trim_end_matches(['_', '-']);
            if !stem.is_empty() {
                return Some(stem);
            }
        }
    }
    None
}

/// The stem of a list of ids: `tag_ids` → `tag`, `courseIds` → `course`.
pub fn ids_stem(name: &str) -> Option<&str> {
    for suf in ["_ids", "Ids", "IDs", "_uuids"] {
        if let Some(stem) = name.strip_suffix(suf) {
            if !stem.is_empty() {
                return Some(stem);
            }
        }
    }
    None
}

/// The last word of a name: after the last `_`/`-`, or the last capitalised part.
fn last_word(s: &str) -> &str {
    if let Some(i) = s.rfind(['_', '-']) {
        return &s[i + 1..];
    }
    match s.char_indices().filter(|(_, c)| c.is_uppercase()).last() {
        Some((i, _)) if i > 0 => &s[i..],
        _ => s,
    }
}

/// How well `stem` names collection `coll`: 2 for the whole name (`user` → `users`), 1 for its
/// last word (`assessment` → `user_assessments`), 0 for no match.
pub fn names_collection(stem: &str, coll: &str) -> u8 {
    let s = stem.to_lowercase();
    let c = coll.to_lowercase();
    if s == c || s == singular(&c) {
        return 2;
    }
    let cw = last_word(&c);
    let sw = last_word(stem).to_lowercase();
    if s == cw || s == singular(cw) || (sw != s && (sw == c || sw == singular(&c))) {
        return 1;
    }
    0
}

fn key_capable(t: Option<ScalarType>) -> bool {
    matches!(
        t,
        Some(ScalarType::Text | ScalarType::Integer | ScalarType::Uuid)
    )
}

/// Collections with fewer records than this get no UNIQUE from distinct values alone (a name
/// may well repeat later): only fields whose name says key or identifier do.
pub const UNIQUE_MIN_RECORDS: u64 = 10;

/// A candidate key: present and non-null in every record, all values distinct, short text,
/// a uuid, or an integer whose name says key.
fn candidate(f: &FieldPlan, records: u64) -> bool {
    let s = f.stats;
    let short = match f.scalar_type() {
        Some(ScalarType::Text) => s.max_chars <= KEY_MAX_BYTES,
        Some(ScalarType::Uuid) => true,
        Some(ScalarType::Integer) => id_like(&f.name) || key_name_rank(&f.name).is_some(),
        _ => false,
    };
    short
        && records > 0
        && s.count == records
        && s.nulls == 0
        && s.hashes.as_ref().is_some_and(|h| h.all_distinct())
}

/// Picks the natural key of a collection (see docs/infer.md) among its candidate keys (present,
/// non-null and distinct in every record, short text, uuid or integer), named (in order of
/// preference) `id`; after the collection (`course_id`, `courseId`, `content_id` in
/// `lesson_content`); `uuid`, `_id`, `guid` or `key`; a conventional key name (`code`, `slug`,
/// then `alpha_2`, `cca2`, then `alpha_3`, `cca3`, ...: [`key_name_rank`]); or, failing those, an
/// id-like first field or an id-like field holding UUIDs.
pub fn choose_key(c: &mut CollectionPlan) {
    let records = c.stats.records;
    if c.format == Format::Document {
        c.key_note = "a document is one record: one row, no key".into();
        return;
    }
    // Records keyed by object key, document id or file name have a natural key already: a
    // conventional name there is a candidate key (UNIQUE), not the primary key.
    let own_key = matches!(
        c.format,
        Format::Object | Format::Tinydb | Format::Folder | Format::Prompty
    );
    let mut best: Option<((u8, u8), usize)> = None;
    for (pos, f) in c.node.fields.iter().enumerate() {
        if !candidate(f, records) {
            continue;
        }
        let lower = f.name.to_lowercase();
        let rank = if lower == "id" {
            (0, 0)
        } else if ref_stem(&f.name).is_some_and(|st| names_collection(st, &c.name) > 0) {
            (1, 0)
        } else if matches!(lower.as_str(), "uuid" | "_id" | "guid" | "key") {
            (2, 0)
        } else if let Some(r) = key_name_rank(&f.name).filter(|_| !own_key) {
            (3, r)
        } else if pos == 0 && id_like(&f.name) {
            (4, 0)
        } else if id_like(&f.name) && f.scalar_type() == Some(ScalarType::Uuid) {
            (5, 0)
        } else {
            continue;
        };
        if best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, pos));
        }
    }
    let default_col = match c.format {
        Format::Object => Some("the object key (_key)"),
        Format::Tinydb => Some("the TinyDB document id (_doc_id)"),
        Format::Folder | Format::Prompty => Some("the file path (_file)"),
        _ => None,
    };
    match best {
        Some((rank, pos)) => {
            // The other candidates, named in the note (each becomes UNIQUE in `link`).
            let others: Vec<String> = c
                .node
                .fields
                .iter()
                .enumerate()
                .filter(|&(i, f)| i != pos && candidate(f, records))
                .map(|(_, f)| format!("{:?}", f.name))
                .collect();
            let f = &mut c.node.fields[pos];
            c.key = Some(f.name.clone());
            f.required = true;
            let also = default_col
                .map(|d| format!("; {d} stays UNIQUE NOT NULL"))
                .unwrap_or_default();
            let why = match rank.0 {
                3 => ", a conventional key name",
                _ => "",
            };
            let preferred = match others.is_empty() {
                true => String::new(),
                false => format!(" (preferred to {}, also distinct)", others.join(", ")),
            };
            c.key_note = format!(
                "{:?} is in {records}/{records} records, never null, all distinct{why} → primary key{preferred}{also}",
                f.name
            );
        }
        None => {
            c.key_note = match default_col {
                Some(d) => format!("no field is a key (id, <name>_id, uuid, code, slug, key, alpha_2... present and distinct in every record) → {d} is the primary key"),
                None => "no field is a key (id, <name>_id, uuid, code, slug, key, alpha_2... present and distinct in every record) → a generated _id is the primary key".into(),
            };
        }
    }
}

/// What a collection's records can be referred to by.
struct Target<'s> {
    name: String,
    column: String,
    hashes: &'s Hashes,
    /// The json-server db.json the collection is a member of.
    db_json: Option<String>,
}

/// The db.json file a collection is a member of (an array or a document of it), as json-server
/// serves it.
fn db_json<'c>(c: &'c CollectionPlan) -> Option<&'c str> {
    (c.member.is_some() && matches!(c.format, Format::Array | Format::Document))
        .then_some(c.source.as_str())
}

fn target_of<'s>(c: &CollectionPlan<'s>) -> Option<Target<'s>> {
    if let Some(k) = &c.key {
        let f = c.node.fields.iter().find(|f| &f.name == k)?;
        return Some(Target {
            name: c.name.clone(),
            column: k.clone(),
            hashes: f.stats.hashes.as_ref()?,
            db_json: db_json(c).map(str::to_string),
        });
    }
    let column = match c.format {
        Format::Object => "_key",
        Format::Tinydb => "_doc_id",
        Format::Folder | Format::Prompty => "_file",
        _ => return None,
    };
    Some(Target {
        name: c.name.clone(),
        column: column.into(),
        hashes: c.stats.keys.as_ref()?,
        db_json: db_json(c).map(str::to_string),
    })
}

/// Finds the collection a stem names, best match first.
fn find_target<'a, 's>(
    stem: &str,
    targets: &'a [Option<Target<'s>>],
    names: &[String],
) -> Option<(usize, &'a Target<'s>)> {
    let mut best: Option<(u8, usize)> = None;
    for (i, n) in names.iter().enumerate() {
        let score = names_collection(stem, n);
        if score > 0 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, i));
        }
    }
    let (_, i) = best?;
    targets[i].as_ref().map(|t| (i, t))
}

/// A text key a reference may point at whatever its name: a collection's primary key, or a
/// candidate key with a conventional name (`code`, `alpha_3`, `cca3`).
struct KeyTarget<'s> {
    coll: usize,
    /// What `references` says: the collection, or `collection.column` for a unique column.
    reference: String,
    shown: String,
    hashes: &'s Hashes,
}

fn key_targets<'s>(ci: usize, c: &CollectionPlan<'s>) -> Vec<KeyTarget<'s>> {
    let records = c.stats.records;
    c.node
        .fields
        .iter()
        .filter(|f| {
            matches!(f.kind, Kind::Scalar(_))
                && matches!(f.scalar_type(), Some(ScalarType::Text | ScalarType::Uuid))
                && candidate(f, records)
                && (c.key.as_ref() == Some(&f.name) || key_name_rank(&f.name).is_some())
        })
        .filter_map(|f| {
            let pk = c.key.as_ref() == Some(&f.name);
            Some(KeyTarget {
                coll: ci,
                reference: match pk {
                    true => c.name.clone(),
                    false => format!("{}.{}", c.name, f.name),
                },
                shown: format!("{}.{}", c.name, f.name),
                hashes: f.stats.hashes.as_ref()?,
            })
        })
        .collect()
}

/// What the fields of one collection are linked against.
struct Links<'a, 's> {
    targets: &'a [Option<Target<'s>>],
    names: &'a [String],
    keys: &'a [KeyTarget<'s>],
    /// This collection, and how many records it has.
    own: usize,
    records: u64,
}

/// How a field holds what may be references.
#[derive(Clone, Copy, PartialEq)]
enum Holds {
    Scalar,
    /// A list in a child table (a foreign key makes it a join table).
    ListTable,
    /// A list in a JSON column (a note only).
    ListJson,
}

/// Foreign keys, notes on dangling references and lists of ids, and UNIQUE on identifier
/// fields and candidate keys, over all collections.
pub fn link(plans: &mut [CollectionPlan]) {
    let targets: Vec<Option<Target>> = plans.iter().map(target_of).collect();
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let keys: Vec<KeyTarget> = plans
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| key_targets(ci, c))
        .collect();
    for ci in 0..plans.len() {
        let own_key = plans[ci].key.clone();
        let document = plans[ci].format == Format::Document;
        let file = db_json(&plans[ci]).map(str::to_string);
        let links = Links {
            targets: &targets,
            names: &names,
            keys: &keys,
            own: ci,
            records: plans[ci].stats.records,
        };
        link_node(
            &mut plans[ci].node,
            &links,
            own_key.as_deref(),
            Some(file.as_deref()),
            document,
        );
    }
}

// `root` is `Some` for the record's top-level fields, with the db.json the collection is a
// member of.
fn link_node(
    node: &mut Node,
    l: &Links,
    own_key: Option<&str>,
    root: Option<Option<&str>>,
    document: bool,
) {
    let (targets, names) = (l.targets, l.names);
    for f in &mut node.fields {
        match &mut f.kind {
            Kind::Flatten(sub) => link_node(sub, l, None, None, document),
            Kind::Child(child) => match &mut child.elements {
                Elements::Objects(sub) => link_node(sub, l, None, None, false),
                Elements::Scalars { .. } => {
                    id_list(f, targets, names, true);
                    if root.is_some() {
                        value_reference(f, l, document, Holds::ListTable);
                    }
                }
            },
            Kind::Json {
                array: true,
                of: Some(_),
            } => {
                id_list(f, targets, names, false);
                if root.is_some() {
                    value_reference(f, l, document, Holds::ListJson);
                }
            }
            Kind::Scalar(_) => {
                if root.is_some() && own_key == Some(f.name.as_str()) {
                    continue;
                }
                reference(f, targets, names, (l.own, document), root.flatten());
                if root.is_some() {
                    value_reference(f, l, document, Holds::Scalar);
                }
                if root.is_some() && f.references.is_none() {
                    unique(f, targets, names, l.records);
                }
            }
            _ => {}
        }
    }
}

/// A reference found by its values, not its name: a top-level text field (or list of texts)
/// that is no candidate key itself, whose distinct values (two at least) are all values of a
/// text key of some collection, its own included (`parent` → `code`, `borders[]` → `cca3`).
/// Only where no name already points elsewhere; integers are left out (small numbers are
/// found in any id column).
fn value_reference(f: &mut FieldPlan, l: &Links, document: bool, holds: Holds) {
    let list = holds != Holds::Scalar;
    let named = match list {
        true => ids_stem(&f.name),
        false => ref_stem(&f.name),
    }
    .and_then(|st| find_target(st, l.targets, l.names))
    .is_some();
    if named || f.references.is_some() || candidate(f, l.records) {
        return;
    }
    let s = match list {
        true => match f.stats.items.as_deref() {
            Some(i) => i,
            None => return,
        },
        false => f.stats,
    };
    let texts = s.strings > 0 && s.strings == s.non_null();
    let Some(h) = s.hashes.as_ref().filter(|_| texts) else {
        return;
    };
    let distinct = h.distinct().unwrap_or(0);
    if distinct < 2 {
        return;
    }
    // Its own collection first (a tree: `parent`), then in the order of the project.
    let itself = format!("{}.{}", l.names[l.own], f.name);
    let mut order: Vec<&KeyTarget> = l.keys.iter().filter(|k| k.coll == l.own).collect();
    order.extend(l.keys.iter().filter(|k| k.coll != l.own));
    let Some(t) = order
        .into_iter()
        .find(|t| t.shown != itself && h.missing_from(t.hashes) == Some(0))
    else {
        return;
    };
    let own = match t.coll == l.own {
        true => ", this collection's own",
        false => "",
    };
    match holds {
        Holds::ListJson => f.notes.push(format!(
            "every element is a value of the candidate key {}{own} (many-to-many; give it `table` and `references = {:?}` for a join table)",
            t.shown, t.reference
        )),
        Holds::ListTable => {
            f.references = Some(t.reference.clone());
            f.notes.push(format!(
                "all {} are values of the candidate key {}{own} → foreign key on the value column: a join table (many-to-many)",
                count(distinct, "distinct element"),
                t.shown
            ));
        }
        Holds::Scalar => {
            f.references = Some(t.reference.clone());
            f.index = !document;
            let idx = if document { "" } else { ", indexed" };
            f.notes.push(format!(
                "all {} are values of the candidate key {}{own} → foreign key{idx}",
                count(distinct, "distinct value"),
                t.shown
            ));
        }
    }
}

/// `db_json`: the json-server db.json whose member holds `f` at the top level of its records.
fn reference(
    f: &mut FieldPlan,
    targets: &[Option<Target>],
    names: &[String],
    (own, document): (usize, bool),
    db_json: Option<&str>,
) {
    if !key_capable(f.scalar_type()) {
        return;
    }
    let Some(stem) = ref_stem(&f.name) else {
        return;
    };
    let Some(h) = &f.stats.hashes else { return };
    let distinct = h.distinct().unwrap_or(0);
    let (t, why) = match find_target(stem, targets, names) {
        Some((_, t)) => (t, String::new()),
        // No collection has the name: the one whose keys hold every value (`media_id` →
        // media_metadata), if the values pick one.
        None => match by_values(stem, h, targets, names, own) {
            Some(found) => found,
            None => return,
        },
    };
    match h.missing_from(t.hashes) {
        Some(0) if distinct > 0 => {
            f.references = Some(t.name.clone());
            f.index = !document;
            let idx = if document { "" } else { ", indexed" };
            f.notes.push(format!("all {} are keys of {}.{}{why} → foreign key{idx}", count(distinct, "distinct value"), t.name, t.column));
            // json-server's DELETE removes, with the record, every record whose `<x>Id` names a
            // record of `<x>s` that is gone (its `getRemovable`): a project made from its
            // db.json does the same. Everywhere else the default, restrict, refuses the delete.
            if db_json.is_some()
                && db_json == t.db_json.as_deref()
                && f.name.ends_with("Id")
                && names_collection(&f.name[..f.name.len() - 2], &t.name) == 2
            {
                f.on_delete = Some("cascade");
                f.notes.push(format!(
                    "on_delete = cascade: deleting a record of {} deletes the records whose {} names it, as json-server does with its db.json (elsewhere the default, restrict, refuses such a delete)",
                    t.name, f.name
                ));
            }
        }
        Some(0) => {}
        Some(m) => f.notes.push(format!(
            "looks like a reference to {}.{}, but {m} of {} are not there → no foreign key",
            t.name,
            t.column,
            count(distinct, "distinct value")
        )),
        None => f.notes.push(format!("looks like a reference to {}.{}, but there are too many values to check → no foreign key", t.name, t.column)),
    }
}

/// For a reference-like field whose name names no collection: the other collection whose keys
/// hold every one of its values, with the words why. When several do, the one whose name
/// shares most words with `stem` (`media` → media_metadata); still tied, none (a guess is not
/// a foreign key). A single distinct value is too little to go on without a shared word.
fn by_values<'a, 's>(
    stem: &str,
    values: &Hashes,
    targets: &'a [Option<Target<'s>>],
    names: &[String],
    own: usize,
) -> Option<(&'a Target<'s>, String)> {
    let distinct = values.distinct()?;
    if distinct == 0 {
        return None;
    }
    let holding: Vec<(usize, &Target)> = targets
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != own)
        .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
        .filter(|(_, t)| values.missing_from(t.hashes) == Some(0))
        .collect();
    let best = holding
        .iter()
        .map(|&(i, _)| shared_words(stem, &names[i]))
        .max()?;
    let at_best: Vec<&(usize, &Target)> = holding
        .iter()
        .filter(|(i, _)| shared_words(stem, &names[*i]) == best)
        .collect();
    if at_best.len() != 1 || (best == 0 && distinct < 2) {
        return None;
    }
    let (_, t) = at_best[0];
    let others = holding.len() - 1;
    let why = if best == 0 {
        format!(" (no collection is named {stem}; no other collection's keys hold them all)")
    } else if others == 0 {
        format!(
            " (no collection is named {stem}; the values match {}, which shares the word {stem:?}, and no other collection)",
            t.name
        )
    } else {
        format!(
            " (no collection is named {stem}; the values match {} and {}, and {} shares most words with {stem:?})",
            t.name,
            count(others as u64, "other collection"),
            t.name
        )
    };
    Some((t, why))
}

/// How many words (split at `_`, `-` and capitals, singular, lower-case) two names share.
fn shared_words(a: &str, b: &str) -> usize {
    let words = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in s.chars() {
            if c == '_' || c == '-' || (c.is_uppercase() && !cur.is_empty()) {
                if !cur.is_empty() {
                    out.push(singular(&cur.to_lowercase()));
                }
                cur.clear();
            }
            if c != '_' && c != '-' {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            out.push(singular(&cur.to_lowercase()));
        }
        out
    };
    let b = words(b);
    let mut a = words(a);
    a.dedup();
    a.iter().filter(|w| b.contains(w)).count()
}

/// A list of ids (`tagIds`, `course_ids`): when every element is a key of the collection the
/// name points at and the list is a child table, its value column becomes a foreign key, which
/// makes the child table a join table (many-to-many).
fn id_list(f: &mut FieldPlan, targets: &[Option<Target>], names: &[String], table: bool) {
    let Some(stem) = ids_stem(&f.name) else {
        return;
    };
    let Some((_, t)) = find_target(stem, targets, names) else {
        return;
    };
    let Some(h) = f.stats.items.as_ref().and_then(|i| i.hashes.as_ref()) else {
        return;
    };
    match h.missing_from(t.hashes) {
        Some(0) if h.distinct().unwrap_or(0) > 0 && table => {
            f.references = Some(t.name.clone());
            f.notes.push(format!(
                "all {} are keys of {}.{} → foreign key on the value column: a join table (many-to-many)",
                count(h.distinct().unwrap_or(0), "distinct element"),
                t.name,
                t.column
            ));
        }
        Some(0) if h.distinct().unwrap_or(0) > 0 => f.notes.push(format!(
            "every element is a key of {}.{} (many-to-many; give it `table` and `references` for a join table)",
            t.name, t.column
        )),
        Some(m) if m > 0 => f.notes.push(format!(
            "looks like a list of keys of {}.{}, but {m} of {} are not there → no foreign key",
            t.name,
            t.column,
            count(h.distinct().unwrap_or(0), "distinct element")
        )),
        _ => {}
    }
}

fn unique(f: &mut FieldPlan, targets: &[Option<Target>], names: &[String], records: u64) {
    let s = f.stats;
    let Some(h) = &s.hashes else { return };
    if !key_capable(f.scalar_type()) || s.non_null() < 2 || !h.all_distinct() {
        return;
    }
    let names_other = ref_stem(&f.name)
        .and_then(|st| find_target(st, targets, names))
        .is_some();
    let identifier = handle_like(&f.name)
        || (id_like(&f.name) && f.scalar_type() == Some(ScalarType::Uuid) && !names_other);
    if identifier {
        f.unique = true;
        f.notes.push(format!(
            "all {} values distinct, an identifier → unique",
            s.non_null()
        ));
    } else if candidate(f, records) && !names_other {
        // A candidate key that is not the primary key.
        let why = match key_name_rank(&f.name) {
            Some(_) => ", a conventional key name",
            None if records >= UNIQUE_MIN_RECORDS => "",
            None => return,
        };
        f.unique = true;
        f.notes.push(format!(
            "all {records} values distinct, short{why}: a candidate key → unique"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(ref_stem("user_id"), Some("user"));
        assert_eq!(ref_stem("postId"), Some("post"));
        assert_eq!(ref_stem("id"), None);
        assert_eq!(ref_stem("_id"), None);
        assert_eq!(ids_stem("tagIds"), Some("tag"));
        assert_eq!(names_collection("user", "users"), 2);
        assert_eq!(names_collection("post", "posts"), 2);
        assert_eq!(names_collection("syllabus", "syllabi"), 2);
        assert_eq!(names_collection("course", "courses"), 2);
        assert_eq!(names_collection("category", "categories"), 2);
        assert_eq!(names_collection("content", "lesson_content"), 1);
        assert_eq!(names_collection("assessment", "user_assessments"), 1);
        assert_eq!(names_collection("parentComment", "comments"), 1);
        assert_eq!(names_collection("author", "users"), 0);
        assert_eq!(names_collection("user", "user_progress"), 0);
    }
}
