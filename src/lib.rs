//! jsonlift lifts an application's JSON-file storage into a real database without losing a
//! byte of meaning, and can put it back.
//!
//! The modules follow the data: [`config`] reads `jsonlift.toml`; [`schema`] turns it into
//! tables, validation and the rules to take records apart and put them back together;
//! [`source`] reads and writes each storage shape through [`json`]; [`store`] holds the
//! database side; [`migrate`] runs check, migrate, verify and export.

pub mod api;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod codegen;
pub mod config;
pub mod copy;
pub mod error;
pub mod infer;
pub mod json;
pub mod migrate;
pub mod process;
pub mod schema;
pub mod source;
pub mod store;
pub mod sync;
pub mod writeback;
