//! The driving adapter: REST (poem-openapi), the WebSocket gateway, throttling and
//! health. Knows HTTP; knows nothing of Redis or SQL.

mod auth_api;
mod chat_api;
pub mod dto;
pub mod error;
mod health;
pub mod throttle;
pub mod ws;

use std::future::Future;
use std::time::Duration;

use poem::listener::Acceptor;
use poem::{get, Endpoint, EndpointExt, Route, Server};
use poem_openapi::auth::Bearer;
use poem_openapi::{OpenApiService, SecurityScheme};
use tokio::sync::watch;

use crate::app::App;
pub use throttle::ClientIp;

/// `Authorization: Bearer <access_token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(pub Bearer);

type Apis = (
    auth_api::AuthApi,
    auth_api::UserApi,
    chat_api::ChatApi,
    chat_api::MessageApi,
    health::HealthApi,
);

fn api_service(app: &App) -> OpenApiService<Apis, ()> {
    let apis = (
        auth_api::AuthApi { app: app.clone() },
        auth_api::UserApi { app: app.clone() },
        chat_api::ChatApi { app: app.clone() },
        chat_api::MessageApi { app: app.clone() },
        health::HealthApi { app: app.clone() },
    );
    OpenApiService::new(apis, "webchat", env!("CARGO_PKG_VERSION")).description(
        "Real-time chat backend. REST for accounts, chats and history; WebSocket at \
         /ws?token=<access_token> for live events (see the README for the protocol). \
         Errors are {\"error\": code, \"message\": text}. Throttled routes answer 429 with \
         Retry-After and RateLimit-* headers.",
    )
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi_json(app: &App) -> String {
    api_service(app).spec()
}

/// Options of the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Take the client IP from `X-Forwarded-For` (set behind a reverse proxy only).
    pub trust_proxy: bool,
}

/// The whole HTTP surface over `app`.
pub fn endpoint(app: App, gateway: ws::Gateway, options: HttpOptions) -> impl Endpoint {
    let api = api_service(&app);
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let gate_app = app.clone();
    Route::new()
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .at("/ws", get(ws::upgrade).data(gateway))
        .nest("/", api)
        .around(move |ep, req| {
            let app = gate_app.clone();
            let trust_proxy = options.trust_proxy;
            async move { throttle::gate(ep.as_ref(), req, &app, trust_proxy).await }
        })
        .catch_all_error(|err| async move { error::render_error(err) })
}

/// Serves `app` on `acceptor` until `shutdown` resolves, then closes every socket
/// cleanly (marking their users offline) and returns.
pub async fn serve<A: Acceptor + 'static>(
    acceptor: A,
    app: App,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let hub = ws::hub::Hub::start(app.bus.clone()).await;
    let gateway = ws::Gateway {
        app: app.clone(),
        hub: hub.clone(),
        shutdown: stop_rx,
    };
    let ep = endpoint(app, gateway, options);
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let result = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(ep, signal, Some(Duration::from_secs(10)))
        .await;
    // Upgraded sockets outlive the HTTP server: give them time to close and report.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while hub.connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(hub);
    result
}
