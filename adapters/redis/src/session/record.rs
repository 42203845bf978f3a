//! The stored form of a session: its JSON, and the expiry that goes with it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use webchat_domain::UserSession;
use webchat_ports::PortResult;

use crate::backend::{corrupt, millis};

pub(super) fn encode(session: &UserSession) -> PortResult<String> {
    serde_json::to_string(session).map_err(|e| corrupt("session", e))
}

/// A session from its stored JSON, expired or not.
pub(super) fn decode(json: &str) -> PortResult<UserSession> {
    serde_json::from_str(json).map_err(|e| corrupt("session", e))
}

/// A live session from its stored JSON; `None` once past `expires_at`.
pub(super) fn live(json: Option<String>) -> PortResult<Option<UserSession>> {
    let Some(json) = json else { return Ok(None) };
    let session = decode(&json)?;
    Ok((!session.is_expired(Utc::now())).then_some(session))
}

/// Milliseconds left until `at`; at least 1, so a past instant expires at once.
pub(super) fn ttl_ms(at: DateTime<Utc>) -> u64 {
    millis((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}
