//! The raw WebSocket's write side, shared by the socket's loop and the registry.
//!
//! Events are written by whoever delivers them (the registry, right after its lock
//! is released), straight to the socket: no wake-up of the socket's task, no queue
//! hop, no copy per socket (the frame, header included, is encoded once per
//! instance and its bytes shared by every socket). What the socket cannot take now
//! stays queued here, in order, and the socket's loop is told to wait until the
//! socket takes more; meanwhile deliverers only queue, and the write timeout or the
//! queue cap ([`OUTBOUND_BUFFER`] events) ends a socket that stays behind.
//!
//! The loop's own frames (replies, pings, the close) go through tungstenite, whose
//! writes ([`SocketIo`]) land in the same queue: the byte stream is whole frames, in
//! the order they were queued.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Waker};

use bytes::Bytes;
use chrono::Utc;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::registry::{Queued, OUTBOUND_BUFFER};
use crate::metrics;

/// Queued chunks gathered into one write at most.
const GATHER: usize = 64;
/// A drained queue that grew past this many slots (a burst the socket fell behind
/// on, or events that came before its loop started) gives its memory back: an idle
/// socket holds 64 bytes of queue at most.
const KEEP_SLOTS: usize = 4;

/// A server text frame (unmasked), header and payload in one buffer.
pub(crate) fn text_frame(text: &Utf8Bytes) -> Bytes {
    let payload = Bytes::from(text.clone());
    let mut buf = Vec::with_capacity(payload.len() + 10);
    Frame::message(payload, OpCode::Data(Data::Text), true)
        .format(&mut buf)
        .expect("writing into a Vec cannot fail");
    buf.into()
}

/// One socket's write side.
pub struct Writer {
    state: Mutex<State>,
    /// Tells the socket's loop that the socket stopped taking bytes: the loop
    /// drains the queue from now on ([`Writer::drain`]).
    stalled: Notify,
}

/// The socket: written here, and read through [`SocketIo`] (one lock for both
/// directions, not a split stream's second one).
trait Io: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

struct State {
    io: Pin<Box<dyn Io>>,
    queue: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    offset: usize,
    /// Events in the queue (the loop's own frames are not counted).
    events: usize,
    /// The socket could not take more: only the loop writes (with its own waker)
    /// until the queue is empty; deliverers just queue.
    stalled: bool,
    /// The socket is closing: no more events are queued.
    closed: bool,
    /// A write failed: the socket is gone.
    broken: bool,
}

enum Chunk {
    Event(Queued),
    /// The loop's own frames (rare): boxed, so a slot is 16 bytes, not 40.
    Bytes(Box<Bytes>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Event(out) => out.ws_frame(),
            Chunk::Bytes(bytes) => bytes,
        }
    }
}

/// What became of an offered event.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Queued; [`Writer::flush`] writes it.
    Queued,
    /// The queue is full: the socket is too slow.
    Full,
    /// The socket is closing or gone.
    Gone,
}

