//! Error responses: every failure is `{"error": code, "message": text}` with a
//! status that fits, whether a use case refused or the request never parsed.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::usecase::AppError;

#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Machine-readable code (`validation`, `unauthorized`, `forbidden`, ...).
    pub error: String,
    /// Human-readable detail.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
        }
    }
}

/// The error responses every API operation may give.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed or a value is outside its limits.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid, expired or revoked credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The caller may not do this (e.g. not a member of the chat).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The thing does not exist.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The path exists, not with this method (`method_not_allowed`; `Allow` lists
    /// the methods it has).
    #[oai(status = 405)]
    MethodNotAllowed(Json<ErrorBody>),
    /// The request clashes with existing data (`username_taken`, `chat_full`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is over 64 KiB (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A body sent without `Content-Type: application/json`
    /// (`unsupported_media_type`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Throttled: retry after the given number of seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        #[oai(header = "Retry-After")] u64,
        #[oai(header = "RateLimit-Limit")] u32,
        #[oai(header = "RateLimit-Remaining")] u32,
        #[oai(header = "RateLimit-Reset")] u64,
    ),
    /// A server-side failure (details are logged, never returned).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A backend is down (`auth_unavailable` when sessions cannot be verified).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Whole seconds, rounded up, so a client that waits this long is let in.
pub fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Logs a server-side failure with its whole cause chain: the one place where REST
/// and WebSocket answers alike report what went wrong on our side.
pub fn log_server_error(e: &AppError) {
    if !e.is_server_side() {
        return;
    }
    let mut causes = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    let cause = causes.join(": ");
    match e {
        AppError::Internal(_) => tracing::error!(code = e.code(), %cause, "request failed"),
        _ => tracing::warn!(code = e.code(), %cause, "request failed"),
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        log_server_error(&e);
        let body = Json(ErrorBody::new(e.code(), e.public_message()));
        match e {
            AppError::Validation { .. } => Self::BadRequest(body),
            AppError::Unauthorized | AppError::InvalidCredentials | AppError::InvalidToken => {
                Self::Unauthorized(body)
            }
            AppError::Forbidden => Self::Forbidden(body),
            AppError::NotFound(_) => Self::NotFound(body),
            AppError::UsernameTaken | AppError::ChatFull(_) => Self::Conflict(body),
            AppError::TooManyRequests(d) => {
                let reset = ceil_secs(d.reset_after);
                Self::TooManyRequests(body, reset.max(1), d.limit, d.remaining, reset)
            }
            AppError::AuthUnavailable(_) | AppError::Unavailable(_) => Self::Unavailable(body),
            AppError::Internal(_) => Self::Internal(body),
        }
    }
}

/// The code clients see for a status the framework produced itself.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Turns framework errors (unparsable JSON, bad path ids, missing auth header, body
/// too large, unknown route) into the JSON error shape; our own responses pass.
pub fn render_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled server error");
        "internal server error".to_owned()
    } else {
        err.to_string()
    };
    (
        status,
        poem::web::Json(ErrorBody::new(code_for(status), message)),
    )
        .into_response()
}
