//! One task per socket: connect, one ping/pong, then read frames and write sends
//! until the scenario drops the command channel. The task owns its `SocketState`
//! (no locks on the delivery path) and returns it when it ends.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::state::{Shared, SocketState};
use super::{Codec, Dial, Inbound};
use crate::util::now_ns;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const PONG_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

pub enum Cmd {
    /// Send message `n` into this socket's first chat.
    Send { n: u64, warm: bool },
    /// Reply with the unique measured deliveries received by the drain's end.
    Snapshot(oneshot::Sender<u64>),
}

/// When the socket became usable, in ns since tool start.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub started: u64,
    /// HTTP upgrade done
    pub connected: u64,
    /// first pong received: the server has registered and subscribed the socket
    pub ponged: u64,
}

/// What a socket task returns.
pub struct Finished {
    pub state: SocketState,
    /// why the server side ended the socket before we closed it, if it did
    pub dropped: Option<String>,
    pub unacked_at_end: usize,
}

pub struct Handle {
    pub cmd: mpsc::UnboundedSender<Cmd>,
    pub ready: oneshot::Receiver<Result<Ready, String>>,
    pub task: JoinHandle<Finished>,
}

/// Small buffers: tungstenite's defaults (128 KiB each way) would cost ~256 KiB per
/// socket, 5 GiB at 20,000 sockets; chat frames are a few hundred bytes. Writes go
/// out at once (no write buffering), so a send's timestamp is its wire time.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(4 << 20))
        .max_frame_size(Some(4 << 20))
}

pub fn spawn<C: Codec>(
    codec: Arc<C>,
    shared: Arc<Shared>,
    dial: Dial,
    state: SocketState,
) -> Handle {
    let (cmd, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready) = oneshot::channel();
    let task = tokio::spawn(run(codec, shared, dial, state, rx, ready_tx));
    Handle { cmd, ready, task }
}

fn describe(e: &WsError) -> String {
    match e {
        WsError::Http(res) => {
            let body = res
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            format!(
                "HTTP {} instead of an upgrade: {}",
                res.status(),
                crate::api::clip(&body)
            )
        }
        other => other.to_string(),
    }
}

async fn run<C: Codec>(
    codec: Arc<C>,
    shared: Arc<Shared>,
    dial: Dial,
    mut st: SocketState,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    ready: oneshot::Sender<Result<Ready, String>>,
) -> Finished {
    let started = now_ns();
    let connecting =
        tokio_tungstenite::connect_async_with_config(&dial.url, Some(ws_config()), true);
    let mut ws = match timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return failed(st, ready, describe(&e)),
        Err(_) => return failed(st, ready, "no upgrade within 20 s".into()),
    };
    let connected = now_ns();

    // One ping/pong before anything is sent: other frames (presence) may come first.
    let handshake = async {
        if let Some(hello) = dial.hello {
            // Socket.IO: nothing may be sent before the server accepts the connect.
            ws.send(Message::text(hello))
                .await
                .map_err(|e| describe(&e))?;
            read_until(
                &mut ws,
                &*codec,
                "the connect was accepted",
                |text| match codec.decode(text) {
                    Ok(Inbound::Other(kind)) if kind == "connect" => Some(Ok(())),
                    Ok(Inbound::Error { code, .. }) => Some(Err(code.into_owned())),
                    _ => None,
                },
            )
            .await?;
        }
        ws.send(Message::text(codec.ping_frame()))
            .await
            .map_err(|e| describe(&e))?;
        read_until(&mut ws, &*codec, "the pong", |text| {
            st.on_text(&*codec, &shared, text, now_ns())
                .then_some(Ok(()))
        })
        .await
    };
    match timeout(PONG_TIMEOUT, handshake).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return failed(st, ready, e),
        Err(_) => return failed(st, ready, "no pong within 10 s".into()),
    }
    let _ = ready.send(Ok(Ready {
        started,
        connected,
        ponged: now_ns(),
    }));

    let chat_id = st.chats.first().map(|c| c.id.clone()).unwrap_or_default();
    let mut content = String::new();
    let mut client_msg_id = String::new();
    let dropped = loop {
        tokio::select! {
            biased;
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    if let Some(answer) = codec.heartbeat(t.as_str()) {
                        if let Err(e) = ws.send(Message::text(answer)).await {
                            break Some(describe(&e));
                        }
                    } else {
                        st.on_text(&*codec, &shared, t.as_str(), now_ns());
                    }
                }
                Some(Ok(Message::Close(f))) => break Some(match f {
                    Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
                    None => "close without code".to_owned(),
                }),
                Some(Ok(Message::Binary(_))) => st.error_frames.bump("binary_frame"),
                Some(Ok(_)) => {} // ws-level ping/pong: tungstenite answers pings itself
                Some(Err(e)) => break Some(describe(&e)),
                None => break Some("connection ended".to_owned()),
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Send { n, warm }) => {
                    st.begin_send(&shared, n, warm, now_ns(), &mut content);
                    crate::payload::client_msg_id(&mut client_msg_id, &shared.run, n);
                    let frame = codec.send_frame(&chat_id, &content, &client_msg_id);
                    if let Err(e) = ws.send(Message::text(frame)).await {
                        st.send_lost(n, warm);
                        break Some(describe(&e));
                    }
                }
                Some(Cmd::Snapshot(reply)) => {
                    let _ = reply.send(st.unique_by_drain_end());
                }
                None => {
                    // The scenario is done: close politely, let the server answer.
                    let _ = timeout(CLOSE_TIMEOUT, async {
                        let _ = ws.close(None).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    break None;
                }
            },
        }
    };
    if dropped.is_some() {
        // The socket is gone but the scenario may still ask: answer until it lets go.
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Send { n, warm } => st.send_lost(n, warm),
                Cmd::Snapshot(reply) => {
                    let _ = reply.send(st.unique_by_drain_end());
                }
            }
        }
    }
    finish(st, &shared, dropped)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads text frames, answering transport heartbeats, until `seen` says this step
/// of the handshake is over (`Some(Ok)`) or failed (`Some(Err)`).
async fn read_until<C: Codec>(
    ws: &mut Ws,
    codec: &C,
    what: &str,
    mut seen: impl FnMut(&str) -> Option<Result<(), String>>,
) -> Result<(), String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                if let Some(answer) = codec.heartbeat(t.as_str()) {
                    ws.send(Message::text(answer))
                        .await
                        .map_err(|e| describe(&e))?;
                } else if let Some(done) = seen(t.as_str()) {
                    return done;
                }
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed before {what}: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(describe(&e)),
            None => return Err(format!("closed before {what}")),
        }
    }
}

fn finish(mut st: SocketState, shared: &Shared, dropped: Option<String>) -> Finished {
    st.flush(shared);
    let unacked_at_end = st.unacked();
    Finished {
        state: st,
        dropped,
        unacked_at_end,
    }
}

fn failed(st: SocketState, ready: oneshot::Sender<Result<Ready, String>>, why: String) -> Finished {
    let _ = ready.send(Err(why.clone()));
    Finished {
        state: st,
        dropped: Some(why),
        unacked_at_end: 0,
    }
}
