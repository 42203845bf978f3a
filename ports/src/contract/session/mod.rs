use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use webchat_domain::{SessionId, TokenFingerprint, UserId, UserSession};

use crate::contract::fixtures::{micros, tag};
use crate::contract::TimeControl;
use crate::SessionStore;

mod cap;
mod records;
mod reuse;
mod rotation;
mod tokens;

type Made = (Arc<dyn SessionStore>, Arc<dyn TimeControl>);

/// SessionStore: sessions and their per-user index, expiry at `expires_at`, the cap on
/// a user's live sessions, refresh-token rotation (compare-and-set, one winner per
/// race) and reuse detection, the token blacklist, `authorize`, and `clear_all`.
/// Advances time by about 2.6 s in all.
pub async fn session_store_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Made>,
{
    records::stores_reads_and_deletes_sessions(make().await).await;
    records::lists_and_revokes_a_users_sessions(make().await).await;
    rotation::rotates_only_with_the_current_refresh_hash(make().await).await;
    rotation::concurrent_rotations_admit_one(make().await).await;
    reuse::a_reused_refresh_hash_ends_the_session(make().await).await;
    reuse::a_race_with_one_refresh_hash_ends_the_session(make().await).await;
    cap::ends_the_sessions_that_expire_first_past_the_cap(make().await).await;
    cap::concurrent_logins_never_exceed_the_cap(make().await).await;
    tokens::blacklists_tokens_and_authorizes(make().await).await;
    tokens::clears_everything(make().await).await;
    tokens::expires_sessions_and_blacklist_entries(make().await).await;
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn now(time: &Arc<dyn TimeControl>) -> DateTime<Utc> {
    micros(time.clock().now())
}

fn session(user: UserId, created_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> UserSession {
    UserSession {
        id: SessionId::new(),
        user_id: user,
        created_at,
        expires_at,
        ip: Some("203.0.113.7".to_owned()),
        user_agent: Some("contract-suite/1".to_owned()),
        refresh_token_hash: TokenFingerprint::of(&tag()).as_str().to_owned(),
    }
}

/// A session of `user` created now that lives for a minute.
fn lasting(time: &Arc<dyn TimeControl>, user: UserId) -> UserSession {
    let t = now(time);
    session(user, t, t + secs(60))
}

/// The cap the suite's ordinary creates pass: never reached.
const NO_CAP: usize = 100;

async fn create(store: &Arc<dyn SessionStore>, s: &UserSession) {
    let ended = store.create(s, NO_CAP).await.expect("create session");
    assert_eq!(ended, 0, "a create below the cap ends no session");
}
