//! Reading a response body ahead of its decoder.
//!
//! hyper hands a body over one chunk at a time and reads the next chunk from
//! the socket only once the previous one has been taken. A decoder that pulls
//! straight from the body therefore leaves the connection idle while it
//! works, and waits for the network whenever its thread is descheduled at the
//! wrong moment. [`ReadAhead`] moves the reading to a task of its own that
//! keeps up to [`DEPTH`] chunks queued, so reading and decoding overlap.
//!
//! Memory stays bounded: at most [`DEPTH`] chunks wait in the queue (hyper's
//! chunks are a few hundred KiB at most). Dropping the stream aborts the task,
//! which drops the body and so releases or closes the connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Result;

/// Chunks read ahead of the decoder: enough to ride out a moment when the
/// reading task is not scheduled, few enough that memory stays small.
pub(crate) const DEPTH: usize = 4;

/// A body stream read by a task of its own, [`DEPTH`] chunks ahead.
pub(crate) struct ReadAhead {
    queue: mpsc::Receiver<Result<Bytes>>,
    reader: JoinHandle<()>,
}

impl ReadAhead {
    /// Starts reading `body` on a new task of the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime (the HTTP client needs one anyway).
    pub(crate) fn spawn<S>(body: S) -> Self
    where
        S: Stream<Item = Result<Bytes>> + Send + 'static,
    {
        let (tx, queue) = mpsc::channel(DEPTH);
        let reader = tokio::spawn(async move {
            let mut body = std::pin::pin!(body);
            while let Some(item) = body.next().await {
                let failed = item.is_err();
                // The receiver is gone: nobody wants the rest.
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        ReadAhead { queue, reader }
    }
}

impl Stream for ReadAhead {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.queue.poll_recv(cx)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::error::Error;

    /// A body that counts the chunks taken from it and notes when it is
    /// dropped.
    struct Body {
        left: usize,
        taken: Arc<AtomicUsize>,
        dropped: Arc<AtomicBool>,
        fail_at: Option<usize>,
    }

    impl Stream for Body {
        type Item = Result<Bytes>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            let n = self.taken.fetch_add(1, Ordering::SeqCst);
            if self.fail_at == Some(n) {
                return Poll::Ready(Some(Err(Error::decode("the body broke", None))));
            }
            Poll::Ready(Some(Ok(Bytes::from(n.to_string()))))
        }
    }

    impl Drop for Body {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn body(left: usize, fail_at: Option<usize>) -> (Body, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicBool::new(false));
        let b = Body {
            left,
            taken: taken.clone(),
            dropped: dropped.clone(),
            fail_at,
        };
        (b, taken, dropped)
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn chunks_arrive_in_order_and_the_stream_ends() {
        let (b, _, _) = body(10, None);
        let got: Vec<String> = ReadAhead::spawn(b)
            .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
            .collect()
            .await;
        let want: Vec<String> = (0..10).map(|n| n.to_string()).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn reads_at_most_depth_chunks_ahead() {
        let (b, taken, _) = body(100, None);
        let mut s = ReadAhead::spawn(b);
        settle().await;
        // DEPTH queued, plus one taken and waiting for room.
        let ahead = taken.load(Ordering::SeqCst);
        assert!(
            (DEPTH..=DEPTH + 1).contains(&ahead),
            "read {ahead} chunks ahead"
        );
        s.next().await.unwrap().unwrap();
        settle().await;
        assert!(taken.load(Ordering::SeqCst) <= DEPTH + 2);
    }

    #[tokio::test]
    async fn an_error_is_handed_on_and_reading_stops() {
        let (b, taken, dropped) = body(100, Some(2));
        let items: Vec<Result<Bytes>> = ReadAhead::spawn(b).collect().await;
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert!(
            items[2]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("the body broke")
        );
        assert_eq!(taken.load(Ordering::SeqCst), 3);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn dropping_the_stream_drops_the_body() {
        let (b, taken, dropped) = body(1_000_000, None);
        let mut s = ReadAhead::spawn(b);
        s.next().await.unwrap().unwrap();
        drop(s);
        settle().await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "the body outlived its stream"
        );
        assert!(taken.load(Ordering::SeqCst) <= DEPTH + 2);
    }
}
