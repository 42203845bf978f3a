//! The `webchat` binary: parse the CLI, load the configuration, build, run.

use anyhow::Context;
use clap::{Parser, Subcommand};
use webchat::app::wiring::{self, Backends};
use webchat::app::App;
use webchat::config::{Config, LogFormat};
use webchat::http::{self, HttpOptions};

#[derive(Parser)]
#[command(
    name = "webchat",
    version,
    about = "Real-time chat backend (REST + WebSocket)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
    /// Run the database migrations (DATABASE_URL) and exit.
    Migrate,
    /// Maintenance against the configured Redis (the seed's maintenance calls).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Print `{total_cached_messages, total_chats}`.
    Stats,
    /// Remove every cached message, window and pinned set.
    ClearCache,
    /// Remove every presence record (users appear offline until they reconnect).
    ClearPresence,
    /// Remove every session and blacklist entry (everyone must log in again).
    ClearSessions,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        // One object per line; the fields of the enclosing spans (the request id,
        // a socket's user and id) go with every event.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// Password hashing allocates ~19 MiB per call. glibc raises its mmap threshold to
/// the size of the largest block freed, after which such blocks come from the heap
/// and stay resident (measured: ~200 MiB after a few logins). A fixed threshold
/// keeps large transient buffers on mmap, returned to the OS when freed.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called once, before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        let app = App::in_memory(&Config::for_tests());
        println!("{}", http::openapi_json(&app.usecases));
        return Ok(());
    }
    let config = Config::from_env().context("reading configuration")?;
    init_tracing(config.log_format);
    match command {
        Command::Openapi => unreachable!("handled above"),
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Admin { action } => admin(config, action).await,
    }
}

/// How often the connection pools' gauges are sampled.
const POOL_METRICS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

async fn serve(config: Config) -> anyhow::Result<()> {
    let (app, backends) = wiring::build(&config).await?;
    let addr = format!("{}:{}", config.host, config.port);
    let acceptor = http::listener::NoDelayAcceptor::bind(addr.clone())
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        listen = %addr,
        instance = %config.instance_id,
        backends = %app.backends,
        "webchat serving"
    );
    let background = app.spawn_background(config.cleanup_interval);
    let pools = backends.spawn_pool_metrics(POOL_METRICS_EVERY);
    let options = HttpOptions::from(&config);
    let served = http::serve(acceptor, app.usecases, options, shutdown_signal()).await;
    background.abort();
    pools.abort();
    backends.shutdown().await;
    served.context("serving")?;
    tracing::info!("webchat stopped");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let url = config
        .database_url
        .as_deref()
        .context("DATABASE_URL is not set: nothing to migrate")?;
    let pg = webchat_postgres::PgBackend::connect(url).context("DATABASE_URL")?;
    let applied = wiring::migrate(&pg).await?;
    println!("{applied} migration(s) applied");
    Ok(())
}

async fn admin(config: Config, action: AdminAction) -> anyhow::Result<()> {
    if config.redis.is_none() {
        anyhow::bail!("admin commands act on Redis: set REDIS_URL, REDIS_HOST, REDIS_CLUSTER_NODES or REDIS_SENTINELS");
    }
    let mut config = config;
    // Admin commands issue no tokens; the wiring only needs some secret.
    config
        .jwt_secret
        .get_or_insert_with(|| webchat::usecase::tokens::random_hex(32));
    config.database_url = None;
    let (app, backends): (App, Backends) =
        wiring::build_with(&config, webchat_memory::memory_repositories(), None).await?;
    let admin = app.usecases.admin.clone();
    let result = match action {
        AdminAction::Stats => admin.stats().await.map(|s| {
            serde_json::json!({
                "total_cached_messages": s.total_cached_messages,
                "total_chats": s.total_chats,
            })
            .to_string()
        }),
        AdminAction::ClearCache => admin
            .clear_cache()
            .await
            .map(|n| format!("{n} cache key(s) removed")),
        AdminAction::ClearPresence => admin
            .clear_presence()
            .await
            .map(|n| format!("{n} presence key(s) removed")),
        AdminAction::ClearSessions => admin
            .clear_sessions()
            .await
            .map(|n| format!("{n} session key(s) removed")),
    };
    backends.shutdown().await;
    println!("{}", result.context("Redis did not answer")?);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: closing sockets");
}
