//! Registration, login, token refresh, logout variants and session management.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use webchat_domain::{
    chrono_duration, DisplayName, Password, SessionId, TokenFingerprint, User, UserId, UserSession,
    Username,
};
use webchat_ports::{Clock, PortError, Rotation, SessionStore, UserRepository};

use super::password;
use super::throttle::{account_subject, PolicyName, Throttle, LOGIN_ROUTE};
use super::tokens::{refresh_token_session, TokenCodec};
use super::{AppError, AppResult};

/// Live sessions one user may hold; the next login ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 100;

/// Lifetimes of what login hands out, and how many sessions a user may hold.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub access_ttl: Duration,
    pub session_ttl: Duration,
    /// Past this many live sessions, a login ends the user's sessions that expire
    /// first (the least recently logged into or refreshed).
    pub max_sessions_per_user: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            max_sessions_per_user: MAX_SESSIONS_PER_USER,
        }
    }
}

/// Where a login came from, stored on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What login and refresh return.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: SessionId,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub token: TokenFingerprint,
    pub token_expires_at: DateTime<Utc>,
}

/// A session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: UserSession,
    pub current: bool,
}

pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    codec: TokenCodec,
    config: AuthConfig,
    /// Counts login attempts per account (the gate counts them per address).
    throttle: Arc<Throttle>,
}

