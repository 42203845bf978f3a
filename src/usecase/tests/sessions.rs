//! Session management: listing, revoking, logging out everywhere or elsewhere.

use std::collections::HashSet;

use webchat_domain::SessionId;

use super::auth::{login, registered};
use super::Fixture;
use crate::usecase::auth::ClientInfo;
use crate::usecase::AppError;

fn unauthorized<T: std::fmt::Debug>(r: Result<T, AppError>) -> bool {
    matches!(r, Err(AppError::Unauthorized))
}

#[tokio::test]
async fn sessions_lists_the_users_sessions_marking_the_current_one() {
    let fx = Fixture::new();
    let first = registered(&fx, "alice").await;
    let second = fx
        .app
        .auth
        .login(
            "alice",
            "correct horse",
            ClientInfo {
                ip: Some("10.0.0.7".into()),
                user_agent: Some("x".repeat(300)),
            },
        )
        .await
        .unwrap();
    let bob = registered(&fx, "bob").await;

    let ctx = fx
        .app
        .auth
        .authenticate(&second.access_token)
        .await
        .unwrap();
    let views = fx.app.auth.sessions(&ctx).await.unwrap();
    let ids: HashSet<SessionId> = views.iter().map(|v| v.session.id).collect();
    assert_eq!(
        ids,
        HashSet::from([first.session_id, second.session_id]),
        "only alice's sessions"
    );
    assert!(!ids.contains(&bob.session_id));
    let current: Vec<_> = views.iter().filter(|v| v.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].session.id, second.session_id);
    assert_eq!(current[0].session.ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(
        current[0].session.user_agent.as_ref().map(|ua| ua.len()),
        Some(256),
        "user agents are cut to 256 characters"
    );
    assert_ne!(
        current[0].session.refresh_token_hash, second.refresh_token,
        "the refresh token itself is never stored"
    );

    let ctx = fx.app.auth.authenticate(&first.access_token).await.unwrap();
    let current: Vec<_> = fx
        .app
        .auth
        .sessions(&ctx)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.current)
        .map(|v| v.session.id)
        .collect();
    assert_eq!(current, vec![first.session_id]);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let fx = Fixture::new();
    let pairs = [
        registered(&fx, "alice").await,
        login(&fx, "alice").await,
        login(&fx, "alice").await,
    ];
    let bob = registered(&fx, "bob").await;
    let ctx = fx
        .app
        .auth
        .authenticate(&pairs[1].access_token)
        .await
        .unwrap();
    assert_eq!(fx.app.auth.logout_all(&ctx).await.unwrap(), 3);
    assert!(fx.blacklisted(&ctx.token).await);
    for pair in &pairs {
        assert!(unauthorized(
            fx.app.auth.authenticate(&pair.access_token).await
        ));
    }
    fx.app.auth.authenticate(&bob.access_token).await.unwrap();
}

#[tokio::test]
async fn logout_others_keeps_only_the_current_session() {
    let fx = Fixture::new();
    let pairs = [
        registered(&fx, "alice").await,
        login(&fx, "alice").await,
        login(&fx, "alice").await,
    ];
    let bob = registered(&fx, "bob").await;
    let ctx = fx
        .app
        .auth
        .authenticate(&pairs[2].access_token)
        .await
        .unwrap();
    assert_eq!(fx.app.auth.logout_others(&ctx).await.unwrap(), 2);
    assert!(unauthorized(
        fx.app.auth.authenticate(&pairs[0].access_token).await
    ));
    assert!(unauthorized(
        fx.app.auth.authenticate(&pairs[1].access_token).await
    ));
    let ctx = fx
        .app
        .auth
        .authenticate(&pairs[2].access_token)
        .await
        .unwrap();
    assert_eq!(fx.app.auth.sessions(&ctx).await.unwrap().len(), 1);
    fx.app.auth.authenticate(&bob.access_token).await.unwrap();
    // Nothing else left to end.
    assert_eq!(fx.app.auth.logout_others(&ctx).await.unwrap(), 0);
}

#[tokio::test]
async fn revoke_session_only_reaches_the_callers_own_sessions() {
    let fx = Fixture::new();
    let alice = registered(&fx, "alice").await;
    let alice_phone = login(&fx, "alice").await;
    let bob = registered(&fx, "bob").await;
    let ctx = fx.app.auth.authenticate(&alice.access_token).await.unwrap();

    let err = fx.app.auth.revoke_session(&ctx, bob.session_id).await;
    assert!(matches!(err, Err(AppError::NotFound("session"))), "{err:?}");
    fx.app.auth.authenticate(&bob.access_token).await.unwrap();
    let err = fx.app.auth.revoke_session(&ctx, SessionId::new()).await;
    assert!(matches!(err, Err(AppError::NotFound(_))), "{err:?}");

    fx.app
        .auth
        .revoke_session(&ctx, alice_phone.session_id)
        .await
        .unwrap();
    assert!(unauthorized(
        fx.app.auth.authenticate(&alice_phone.access_token).await
    ));
    let err = fx
        .app
        .auth
        .revoke_session(&ctx, alice_phone.session_id)
        .await;
    assert!(
        matches!(err, Err(AppError::NotFound(_))),
        "already gone: {err:?}"
    );
    fx.app.auth.authenticate(&alice.access_token).await.unwrap();
}

#[tokio::test]
async fn a_socket_lives_as_long_as_its_session_not_its_access_token() {
    let fx = Fixture::new();
    let pair = registered(&fx, "alice").await;
    let ctx = fx.app.auth.authenticate(&pair.access_token).await.unwrap();
    assert!(fx.app.auth.session_alive(&ctx).await.unwrap());
    // An access token past its expiry no longer authenticates a request, but the
    // session behind an open socket is what session_alive checks.
    let mut expired = ctx.clone();
    expired.token_expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    assert!(fx.app.auth.session_alive(&expired).await.unwrap());
    fx.app.auth.logout(&ctx).await.unwrap();
    assert!(
        !fx.app.auth.session_alive(&ctx).await.unwrap(),
        "logout ends it"
    );
}
