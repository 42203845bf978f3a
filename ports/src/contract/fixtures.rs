//! Builders and small async tools shared by the suites.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;
use webchat_domain::{DisplayName, User, UserId, Username};

/// A short random tag that keeps names unique in databases shared between runs.
pub(crate) fn tag() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// A timestamp the way a database keeps it (PostgreSQL stores microseconds), so a
/// value read back compares equal to the one written.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A user with a unique name starting with `prefix` (at most 20 characters).
pub(crate) fn user(prefix: &str) -> User {
    let name = format!("{prefix}_{}", tag());
    User {
        id: UserId::new(),
        username: Username::parse(&name).expect("fixture username is valid"),
        display_name: DisplayName::parse(prefix).expect("fixture display name is valid"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: micros(Utc::now()),
    }
}
