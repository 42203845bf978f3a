//! Delivery you can count on, proven by causing the faults: two real instances on
//! Redis and PostgreSQL, and on every socket each `message.created` exactly once, in
//! seq order, with no gaps, whatever happens to pub/sub; recovery after an absence
//! pages through everything and brings the changes too.

#[path = "../common/mod.rs"]
mod common;
mod faults;
mod ordering;
mod recovery;
mod support;
mod write_path;
