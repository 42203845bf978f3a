//! Newtypes that validate on construction, with the limits of docs/protocol.md.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;

fn char_len_between(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), DomainError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(DomainError::validation(
            field,
            format!("must be {min} to {max} characters, got {len}"),
        ));
    }
    Ok(())
}

/// Refuses control characters (`char::is_control`: U+0000..U+001F and
/// U+007F..U+009F, NUL included) other than those in `allowed`: no client-supplied
/// text may carry them (PostgreSQL refuses NUL in text, and the rest corrupt
/// displays and logs). Checked on the raw input, before any trimming.
pub fn reject_control_chars(
    field: &'static str,
    value: &str,
    allowed: &[char],
) -> Result<(), DomainError> {
    match value
        .chars()
        .find(|c| c.is_control() && !allowed.contains(c))
    {
        Some(c) => Err(DomainError::validation(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

/// The control characters message content may hold: line breaks and tabs.
pub const CONTENT_CONTROL_CHARS: &[char] = &['\n', '\t'];

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// 3..32 characters of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("username", raw, &[])?;
        char_len_between("username", raw, 3, 32)?;
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(DomainError::validation(
                "username",
                "may only contain letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// 8..128 characters, no control characters. Never displayed or serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("password", raw, &[])?;
        char_len_between("password", raw, 8, 128)?;
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// 1..4000 characters after trimming surrounding whitespace; stored trimmed. No
/// control characters but line breaks (`\n`) and tabs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageContent(String);
string_newtype!(MessageContent);

impl MessageContent {
    pub const MAX_CHARS: usize = 4000;
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("content", raw, CONTENT_CONTROL_CHARS)?;
        let trimmed = raw.trim();
        char_len_between("content", trimmed, 1, Self::MAX_CHARS)?;
        Ok(Self(trimmed.to_owned()))
    }
}

/// 1..100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatName(String);
string_newtype!(ChatName);

impl ChatName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("name", raw, &[])?;
        let trimmed = raw.trim();
        char_len_between("name", trimmed, 1, 100)?;
        Ok(Self(trimmed.to_owned()))
    }
}

/// 1..64 characters after trimming, no control characters; defaults to the
/// username when absent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("display_name", raw, &[])?;
        let trimmed = raw.trim();
        char_len_between("display_name", trimmed, 1, 64)?;
        Ok(Self(trimmed.to_owned()))
    }
}

/// A client-chosen idempotency key for sends: 1..64 printable ASCII characters.
/// The same key from the same sender yields the same message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientMsgId(String);
string_newtype!(ClientMsgId);

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("client_msg_id", raw, &[])?;
        char_len_between("client_msg_id", raw, 1, 64)?;
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(DomainError::validation(
                "client_msg_id",
                "must be printable ASCII without spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A prefix to find users by (`GET /api/users?q=`): 1..32 of the characters a
/// username may contain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsernamePrefix(String);
string_newtype!(UsernamePrefix);

impl UsernamePrefix {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        reject_control_chars("q", raw, &[])?;
        let valid = (1..=32).contains(&raw.chars().count())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(DomainError::validation(
                "q",
                "must be 1 to 32 of the characters a username may contain",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_limits() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("bad name").is_err());
        assert!(Username::parse("ok_name.v-2").is_ok());
        assert!(Username::parse("ünï").is_err());
    }

    #[test]
    fn password_limits_and_hidden_debug() {
        assert!(Password::parse("1234567").is_err());
        let p = Password::parse("12345678").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn content_is_trimmed_and_counted_in_chars() {
        assert!(MessageContent::parse("   ").is_err());
        assert_eq!(MessageContent::parse("  hi \n").unwrap().as_str(), "hi");
        assert!(MessageContent::parse(&"é".repeat(4000)).is_ok());
        assert!(MessageContent::parse(&"é".repeat(4001)).is_err());
    }

    #[test]
    fn chat_name_and_client_msg_id() {
        assert!(ChatName::parse("").is_err());
        assert!(ChatName::parse(&"n".repeat(101)).is_err());
        assert_eq!(ChatName::parse(" general ").unwrap().as_str(), "general");
        assert!(ClientMsgId::parse("abc-1").is_ok());
        assert!(ClientMsgId::parse("has space").is_err());
        assert!(ClientMsgId::parse(&"x".repeat(65)).is_err());
    }

    /// Every control character (NUL included) is refused in every text field, before
    /// and after trimming; content alone takes line breaks and tabs.
    #[test]
    fn control_characters_are_refused_everywhere() {
        let controls = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_control());
        for c in controls {
            let inner = format!("ab{c}cdefgh");
            let edge = format!("abcdefgh{c}");
            for raw in [&inner, &edge] {
                let field = |r: Result<(), DomainError>| match r {
                    Err(DomainError::Validation { field, .. }) => Some(field),
                    _ => None,
                };
                assert_eq!(field(Username::parse(raw).map(drop)), Some("username"));
                assert_eq!(field(Password::parse(raw).map(drop)), Some("password"));
                assert_eq!(field(ChatName::parse(raw).map(drop)), Some("name"));
                assert_eq!(
                    field(DisplayName::parse(raw).map(drop)),
                    Some("display_name")
                );
                assert_eq!(
                    field(ClientMsgId::parse(raw).map(drop)),
                    Some("client_msg_id")
                );
                assert_eq!(field(UsernamePrefix::parse(raw).map(drop)), Some("q"));
                let content = MessageContent::parse(raw);
                if matches!(c, '\n' | '\t') {
                    assert!(content.is_ok(), "content takes U+{:04X}", c as u32);
                } else {
                    assert_eq!(field(content.map(drop)), Some("content"));
                }
            }
        }
        let err = ChatName::parse("a\0b").unwrap_err().to_string();
        assert!(err.contains("U+0000"), "{err}");
        assert_eq!(
            MessageContent::parse("line 1\n\tline 2\n")
                .unwrap()
                .as_str(),
            "line 1\n\tline 2"
        );
        assert!(MessageContent::parse("a\r\nb").is_err(), "CR is refused");
        assert!(ChatName::parse("general\n").is_err(), "even where trimmed");
        assert!(Password::parse("pass word \u{a0}é").is_ok());
        assert!(UsernamePrefix::parse("al").is_ok());
        assert!(UsernamePrefix::parse("").is_err());
        assert!(UsernamePrefix::parse("a b").is_err());
    }

    #[test]
    fn validation_error_names_the_field() {
        let err = Username::parse("a").unwrap_err();
        assert!(matches!(
            err,
            DomainError::Validation {
                field: "username",
                ..
            }
        ));
    }
}
