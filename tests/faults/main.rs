//! Faults caused on purpose (issue: hardening): the database going away, an
//! instance killed, a client that stops reading, and a flood of random frames.
//! (The frame parser's property tests live beside it, in src/http/ws.)

#[path = "../common/mod.rs"]
mod common;

mod database;
mod fuzz;
mod instance_crash;
mod slow_reader;
