//! Argon2id password hashing, off the async runtime (it is deliberately slow).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;
use tokio::sync::Semaphore;
use webchat_domain::Password;

use super::{AppError, AppResult};

/// Argon2 takes ~19 MiB and tens of milliseconds per call: at most this many run at
/// once, so a burst of logins queues instead of multiplying memory (each blocking
/// thread would otherwise grow its own allocator arena).
const MAX_CONCURRENT_HASHES: usize = 2;

fn permits() -> &'static Semaphore {
    static PERMITS: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);
    &PERMITS
}

async fn run_limited<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| AppError::Internal(format!("hash permits closed: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(format!("hashing task failed: {e}")))
}

pub async fn hash(password: Password) -> AppResult<String> {
    run_limited(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
    })
    .await?
}

/// Verifies `password` against `stored`; with `None` (unknown user) it verifies
/// against a dummy hash, so "no such user" and "wrong password" take the same time.
pub async fn verify(password: String, stored: Option<String>) -> AppResult<bool> {
    run_limited(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && ok
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"timing-equaliser", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
