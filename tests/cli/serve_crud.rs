//! CRUD on every example: each `examples/*` project is migrated and served, and every
//! collection goes through list, get, POST (a copy of a record under a fresh key), PUT, PATCH
//! and DELETE (documents: GET, PUT, PATCH), with the shapes of the answers and the audit
//! entries checked. The writes leave the data as it was, so `jsonlift export` must then give
//! back every source file byte for byte.

use jsonlift::schema::{FieldKind, ScalarType, Schema};
use serde_json::{Value as J, json};

use crate::serve::{Server, call, example};
use crate::serve_admin::example_names;
use crate::util::*;

const TOKEN: &str = "s3cret-token-for-crud-tests";
const TOKENS: &str = "[serve]\ntokens = { ci = \"env:SERVE_TEST_TOKEN\" }\n";

fn json(r: &crate::serve::Resp) -> J {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// The actions of the audit entries of one record (or document), oldest first.
fn audit_actions(s: &Server, coll: &str, key: Option<&str>) -> Vec<String> {
    let mut url = s.url(&format!("/_admin/audit?collection={coll}"));
    if let Some(k) = key {
        url.push_str(&format!("&key={}", encode(k)));
    }
    let r = call("GET", &url, Some(TOKEN), None);
    r.status(200);
    json(&r)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A top-level text field without enum or uniqueness: one PATCH may change freely.
fn free_text_field(schema: &Schema, c: usize, key_field: Option<&str>) -> Option<String> {
    let t = &schema.tables[schema.collections[c].table];
    t.fields.iter().find_map(|f| match &f.kind {
        FieldKind::Scalar {
            ty: ScalarType::Text,
            col,
        } if f.enumeration.is_none()
            && !t.columns[*col].unique
            && Some(f.name.as_str()) != key_field =>
        {
            Some(f.name.clone())
        }
        _ => None,
    })
}

/// The record as a new one: without its key (so one is generated) and with its unique text
/// fields changed, and an integer of each composite unique raised, so that it does not clash
/// with the original.
fn fresh_copy(schema: &Schema, c: usize, record: &J, key_field: Option<&str>) -> J {
    let t = &schema.tables[schema.collections[c].table];
    let mut copy = record.clone();
    let o = copy.as_object_mut().unwrap();
    if let Some(k) = key_field {
        o.remove(k);
    }
    for f in &t.fields {
        if let FieldKind::Scalar { ty, col } = &f.kind {
            let in_composite = t.uniques.iter().any(|u| {
                u.contains(&t.columns[*col].name)
                    && *ty == ScalarType::Integer
                    && u.iter().all(|c| t.col(c).is_some())
            });
            match o.get_mut(&f.name) {
                Some(J::String(v)) if t.columns[*col].unique => v.push_str("-copy"),
                Some(J::Number(n)) if in_composite => {
                    *n = (n.as_i64().unwrap() + 1000).into();
                }
                _ => {}
            }
        }
    }
    copy
}

fn crud_collection(s: &Server, p: &Project, schema: &Schema, c: usize, route: &str) {
    let coll = &schema.collections[c];
    let t = &schema.tables[coll.table];
    let base = format!("/api/{route}");
    let list = call("GET", &s.url(&base), None, None);
    list.status(200);
    let records = json(&list).as_array().unwrap().clone();
    assert!(!records.is_empty(), "{base} is empty");
    let key_field = coll.key_field.as_deref();
    // The key of the first record: its key field, else the key column (a file name).
    let first_key = match key_field {
        Some(k) => match &records[0][k] {
            J::String(v) => v.clone(),
            other => other.to_string(),
        },
        None => {
            let col = &t.columns[t.key_col.unwrap_or(t.pk)].name;
            let dialect = match p.pg {
                Some(_) => jsonlift::store::Dialect::Postgres,
                None => jsonlift::store::Dialect::Sqlite,
            };
            p.sql1(&format!(
                "SELECT \"{col}\" FROM \"{}\" ORDER BY {} LIMIT 1",
                t.name,
                jsonlift::schema::ddl::rowid_column(t, dialect)
            ))
        }
    };
    let one = call(
        "GET",
        &s.url(&format!("{base}/{}", encode(&first_key))),
        None,
        None,
    );
    one.status(200);
    assert_eq!(json(&one), records[0], "GET {base}/{first_key}");
    // Rewriting a record unchanged changes nothing (export below checks it kept its file name
    // or document id).
    let first_url = s.url(&format!("{base}/{}", encode(&first_key)));
    let put = call(
        "PUT",
        &first_url,
        Some(TOKEN),
        Some(&records[0].to_string()),
    );
    assert_eq!(json(put.status(200)), records[0], "PUT {base}/{first_key}");

    // POST a copy under a fresh key.
    let copy = fresh_copy(schema, c, &records[0], key_field);
    let created = call("POST", &s.url(&base), Some(TOKEN), Some(&copy.to_string()));
    created.status(201);
    let location = created.header("location").unwrap().to_string();
    let prefix = format!("{base}/");
    let new_key = location
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("Location {location} is not under {base}"))
        .to_string();
    assert_ne!(new_key, first_key);
    let stored = json(&created);
    if let Some(k) = key_field {
        assert!(
            stored.get(k).is_some(),
            "{base}: generated key missing: {stored}"
        );
    }
    let mut without_key = stored.clone();
    if let Some(k) = key_field {
        without_key.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(
        without_key, copy,
        "{base}: POST answers the record as stored"
    );
    let url = s.url(&format!("{base}/{}", encode(&new_key)));
    // A new record of a folder collection whose key is a field goes to `<key>.json`.
    if let (Some(col), Some(k), jsonlift::source::Format::Folder) =
        (t.key_col, key_field, coll.format)
    {
        let file = p.sql1(&format!(
            "SELECT \"{}\" FROM \"{}\" WHERE \"{}\" = '{new_key}'",
            t.columns[col].name, t.name, t.columns[t.pk].name
        ));
        assert_eq!(
            file,
            format!("{new_key}.json"),
            "{base}: file of {k} {new_key}"
        );
    }
    assert_eq!(json(call("GET", &url, None, None).status(200)), stored);
    let n = call("GET", &s.url(&base), None, None);
    assert_eq!(json(&n).as_array().unwrap().len(), records.len() + 1);

    // PUT the record back; PATCH one field; DELETE.
    let put = call("PUT", &url, Some(TOKEN), Some(&stored.to_string()));
    put.status(200);
    assert_eq!(json(&put), stored, "{base}: PUT");
    let mut expected = stored.clone();
    let patch = match free_text_field(schema, c, key_field) {
        Some(f) => {
            expected[&f] = json!("patched by the CRUD test");
            json!({ f: "patched by the CRUD test" })
        }
        None => json!({}),
    };
    let patched = call("PATCH", &url, Some(TOKEN), Some(&patch.to_string()));
    patched.status(200);
    let got = json(&patched);
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&got[k], v, "{base}: PATCH kept/changed {k}");
    }
    assert_eq!(json(&call("GET", &url, None, None)), got);
    call("DELETE", &url, Some(TOKEN), None).status(200);
    call("GET", &url, None, None).status(404);
    call("DELETE", &url, Some(TOKEN), None).status(404);
    assert_eq!(
        audit_actions(s, &coll.name, Some(&new_key)),
        ["insert", "update", "update", "delete"],
        "{base}: audit of {new_key}"
    );
    let n = call("GET", &s.url(&base), None, None);
    assert_eq!(json(&n), J::Array(records), "{base}: back as it was");
}

