//! webchat's pure model.
//!
//! Everything here is plain data and rules: identifiers, the entities the chat is made
//! of, the events instances exchange, and validated newtypes that refuse bad input at
//! construction so that nothing downstream re-checks raw strings. No async, no I/O.

pub mod change;
pub mod chat;
pub mod error;
pub mod event;
pub mod ids;
pub mod message;
pub mod presence;
pub mod rate_limit;
pub mod session;
pub mod time;
pub mod user;
pub mod validation;

pub use change::{ChangeKind, ChatChange, ChatHead};
pub use chat::Chat;
pub use error::DomainError;
pub use event::{Event, Topic};
pub use ids::{ChatId, InstanceId, MessageId, SessionId, SocketId, UserId};
pub use message::{Message, NewMessage};
pub use presence::{PresenceStatus, UserPresence};
pub use rate_limit::{RateLimitDecision, RateLimitPolicy};
pub use session::{TokenFingerprint, UserSession};
pub use time::{chrono_duration, reconnect_backoff};
pub use user::User;
pub use validation::{
    reject_control_chars, ChatName, ClientMsgId, DisplayName, MessageContent, Password, Username,
    UsernamePrefix,
};
