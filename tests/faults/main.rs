//! Faults caused on purpose (issue: hardening): the database going away, an
//! instance killed, a client that stops reading, and a flood of random frames.

#[path = "../common/mod.rs"]
mod common;

mod database;
