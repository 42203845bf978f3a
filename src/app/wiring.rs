//! Picks the adapters the configuration asks for: Redis for presence, sessions, rate
//! limits, cache and events when Redis is configured; PostgreSQL for users, chats
//! and messages when a database is; memory for whatever is not.

use std::sync::Arc;

use anyhow::{bail, Context};
use webchat_domain::reconnect_backoff;
use webchat_memory::memory_repositories;
use webchat_ports::{CacheConfig, Clock, HealthCheck, PresenceConfig, Repositories, SystemClock};
use webchat_postgres::PgBackend;
use webchat_redis::{
    RedisAnnouncer, RedisBackend, RedisEventBus, RedisHealthCheck, RedisMessageCache,
    RedisPresenceStore, RedisRateLimiter, RedisSessionStore,
};

use super::{memory_ports, settings, App};
use crate::config::Config;
use crate::usecase::tokens::random_hex;
use crate::usecase::{Ports, Settings, UseCases};

/// The external backends a running App holds, to be shut down with it.
#[derive(Clone, Default)]
pub struct Backends {
    pub redis: Option<RedisBackend>,
    pub postgres: Option<PgBackend>,
}

impl Backends {
    /// Writes the pool gauges once (PostgreSQL; the Redis adapter does not expose
    /// its pool yet).
    pub fn sample_pools(&self) {
        if let Some(pg) = &self.postgres {
            let state = pg.pool_state();
            crate::metrics::postgres_pool(state.in_use, state.idle);
        }
    }

    /// Samples the pool gauges every `every` until the task is aborted.
    pub fn spawn_pool_metrics(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let backends = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                backends.sample_pools();
            }
        })
    }

    pub async fn shutdown(&self) {
        if let Some(redis) = &self.redis {
            redis.shutdown().await;
        }
    }
}

/// Runs the migrations, retrying while the database is unreachable (bounded, so a
/// misconfigured URL ends startup instead of hanging it).
pub async fn migrate(pg: &PgBackend) -> anyhow::Result<usize> {
    let mut attempt = 0;
    loop {
        match pg.run_migrations().await {
            Ok(applied) => return Ok(applied),
            Err(e) if e.is_unavailable() && attempt < 40 => {
                attempt += 1;
                let wait = reconnect_backoff(attempt);
                tracing::warn!(error = %e, attempt, ?wait, "database unreachable, retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e).context("running database migrations"),
        }
    }
}

/// Connects PostgreSQL (migrated) or falls back to memory repositories.
async fn repositories(config: &Config) -> anyhow::Result<(Repositories, Option<PgBackend>)> {
    let Some(url) = &config.database_url else {
        return Ok((memory_repositories(), None));
    };
    let pg = PgBackend::connect(url).context("DATABASE_URL")?;
    let applied = migrate(&pg).await?;
    tracing::info!(applied, "database migrations up to date");
    Ok((pg.repositories(), Some(pg)))
}

/// Builds the App the configuration describes.
pub async fn build(config: &Config) -> anyhow::Result<(App, Backends)> {
    let (repos, postgres) = repositories(config).await?;
    build_with(config, repos, postgres).await
}

/// Builds the App over given repositories (tests share one set between instances).
pub async fn build_with(
    config: &Config,
    repos: Repositories,
    postgres: Option<PgBackend>,
) -> anyhow::Result<(App, Backends)> {
    let wired = wire(config, repos, postgres)?;
    Ok(wired.into_app())
}

/// The ports a configuration asks for, before the use cases are built over them:
/// tests swap a port here (a bus that drops events, say) to cause a fault.
pub struct Wired {
    pub ports: Ports,
    pub settings: Settings,
    pub backends: Backends,
    /// One line naming every backend in use.
    pub line: String,
}

impl Wired {
    pub fn into_app(self) -> (App, Backends) {
        let app = App {
            usecases: UseCases::new(self.ports, self.settings),
            backends: self.line,
        };
        (app, self.backends)
    }
}

/// Connects the adapters `config` names (Redis when configured) over `repos`.
pub fn wire(
    config: &Config,
    repos: Repositories,
    postgres: Option<PgBackend>,
) -> anyhow::Result<Wired> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut health: Vec<Arc<dyn HealthCheck>> = Vec::new();
    if let Some(pg) = &postgres {
        health.push(Arc::new(pg.health_check()));
    }
    let repo_name = if postgres.is_some() {
        "postgres"
    } else {
        "memory"
    };
    let (ports, redis, secret) = match &config.redis {
        None => {
            let secret = config.jwt_secret.clone().unwrap_or_else(|| random_hex(32));
            let mut ports = memory_ports(repos, clock);
            ports.health = health;
            (ports, None, secret)
        }
        Some(redis_config) => {
            let Some(secret) = config.jwt_secret.clone() else {
                bail!("WEBCHAT_JWT_SECRET is required when Redis is configured: every instance must share it");
            };
            let backend = RedisBackend::start(redis_config.clone(), config.instance_id.clone())
                .context("Redis configuration")?;
            health.push(Arc::new(RedisHealthCheck::new(backend.clone())));
            let ports = Ports {
                users: repos.users,
                chats: repos.chats,
                messages: repos.messages,
                presence: Arc::new(RedisPresenceStore::new(
                    backend.clone(),
                    PresenceConfig::for_cleanup_interval(config.cleanup_interval),
                )),
                sessions: Arc::new(RedisSessionStore::new(backend.clone())),
                rate_limiter: Arc::new(RedisRateLimiter::new(backend.clone())),
                cache: Arc::new(RedisMessageCache::new(
                    backend.clone(),
                    CacheConfig::default(),
                )),
                bus: Arc::new(RedisEventBus::new(backend.clone())),
                announcer: Some(Arc::new(RedisAnnouncer::new(
                    backend.clone(),
                    CacheConfig::default(),
                ))),
                clock,
                health,
            };
            (ports, Some(backend), secret)
        }
    };
    let shared = if redis.is_some() { "redis" } else { "memory" };
    // Which Redis deployment: `single`, `cluster` or `sentinel`.
    let mode = redis
        .as_ref()
        .map(|r| format!(" redis_mode={}", r.mode()))
        .unwrap_or_default();
    Ok(Wired {
        ports,
        settings: settings(config, secret.as_bytes()),
        backends: Backends { redis, postgres },
        line: format!(
            "repositories={repo_name} presence={shared} sessions={shared} rate_limits={shared} cache={shared} events={shared}{mode}"
        ),
    })
}
