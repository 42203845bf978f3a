use thiserror::Error;

/// A rule of the model was broken. Each variant names the rule so the front door can
/// turn it into a precise error code without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// An input value is outside the limits of docs/protocol.md.
    #[error("{field}: {reason}")]
    Validation { field: &'static str, reason: String },
    /// A string that should be an identifier is not one.
    #[error("invalid {kind} id: {value:?}")]
    InvalidId { kind: &'static str, value: String },
}

impl DomainError {
    pub fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Validation {
            field,
            reason: reason.into(),
        }
    }
}