impl Writer {
    pub fn new(io: impl AsyncRead + AsyncWrite + Send + 'static) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                io: Box::pin(io),
                queue: VecDeque::new(),
                offset: 0,
                events: 0,
                stalled: false,
                closed: false,
                broken: false,
            }),
            stalled: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an event for the socket (the registry does this under its lock, so
    /// every socket's events are queued in delivery order).
    pub fn offer(&self, out: &Queued) -> Offered {
        let mut state = self.state();
        if state.closed || state.broken {
            return Offered::Gone;
        }
        if state.events >= OUTBOUND_BUFFER {
            return Offered::Full;
        }
        state.queue.push_back(Chunk::Event(Arc::clone(out)));
        state.events += 1;
        Offered::Queued
    }

    /// Writes what is queued as far as the socket takes it now, without waiting.
    /// A socket that takes less is handed to its loop.
    pub fn flush(&self) {
        let mut state = self.state();
        if state.stalled || state.broken || state.queue.is_empty() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match state.write_queued(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => self.stall(state),
            // The loop's next drain fails and ends the socket.
            Poll::Ready(Err(_)) => {
                drop(state);
                self.stalled.notify_one();
            }
        }
    }

    /// The loop's side: resolves once the socket stopped taking bytes (or a write
    /// failed) and the loop should [`drain`](Self::drain).
    pub async fn stalled(&self) {
        self.stalled.notified().await;
    }

    /// Writes everything queued, waiting for the socket as long as it takes; false
    /// when the socket is gone.
    pub async fn drain(&self) -> bool {
        std::future::poll_fn(|cx| self.poll_drain(cx)).await.is_ok()
    }

    /// No more events: the socket is closing (its own last frames still go out).
    pub fn close(&self) {
        self.state().closed = true;
    }

    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state();
        let written = state.write_queued(cx);
        if written.is_pending() {
            self.stall(state);
        }
        written
    }

    /// Marks the queue as the loop's to drain, and tells the loop once.
    fn stall(&self, mut state: MutexGuard<'_, State>) {
        if !state.stalled {
            state.stalled = true;
            drop(state);
            self.stalled.notify_one();
        }
    }

    /// Queues bytes the loop writes (tungstenite's frames) and writes what it can.
    fn poll_queue_bytes(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut state = self.state();
        if state.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        state
            .queue
            .push_back(Chunk::Bytes(Box::new(Bytes::copy_from_slice(buf))));
        match state.write_queued(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
            Poll::Pending => {
                self.stall(state);
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        self.state().io.as_mut().poll_shutdown(cx)
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.state().io.as_mut().poll_read(cx, buf)
    }
}

impl State {
    /// Writes the queue until it is empty (`Ready(Ok)`), the socket takes no more
    /// (`Pending`, with `cx` woken when it does) or a write fails.
    fn write_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let mut now = None;
        while !self.queue.is_empty() {
            let written = match self.write_some(cx) {
                Poll::Ready(Ok(0)) => Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            };
            match written {
                Ok(n) => self.advance(n, &mut now),
                Err(e) => {
                    self.broken = true;
                    self.queue.clear();
                    self.events = 0;
                    return Poll::Ready(Err(e));
                }
            }
        }
        self.stalled = false;
        if self.queue.capacity() > KEEP_SLOTS {
            self.queue = VecDeque::new();
        }
        match self.io.as_mut().poll_flush(cx) {
            Poll::Ready(Err(e)) => {
                self.broken = true;
                Poll::Ready(Err(e))
            }
            // Nothing on the way to a socket buffers (the upgraded stream writes
            // through); a flush that cannot finish now finishes with the next write.
            _ => Poll::Ready(Ok(())),
        }
    }

    /// One write of the queue's head, gathered with what follows it.
    fn write_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let first = &self.queue[0].bytes()[self.offset..];
        if self.queue.len() == 1 {
            return self.io.as_mut().poll_write(cx, first);
        }
        if self.io.is_write_vectored() {
            let mut slices = [IoSlice::new(&[]); GATHER];
            slices[0] = IoSlice::new(first);
            let mut n = 1;
            for chunk in self.queue.iter().skip(1).take(GATHER - 1) {
                slices[n] = IoSlice::new(chunk.bytes());
                n += 1;
            }
            return self.io.as_mut().poll_write_vectored(cx, &slices[..n]);
        }
        // One copy of a backlog costs less than one system call per frame.
        let mut gathered = Vec::with_capacity(first.len() + 512);
        gathered.extend_from_slice(first);
        for chunk in self.queue.iter().skip(1).take(GATHER - 1) {
            gathered.extend_from_slice(chunk.bytes());
        }
        self.io.as_mut().poll_write(cx, &gathered)
    }

    /// Drops the `n` bytes just written from the queue; every event written whole
    /// counts as delivered (its latency recorded).
    fn advance(&mut self, mut n: usize, now: &mut Option<chrono::DateTime<Utc>>) {
        while n > 0 {
            let Some(head) = self.queue.front() else {
                return;
            };
            let left = head.bytes().len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.offset = 0;
            if let Some(Chunk::Event(out)) = self.queue.pop_front() {
                self.events -= 1;
                if let Some(created) = out.created {
                    let now = *now.get_or_insert_with(Utc::now);
                    metrics::delivery_latency((now - created).to_std().unwrap_or_default());
                }
            }
        }
    }
}

/// The stream tungstenite speaks over: reads from the socket, writes into the
/// shared [`Writer`]'s queue.
pub struct SocketIo {
    writer: Arc<Writer>,
}

impl SocketIo {
    pub fn new(writer: Arc<Writer>) -> Self {
        Self { writer }
    }
}

impl AsyncRead for SocketIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.writer.poll_read(cx, buf)
    }
}

