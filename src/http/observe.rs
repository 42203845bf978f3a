//! What every request leaves behind: a request id (the client's `X-Request-Id` when
//! it is sane, else a fresh one) on a tracing span and on the response, and the
//! request's duration in the histogram by route template and status. Also the
//! `/metrics` endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{handler, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;
use uuid::Uuid;

use super::throttle::RouteTable;

/// The header a request id comes in and goes out in.
pub const REQUEST_ID: &str = "x-request-id";
/// Longest client-chosen request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 64;

/// Routes outside the API's `/api` operations, named in the request histogram by
/// their own path (everything else unknown is `other`).
const OUTSIDE_API: &[&str] = &[
    "/ws",
    "/socket.io",
    "/health",
    "/health/live",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/",
];

/// The id of the request being handled (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The client's id when it is 1..64 visible ASCII characters, else a new one.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=MAX_REQUEST_ID).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic())
            })
            .map_or_else(Self::generate, |v| Self(v.to_owned()))
    }

    /// A fresh id: a UUIDv4 in its 32-hex-digit form.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().simple().to_string())
    }
}

/// The method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Routes outside the API that answer GET only.
const GET_ONLY: &[&str] = &["/ws", "/metrics", "/openapi.json"];

/// The `Allow` value of each route template: its methods, with HEAD wherever GET
/// is (the router answers HEAD with the GET handler).
fn allowed_methods() -> HashMap<String, String> {
    let mut allowed: HashMap<String, Vec<Method>> = HashMap::new();
    for path in super::api_meta().iter().flat_map(|api| &api.paths) {
        let methods = allowed.entry(path.path.clone()).or_default();
        methods.extend(path.operations.iter().map(|op| op.method.clone()));
    }
    for path in GET_ONLY {
        allowed
            .entry((*path).to_owned())
            .or_default()
            .push(Method::GET);
    }
    allowed
        .into_iter()
        .map(|(path, mut methods)| {
            if methods.contains(&Method::GET) {
                methods.push(Method::HEAD);
            }
            let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
            (path, names.join(", "))
        })
        .collect()
}

/// The outermost layer: request id, span, histogram; `Allow` on 405 answers.
#[derive(Clone)]
pub struct Observer {
    routes: RouteTable,
    allowed: Arc<HashMap<String, String>>,
}

impl Observer {
    pub fn new() -> Self {
        Self {
            routes: RouteTable::new(&super::api_meta(), OUTSIDE_API),
            allowed: Arc::new(allowed_methods()),
        }
    }

    /// The route template `path` is counted under: never the raw path.
    pub fn route(&self, path: &str) -> &str {
        self.routes.template(path).unwrap_or("other")
    }

    pub async fn run<E: Endpoint>(&self, ep: &E, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let id = RequestId::from_header(req.headers().get(REQUEST_ID));
        req.extensions_mut().insert(id.clone());
        let route = self.route(req.uri().path());
        let method = method_label(req.method());
        let span = tracing::info_span!("request", request_id = %id.0, method, route);
        let mut resp = match ep.call(req).instrument(span.clone()).await {
            Ok(resp) => resp.into_response(),
            Err(err) => super::error::render_error(err),
        };
        if let Ok(value) = HeaderValue::from_str(&id.0) {
            resp.headers_mut().insert(REQUEST_ID, value);
        }
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(allow) = self.allowed.get(route) {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    resp.headers_mut().insert(header::ALLOW, value);
                }
            }
        }
        let status = resp.status().as_u16();
        let took = started.elapsed();
        crate::metrics::http_request(method, route, status, took);
        span.in_scope(|| {
            tracing::debug!(
                status,
                took_us = took.as_micros() as u64,
                "request finished"
            );
        });
        Ok(resp)
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

/// `GET /metrics`: the Prometheus text format.
#[handler]
pub fn metrics() -> Response {
    match crate::metrics::render() {
        Some(text) => Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(value: &str) -> RequestId {
        RequestId::from_header(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn sane_client_ids_are_kept_and_others_replaced() {
        assert_eq!(id("abc-123"), RequestId("abc-123".into()));
        let longest = "x".repeat(64);
        assert_eq!(id(&longest).0, longest);
        for bad in [
            "x".repeat(65),
            "has space".into(),
            "tab\there".into(),
            String::new(),
        ] {
            let got = id(&bad).0;
            assert_ne!(got, bad);
            assert_eq!(got.len(), 32, "{got}");
            assert!(got.bytes().all(|b| b.is_ascii_hexdigit()), "{got}");
        }
        let non_ascii = HeaderValue::from_bytes("é".as_bytes()).unwrap();
        assert_eq!(RequestId::from_header(Some(&non_ascii)).0.len(), 32);
        assert_ne!(RequestId::from_header(None), RequestId::from_header(None));
    }

    #[test]
    fn allow_lists_each_routes_methods() {
        let allowed = allowed_methods();
        assert_eq!(allowed["/api/chats"], "POST, GET, HEAD");
        assert_eq!(allowed["/api/auth/login"], "POST");
        assert_eq!(allowed["/ws"], "GET, HEAD");
    }

    #[test]
    fn routes_are_templates_or_other() {
        let observer = Observer::new();
        assert_eq!(
            observer.route("/api/chats/123/messages"),
            "/api/chats/{id}/messages"
        );
        assert_eq!(observer.route("/health"), "/health");
        assert_eq!(observer.route("/metrics"), "/metrics");
        assert_eq!(observer.route("/ws"), "/ws");
        assert_eq!(observer.route("/socket.io/"), "/socket.io");
        assert_eq!(observer.route("/"), "/");
        assert_eq!(observer.route("/api/nowhere/42"), "other");
        assert_eq!(observer.route("/web/app.js"), "other");
    }
}
