//! The rule every test that needs a real Redis or PostgreSQL follows: when the
//! service cannot be reached the test prints one `skipped: ...` line and passes, so
//! `cargo test` works on a machine without them; with `WEBCHAT_REQUIRE_SERVICES=1`
//! (CI sets it) it fails instead, so CI can never pass by skipping.

use std::fmt::Display;

/// True when tests must fail instead of skipping (`WEBCHAT_REQUIRE_SERVICES=1`).
pub fn services_required() -> bool {
    std::env::var("WEBCHAT_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Reports that `what` is unreachable (`why`): prints `skipped: ...`, or panics when
/// services are required. The caller returns right after.
pub fn skip_or_fail(what: &str, why: impl Display) {
    if services_required() {
        panic!("{what} is required (WEBCHAT_REQUIRE_SERVICES=1) but unreachable: {why}");
    }
    println!("skipped: {what} unreachable ({why})");
}
