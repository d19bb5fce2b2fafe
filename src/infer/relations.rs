//! Keys and relations: the primary key of each collection, UNIQUE on identifier-like fields,
//! and foreign keys from fields that name another collection (`user_id` → users, `postId` →
//! posts, `syllabus_id` → syllabi) when every value is found among that collection's keys.
//!
//! All checks use the capped 64-bit hash sets of [`super::stats`]: a value set that outgrew its
//! cap gives no key and no foreign key, and the comment says so.

use crate::schema::ScalarType;
use crate::source::Format;

use super::plan::{CollectionPlan, Elements, FieldPlan, Kind, Node, count, singular};
use super::stats::{Hashes, handle_like, id_like};

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

/// Picks the natural key of a collection (see docs/infer.md): a field present, non-null and
/// distinct in every record, of type text, integer or uuid, named (in order of preference)
/// `id`; after the collection (`course_id`, `courseId`, `content_id` in `lesson_content`);
/// `uuid`, `_id`, `guid` or `key`; or, failing those, an id-like first field or an id-like field
/// holding UUIDs.
pub fn choose_key(c: &mut CollectionPlan) {
    let records = c.stats.records;
    if c.format == Format::Document {
        c.key_note = "a document is one record: one row, no key".into();
        return;
    }
    let mut best: Option<(u8, usize)> = None;
    for (pos, f) in c.node.fields.iter().enumerate() {
        let s = f.stats;
        let ok = key_capable(f.scalar_type())
            && records > 0
            && s.count == records
            && s.nulls == 0
            && s.hashes.as_ref().is_some_and(|h| h.all_distinct());
        if !ok {
            continue;
        }
        let lower = f.name.to_lowercase();
        let rank = if lower == "id" {
            0
        } else if ref_stem(&f.name).is_some_and(|st| names_collection(st, &c.name) > 0) {
            1
        } else if matches!(lower.as_str(), "uuid" | "_id" | "guid" | "key") {
            2
        } else if pos == 0 && id_like(&f.name) {
            3
        } else if id_like(&f.name) && f.scalar_type() == Some(ScalarType::Uuid) {
            4
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
        Some((_, pos)) => {
            let f = &mut c.node.fields[pos];
            c.key = Some(f.name.clone());
            f.required = true;
            let also = default_col
                .map(|d| format!("; {d} stays UNIQUE NOT NULL"))
                .unwrap_or_default();
            c.key_note = format!(
                "{:?} is in {records}/{records} records, never null, all distinct → primary key{also}",
                f.name
            );
        }
        None => {
            c.key_note = match default_col {
                Some(d) => format!("no field is a key (id, <name>_id, uuid present and distinct in every record) → {d} is the primary key"),
                None => "no field is a key (id, <name>_id, uuid present and distinct in every record) → a generated _id is the primary key".into(),
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

/// Foreign keys, notes on dangling references and lists of ids, and UNIQUE on identifier
/// fields, over all collections.
pub fn link(plans: &mut [CollectionPlan]) {
    let targets: Vec<Option<Target>> = plans.iter().map(target_of).collect();
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    for ci in 0..plans.len() {
        let own_key = plans[ci].key.clone();
        let document = plans[ci].format == Format::Document;
        let file = db_json(&plans[ci]).map(str::to_string);
        link_node(
            &mut plans[ci].node,
            &targets,
            &names,
            own_key.as_deref(),
            Some(file.as_deref()),
            (ci, document),
        );
    }
}

fn link_node(
    node: &mut Node,
    targets: &[Option<Target>],
    names: &[String],
    own_key: Option<&str>,
    // `Some` for the record's top-level fields, with the db.json the collection is a member of.
    root: Option<Option<&str>>,
    (own, document): (usize, bool),
) {
    for f in &mut node.fields {
        match &mut f.kind {
            Kind::Flatten(sub) => link_node(sub, targets, names, None, None, (own, document)),
            Kind::Child(child) => match &mut child.elements {
                Elements::Objects(sub) => link_node(sub, targets, names, None, None, (own, false)),
                Elements::Scalars { .. } => id_list(f, targets, names, true),
            },
            Kind::Json {
                array: true,
                of: Some(_),
            } => id_list(f, targets, names, false),
            Kind::Scalar(_) => {
                if root.is_some() && own_key == Some(f.name.as_str()) {
                    continue;
                }
                reference(f, targets, names, (own, document), root.flatten());
                if root.is_some() && f.references.is_none() {
                    unique(f, targets, names);
                }
            }
            _ => {}
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

fn unique(f: &mut FieldPlan, targets: &[Option<Target>], names: &[String]) {
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
