//! Access tokens (HS256 JWTs carrying the session id) and refresh tokens (random,
//! stored only as a fingerprint, prefixed with their session id so a refresh needs
//! no extra index).

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use webchat_domain::{SessionId, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    sid: SessionId,
    iat: i64,
    exp: i64,
    /// Unique per token, so two tokens issued in one second differ (and so do their
    /// blacklist fingerprints).
    jti: String,
}

/// What a verified access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub expires_at: DateTime<Utc>,
}

/// Signs and verifies access tokens with one shared secret.
#[derive(Clone)]
pub struct TokenCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenCodec {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> String {
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iat: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            jti: random_hex(12),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a token signed with our secret and not expired; `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some(AccessClaims {
            user_id: data.claims.sub,
            session_id: data.claims.sid,
            expires_at: Utc.timestamp_opt(data.claims.exp, 0).single()?,
        })
    }
}

/// A fresh refresh token for `session`: `{session_id}.{64 hex chars}`.
pub fn new_refresh_token(session: SessionId) -> String {
    format!("{session}.{}", random_hex(32))
}

/// The session a refresh token claims to belong to (to be checked against its hash).
pub fn refresh_token_session(token: &str) -> Option<SessionId> {
    let (sid, secret) = token.split_once('.')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    sid.parse().ok()
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn issued_tokens_verify_and_carry_the_session() {
        let codec = TokenCodec::new(b"secret");
        let (user, session) = (UserId::new(), SessionId::new());
        let now = Utc::now();
        let token = codec.issue(user, session, now, now + Duration::minutes(5));
        let claims = codec.verify(&token).expect("valid token");
        assert_eq!((claims.user_id, claims.session_id), (user, session));
        assert_ne!(
            token,
            codec.issue(user, session, now, now + Duration::minutes(5))
        );
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_refused() {
        let codec = TokenCodec::new(b"secret");
        let now = Utc::now();
        let expired = codec.issue(
            UserId::new(),
            SessionId::new(),
            now,
            now - Duration::seconds(1),
        );
        assert!(codec.verify(&expired).is_none());
        let other = TokenCodec::new(b"other").issue(
            UserId::new(),
            SessionId::new(),
            now,
            now + Duration::minutes(5),
        );
        assert!(codec.verify(&other).is_none());
        assert!(codec.verify("not.a.jwt").is_none());
    }

    #[test]
    fn refresh_tokens_name_their_session() {
        let session = SessionId::new();
        let token = new_refresh_token(session);
        assert_eq!(refresh_token_session(&token), Some(session));
        assert_eq!(refresh_token_session("garbage"), None);
        assert_eq!(refresh_token_session(&format!("{session}.short")), None);
    }
}
