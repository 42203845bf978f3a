//! Request gating in front of the API: client IP, body size, and the named
//! throttling policies of the seed (`default` on every API route, `strict` on login
//! and register per address, on password changes and message sends per user; the
//! login use case counts each account too). Addresses are counted as IPv4 or IPv6
//! /64 (`usecase::throttle::address_subject`). Health, docs and the spec are never
//! throttled.

use std::net::IpAddr;
use std::sync::Arc;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use poem_openapi::registry::MetaApi;
use webchat_domain::RateLimitDecision;

use super::error::{ceil_secs, ApiError, ErrorBody};
use crate::usecase::throttle::{address_subject, PolicyName, LOGIN_ROUTE, SEND_ROUTE};
use crate::usecase::UseCases;

/// Largest JSON body accepted (docs/protocol.md, limits).
pub const MAX_BODY: usize = 64 * 1024;

/// The caller's address, as the throttle and sessions record it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The throttled route templates, taken from the API's own operations (plus the
/// routes outside the OpenAPI document, such as `/ws`), so ids in paths cannot dodge
/// a limit and a new route is throttled without anyone updating a list.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Each template with its segments, literal-only templates first so that
    /// `/api/users/online` wins over `/api/users/{id}`.
    templates: Arc<Vec<(String, Vec<String>)>>,
}

impl RouteTable {
    pub fn new(apis: &[MetaApi], extra: &[&str]) -> Self {
        let mut templates: Vec<String> = apis
            .iter()
            .flat_map(|api| api.paths.iter().map(|p| p.path.clone()))
            .filter(|path| path.starts_with("/api/"))
            .chain(extra.iter().map(|p| (*p).to_owned()))
            .collect();
        templates.sort_by_key(|t| (t.contains('{'), t.clone()));
        templates.dedup();
        let templates = templates
            .into_iter()
            .map(|t| {
                let segments = t.split('/').map(str::to_owned).collect();
                (t, segments)
            })
            .collect();
        Self {
            templates: Arc::new(templates),
        }
    }

    /// The template `path` matches, if it is a throttled route.
    pub fn template(&self, path: &str) -> Option<&str> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .find(|(_, t)| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .map(|(template, _)| template.as_str())
    }
}

/// The operations throttled by the `strict` policy, and whether they count per user
/// (else per client IP); every other route uses `default` per user (per IP without
/// a valid token). A test checks each names a real operation.
const STRICT: &[(Method, &str, bool)] = &[
    (Method::POST, LOGIN_ROUTE, false),
    (Method::POST, "/api/auth/register", false),
    (Method::POST, "/api/auth/password", true),
    (Method::POST, SEND_ROUTE, true),
];

/// Which policy applies, and whether it counts per user (else per IP).
fn policy_for(method: &Method, template: &str) -> (PolicyName, bool) {
    STRICT
        .iter()
        .find(|(m, t, _)| m == method && *t == template)
        .map_or((PolicyName::Default, true), |(_, _, per_user)| {
            (PolicyName::Strict, *per_user)
        })
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

/// The gate every request passes: records the client IP, bounds the body, and
/// counts the request against its route's policy.
#[derive(Clone)]
pub struct Gate {
    usecases: UseCases,
    routes: RouteTable,
    trust_proxy: bool,
}

impl Gate {
    pub fn new(usecases: UseCases, routes: RouteTable, trust_proxy: bool) -> Self {
        Self {
            usecases,
            routes,
            trust_proxy,
        }
    }

    pub async fn run<E: Endpoint>(&self, ep: &E, mut req: Request) -> poem::Result<Response> {
        let ip = client_ip(&req, self.trust_proxy);
        req.extensions_mut().insert(ClientIp(ip.clone()));
        limit_body(&mut req).await?;
        let Some(template) = self.routes.template(req.uri().path()) else {
            return ep.call(req).await.map(IntoResponse::into_response);
        };
        let (policy, per_user) = policy_for(req.method(), template);
        let subject = match access_token(&req).and_then(|t| self.usecases.auth.peek_user(t)) {
            Some(user) if per_user => format!("user:{user}"),
            _ => address_subject(&ip),
        };
        let decision = match self.usecases.throttle.hit(policy, &subject, template).await {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> RouteTable {
        RouteTable::new(&crate::http::api_meta(), &["/ws"])
    }

    #[test]
    fn paths_map_to_the_apis_templates() {
        let routes = routes();
        assert_eq!(routes.template("/api/users/me"), Some("/api/users/me"));
        assert_eq!(
            routes.template("/api/users/online"),
            Some("/api/users/online")
        );
        assert_eq!(
            routes.template("/api/users/0b7c/presence"),
            Some("/api/users/{id}/presence")
        );
        assert_eq!(routes.template("/api/chats/abc/messages"), Some(SEND_ROUTE));
        assert_eq!(
            routes.template("/api/chats/abc/messages/"),
            Some(SEND_ROUTE)
        );
        assert_eq!(routes.template("/ws"), Some("/ws"));
        assert_eq!(routes.template("/health"), None);
        assert_eq!(routes.template("/docs"), None);
        assert_eq!(routes.template("/api/chats//messages"), None);
    }

    #[test]
    fn every_strict_operation_exists_in_the_api() {
        let apis = crate::http::api_meta();
        for (method, template, _) in STRICT {
            let found = apis
                .iter()
                .flat_map(|a| &a.paths)
                .any(|p| p.path == *template && p.operations.iter().any(|o| o.method == *method));
            assert!(found, "{method} {template} is not an API operation");
        }
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
