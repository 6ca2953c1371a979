//! The feed's read-ahead: a stage run as its own task, handing its results to the next stage
//! through a bounded channel, so reads (and their decoding) go on while a batch is written.

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::traits::PageStream;

/// Aborts its task when dropped: a stage's consumer that stops early (an error, a shutdown)
/// stops the stage too.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a stage sends its items; `false` from [`send`](Self::send) means the consumer is gone.
pub(crate) struct Outlet<T>(mpsc::Sender<Result<T>>);

impl<T> Outlet<T> {
    /// Sends one item, waiting while `depth` items are unread.
    pub(crate) async fn send(&self, item: Result<T>) -> bool {
        self.0.send(item).await.is_ok()
    }
}

/// Runs `stage` as its own task (spawned when the stream is first polled, so inside the
/// caller's runtime) and streams what it sends; at most `depth` items wait unread. The stream
/// ends when the stage returns; dropping the stream aborts the stage.
pub(crate) fn staged<T, F, Fut>(depth: usize, stage: F) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    F: FnOnce(Outlet<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(depth.max(1));
    let started = futures::stream::once(async move {
        let task = tokio::spawn(stage(Outlet(tx)));
        (rx, AbortOnDrop(task))
    });
    started
        .flat_map(|(rx, guard)| {
            futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
                let item = rx.recv().await?;
                Some((item, (rx, guard)))
            })
        })
        .boxed()
}

/// `pages` mapped by `convert` in a task of their own, at most `depth` converted pages ahead
/// of the consumer. The first error ends the stream.
pub(crate) fn read_ahead<T, U, F>(
    pages: PageStream<T>,
    depth: usize,
    convert: F,
) -> BoxStream<'static, Result<U>>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(Vec<T>) -> Result<U> + Send + 'static,
{
    staged(depth, move |out| async move {
        let mut pages = pages;
        while let Some(page) = pages.next().await {
            let item = page.and_then(&convert);
            let failed = item.is_err();
            if !out.send(item).await || failed {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_stage_runs_ahead_by_its_depth_and_stops_when_dropped() {
        let produced = Arc::new(AtomicUsize::new(0));
        let p = produced.clone();
        let mut s = staged(2, move |out| async move {
            for i in 0..100usize {
                p.fetch_add(1, Ordering::SeqCst);
                if !out.send(Ok(i)).await {
                    return;
                }
            }
        });
        assert_eq!(s.try_next().await.unwrap(), Some(0));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // One taken, two waiting, one blocked in `send`.
        let ahead = produced.load(Ordering::SeqCst);
        assert!((3..=4).contains(&ahead), "{ahead}");
        drop(s);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(produced.load(Ordering::SeqCst), ahead);
    }
}
