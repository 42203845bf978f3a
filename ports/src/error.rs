use thiserror::Error;

/// The failure of a port call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// The backend is down, timed out or failed. Retryable; callers degrade per
    /// docs/protocol.md (fail open, fall back, or answer 503). The text is for logs only.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The thing the call must act on does not exist.
    #[error("not found")]
    NotFound,
    /// The write clashes with existing data (e.g. a taken username).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend holds data this code cannot read (corrupt or from a newer version).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl PortError {
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        Self::Unavailable(e.to_string())
    }
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
