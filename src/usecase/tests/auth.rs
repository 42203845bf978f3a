//! Registration, login, tokens, authentication and refresh rotation.

use std::time::Duration;

use webchat_domain::{SessionId, TokenFingerprint};
use webchat_ports::Clock;

use super::{advance, Fixture, SECRET};
use crate::usecase::auth::{ClientInfo, TokenPair};
use crate::usecase::tokens::TokenCodec;
use crate::usecase::AppError;

const PASSWORD: &str = "correct horse";

pub(super) async fn login(fx: &Fixture, username: &str) -> TokenPair {
    fx.app
        .auth
        .login(username, PASSWORD, ClientInfo::default())
        .await
        .expect("login")
}

pub(super) async fn registered(fx: &Fixture, username: &str) -> TokenPair {
    fx.app
        .auth
        .register(username, PASSWORD, None)
        .await
        .expect("register");
    login(fx, username).await
}

fn field_of(err: AppError) -> &'static str {
    match err {
        AppError::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn register_validates_its_input() {
    let fx = Fixture::new();
    let auth = &fx.app.auth;
    let short_name = auth.register("ab", PASSWORD, None).await.unwrap_err();
    assert_eq!(field_of(short_name), "username");
    let bad_chars = auth.register("a b c", PASSWORD, None).await.unwrap_err();
    assert_eq!(field_of(bad_chars), "username");
    let short_password = auth.register("alice", "1234567", None).await.unwrap_err();
    assert_eq!(field_of(short_password), "password");
    let blank_display = auth.register("alice", PASSWORD, Some("  ")).await;
    assert_eq!(field_of(blank_display.unwrap_err()), "display_name");

    let user = auth.register("alice", PASSWORD, None).await.unwrap();
    assert_eq!(
        user.display_name.as_str(),
        "alice",
        "defaults to the username"
    );
    assert_ne!(user.password_hash, PASSWORD, "only a hash is stored");
    let bob = auth
        .register("bob", PASSWORD, Some(" Bob B "))
        .await
        .unwrap();
    assert_eq!(bob.display_name.as_str(), "Bob B");
}

#[tokio::test]
async fn usernames_are_taken_regardless_of_case() {
    let fx = Fixture::new();
    fx.app.auth.register("Alice", PASSWORD, None).await.unwrap();
    for name in ["Alice", "alice", "ALICE"] {
        let err = fx
            .app
            .auth
            .register(name, PASSWORD, None)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::UsernameTaken), "{name}: {err:?}");
    }
    // And the name logs in whatever its case.
    login(&fx, "aLiCe").await;
}

#[tokio::test]
async fn login_refuses_unknown_users_and_wrong_passwords_alike() {
    let fx = Fixture::new();
    fx.app.auth.register("alice", PASSWORD, None).await.unwrap();
    let auth = &fx.app.auth;
    for (name, password) in [
        ("nobody", PASSWORD),
        ("alice", "wrong password"),
        ("a", PASSWORD),
        ("alice", ""),
    ] {
        let err = auth
            .login(name, password, ClientInfo::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::InvalidCredentials),
            "{name}/{password}: {err:?}"
        );
    }
    // None of the refused logins left a session behind.
    let pair = login(&fx, "alice").await;
    let ctx = auth.authenticate(&pair.access_token).await.unwrap();
    assert_eq!(auth.sessions(&ctx).await.unwrap().len(), 1);
}

#[tokio::test]
async fn login_issues_a_token_pair_for_a_new_session() {
    let fx = Fixture::new();
    let pair = registered(&fx, "alice").await;
    assert_eq!(pair.user.username.as_str(), "alice");
    assert_eq!(
        pair.expires_at,
        fx.clock.now() + chrono::Duration::minutes(15),
        "access tokens live 15 minutes"
    );
    assert!(pair
        .refresh_token
        .starts_with(&format!("{}.", pair.session_id)));
    let claims = TokenCodec::new(SECRET)
        .verify(&pair.access_token)
        .expect("signed with the app secret");
    assert_eq!(
        (claims.user_id, claims.session_id),
        (pair.user.id, pair.session_id)
    );

    let ctx = fx.app.auth.authenticate(&pair.access_token).await.unwrap();
    assert_eq!(
        (ctx.user_id, ctx.session_id),
        (pair.user.id, pair.session_id)
    );
    assert_eq!(ctx.token, TokenFingerprint::of(&pair.access_token));
    assert_eq!(fx.app.auth.me(&ctx).await.unwrap().id, pair.user.id);

    let again = login(&fx, "alice").await;
    assert_ne!(
        again.session_id, pair.session_id,
        "every login is a session"
    );
    assert_ne!(again.access_token, pair.access_token);
}