fn auth_store(e: PortError) -> AppError {
    match e {
        PortError::Unavailable(_) => AppError::AuthUnavailable(e),
        other => other.into(),
    }
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionStore>,
        clock: Arc<dyn Clock>,
        codec: TokenCodec,
        config: AuthConfig,
        throttle: Arc<Throttle>,
    ) -> Self {
        Self {
            users,
            sessions,
            clock,
            codec,
            config,
            throttle,
        }
    }

    #[tracing::instrument(skip(self, password))]
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> AppResult<User> {
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let display_name = match display_name {
            Some(d) => DisplayName::parse(d)?,
            None => DisplayName::parse(username.as_str())?,
        };
        if self.users.find_by_username(&username).await?.is_some() {
            return Err(AppError::UsernameTaken);
        }
        let user = User {
            id: UserId::new(),
            username,
            display_name,
            password_hash: password::hash(password).await?,
            created_at: self.clock.now(),
        };
        match self.users.create(&user).await {
            Ok(()) => Ok(user),
            Err(PortError::Conflict(_)) => Err(AppError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Logs in. Every attempt, whether the name exists or not, first counts against
    /// the account's `strict` budget (the request gate counts the client address),
    /// so spreading guesses over many addresses buys nothing, and a 429 says nothing
    /// about whether the account exists.
    #[tracing::instrument(skip(self, password, client))]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: ClientInfo,
    ) -> AppResult<TokenPair> {
        self.throttle
            .hit(PolicyName::Strict, &account_subject(username), LOGIN_ROUTE)
            .await?;
        // Malformed names cannot exist: answer exactly as for a wrong password.
        let user = match Username::parse(username) {
            Ok(name) => self.users.find_by_username(&name).await?,
            Err(_) => None,
        };
        let ok = password::verify(
            password.to_owned(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => return Err(AppError::InvalidCredentials),
        };
        let now = self.clock.now();
        let session_id = SessionId::new();
        let refresh_token = self.codec.new_refresh_token(session_id);
        let session = UserSession {
            id: session_id,
            user_id: user.id,
            created_at: now,
            expires_at: now + chrono_duration(self.config.session_ttl),
            ip: client.ip,
            user_agent: client.user_agent.map(|ua| ua.chars().take(256).collect()),
            refresh_token_hash: TokenFingerprint::of(&refresh_token).as_str().to_owned(),
        };
        let ended = self
            .sessions
            .create(&session, self.config.max_sessions_per_user)
            .await
            .map_err(auth_store)?;
        if ended > 0 {
            tracing::info!(user = %user.id, ended, "session cap reached: oldest sessions ended");
        }
        Ok(self.pair(user, session_id, refresh_token, now))
    }

    fn pair(
        &self,
        user: User,
        session_id: SessionId,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> TokenPair {
        let expires_at = now + chrono_duration(self.config.access_ttl);
        TokenPair {
            access_token: self.codec.issue(user.id, session_id, now, expires_at),
            refresh_token,
            session_id,
            expires_at,
            user,
        }
    }

    /// Rotates: the presented refresh token stops working, a new pair is issued and
    /// the session's lifetime starts over. A token this deployment issued for the
    /// session but already rotated away is a replay (a thief's, or the owner's after a
    /// thief's refresh): the session ends, and with it every token of it.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> AppResult<TokenPair> {
        let session_id = refresh_token_session(refresh_token).ok_or(AppError::InvalidToken)?;
        let mut session = self
            .sessions
            .get(session_id)
            .await
            .map_err(auth_store)?
            .ok_or(AppError::InvalidToken)?;
        let presented = TokenFingerprint::of(refresh_token).as_str().to_owned();
        let detect_reuse = self.codec.issued_refresh_token(refresh_token);
        if session.refresh_token_hash != presented && !detect_reuse {
            return Err(AppError::InvalidToken);
        }
        let user = self
            .users
            .get(session.user_id)
            .await?
            .ok_or(AppError::InvalidToken)?;
        let now = self.clock.now();
        let next = self.codec.new_refresh_token(session_id);
        session.refresh_token_hash = TokenFingerprint::of(&next).as_str().to_owned();
        session.expires_at = now + chrono_duration(self.config.session_ttl);
        // Compare-and-set: of two refreshes racing with one token, one wins; with reuse
        // detection, the loser (or any later replay) ends the session.
        let rotation = if detect_reuse {
            self.sessions
                .rotate_or_end(&session, &presented)
                .await
                .map_err(auth_store)?
        } else if self
            .sessions
            .rotate(&session, &presented)
            .await
            .map_err(auth_store)?
        {
            Rotation::Rotated
        } else {
            Rotation::Absent
        };
        match rotation {
            Rotation::Rotated => Ok(self.pair(user, session_id, next, now)),
            Rotation::Ended => {
                tracing::warn!(
                    user = %session.user_id,
                    session = %session_id,
                    "refresh token reused: session ended"
                );
                Err(AppError::InvalidToken)
            }
            Rotation::Absent => Err(AppError::InvalidToken),
        }
    }

    /// Changes the caller's password: the current one must verify (else
    /// `invalid_credentials`), the new one follows the registration rules. The new
    /// hash is stored, then every other session of the user ends; the caller's stays.
    #[tracing::instrument(skip_all, fields(user = %ctx.user_id))]
    pub async fn change_password(
        &self,
        ctx: &AuthContext,
        current_password: &str,
        new_password: &str,
    ) -> AppResult<()> {
        let new_password = Password::parse(new_password)?;
        let user = self
            .users
            .get(ctx.user_id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        let ok = password::verify(current_password.to_owned(), Some(user.password_hash)).await?;
        if !ok {
            return Err(AppError::InvalidCredentials);
        }
        let hash = password::hash(new_password).await?;
        match self.users.set_password_hash(user.id, &hash).await {
            Ok(()) => {}
            Err(PortError::NotFound) => return Err(AppError::Unauthorized),
            Err(e) => return Err(e.into()),
        }
        let ended = self
            .sessions
            .delete_others_for_user(ctx.user_id, ctx.session_id)
            .await
            .map_err(auth_store)?;
        tracing::info!(ended, "password changed: other sessions ended");
        Ok(())
    }

    /// The user a validly signed, unexpired token names, without asking the session
    /// store (throttling keys only; never an authorization decision).
    pub fn peek_user(&self, access_token: &str) -> Option<UserId> {
        self.codec.verify(access_token).map(|c| c.user_id)
    }

    /// Verifies an access token: signature and expiry, then (one store round trip)
    /// that its session lives and the token is not blacklisted.
    pub async fn authenticate(&self, access_token: &str) -> AppResult<AuthContext> {
        let claims = self
            .codec
            .verify(access_token)
            .ok_or(AppError::Unauthorized)?;
        let token = TokenFingerprint::of(access_token);
        let session = self
            .sessions
            .authorize(claims.session_id, &token)
            .await
            .map_err(auth_store)?
            .ok_or(AppError::Unauthorized)?;
        if session.user_id != claims.user_id {
            return Err(AppError::Unauthorized);
        }
        Ok(AuthContext {
            user_id: claims.user_id,
            session_id: claims.session_id,
            token,
            token_expires_at: claims.expires_at,
        })
    }

    /// Whether an authenticated caller's session still lives and its token is not
    /// revoked (the access token's own expiry is not checked: long-lived sockets
    /// outlast it). One store round trip.
    pub async fn session_alive(&self, ctx: &AuthContext) -> AppResult<bool> {
        let session = self
            .sessions
            .authorize(ctx.session_id, &ctx.token)
            .await
            .map_err(auth_store)?;
        Ok(session.is_some_and(|s| s.user_id == ctx.user_id))
    }

    /// Ends the current session and refuses its access token from now on.
    #[tracing::instrument(skip_all, fields(user = %ctx.user_id))]
    pub async fn logout(&self, ctx: &AuthContext) -> AppResult<()> {
        self.sessions
            .blacklist_token(&ctx.token, ctx.token_expires_at)
            .await
            .map_err(auth_store)?;
        self.sessions
            .delete(ctx.session_id)
            .await
            .map_err(auth_store)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user = %ctx.user_id))]
    pub async fn logout_all(&self, ctx: &AuthContext) -> AppResult<u64> {
        self.sessions
            .blacklist_token(&ctx.token, ctx.token_expires_at)
            .await
            .map_err(auth_store)?;
        self.sessions
            .delete_all_for_user(ctx.user_id)
            .await
            .map_err(auth_store)
    }

    #[tracing::instrument(skip_all, fields(user = %ctx.user_id))]
    pub async fn logout_others(&self, ctx: &AuthContext) -> AppResult<u64> {
        self.sessions
            .delete_others_for_user(ctx.user_id, ctx.session_id)
            .await
            .map_err(auth_store)
    }

    pub async fn sessions(&self, ctx: &AuthContext) -> AppResult<Vec<SessionView>> {
        let sessions = self
            .sessions
            .user_sessions(ctx.user_id)
            .await
            .map_err(auth_store)?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView {
                current: session.id == ctx.session_id,
                session,
            })
            .collect())
    }

    /// Revokes one of the caller's own sessions; another user's is "not found".
    pub async fn revoke_session(&self, ctx: &AuthContext, id: SessionId) -> AppResult<()> {
        match self.sessions.get(id).await.map_err(auth_store)? {
            Some(s) if s.user_id == ctx.user_id => {
                self.sessions.delete(id).await.map_err(auth_store)?;
                Ok(())
            }
            _ => Err(AppError::NotFound("session")),
        }
    }

    pub async fn me(&self, ctx: &AuthContext) -> AppResult<User> {
        self.users
            .get(ctx.user_id)
            .await?
            .ok_or(AppError::NotFound("user"))
    }
}
