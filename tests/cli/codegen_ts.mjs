// The consumers' side of tests/cli/codegen_ts.rs: the generated code, compiled by tsc, used the
// way an application uses it. It reports what it saw as JSON on stdout; the Rust test compares
// that with the database (rusqlite, or PostgreSQL's catalog) and with its own expectations.
//
//   node codegen_ts.mjs drizzle DIR DB      DIR/schema.js (compiled), DB a migrated database
//   node codegen_ts.mjs drizzle-pg DIR URL  the same through node-postgres, URL a PostgreSQL
//                                           database holding the migrated schema
//   node codegen_ts.mjs records DIR         DIR/zod.js (compiled), DIR/schema.json, DIR/records.json
//                                           ({collection: [record...]}), DIR/mutations.json

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, dir, dbPath] = process.argv.slice(2);
const load = (name) => import(pathToFileURL(path.join(dir, name)).href);

if (mode === 'drizzle' || mode === 'drizzle-pg') {
  const { is, getTableName, normalizeRelation, Many } = await import('drizzle-orm');
  const schema = await load('schema.js');
  // The same report on either database: only the driver and the core module differ.
  let db, Table, getTableConfig, selectAll, close;
  if (mode === 'drizzle') {
    const { default: Database } = await import('better-sqlite3');
    const { drizzle } = await import('drizzle-orm/better-sqlite3');
    ({ SQLiteTable: Table, getTableConfig } = await import('drizzle-orm/sqlite-core'));
    const client = new Database(dbPath, { readonly: true, fileMustExist: true });
    db = drizzle(client, { schema });
    selectAll = async (t) => db.select().from(t).all();
    close = async () => client.close();
  } else {
    // dbPath is a postgres:// URL here; the tables name their schema (pgSchema).
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    ({ PgTable: Table, getTableConfig } = await import('drizzle-orm/pg-core'));
    const pool = new pg.Pool({ connectionString: dbPath, max: 2 });
    db = drizzle(pool, { schema });
    selectAll = async (t) => await db.select().from(t);
    close = () => pool.end();
  }

  const tables = [];
  for (const [exported, t] of Object.entries(schema)) {
    if (!is(t, Table)) continue;
    const cfg = getTableConfig(t);
    // Every column of every row, read and decoded (JSON columns parsed) by Drizzle.
    const rows = await selectAll(t);
    tables.push({
      exported,
      name: cfg.name,
      rows: rows.length,
      columns: cfg.columns.map((c) => ({ name: c.name, primary: c.primary, unique: c.isUnique, notNull: c.notNull })),
      primaryKeys: cfg.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
      foreignKeys: cfg.foreignKeys.map((fk) => {
        const r = fk.reference();
        return {
          columns: r.columns.map((c) => c.name),
          table: getTableName(r.foreignTable),
          foreignColumns: r.foreignColumns.map((c) => c.name),
          onDelete: fk.onDelete ?? null,
          onUpdate: fk.onUpdate ?? null,
        };
      }),
      uniques: cfg.uniqueConstraints.map((u) => u.columns.map((c) => c.name)),
      indexes: cfg.indexes.map((i) => ({
        name: i.config.name,
        columns: i.config.columns.map((c) => c.name),
        partial: i.config.where !== undefined,
      })),
    });
  }

  // Every relation, through the relational query API: `with: {relation: true}`.
  const rs = db._.schema;
  const keyOf = (tableTs, column) =>
    Object.entries(rs[tableTs].columns).find(([, c]) => c === column)[0];
  const relations = [];
  for (const [tsName, tc] of Object.entries(rs)) {
    for (const [relation, rel] of Object.entries(tc.relations)) {
      const target = getTableName(rel.referencedTable);
      const other = Object.keys(rs).find((k) => rs[k].dbName === target);
      // This table's columns and the other table's, for a many relation too (taken from the
      // one relation on the other side).
      const { fields: own, references: theirs } = normalizeRelation(rs, db._.tableNamesMap, rel);
      const many = is(rel, Many);
      const ownKey = keyOf(tsName, own[0]);
      const theirKey = keyOf(other, theirs[0]);
      const rows = await db.query[tsName].findMany({ with: { [relation]: true } });
      const out = {
        table: tc.dbName,
        relation,
        kind: many ? 'many' : 'one',
        target: rs[other].dbName,
        columns: own.map((c) => c.name),
        targetColumns: theirs.map((c) => c.name),
        rows: rows.length,
      };
      if (many) {
        out.counts = rows.map((r) => {
          const related = r[relation];
          if (!related.every((x) => String(x[theirKey]) === String(r[ownKey]))) {
            throw new Error(`${tsName}.${relation}: a related row does not point at its parent`);
          }
          return [String(r[ownKey]), related.length];
        });
      } else {
        out.matched = rows.filter(
          (r) => r[relation] != null && String(r[relation][theirKey]) === String(r[ownKey]),
        ).length;
      }
      relations.push(out);
    }
  }
  await close();
  console.log(JSON.stringify({ tables, relations }));
} else if (mode === 'records') {
  const { default: Ajv2020 } = await import('ajv/dist/2020.js');
  const { default: addFormats } = await import('ajv-formats');
  const { collections } = await load('zod.js');
  const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  const doc = read('schema.json');
  const records = read('records.json');
  const mutations = read('mutations.json');

  // Strict: an unknown keyword or a misplaced one in the generated document is an error.
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'records.json'); // validates the document against the 2020-12 meta-schema
  const pointer = (s) => encodeURIComponent(s.replaceAll('~', '~0').replaceAll('/', '~1'));
  const validator = (c) => {
    const v = ajv.getSchema(`records.json#/$defs/${pointer(c)}`);
    if (!v) throw new Error(`no $defs entry for collection ${c}`);
    return v;
  };
  const zod = (c) => {
    const z = collections[c];
    if (!z) throw new Error(`no Zod schema for collection ${c}`);
    return z;
  };
  // The same JSON value, whatever the key order.
  const canonical = (v) =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
        : v;
  const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
  const check = (c, record) => {
    const v = validator(c);
    const ok = v(record);
    const z = zod(c).safeParse(record);
    // A record Zod accepts must come out whole: keys the schema does not name are kept.
    const kept = z.success && same(z.data, record);
    return {
      jsonSchema: ok,
      jsonSchemaErrors: ok ? null : ajv.errorsText(v.errors),
      zod: kept,
      zodErrors: z.success
        ? kept ? null : `parsed, but the data differs: ${JSON.stringify(z.data)}`
        : JSON.stringify(z.error.issues),
    };
  };

  const report = { collections: {}, defs: Object.keys(doc.$defs), zod: Object.keys(collections), mutations: [] };
  for (const [c, list] of Object.entries(records)) {
    const failures = [];
    list.forEach((r, i) => {
      const res = check(c, r);
      if (!res.jsonSchema || !res.zod) failures.push({ index: i, ...res });
    });
    report.collections[c] = { records: list.length, failures };
  }
  for (const m of mutations) {
    const r = structuredClone(records[m.collection][0]);
    if (m.op === 'delete') delete r[m.field];
    else r[m.field] = m.value;
    report.mutations.push({ ...m, ...check(m.collection, r) });
  }
  console.log(JSON.stringify(report));
} else {
  throw new Error(`unknown mode ${mode}`);
}
