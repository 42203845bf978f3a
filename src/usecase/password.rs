//! Argon2id password hashing, off the async runtime (it is deliberately slow).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use tokio::sync::oneshot;
use webchat_domain::Password;
use webchat_ports::PortError;

use super::{AppError, AppResult};

/// Argon2 takes ~19 MiB and tens of milliseconds per call. It runs on this many
/// dedicated threads (not tokio's blocking pool, where each of many threads would
/// keep its own allocator arena of that size): a burst of logins queues instead of
/// multiplying memory, and the async workers never block.
const HASH_THREADS: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs that may wait for a hashing thread; past that, logins get 503 at once
/// rather than queueing minutes of work behind a flood.
const HASH_QUEUE: usize = 256;

fn hashers() -> &'static mpsc::SyncSender<Job> {
    static JOBS: OnceLock<mpsc::SyncSender<Job>> = OnceLock::new();
    JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<Job>(HASH_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..HASH_THREADS {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("webchat-argon2-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        tx
    })
}

async fn run_limited<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let (tx, rx) = oneshot::channel();
    hashers()
        .try_send(Box::new(move || {
            // The caller gave up (timeout, disconnect): skip the expensive work.
            if !tx.is_closed() {
                let _ = tx.send(work());
            }
        }))
        .map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                AppError::Unavailable(PortError::unavailable("password hashing queue is full"))
            }
            mpsc::TrySendError::Disconnected(_) => {
                AppError::internal("password hashing threads are gone")
            }
        })?;
    rx.await
        .map_err(|_| AppError::internal("password hashing job was dropped"))
}

pub async fn hash(password: Password) -> AppResult<String> {
    run_limited(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
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
