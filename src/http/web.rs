//! The web client: static files from `web/`, embedded in the binary (no build step,
//! no CDN), served at `/` with its assets under `/web/`.

use poem::endpoint::{EmbeddedFileEndpoint, EmbeddedFilesEndpoint};
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct WebClient;

/// `/web/*`: the client's scripts, styles and images.
pub fn assets(route: Route) -> Route {
    route.nest("/web", EmbeddedFilesEndpoint::<WebClient>::new())
}

/// Serves the page at `/` in front of `ep` (the API is nested at the root, whose
/// catch-all would otherwise take `/`).
pub fn with_page<E: Endpoint + 'static>(ep: E) -> impl Endpoint<Output = Response> {
    ep.around(|ep, req| async move {
        if req.uri().path() == "/" && req.method() == poem::http::Method::GET {
            let page = EmbeddedFileEndpoint::<WebClient>::new("index.html");
            return page.call(req).await.map(IntoResponse::into_response);
        }
        ep.call(req).await.map(IntoResponse::into_response)
    })
}
