//! The driving adapter: REST (poem-openapi), the WebSocket gateway, throttling and
//! health. Knows HTTP; knows nothing of Redis or SQL, and sees the application only
//! as its bundle of use cases ([`UseCases`]).

mod auth;
mod auth_api;
mod chat_api;
pub mod dto;
pub mod error;
mod health;
pub mod limits;
pub mod listener;
pub mod observe;
pub mod socketio;
pub mod throttle;
mod web;
pub mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::Acceptor;
use poem::{get, Endpoint, EndpointExt, Route, Server};
use poem_openapi::{ExtraHeader, OpenApi, OpenApiService};
use tokio::sync::watch;

use crate::usecase::UseCases;
pub use auth::BearerAuth;
pub use throttle::ClientIp;

type Apis = (
    auth_api::AuthApi,
    auth_api::UserApi,
    chat_api::ChatApi,
    chat_api::MessageApi,
    health::HealthApi,
);

fn api_service(usecases: &UseCases) -> OpenApiService<Apis, ()> {
    let apis = (
        auth_api::AuthApi {
            uc: usecases.clone(),
        },
        auth_api::UserApi {
            uc: usecases.clone(),
        },
        chat_api::ChatApi {
            uc: usecases.clone(),
        },
        chat_api::MessageApi {
            uc: usecases.clone(),
        },
        health::HealthApi {
            uc: usecases.clone(),
        },
    );
    OpenApiService::new(apis, "webchat", env!("CARGO_PKG_VERSION"))
        .description(
            "Real-time chat backend. REST for accounts, chats and history; WebSocket at \
             /ws?token=<access_token> for live events (see the README for the protocol), \
             and the same events over Socket.IO at /socket.io/ with auth {token} \
             (docs/socketio.md). \
             Errors are {\"error\": code, \"message\": text}. Throttled routes answer 429 with \
             Retry-After and RateLimit-* headers; their other answers carry RateLimit-Limit, \
             RateLimit-Remaining and RateLimit-Reset while the rate limiter answers.",
        )
        .extra_request_header::<Option<String>, _>(
            ExtraHeader::new(observe::REQUEST_ID).description(
                "An id for this request (1..64 visible ASCII characters), echoed in the \
             response and logged; another value is replaced by a generated one",
            ),
        )
        .extra_response_header::<String, _>(ExtraHeader::new(observe::REQUEST_ID).description(
            "The request's id: the client's X-Request-Id when it was acceptable, else \
             generated (32 hex digits)",
        ))
}

/// The API's operations (paths and methods), as the throttle's route table reads them.
pub(crate) fn api_meta() -> Vec<poem_openapi::registry::MetaApi> {
    Apis::meta()
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi_json(usecases: &UseCases) -> String {
    api_service(usecases).spec()
}

/// Options of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Take the client IP from `X-Forwarded-For` (set behind a reverse proxy only).
    pub trust_proxy: bool,
    /// Serve `/metrics` (installing the process's Prometheus recorder).
    pub metrics: bool,
    /// Open WebSockets one user may hold across every instance.
    pub max_sockets_per_user: usize,
    /// Serve Socket.IO at `/socket.io/`.
    pub socketio: bool,
}

impl From<&crate::config::Config> for HttpOptions {
    fn from(config: &crate::config::Config) -> Self {
        Self {
            trust_proxy: config.trust_proxy,
            metrics: config.metrics,
            max_sockets_per_user: config.max_sockets_per_user,
            socketio: config.socketio,
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            trust_proxy: false,
            metrics: true,
            max_sockets_per_user: crate::config::DEFAULT_MAX_SOCKETS_PER_USER,
            socketio: true,
        }
    }
}

/// The whole HTTP surface over `usecases`.
pub fn endpoint(usecases: UseCases, gateway: ws::Gateway, options: HttpOptions) -> impl Endpoint {
    let api = api_service(&usecases);
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let routes = throttle::RouteTable::new(&api_meta(), &[crate::usecase::throttle::WS_ROUTE]);
    let gate = throttle::Gate::new(usecases.clone(), routes, options.trust_proxy);
    let mut routes = web::assets(Route::new())
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .at("/ws", get(ws::upgrade).data(gateway.clone()));
    if options.socketio {
        routes = routes.nest_no_strip("/socket.io", socketio::endpoint(gateway));
    }
    if options.metrics {
        crate::metrics::install();
        routes = routes.at("/metrics", get(observe::metrics));
    }
    let routes = routes.nest("/", api);
    let observer = observe::Observer::new();
    web::with_page(routes)
        .data(usecases)
        .around(move |ep, req| {
            let gate = gate.clone();
            async move { gate.run(ep.as_ref(), req).await }
        })
        .catch_all_error(|err| async move { error::render_error(err) })
        .around(move |ep, req| {
            let observer = observer.clone();
            async move { observer.run(ep.as_ref(), req).await }
        })
}

/// Serves `usecases` on `acceptor` until `shutdown` resolves, then closes every
/// socket cleanly (marking their users offline) and returns.
pub async fn serve<A: Acceptor + 'static>(
    acceptor: A,
    usecases: UseCases,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let registry = ws::registry::SocketRegistry::start(usecases.feed.clone()).await;
    let gateway = ws::Gateway {
        uc: usecases.clone(),
        registry: registry.clone(),
        shutdown: stop_rx,
        quota: Arc::new(ws::SocketQuota::new(options.max_sockets_per_user)),
    };
    let ep = endpoint(usecases, gateway, options);
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let result = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(ep, signal, Some(Duration::from_secs(10)))
        .await;
    // Upgraded sockets outlive the HTTP server: give them time to close and report.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while registry.connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(registry);
    result
}