fn crud_document(s: &Server, schema: &Schema, c: usize, route: &str) {
    let coll = &schema.collections[c];
    let url = s.url(&format!("/api/{route}"));
    let doc = json(call("GET", &url, None, None).status(200));
    let put = call("PUT", &url, Some(TOKEN), Some(&doc.to_string()));
    put.status(200);
    assert_eq!(json(&put), doc, "PUT {route}");
    let (k, v) = doc.as_object().unwrap().iter().next().unwrap();
    let patched = call(
        "PATCH",
        &url,
        Some(TOKEN),
        Some(&json!({ k: v }).to_string()),
    );
    patched.status(200);
    assert_eq!(json(&patched), doc, "PATCH {route}");
    assert_eq!(
        audit_actions(s, &coll.name, None),
        ["migrate", "update", "update"],
        "audit of {route}"
    );
}

#[test]
fn serve_crud_on_every_example_then_export_gives_the_files_back() {
    for name in example_names() {
        let p = example(&name, TOKENS);
        let project = jsonlift::config::Project::load(&p.config()).unwrap();
        let mut p = p;
        if p.pg.is_none() {
            p.db_rel = project
                .database_path()
                .strip_prefix(&p.root)
                .unwrap()
                .display()
                .to_string();
        }
        let schema = Schema::build(&project).unwrap();
        let routes = jsonlift::api::routes(&project, "/api").unwrap();
        let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
        for (c, route) in routes.iter().enumerate() {
            if schema.tables[schema.collections[c].table].document {
                crud_document(&s, &schema, c, route);
            } else {
                crud_collection(&s, &p, &schema, c, route);
            }
        }
        assert_eq!(s.stop(), Some(0), "{name}: clean shutdown");
        let out = p.export();
        let config: toml::Table = std::fs::read_to_string(p.config())
            .unwrap()
            .parse()
            .unwrap();
        let sources = crate::examples::source_files(&p.root, &config);
        assert!(!sources.is_empty());
        for f in &sources {
            assert_exported_identical(&p, &out, f);
        }
        for f in list_files(&out) {
            assert_exported_identical(&p, &out, &f);
        }
    }
}