#[tokio::test]
async fn authenticate_refuses_foreign_and_garbage_tokens() {
    let fx = Fixture::new();
    let pair = registered(&fx, "alice").await;
    let now = fx.clock.now();
    let forged = TokenCodec::new(b"other secret").issue(
        pair.user.id,
        pair.session_id,
        now,
        now + chrono::Duration::minutes(5),
    );
    // Well signed, but for a session that does not exist.
    let sessionless = TokenCodec::new(SECRET).issue(
        pair.user.id,
        SessionId::new(),
        now,
        now + chrono::Duration::minutes(5),
    );
    // Well signed, live session, but another user.
    let wrong_user = TokenCodec::new(SECRET).issue(
        webchat_domain::UserId::new(),
        pair.session_id,
        now,
        now + chrono::Duration::minutes(5),
    );
    for token in [forged, sessionless, wrong_user, "garbage".to_owned()] {
        let err = fx.app.auth.authenticate(&token).await.unwrap_err();
        assert!(matches!(err, AppError::Unauthorized), "{err:?}");
    }
    assert_eq!(fx.app.auth.peek_user("garbage"), None);
    assert_eq!(
        fx.app.auth.peek_user(&pair.access_token),
        Some(pair.user.id)
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_blacklists_its_token() {
    let fx = Fixture::new();
    let pair = registered(&fx, "alice").await;
    let other = login(&fx, "alice").await;
    let ctx = fx.app.auth.authenticate(&pair.access_token).await.unwrap();
    fx.app.auth.logout(&ctx).await.unwrap();
    assert!(
        fx.blacklisted(&ctx.token).await,
        "refused even should the session come back"
    );
    assert_eq!(fx.sessions.get(pair.session_id).await.unwrap(), None);

    let err = fx.app.auth.authenticate(&pair.access_token).await;
    assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");
    let err = fx.app.auth.refresh(&pair.refresh_token).await;
    assert!(matches!(err, Err(AppError::InvalidToken)), "{err:?}");
    // The user's other session is untouched.
    fx.app.auth.authenticate(&other.access_token).await.unwrap();
}

#[tokio::test]
async fn a_deleted_session_refuses_its_access_token() {
    let fx = Fixture::new();
    let pair = registered(&fx, "alice").await;
    let other = login(&fx, "alice").await;
    let other_ctx = fx.app.auth.authenticate(&other.access_token).await.unwrap();
    fx.app
        .auth
        .revoke_session(&other_ctx, pair.session_id)
        .await
        .unwrap();
    let err = fx.app.auth.authenticate(&pair.access_token).await;
    assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let fx = Fixture::new();
    let first = registered(&fx, "alice").await;
    advance(&fx.clock, 60);
    let second = fx.app.auth.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(second.session_id, first.session_id, "same session");
    assert_eq!(second.user.id, first.user.id);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(
        second.expires_at,
        fx.clock.now() + chrono::Duration::minutes(15)
    );

    let ctx = fx
        .app
        .auth
        .authenticate(&second.access_token)
        .await
        .unwrap();
    assert_eq!(ctx.session_id, first.session_id);
    let third = fx.app.auth.refresh(&second.refresh_token).await.unwrap();
    assert_ne!(third.refresh_token, second.refresh_token);

    // A token of the right shape but a wrong secret is refused, and ends nothing:
    // knowing a session id is not enough to end the session.
    let forged = format!("{}.{}", first.session_id, "0".repeat(64));
    let err = fx.app.auth.refresh(&forged).await;
    assert!(matches!(err, Err(AppError::InvalidToken)), "{err:?}");
    let err = fx.app.auth.refresh("garbage").await;
    assert!(matches!(err, Err(AppError::InvalidToken)), "{err:?}");
    fx.app.auth.authenticate(&third.access_token).await.unwrap();
}

#[tokio::test]
async fn a_reused_refresh_token_ends_its_session_and_every_token_of_it() {
    let fx = Fixture::new();
    let first = registered(&fx, "alice").await;
    let other = login(&fx, "alice").await;
    let thief = fx.app.auth.refresh(&first.refresh_token).await.unwrap();

    let reused = fx.app.auth.refresh(&first.refresh_token).await;
    assert!(matches!(reused, Err(AppError::InvalidToken)), "{reused:?}");
    for token in [&first.access_token, &thief.access_token] {
        let err = fx.app.auth.authenticate(token).await;
        assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");
    }
    let err = fx.app.auth.refresh(&thief.refresh_token).await;
    assert!(matches!(err, Err(AppError::InvalidToken)), "{err:?}");
    fx.app.auth.authenticate(&other.access_token).await.unwrap();
}

#[tokio::test]
async fn login_counts_every_attempt_against_the_account_known_or_not() {
    let fx = Fixture::new();
    fx.app.auth.register("alice", PASSWORD, None).await.unwrap();
    for name in ["alice", "nobody", "a b"] {
        for i in 0..10 {
            let err = fx
                .app
                .auth
                .login(name, "wrong password", ClientInfo::default())
                .await
                .unwrap_err();
            assert!(
                matches!(err, AppError::InvalidCredentials),
                "{name} {i}: {err:?}"
            );
        }
        let err = fx
            .app
            .auth
            .login(name, "wrong password", ClientInfo::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::TooManyRequests(_)),
            "{name}: {err:?}"
        );
    }
    let err = fx
        .app
        .auth
        .login("ALICE", PASSWORD, ClientInfo::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::TooManyRequests(_)),
        "the right password waits for the window too: {err:?}"
    );
    advance(&fx.clock, 60);
    login(&fx, "alice").await;
}

