//! The use cases behind every endpoint and WebSocket frame, each over `Arc<dyn Port>`,
//! bundled as [`UseCases`] for the front doors.

pub mod admin;
pub mod auth;
mod bundle;
pub mod chat;
mod error;
pub mod events;
pub mod feed;
pub mod health;
mod membership;
pub mod message;
mod password;
pub mod presence;
pub mod sequencer;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use bundle::{Ports, Settings, UseCases};
pub use error::{AppError, AppResult, Bug, InternalCause};

/// Entries per page of the lists (`GET /api/chats`, `GET /api/users/online`): the
/// default and the largest `limit`.
pub const DEFAULT_LIST_PAGE: usize = 100;
pub const MAX_LIST_PAGE: usize = 200;

/// A list page's size: `limit` 1..=[`MAX_LIST_PAGE`], [`DEFAULT_LIST_PAGE`] when
/// absent.
pub fn list_limit(limit: Option<usize>) -> AppResult<usize> {
    let limit = limit.unwrap_or(DEFAULT_LIST_PAGE);
    if !(1..=MAX_LIST_PAGE).contains(&limit) {
        return Err(AppError::Validation {
            field: "limit",
            reason: format!("must be 1 to {MAX_LIST_PAGE}"),
        });
    }
    Ok(limit)
}

#[cfg(test)]
mod tests;
