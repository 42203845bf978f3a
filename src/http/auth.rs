//! The one way in for an authenticated caller: the `BearerAuth` security scheme,
//! whose checker verifies the token (signature, expiry, then the session and the
//! blacklist in one store round trip) and hands handlers the caller's context.

use poem::{IntoResponse, Request};
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::error::ApiError;
use crate::usecase::auth::AuthContext;
use crate::usecase::{AppError, UseCases};

/// `Authorization: Bearer <access_token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "authenticate")]
pub struct BearerAuth(pub AuthContext);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<AuthContext> {
    let Some(usecases) = req.data::<UseCases>() else {
        return Err(refuse(AppError::internal(
            "use cases missing from the route",
        )));
    };
    usecases
        .auth
        .authenticate(&bearer.token)
        .await
        .map_err(refuse)
}

fn refuse(e: AppError) -> poem::Error {
    poem::Error::from_response(ApiError::from(e).into_response())
}
