use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use webchat_domain::{DomainError, RateLimitDecision};
use webchat_ports::PortError;

/// A failure that is our fault (a bug, corrupt data, a dead worker thread), kept
/// with its cause for the log.
pub type InternalCause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a use case refused or failed. Only `src/http` turns these into status codes
/// and error frames; the `code()` strings are the error codes of docs/protocol.md.
/// Server-side failures keep their cause (`source()`), which is logged once, where
/// the front door answers (`crate::http::error::log_server_error`), never sent.
#[derive(Debug, Clone, Error)]
pub enum AppError {
    #[error("{field}: {reason}")]
    Validation { field: &'static str, reason: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("not allowed")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("username is taken")]
    UsernameTaken,
    /// The chat has as many members as it may (`WEBCHAT_MAX_CHAT_MEMBERS`).
    #[error("the chat is full: at most {0} members")]
    ChatFull(usize),
    #[error("too many requests")]
    TooManyRequests(RateLimitDecision),
    /// The session store cannot answer: authentication fails closed.
    #[error("authentication is temporarily unavailable")]
    AuthUnavailable(#[source] PortError),
    /// A backend the request needs is down.
    #[error("a backend service is unavailable")]
    Unavailable(#[source] PortError),
    /// A bug or corrupt data.
    #[error("internal error")]
    Internal(#[source] InternalCause),
}

/// An internal failure described only by text (no underlying error value).
#[derive(Debug, Error)]
#[error("{0}")]
pub struct Bug(pub String);

impl AppError {
    /// An internal error from a description.
    pub fn internal(what: impl Into<String>) -> Self {
        Self::Internal(Arc::new(Bug(what.into())))
    }

    /// The machine-readable code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::UsernameTaken => "username_taken",
            Self::ChatFull(_) => "chat_full",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::AuthUnavailable(_) => "auth_unavailable",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The text clients see: causes of 5xx errors never leak.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unavailable(_) => "a backend service is unavailable, retry later".to_owned(),
            Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }

    /// True for failures on our side (5xx), which are logged with their cause.
    pub fn is_server_side(&self) -> bool {
        matches!(
            self,
            Self::AuthUnavailable(_) | Self::Unavailable(_) | Self::Internal(_)
        )
    }

    /// For throttled requests: how long until the window resets.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TooManyRequests(d) => Some(d.reset_after),
            _ => None,
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation { field, reason } => Self::Validation { field, reason },
            DomainError::InvalidId { kind, value } => Self::Validation {
                field: kind,
                reason: format!("not a valid id: {value:?}"),
            },
        }
    }
}

impl From<PortError> for AppError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Unavailable(_) => Self::Unavailable(e),
            PortError::NotFound => Self::NotFound("resource"),
            PortError::Conflict(_) | PortError::Corrupt(_) => Self::Internal(Arc::new(e)),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
