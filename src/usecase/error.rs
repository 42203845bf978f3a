use std::time::Duration;

use thiserror::Error;
use webchat_domain::{DomainError, RateLimitDecision};
use webchat_ports::PortError;

/// Why a use case refused or failed. Only `src/http` turns these into status codes
/// and error frames; the `code()` strings are the CONTRACT.md error codes.
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
    #[error("too many requests")]
    TooManyRequests(RateLimitDecision),
    /// The session store cannot answer: authentication fails closed.
    #[error("authentication is temporarily unavailable")]
    AuthUnavailable,
    /// A backend the request needs is down. The text is for logs, never for clients.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data. The text is for logs, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
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
            Self::TooManyRequests(_) => "too_many_requests",
            Self::AuthUnavailable => "auth_unavailable",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The text clients see: internals of 5xx errors never leak.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unavailable(_) => "a backend service is unavailable, retry later".to_owned(),
            Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
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
            PortError::Unavailable(why) => Self::Unavailable(why),
            PortError::NotFound => Self::NotFound("resource"),
            PortError::Conflict(why) => Self::Internal(format!("unexpected conflict: {why}")),
            PortError::Corrupt(why) => Self::Internal(format!("corrupt data: {why}")),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
