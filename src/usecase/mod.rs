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

#[cfg(test)]
mod tests;
