//! `/health` in the shape of NestJS Terminus, and `/health/live`.

use std::collections::BTreeMap;

use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::auth_api::ApiTags;
use crate::usecase::UseCases;

#[derive(Debug, Clone, Object)]
pub struct HealthEntry {
    /// `up` or `down`.
    pub status: String,
    /// Why it is down (never the cause itself); null when up.
    #[oai(nullable)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct HealthReport {
    /// `ok` when every backend is up, `error` otherwise.
    pub status: String,
    /// The backends that are up.
    pub info: BTreeMap<String, HealthEntry>,
    /// The backends that are down.
    pub error: BTreeMap<String, HealthEntry>,
    /// Every backend.
    pub details: BTreeMap<String, HealthEntry>,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Every backend is up.
    #[oai(status = 200)]
    Ok(Json<HealthReport>),
    /// At least one backend is down.
    #[oai(status = 503)]
    Down(Json<HealthReport>),
}

pub struct HealthApi {
    pub uc: UseCases,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// One entry per backend (`database`, `redis`; `memory` when embedded).
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> HealthResponse {
        let results = self.uc.health.check().await;
        let mut report = HealthReport {
            status: "ok".into(),
            info: BTreeMap::new(),
            error: BTreeMap::new(),
            details: BTreeMap::new(),
        };
        if results.is_empty() {
            let up = HealthEntry {
                status: "up".into(),
                message: None,
            };
            report.info.insert("memory".into(), up.clone());
            report.details.insert("memory".into(), up);
        }
        for (name, result) in results {
            // The cause went to the log; the body says only that it is down.
            let entry = HealthEntry {
                status: if result.is_ok() { "up" } else { "down" }.into(),
                message: result
                    .err()
                    .map(|_| "unreachable or not answering".to_owned()),
            };
            if entry.message.is_some() {
                report.status = "error".into();
                report.error.insert(name.into(), entry.clone());
            } else {
                report.info.insert(name.into(), entry.clone());
            }
            report.details.insert(name.into(), entry);
        }
        if report.status == "ok" {
            HealthResponse::Ok(Json(report))
        } else {
            HealthResponse::Down(Json(report))
        }
    }

    /// 200 while the process runs.
    #[oai(path = "/health/live", method = "get")]
    async fn live(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }
}