impl AsyncWrite for SocketIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writer.poll_queue_bytes(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::WebSocketStream;

    use super::super::registry::Outbound;
    use super::*;

    fn event(text: &str) -> Queued {
        Outbound::plain(Utf8Bytes::from(text.to_owned()))
    }

    /// A socket that records each write and takes at most `room` bytes until
    /// `open` is set.
    #[derive(Default)]
    struct Recording {
        inner: Arc<Mutex<Recorded>>,
    }

    #[derive(Default)]
    struct Recorded {
        writes: Vec<Vec<u8>>,
        /// Every write fails (the peer reset the connection).
        broken: bool,
        room: Option<usize>,
        /// At most this many bytes per write (a socket taking frames in pieces).
        per_write: Option<usize>,
        waker: Option<Waker>,
    }

    impl Recording {
        fn limited(room: usize) -> (Self, Arc<Mutex<Recorded>>) {
            let inner = Arc::new(Mutex::new(Recorded {
                room: Some(room),
                ..Default::default()
            }));
            (
                Self {
                    inner: inner.clone(),
                },
                inner,
            )
        }
    }

    impl Recorded {
        fn bytes(&self) -> Vec<u8> {
            self.writes.concat()
        }

        fn open(&mut self) {
            self.room = None;
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }

    /// Nothing to read.
    impl AsyncRead for Recording {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Recording {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut inner = self.inner.lock().unwrap();
            if inner.broken {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            let n = match inner.room {
                Some(0) => {
                    inner.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Some(room) => {
                    let n = room.min(buf.len());
                    inner.room = Some(room - n);
                    n
                }
                None => buf.len(),
            };
            let n = inner.per_write.map_or(n, |most| n.min(most));
            inner.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn frames(texts: &[&str]) -> Vec<u8> {
        texts
            .iter()
            .flat_map(|t| text_frame(&Utf8Bytes::from(t.to_string())).to_vec())
            .collect()
    }

    #[test]
    fn an_event_is_written_whole_in_one_write() {
        let (a, b) = (Recording::default(), Recording::default());
        let (seen_a, seen_b) = (a.inner.clone(), b.inner.clone());
        let (a, b) = (Writer::new(a), Writer::new(b));
        let shared = event("hello");
        assert_eq!(a.offer(&shared), Offered::Queued);
        assert_eq!(b.offer(&shared), Offered::Queued);
        a.flush();
        b.flush();
        // One write per socket, of the same frame.
        assert_eq!(seen_a.lock().unwrap().writes, vec![frames(&["hello"])]);
        assert_eq!(seen_b.lock().unwrap().writes, vec![frames(&["hello"])]);
        assert_eq!(a.state().events, 0);
    }

    #[test]
    fn a_backlog_goes_out_in_one_write() {
        let (sock, recorded) = Recording::limited(0);
        let writer = Writer::new(sock);
        let texts: Vec<String> = (0..10).map(|i| format!("frame {i}")).collect();
        for t in &texts {
            assert_eq!(writer.offer(&event(t)), Offered::Queued);
        }
        writer.flush(); // the socket takes nothing: stalled
        recorded.lock().unwrap().room = None;
        let mut cx = Context::from_waker(Waker::noop());
        assert!(writer.poll_drain(&mut cx).is_ready());
        let recorded = recorded.lock().unwrap();
        assert_eq!(recorded.writes.len(), 1, "ten queued frames, one write");
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert_eq!(recorded.bytes(), frames(&texts));
    }

    #[tokio::test]
    async fn a_stalled_socket_is_the_loops_to_drain_and_keeps_the_order() {
        let first = frames(&["one"]);
        // The socket takes half of the first frame, then nothing.
        let (sock, recorded) = Recording::limited(first.len() / 2);
        let writer = Writer::new(sock);
        writer.offer(&event("one"));
        writer.flush();
        // The loop is told, once.
        tokio::time::timeout(Duration::from_secs(1), writer.stalled())
            .await
            .expect("the loop is told the socket stalled");
        // Meanwhile deliverers only queue: no write reaches the socket (and no
        // waker of theirs replaces the loop's).
        let writes = recorded.lock().unwrap().writes.len();
        writer.offer(&event("two"));
        writer.flush();
        assert_eq!(recorded.lock().unwrap().writes.len(), writes);
        // The loop drains once the socket takes more.
        let drain = tokio::spawn({
            let writer = writer.clone();
            async move { writer.drain().await }
        });
        tokio::task::yield_now().await;
        recorded.lock().unwrap().open();
        assert!(drain.await.unwrap());
        assert_eq!(recorded.lock().unwrap().bytes(), frames(&["one", "two"]));
        // Drained: deliverers write again.
        writer.offer(&event("three"));
        writer.flush();
        assert_eq!(
            recorded.lock().unwrap().bytes(),
            frames(&["one", "two", "three"])
        );
    }

    #[test]
    fn a_drained_backlog_gives_its_memory_back() {
        let (sock, recorded) = Recording::limited(0);
        let writer = Writer::new(sock);
        for _ in 0..OUTBOUND_BUFFER {
            writer.offer(&event("x"));
        }
        assert!(writer.state().queue.capacity() >= OUTBOUND_BUFFER);
        recorded.lock().unwrap().room = None;
        let mut cx = Context::from_waker(Waker::noop());
        assert!(writer.poll_drain(&mut cx).is_ready());
        assert!(writer.state().queue.capacity() <= KEEP_SLOTS);
    }

    /// Deliverers on several threads queue events in one order (under a lock, as the
    /// registry does) and write outside it, racing each other, against a socket that
    /// takes 7 bytes per write: the stream is every frame, whole, in that order.
    #[test]
    fn racing_deliverers_keep_the_stream_whole_and_in_order() {
        const EACH: usize = 500;
        let sock = Recording::default();
        sock.inner.lock().unwrap().per_write = Some(7);
        let recorded = sock.inner.clone();
        let writer = Writer::new(sock);
        let order = Arc::new(Mutex::new(0usize));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (writer, order) = (writer.clone(), order.clone());
                std::thread::spawn(move || {
                    for _ in 0..EACH {
                        {
                            let mut next = order.lock().unwrap();
                            assert_eq!(
                                writer.offer(&event(&format!("frame {next}"))),
                                Offered::Queued
                            );
                            *next += 1;
                        }
                        writer.flush();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let texts: Vec<String> = (0..4 * EACH).map(|i| format!("frame {i}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert_eq!(recorded.lock().unwrap().bytes(), frames(&texts));
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_writer_takes_nothing() {
        let (sock, _) = Recording::limited(0);
        let writer = Writer::new(sock);
        for _ in 0..OUTBOUND_BUFFER {
            assert_eq!(writer.offer(&event("x")), Offered::Queued);
        }
        assert_eq!(writer.offer(&event("x")), Offered::Full);
        let writer = Writer::new(Recording::default());
        writer.close();
        assert_eq!(writer.offer(&event("x")), Offered::Gone);
    }

    #[tokio::test]
    async fn a_broken_socket_tells_the_loop() {
        let sock = Recording::default();
        sock.inner.lock().unwrap().broken = true;
        let writer = Writer::new(sock);
        writer.offer(&event("x"));
        writer.flush();
        tokio::time::timeout(Duration::from_secs(1), writer.stalled())
            .await
            .expect("the loop is told");
        assert!(!writer.drain().await, "the loop sees the socket gone");
        assert_eq!(writer.offer(&event("y")), Offered::Gone);
    }

    /// A real WebSocket client reads the registry's events and the loop's own
    /// frames (written by tungstenite) interleaved, whole and in order.
    #[tokio::test]
    async fn events_and_tungstenite_frames_share_one_ordered_stream() {
        let (server, client) = tokio::io::duplex(1 << 16);
        let writer = Writer::new(server);
        let mut socket =
            WebSocketStream::from_raw_socket(SocketIo::new(writer.clone()), Role::Server, None)
                .await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        writer.offer(&event("event 1"));
        writer.flush();
        socket.send(Message::Text("reply".into())).await.unwrap();
        writer.offer(&event("event 2"));
        writer.flush();
        socket
            .send(Message::Ping(Default::default()))
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(client.next().await.unwrap().unwrap());
        }
        assert_eq!(
            got,
            vec![
                Message::Text("event 1".into()),
                Message::Text("reply".into()),
                Message::Text("event 2".into()),
                Message::Ping(Default::default()),
            ]
        );
        // The close handshake goes through the same stream.
        writer.close();
        socket.close(None).await.unwrap();
        assert!(matches!(client.next().await, Some(Ok(Message::Close(_)))));
    }
}
