//! The use cases behind every endpoint and WebSocket frame, each over `Arc<dyn Port>`.

pub mod admin;
pub mod auth;
pub mod chat;
mod error;
pub mod events;
mod membership;
pub mod message;
mod password;
pub mod presence;
pub mod throttle;
pub mod tokens;

pub use error::{AppError, AppResult};

#[cfg(test)]
mod tests;
