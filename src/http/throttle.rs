//! Request gating in front of the API: client IP, body size, and the named
//! throttling policies of the seed (`default` on every API route, `strict` on login
//! and register per IP and on message sends per user). Health, docs and the spec are
//! never throttled.

use std::net::IpAddr;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use webchat_domain::RateLimitDecision;

use super::error::{ceil_secs, ApiError, ErrorBody};
use crate::app::App;
use crate::usecase::throttle::{PolicyName, SEND_ROUTE};

/// Largest JSON body accepted (CONTRACT.md limits).
pub const MAX_BODY: usize = 64 * 1024;

/// The caller's address, as the throttle and sessions record it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// Route templates, literal segments first, so ids in paths cannot dodge a limit.
const ROUTES: &[&str] = &[
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/auth/logout-all",
    "/api/auth/logout-others",
    "/api/sessions",
    "/api/sessions/{id}",
    "/api/users/me",
    "/api/users/online",
    "/api/users/{id}/presence",
    "/api/chats",
    "/api/chats/{id}",
    "/api/chats/{id}/members",
    SEND_ROUTE,
    "/api/chats/{id}/pinned",
    "/api/messages/{id}",
    "/api/messages/{id}/pin",
    "/ws",
];

/// The template `path` matches, if it is a throttled route.
pub fn route_template(path: &str) -> Option<&'static str> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().copied().find(|template| {
        let t: Vec<&str> = template.split('/').collect();
        t.len() == segments.len()
            && t.iter()
                .zip(&segments)
                .all(|(t, s)| *t == "{id}" && !s.is_empty() || t == s)
    })
}

/// Which policy applies, and whether it counts per user (else per IP).
fn policy_for(method: &Method, template: &str) -> (PolicyName, bool) {
    match (method, template) {
        (&Method::POST, "/api/auth/login" | "/api/auth/register") => (PolicyName::Strict, false),
        (&Method::POST, SEND_ROUTE) => (PolicyName::Strict, true),
        _ => (PolicyName::Default, true),
    }
}

fn client_ip(req: &Request, trust_proxy: bool) -> String {
    if trust_proxy {
        let forwarded = req
            .header("x-forwarded-for")
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .and_then(|v| v.parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip().to_string(),
        None => "unknown".to_owned(),
    }
}

/// The access token a request carries: `Authorization: Bearer` (scheme in any
/// case, as the API's security scheme accepts it), else `?token=` (WebSocket
/// upgrades). The throttle and the gateway read it the same way, so a request is
/// always counted against the user it authenticates as.
pub fn access_token(req: &Request) -> Option<&str> {
    let from_header = req.header(header::AUTHORIZATION).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    from_header.or_else(|| {
        req.uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
    })
}

fn rate_headers(resp: &mut Response, d: &RateLimitDecision) {
    let headers = resp.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("ratelimit-limit", d.limit.to_string());
    set("ratelimit-remaining", d.remaining.to_string());
    set("ratelimit-reset", ceil_secs(d.reset_after).to_string());
}

fn too_large() -> poem::Error {
    let body = ErrorBody::new(
        "payload_too_large",
        format!("request body exceeds {MAX_BODY} bytes"),
    );
    poem::Error::from_response(
        (StatusCode::PAYLOAD_TOO_LARGE, poem::web::Json(body)).into_response(),
    )
}

/// Bounds the body: a declared length over the limit is refused at once; a body of
/// unknown length is read up to the limit.
async fn limit_body(req: &mut Request) -> poem::Result<()> {
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(len) if len > MAX_BODY => Err(too_large()),
        Some(_) => Ok(()),
        None if req.method() == Method::GET || req.method() == Method::HEAD => Ok(()),
        None => {
            let bytes = req
                .take_body()
                .into_bytes_limit(MAX_BODY)
                .await
                .map_err(|_| too_large())?;
            req.set_body(Body::from_bytes(bytes));
            Ok(())
        }
    }
}

/// The gate every request passes.
pub async fn gate<E: Endpoint>(
    ep: &E,
    mut req: Request,
    app: &App,
    trust_proxy: bool,
) -> poem::Result<Response> {
    let ip = client_ip(&req, trust_proxy);
    req.extensions_mut().insert(ClientIp(ip.clone()));
    limit_body(&mut req).await?;
    let Some(template) = route_template(req.uri().path()) else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let (policy, per_user) = policy_for(req.method(), template);
    let subject = match access_token(&req).and_then(|t| app.auth.peek_user(t)) {
        Some(user) if per_user => format!("user:{user}"),
        _ => format!("ip:{ip}"),
    };
    let decision = match app.throttle.hit(policy, &subject, template).await {
        Ok(decision) => decision,
        Err(e) => {
            return Err(poem::Error::from_response(
                ApiError::from(e).into_response(),
            ))
        }
    };
    let mut resp = ep.call(req).await.map(IntoResponse::into_response)?;
    if let Some(d) = decision {
        rate_headers(&mut resp, &d);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_templates() {
        assert_eq!(route_template("/api/users/me"), Some("/api/users/me"));
        assert_eq!(
            route_template("/api/users/0b7c/presence"),
            Some("/api/users/{id}/presence")
        );
        assert_eq!(route_template("/api/chats/abc/messages"), Some(SEND_ROUTE));
        assert_eq!(route_template("/api/chats/abc/messages/"), Some(SEND_ROUTE));
        assert_eq!(route_template("/health"), None);
        assert_eq!(route_template("/docs"), None);
        assert_eq!(route_template("/api/chats//messages"), None);
    }

    #[test]
    fn tokens_are_read_like_the_security_scheme_reads_them() {
        let req = |auth: &str, uri: &str| {
            Request::builder()
                .uri(uri.parse().unwrap())
                .header(header::AUTHORIZATION, auth)
                .finish()
        };
        assert_eq!(access_token(&req("bearer abc", "/x")), Some("abc"));
        assert_eq!(access_token(&req("BEARER abc", "/x")), Some("abc"));
        assert_eq!(access_token(&req("Basic abc", "/ws?token=q")), Some("q"));
        assert_eq!(access_token(&req("Bearer h", "/ws?token=q")), Some("h"));
        assert_eq!(access_token(&Request::builder().finish()), None);
    }

    #[test]
    fn strict_routes() {
        assert_eq!(
            policy_for(&Method::POST, "/api/auth/login"),
            (PolicyName::Strict, false)
        );
        assert_eq!(
            policy_for(&Method::POST, SEND_ROUTE),
            (PolicyName::Strict, true)
        );
        assert_eq!(
            policy_for(&Method::GET, SEND_ROUTE),
            (PolicyName::Default, true)
        );
    }
}
