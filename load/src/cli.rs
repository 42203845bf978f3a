//! Command line: one subcommand per scenario. Option names and defaults follow
//! shared/bench/load/load.js so runs of the two drivers can be compared flag for flag.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "webchat-load",
    version,
    about = "Load driver for webchat: fanout, connect, send and history scenarios",
    after_help = "Output: a table on stdout, then one JSON line (the last line); progress on stderr.\n\
                  Exit status: 0 ok, 1 loss / duplication / reordering / protocol errors, 2 fatal.\n\
                  Start webchat with WEBCHAT_THROTTLE_STRICT=100000/60 WEBCHAT_THROTTLE_DEFAULT=100000/60."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Runtime worker threads (0 = one per core). One is the default: on the
    /// 2-core bench machine the servers need the cores, one worker is cheaper per
    /// delivery (no cross-thread wake-ups) and still outruns the servers.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// C sockets in chats of M members; R msg/s in total over WebSocket; checks
    /// exactly-once, in-order delivery and loss; reports latency and CPU.
    Fanout(FanoutArgs),
    /// Opens C idle sockets; reports connect rate, latency and server RSS per socket.
    Connect(ConnectArgs),
    /// REST sends (POST /api/chats/{id}/messages), open loop at --rate or closed loop.
    Send(SendArgs),
    /// REST history reads (GET /api/chats/{id}/messages?limit=50&before_seq=).
    History(HistoryArgs),
}

/// Which socket client speaks to the servers (the socket driver is generic over a
/// codec).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// webchat's JSON text frames over a plain WebSocket at /ws (tokio-tungstenite).
    Ws,
    /// Socket.IO at /socket.io/: Engine.IO v4 over WebSocket, events with acks.
    Socketio,
}

impl ClientKind {
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Ws => "ws",
            ClientKind::Socketio => "socketio",
        }
    }
}

/// Options every scenario shares: where the servers are and what to account.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server base URLs, comma separated (http://host:port); connection i uses URL i % U.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_base_url)]
    pub urls: Vec<String>,
    /// Server pids: CPU (utime+stime) and RSS from /proc over the measured phase.
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// Other pids to account (e.g. redis-server).
    #[arg(long = "other-pids", value_delimiter = ',')]
    pub other_pids: Vec<u32>,
    /// Process names to account, summed (e.g. postgres; found at start and end).
    #[arg(long = "other-comm", value_delimiter = ',')]
    pub other_comm: Vec<String>,
    /// Register/login/create-chat requests in flight during setup.
    #[arg(long = "setup-concurrency", default_value_t = 16)]
    pub setup_concurrency: usize,
}

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    /// Sockets (one user each).
    #[arg(long)]
    pub conns: usize,
    /// Members per chat: socket i is in chat floor(i / M).
    #[arg(long)]
    pub members: usize,
    /// Messages per second in total over all chats.
    #[arg(long)]
    pub rate: f64,
    /// Measured seconds.
    #[arg(long)]
    pub duration: f64,
    /// Senders per chat (its first S members; consecutive members sit on different URLs).
    #[arg(long, default_value_t = 2)]
    pub senders: usize,
    /// Warm-up seconds at the same rate, not counted.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Seconds to wait for deliveries after the last measured send.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Seconds to wait more, if deliveries are missing after the drain, to tell late from lost.
    #[arg(long, default_value_t = 5.0)]
    pub late: f64,
    /// Padding bytes added to each message's content.
    #[arg(long, default_value_t = 0)]
    pub size: usize,
    /// Seconds of quiet after all sockets answered their ping.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Socket connects in flight.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// The socket protocol (`--protocol` is an alias).
    #[arg(long, alias = "protocol", value_enum, default_value_t = ClientKind::Ws)]
    pub client: ClientKind,
}

#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub common: Common,
    /// Sockets to open.
    #[arg(long)]
    pub conns: usize,
    /// Users (socket i belongs to user i % U); default one per socket.
    #[arg(long)]
    pub users: Option<usize>,
    /// Sockets per chat.
    #[arg(long, default_value_t = 50)]
    pub members: usize,
    /// Connects in flight.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Seconds to wait after the last connect before reading RSS.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// The socket protocol (`--protocol` is an alias).
    #[arg(long, alias = "protocol", value_enum, default_value_t = ClientKind::Ws)]
    pub client: ClientKind,
}

/// How REST requests are issued: open loop at a rate, or closed loop.
#[derive(Args, Debug, Clone)]
pub struct RestLoad {
    /// Requests per second, open loop (requests never wait for earlier ones). Without
    /// it: closed loop, --concurrency workers each waiting for its previous answer.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Closed-loop workers.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Open loop: requests in flight beyond this are not issued (counted as skipped).
    #[arg(long = "max-inflight", default_value_t = 4096)]
    pub max_inflight: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of the same load before measuring, not counted.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
}

#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub load: RestLoad,
    /// Users, each sending into its own chat (user i is in chat floor(i / M)).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Members per chat.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Padding bytes added to each message's content.
    #[arg(long, default_value_t = 0)]
    pub size: usize,
}

#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub load: RestLoad,
    /// Users (user i is in chat floor(i / M)); each chat is read by its members.
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Members per chat.
    #[arg(long, default_value_t = 5)]
    pub members: usize,
    /// Messages sent into each chat before reading.
    #[arg(long, default_value_t = 200)]
    pub messages: usize,
    /// Pages of 50 read per chat, newest first: 1 reads only the newest page (the
    /// server's recent window); more reach older history.
    #[arg(long, default_value_t = 1)]
    pub pages: usize,
    /// Padding bytes added to each prefilled message's content.
    #[arg(long, default_value_t = 0)]
    pub size: usize,
}

/// Accepts `http://host:port` (a trailing slash is dropped); anything with a path,
/// or another scheme, is refused, so URLs can be joined with `/api/...` and `/ws`.
fn parse_base_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{s} is not http://host:port"))?;
    if rest.is_empty() || rest.contains('/') {
        return Err(format!("{s} is not http://host:port"));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:4000/").unwrap(),
            "http://127.0.0.1:4000"
        );
        assert!(parse_base_url("https://h:1").is_err());
        assert!(parse_base_url("http://h:1/api").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
