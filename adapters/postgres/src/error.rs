//! How database failures become port errors.
//!
//! Anything that means "the database could not answer" (pool timeout, refused or
//! dropped connection, a failed statement) is `Unavailable`, so the front door answers
//! 503 and callers degrade; constraint violations that a caller can cause are
//! `Conflict` or `NotFound`; rows this code cannot read are `Corrupt`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::bb8::RunError;
use webchat_ports::PortError;

/// The unique index on `lower(users.username)`.
pub(crate) const USERNAME_KEY: &str = "users_username_lower_key";
/// The partial unique index on `(chat_id, sender_id, client_msg_id)`.
pub(crate) const IDEMPOTENCY_KEY: &str = "messages_idempotency_key";

/// A pool that could not hand out a connection in time.
pub(crate) fn pool_error(e: RunError) -> PortError {
    tracing::warn!(error = %e, "postgres pool could not provide a connection");
    PortError::unavailable(format!("postgres pool: {e}"))
}

/// The name of the violated constraint, when the error is one.
pub(crate) fn violated_constraint(e: &DieselError) -> Option<(&DatabaseErrorKind, &str)> {
    match e {
        DieselError::DatabaseError(kind, info) => info.constraint_name().map(|c| (kind, c)),
        _ => None,
    }
}

/// The default mapping; callers match the violations they expect before falling back
/// to it.
pub(crate) fn query_error(e: DieselError) -> PortError {
    match &e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            PortError::Conflict(conflict_code(info.constraint_name()).to_owned())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            PortError::NotFound
        }
        DieselError::DeserializationError(_) => PortError::Corrupt(e.to_string()),
        DieselError::NotFound => PortError::NotFound,
        _ => {
            tracing::warn!(error = %e, "postgres query failed");
            PortError::unavailable(format!("postgres: {e}"))
        }
    }
}

fn conflict_code(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some(USERNAME_KEY) => "username_taken",
        Some("users_pkey") => "user_exists",
        Some("chats_pkey") => "chat_exists",
        Some("messages_pkey") => "message_exists",
        Some(IDEMPOTENCY_KEY) => "duplicate_client_msg_id",
        _ => "conflict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_database_failures_are_unavailable() {
        let e = query_error(DieselError::BrokenTransactionManager);
        assert!(e.is_unavailable(), "{e:?}");
        assert_eq!(query_error(DieselError::NotFound), PortError::NotFound);
    }

    #[test]
    fn conflicts_are_named_after_their_constraint() {
        assert_eq!(conflict_code(Some(USERNAME_KEY)), "username_taken");
        assert_eq!(conflict_code(Some("chats_pkey")), "chat_exists");
        assert_eq!(conflict_code(None), "conflict");
    }
}
