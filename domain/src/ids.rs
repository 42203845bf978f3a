use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7), so ids sort roughly by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| DomainError::InvalidId {
                    kind: $kind,
                    value: s.chars().take(64).collect(),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

uuid_id!(
    /// Identifies a registered user.
    UserId,
    "user"
);
uuid_id!(
    /// Identifies a chat (a conversation with members).
    ChatId,
    "chat"
);
uuid_id!(
    /// Identifies a stored message.
    MessageId,
    "message"
);
uuid_id!(
    /// Identifies a login session; access tokens carry it.
    SessionId,
    "session"
);

/// Identifies one running webchat process. Socket ids embed it so any instance can
/// tell which process owns a socket, and the cleanup job can drop the sockets of a
/// process that stopped heart-beating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(String);

impl InstanceId {
    /// A fresh random instance id (no ':' inside, so socket ids split unambiguously).
    pub fn random() -> Self {
        Self(Uuid::new_v4().simple().to_string())
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() || s.len() > 64 || s.contains(':') || s.chars().any(char::is_whitespace) {
            return Err(DomainError::InvalidId {
                kind: "instance",
                value: s.chars().take(64).collect(),
            });
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One WebSocket connection, written `{instanceId}:{connId}` (docs/protocol.md, key schema).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SocketId(String);

impl SocketId {
    pub fn new(instance: &InstanceId, conn: Uuid) -> Self {
        // Kept for the socket's life: no slack beyond its length.
        let mut id = format!("{}:{}", instance, conn.simple());
        id.shrink_to_fit();
        Self(id)
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.split_once(':') {
            Some((instance, conn)) if !conn.is_empty() && InstanceId::parse(instance).is_ok() => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(DomainError::InvalidId {
                kind: "socket",
                value: s.chars().take(64).collect(),
            }),
        }
    }
    /// The instance that owns this socket.
    pub fn instance(&self) -> &str {
        self.0.split_once(':').map_or(self.0.as_str(), |(i, _)| i)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_reject() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        assert!(matches!(
            "not-a-uuid".parse::<ChatId>(),
            Err(DomainError::InvalidId { kind: "chat", .. })
        ));
    }

    #[test]
    fn socket_id_names_its_instance() {
        let instance = InstanceId::parse("node-a").unwrap();
        let socket = SocketId::new(&instance, Uuid::new_v4());
        assert_eq!(socket.instance(), "node-a");
        assert_eq!(SocketId::parse(socket.as_str()).unwrap(), socket);
        assert!(SocketId::parse("no-colon").is_err());
        assert!(InstanceId::parse("a:b").is_err());
    }
}
