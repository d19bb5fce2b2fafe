//! The REST API over the lifted data.

pub mod query;