#[tokio::test]
async fn a_login_past_the_session_cap_ends_the_oldest_session() {
    let fx = Fixture::with_settings(|s| s.auth.max_sessions_per_user = 3);
    let first = registered(&fx, "alice").await;
    advance(&fx.clock, 1);
    let second = login(&fx, "alice").await;
    advance(&fx.clock, 1);
    login(&fx, "alice").await;
    advance(&fx.clock, 1);
    // Refreshing makes the first session the most recently used: the second goes.
    let first = fx.app.auth.refresh(&first.refresh_token).await.unwrap();
    advance(&fx.clock, 1);
    let fourth = login(&fx, "alice").await;
    let err = fx.app.auth.authenticate(&second.access_token).await;
    assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");
    fx.app.auth.authenticate(&first.access_token).await.unwrap();
    let ctx = fx
        .app
        .auth
        .authenticate(&fourth.access_token)
        .await
        .unwrap();
    assert_eq!(fx.app.auth.sessions(&ctx).await.unwrap().len(), 3);
}

#[tokio::test]
async fn changing_the_password_keeps_only_the_callers_session() {
    let fx = Fixture::new();
    let mine = registered(&fx, "alice").await;
    let other = login(&fx, "alice").await;
    let bob = registered(&fx, "bob").await;
    let ctx = fx.app.auth.authenticate(&mine.access_token).await.unwrap();
    let auth = &fx.app.auth;

    let err = auth
        .change_password(&ctx, "wrong password", "new password")
        .await;
    assert!(matches!(err, Err(AppError::InvalidCredentials)), "{err:?}");
    let err = auth.change_password(&ctx, PASSWORD, "short").await;
    assert_eq!(field_of(err.unwrap_err()), "password");
    auth.authenticate(&other.access_token).await.unwrap();

    auth.change_password(&ctx, PASSWORD, "new password")
        .await
        .unwrap();
    auth.authenticate(&mine.access_token).await.unwrap();
    let err = auth.authenticate(&other.access_token).await;
    assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");
    auth.authenticate(&bob.access_token).await.unwrap();
    let err = auth
        .login("alice", PASSWORD, ClientInfo::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
    auth.login("alice", "new password", ClientInfo::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn refresh_starts_the_session_lifetime_over() {
    let fx = Fixture::new();
    let first = registered(&fx, "alice").await;
    let ctx = fx.app.auth.authenticate(&first.access_token).await.unwrap();
    let created = fx.app.auth.sessions(&ctx).await.unwrap()[0].session.clone();
    assert_eq!(
        created.expires_at,
        fx.clock.now() + chrono::Duration::days(30)
    );

    advance(&fx.clock, 20 * 24 * 3600);
    let second = fx.app.auth.refresh(&first.refresh_token).await.unwrap();
    let ctx = fx
        .app
        .auth
        .authenticate(&second.access_token)
        .await
        .unwrap();
    let refreshed = fx.app.auth.sessions(&ctx).await.unwrap()[0].session.clone();
    assert_eq!(
        refreshed.expires_at,
        fx.clock.now() + chrono::Duration::days(30)
    );
    assert_eq!(refreshed.created_at, created.created_at);

    // 40 days after login: past the first lifetime, inside the refreshed one.
    fx.clock.advance(Duration::from_secs(20 * 24 * 3600));
    fx.app
        .auth
        .authenticate(&second.access_token)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_session_refuses_its_tokens() {
    let fx = Fixture::new();
    let pair = registered(&fx, "alice").await;
    fx.app.auth.authenticate(&pair.access_token).await.unwrap();
    // The JWT itself is still valid (it expires in real time); the session is not.
    advance(&fx.clock, 30 * 24 * 3600 + 1);
    let err = fx.app.auth.authenticate(&pair.access_token).await;
    assert!(matches!(err, Err(AppError::Unauthorized)), "{err:?}");
    let err = fx.app.auth.refresh(&pair.refresh_token).await;
    assert!(matches!(err, Err(AppError::InvalidToken)), "{err:?}");
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_admit_one() {
    let fx = Fixture::new();
    let auth = &fx.app.auth;
    let (a, b) = tokio::join!(
        auth.register("alice", PASSWORD, None),
        auth.register("ALICE", PASSWORD, None),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one wins: {a:?} / {b:?}");
    let loser = a.err().or(b.err()).unwrap();
    assert!(matches!(loser, AppError::UsernameTaken), "{loser:?}");
}
