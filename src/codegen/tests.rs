//! Unit tests of what the targets share: names, nullability, uniques and indexes, the record
//! shape, and the string patterns (which must accept exactly what jsonlift accepts).
