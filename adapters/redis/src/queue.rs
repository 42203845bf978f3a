//! One local subscriber's queue of events: bounded, dropping the oldest when full
//! (as a `broadcast` receiver that lagged would), and growing only as events wait.
//! An instance keeps one per chat and per user with a local socket, so an idle queue
//! must cost next to nothing: this one is a few dozen bytes and, once drained, at
//! most [`KEEP_SLOTS`] slots of one pointer each, where a `broadcast` channel
//! allocates every slot of its capacity up front.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::Stream;

/// A drained queue that grew past this many slots gives its memory back.
const KEEP_SLOTS: usize = 16;

struct Inner<T> {
    items: VecDeque<T>,
    /// Items dropped (oldest first) since the receiver last took one.
    missed: u64,
    waker: Option<Waker>,
    /// The sender is gone: once empty, the stream ends.
    closed: bool,
}

struct Shared<T> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending half, kept by the link.
pub(crate) struct Sender<T>(Arc<Shared<T>>);

/// The receiving half: a stream that never ends while its sender lives. It owns
/// `label`, which names it in the log line that reports dropped items (the link
/// gives it the subscription's guard).
pub(crate) struct Receiver<T, L> {
    shared: Arc<Shared<T>>,
    label: L,
}

/// A queue holding at most `capacity` items (at least one).
pub(crate) fn channel<T, L: fmt::Display>(
    capacity: usize,
    label: L,
) -> (Sender<T>, Receiver<T, L>) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            items: VecDeque::new(),
            missed: 0,
            waker: None,
            closed: false,
        }),
        capacity: capacity.max(1),
    });
    (Sender(Arc::clone(&shared)), Receiver { shared, label })
}

impl<T> Sender<T> {
    /// Queues `item`; a full queue drops its oldest item first.
    pub(crate) fn send(&self, item: T) {
        let waker = {
            let mut inner = self.0.lock();
            if inner.items.len() >= self.0.capacity {
                inner.items.pop_front();
                inner.missed += 1;
            }
            inner.items.push_back(item);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.0.lock();
            inner.closed = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T, L: fmt::Display + Unpin> Stream for Receiver<T, L> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut inner = self.shared.lock();
        if inner.missed > 0 {
            let missed = std::mem::take(&mut inner.missed);
            tracing::warn!(channel = %self.label, missed, "event subscriber lagged; events dropped");
        }
        match inner.items.pop_front() {
            Some(item) => {
                if inner.items.is_empty() && inner.items.capacity() > KEEP_SLOTS {
                    inner.items = VecDeque::new();
                }
                Poll::Ready(Some(item))
            }
            None if inner.closed => Poll::Ready(None),
            None => {
                if !inner
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    inner.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn ready<T>(rx: &mut Receiver<T, &'static str>) -> Option<Option<T>> {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(rx).poll_next(&mut cx) {
            Poll::Ready(item) => Some(item),
            Poll::Pending => None,
        }
    }

    #[test]
    fn items_come_out_in_order_and_a_full_queue_drops_the_oldest() {
        let (tx, mut rx) = channel(3, "c");
        assert!(ready(&mut rx).is_none(), "empty: pending");
        for i in 0..5 {
            tx.send(i);
        }
        let got: Vec<_> = std::iter::from_fn(|| ready(&mut rx).flatten()).collect();
        assert_eq!(got, vec![2, 3, 4], "the newest three, in order");
        tx.send(5);
        assert_eq!(ready(&mut rx), Some(Some(5)), "and it keeps receiving");
    }

    #[test]
    fn a_drained_queue_that_grew_gives_its_memory_back() {
        let (tx, mut rx) = channel(1000, "c");
        for i in 0..500 {
            tx.send(i);
        }
        assert!(tx.0.lock().items.capacity() >= 500);
        while ready(&mut rx).flatten().is_some() {}
        assert_eq!(tx.0.lock().items.capacity(), 0);
    }

    #[test]
    fn the_stream_ends_when_the_sender_is_gone_and_the_queue_is_empty() {
        let (tx, mut rx) = channel(4, "c");
        tx.send(1);
        drop(tx);
        assert_eq!(ready(&mut rx), Some(Some(1)));
        assert_eq!(ready(&mut rx), Some(None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_receiver_is_woken_by_a_send_from_another_thread() {
        let (tx, mut rx) = channel(1024, "c");
        let sender = std::thread::spawn(move || {
            for i in 0..10_000 {
                tx.send(i);
                if i % 100 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut last = None;
        let mut seen = 0;
        while let Some(i) = rx.next().await {
            assert!(last.is_none_or(|l| i > l), "in order: {i} after {last:?}");
            last = Some(i);
            seen += 1;
        }
        sender.join().unwrap();
        assert_eq!(last, Some(9_999), "the last one always arrives");
        assert!(seen <= 10_000);
    }
}