/// Conditional requests (issue #18): a strong `ETag` on records, documents and lists;
/// `If-None-Match` answers 304; `If-Match` on PUT, PATCH and DELETE answers 412 on another
/// version and changes nothing; every answer says `Cache-Control: no-cache`, as json-server.
#[test]
fn serve_crud_conditional_requests() {
    use crate::serve::call_with;
    let p = example("jsonserver", TOKENS);
    let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
    let url = s.url("/api/posts/1");
    let etag = |r: &crate::serve::Resp| r.header("etag").expect("an ETag").to_string();
    // The status of a GET revalidating `tag`, and of a PATCH of `url` on condition `tag`.
    let revalidate =
        |url: &str, tag: &str| call_with("GET", url, None, None, &[("If-None-Match", tag)]).status;
    let patch_if = |url: &str, body: &str, tag: &str| {
        call_with("PATCH", url, Some(TOKEN), Some(body), &[("If-Match", tag)])
    };

    let r = call("GET", &url, None, None);
    r.status(200);
    let tag = etag(&r);
    assert!(
        tag.starts_with('"') && !tag.starts_with("W/"),
        "strong: {tag}"
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let before = r.body.clone();
    let r = call_with("GET", &url, None, None, &[("If-None-Match", &tag)]);
    r.status(304);
    assert_eq!((r.body.as_str(), etag(&r)), ("", tag.clone()));
    let list_tag = etag(&call("GET", &s.url("/api/posts"), None, None));
    assert_eq!(revalidate(&s.url("/api/posts"), &list_tag), 304);

    // Another version, a weak tag, or none that exists: 412, and nothing changes.
    for wrong in [r#""0123""#, &format!("W/{tag}"), ""] {
        let r = patch_if(&url, r#"{"views": 7}"#, wrong);
        assert_eq!(r.status, 412, "If-Match {wrong:?}: {}", r.body);
        assert!(r.body.contains("nothing was written"), "{}", r.body);
    }
    assert_eq!(call("GET", &url, None, None).body, before);
    assert_eq!(audit_actions(&s, "posts", Some("1")), Vec::<String>::new());

    // The current version: the write goes through and answers the new version.
    let r = patch_if(&url, r#"{"views": 7}"#, &tag);
    r.status(200);
    let new_tag = etag(&r);
    assert_ne!(new_tag, tag);
    assert_eq!(etag(&call("GET", &url, None, None)), new_tag);
    assert_eq!(revalidate(&url, &tag), 200);
    assert_eq!(revalidate(&s.url("/api/posts"), &list_tag), 200);
    for (m, body) in [("PUT", Some(r#"{"title": "stale"}"#)), ("DELETE", None)] {
        let r = call_with(m, &url, Some(TOKEN), body, &[("If-Match", &tag)]);
        assert_eq!(r.status, 412, "{m} with the old version: {}", r.body);
    }

    // Several writers holding the same version: exactly one wins (the check is inside the
    // write's transaction), the others are told the record changed.
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6)
            .map(|i| {
                let (url, new_tag) = (&url, &new_tag);
                sc.spawn(move || {
                    patch_if(url, &format!(r#"{{"views": {}}}"#, 100 + i), new_tag).status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 412).count(),
        5,
        "{statuses:?}"
    );

    // `*`: any version of a record that exists; a missing record has none.
    let current = etag(&call("GET", &url, None, None));
    call_with("DELETE", &url, Some(TOKEN), None, &[("If-Match", &current)]).status(200);
    let r = call_with(
        "PUT",
        &url,
        Some(TOKEN),
        Some(r#"{"title": "x"}"#),
        &[("If-Match", "*")],
    );
    assert_eq!(r.status, 412, "{}", r.body);

    // A document: the same rules.
    let doc = s.url("/api/profile");
    let tag = etag(&call("GET", &doc, None, None));
    assert_eq!(patch_if(&doc, r#"{"bio": "x"}"#, r#""0""#).status, 412);
    patch_if(&doc, r#"{"bio": "x"}"#, &tag).status(200);
}
