//! PostgreSQL repositories for webchat (diesel-async over a bb8 pool), with the
//! migrations of `migrations/` embedded.
//!
//! - [`backend`]: [`PgConfig`], [`PgBackend`] (the pool; `run_migrations`; builds the
//!   repositories and the health check).
//! - [`users`], [`chats`], [`messages`]: the repository ports. Per-chat `seq` comes
//!   from `chats.last_seq`, incremented in the insert's transaction: the row lock
//!   serializes senders across processes and a rollback undoes it, so seqs are gapless.
//! - [`health`]: the `database` entry of `/health`.
//! - `testing` (feature `testing`): a throwaway database per test.
//!
//! Errors: a database that cannot answer is `PortError::Unavailable`; a taken
//! username or id is `Conflict`; a missing chat or user behind a write is `NotFound`.

pub mod backend;
pub mod chats;
mod error;
pub mod health;
pub mod messages;
mod prepared;
mod rows;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;

pub use backend::{PgBackend, PgConfig, PgError, PgPoolState};
pub use chats::PgChatRepository;
pub use health::PgHealthCheck;
pub use messages::PgMessageRepository;
pub use users::PgUserRepository;
