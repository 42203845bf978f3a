//! Access tokens (HS256 JWTs carrying the session id) and refresh tokens (random,
//! stored only as a fingerprint, prefixed with their session id so a refresh needs
//! no extra index, and signed so a replayed one can be recognised as ours).

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use webchat_domain::{SessionId, UserId};

/// Hex digits of a refresh token's random part, and of its tag.
const REFRESH_NONCE_HEX: usize = 32;
const REFRESH_TAG_HEX: usize = 32;

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

/// Signs and verifies access tokens with one shared secret, and issues refresh tokens
/// tagged with it.
#[derive(Clone)]
pub struct TokenCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    refresh_key: Hmac<Sha256>,
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
            refresh_key: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    /// The tag of a refresh token's random part, for `session`.
    fn refresh_tag(&self, session: &str, nonce: &str) -> Hmac<Sha256> {
        let mut mac = self.refresh_key.clone();
        mac.update(b"webchat refresh token\0");
        mac.update(session.as_bytes());
        mac.update(b"\0");
        mac.update(nonce.as_bytes());
        mac
    }

    /// A fresh refresh token for `session`: `{session_id}.{64 hex chars}`, 32 of them
    /// random and 32 an HMAC tag (over the session id and the random part, keyed with
    /// the shared secret). The tag lets a refresh recognise a token this deployment
    /// issued for that session after it was rotated away (reuse detection) without
    /// keeping every token it ever issued.
    pub fn new_refresh_token(&self, session: SessionId) -> String {
        let session = session.to_string();
        let nonce = random_hex(REFRESH_NONCE_HEX / 2);
        let tag = self.refresh_tag(&session, &nonce).finalize().into_bytes();
        format!(
            "{session}.{nonce}{}",
            hex::encode(&tag[..REFRESH_TAG_HEX / 2])
        )
    }

    /// Whether `token` is a refresh token this codec issued for the session it names.
    /// Tokens from before tags were introduced are well-formed but untagged: they
    /// still refresh, they just cannot be recognised once rotated away.
    pub fn issued_refresh_token(&self, token: &str) -> bool {
        let Some((session, secret)) = token.split_once('.') else {
            return false;
        };
        if refresh_token_session(token).is_none() {
            return false;
        }
        let (nonce, tag) = secret.split_at(REFRESH_NONCE_HEX);
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        self.refresh_tag(session, nonce)
            .verify_truncated_left(&tag)
            .is_ok()
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

/// The session a refresh token claims to belong to (to be checked against its hash).
pub fn refresh_token_session(token: &str) -> Option<SessionId> {
    let (sid, secret) = token.split_once('.')?;
    if secret.len() != REFRESH_NONCE_HEX + REFRESH_TAG_HEX
        || !secret.bytes().all(|b| b.is_ascii_hexdigit())
    {
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
        let token = TokenCodec::new(b"secret").new_refresh_token(session);
        assert_eq!(refresh_token_session(&token), Some(session));
        assert_eq!(refresh_token_session("garbage"), None);
        assert_eq!(refresh_token_session(&format!("{session}.short")), None);
    }

    #[test]
    fn refresh_tokens_are_recognised_only_by_their_issuer_for_their_session() {
        let codec = TokenCodec::new(b"secret");
        let session = SessionId::new();
        let token = codec.new_refresh_token(session);
        assert!(codec.issued_refresh_token(&token));
        assert_ne!(token, codec.new_refresh_token(session), "tokens are random");
        assert!(!TokenCodec::new(b"other").issued_refresh_token(&token));
        let (_, secret) = token.split_once('.').unwrap();
        let moved = format!("{}.{secret}", SessionId::new());
        assert!(!codec.issued_refresh_token(&moved), "bound to its session");
        let untagged = format!("{session}.{}", random_hex(32));
        assert!(refresh_token_session(&untagged).is_some());
        assert!(!codec.issued_refresh_token(&untagged));
        assert!(!codec.issued_refresh_token("garbage"));
        assert!(!codec.issued_refresh_token(&format!("{session}.{}", "é".repeat(32))));
    }
}
