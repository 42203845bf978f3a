//! The REST calls the scenarios make. Setup calls (register, login, create chat,
//! prefill) are strict: any unexpected status is fatal with the offending response,
//! and a 429 says the server's throttle must be raised, because a throttled setup
//! would silently measure the limiter instead of the server.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Client, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

pub const PASSWORD: &str = "password-1";

pub const THROTTLE_HINT: &str = "webchat throttled this run (HTTP 429 too_many_requests). \
     Register, login and sends are strict-throttled: start webchat with \
     WEBCHAT_THROTTLE_STRICT=100000/60 WEBCHAT_THROTTLE_DEFAULT=100000/60";

#[derive(Clone)]
pub struct Api {
    http: Client,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct Login {
    access_token: String,
    user: IdOnly,
}

/// A logged-in user: its id (as the API spells it) and access token.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub token: String,
}

impl Api {
    pub fn new() -> Result<Self> {
        let http = Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http })
    }

    pub fn client(&self) -> &Client {
        &self.http
    }

    /// One setup call: anything but `expect` is fatal.
    async fn call(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
        expect: StatusCode,
    ) -> Result<bytes_body::Body> {
        let mut req = self.http.request(method.clone(), format!("{base}{path}"));
        if let Some(b) = &body {
            req = req.json(b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.map_err(|e| {
            anyhow!("{method} {base}{path}: request failed ({e}); is webchat running there?")
        })?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS {
            bail!("{method} {base}{path}: {THROTTLE_HINT}");
        }
        if status != expect {
            bail!(
                "{method} {base}{path}: expected HTTP {}, got {status}: {}",
                expect.as_u16(),
                clip(&text)
            );
        }
        Ok(bytes_body::Body(text))
    }

    /// Registers then logs in `username` with the shared password.
    pub async fn register_login(&self, base: &str, username: &str) -> Result<Session> {
        let body = json!({"username": username, "password": PASSWORD});
        let reg: IdOnly = self
            .call(
                base,
                Method::POST,
                "/api/auth/register",
                Some(body.clone()),
                None,
                StatusCode::CREATED,
            )
            .await?
            .parse("POST /api/auth/register: expected a user with an id")?;
        let login: Login = self
            .call(
                base,
                Method::POST,
                "/api/auth/login",
                Some(body),
                None,
                StatusCode::OK,
            )
            .await?
            .parse("POST /api/auth/login: expected {access_token, user: {id}}")?;
        if login.user.id != reg.id {
            bail!(
                "login user.id {} differs from the registered id {}",
                login.user.id,
                reg.id
            );
        }
        Ok(Session {
            id: reg.id,
            token: login.access_token,
        })
    }

    /// Creates a chat as `creator` with the other members; returns its id.
    pub async fn create_chat(
        &self,
        base: &str,
        creator: &Session,
        name: &str,
        member_ids: &[String],
    ) -> Result<String> {
        let body = json!({"name": name, "member_ids": member_ids});
        let chat: IdOnly = self
            .call(
                base,
                Method::POST,
                "/api/chats",
                Some(body),
                Some(&creator.token),
                StatusCode::CREATED,
            )
            .await?
            .parse("POST /api/chats: expected a chat with an id")?;
        Ok(chat.id)
    }

    /// A setup send (history prefill): must be 201.
    pub async fn send_message(
        &self,
        base: &str,
        who: &Session,
        chat_id: &str,
        content: &str,
        client_msg_id: &str,
    ) -> Result<()> {
        let body = json!({"content": content, "client_msg_id": client_msg_id});
        self.call(
            base,
            Method::POST,
            &format!("/api/chats/{chat_id}/messages"),
            Some(body),
            Some(&who.token),
            StatusCode::CREATED,
        )
        .await?;
        Ok(())
    }
}

/// Keeps error messages readable when a server answers with a page of HTML.
pub fn clip(text: &str) -> &str {
    match text.char_indices().nth(400) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

mod bytes_body {
    use anyhow::{anyhow, Result};
    use serde::de::DeserializeOwned;

    /// A response body kept as text so a parse failure can quote it.
    pub struct Body(pub String);

    impl Body {
        pub fn parse<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
            serde_json::from_str(&self.0)
                .map_err(|e| anyhow!("{what} ({e}); got: {}", super::clip(&self.0)))
        }
    }
}
