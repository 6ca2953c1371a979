//! Decoding on a thread of its own, beside the runtime's workers.
//!
//! Inline, the decoder runs in the task that reads the body; tokio tends to
//! run that task on the same worker as the connection task that feeds it
//! (a woken task goes to the waker's worker first), so receiving and decoding
//! take turns on one core. Here a blocking-pool thread reads the body and
//! decodes, and hands rows back in small batches through a bounded channel:
//! receiving, decoding and the caller's own work can use different cores, and
//! memory stays bounded (at most [`BATCHES`] batches of [`BATCH`] rows wait).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::Stream;
use tokio::sync::mpsc;

use super::{State, Stats};
use crate::error::Result;

/// Rows per hand-over.
const BATCH: usize = 256;
/// Batches decoded ahead of the caller.
const BATCHES: usize = 4;

/// Whether the current context can decode on a thread of its own: inside a
/// multi-thread tokio runtime (elsewhere, such as a plain executor or a
/// current-thread runtime, rows are decoded inline).
pub(super) fn available() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Runs `state` on a blocking-pool thread; the returned stream hands its rows
/// out in order and keeps `shown` as the inline stream would (rows counted as
/// they are handed out; finished, truncated and the buffer peak once the
/// decoder is done).
pub(super) fn spawn<T: Send + 'static>(
    mut state: State<T>,
    inner: Arc<Stats>,
    shown: Arc<Stats>,
) -> impl Stream<Item = Result<T>> + Send {
    let (tx, rx) = mpsc::channel::<Vec<Result<T>>>(BATCHES);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let item = {
                    let mut step = std::pin::pin!(state.step());
                    match futures::poll!(step.as_mut()) {
                        std::task::Poll::Ready(item) => item,
                        std::task::Poll::Pending => {
                            // Waiting for the body: hand over what is decoded
                            // so far rather than hold it back.
                            if !batch.is_empty()
                                && tx
                                    .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                                    .await
                                    .is_err()
                            {
                                return;
                            }
                            // Stop as soon as nobody reads (the stream was
                            // dropped), even while waiting for the body.
                            tokio::select! {
                                item = step => item,
                                () = tx.closed() => return,
                            }
                        }
                    }
                };
                let last = !matches!(item, Some(Ok(_)));
                batch.extend(item);
                if (last || batch.len() == BATCH)
                    && !batch.is_empty()
                    && tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .await
                        .is_err()
                {
                    return;
                }
                if last {
                    return;
                }
            }
        });
    });
    let state = (rx, Vec::<Result<T>>::new().into_iter(), inner, shown);
    futures::stream::unfold(state, |(mut rx, mut batch, inner, shown)| async move {
        loop {
            if let Some(item) = batch.next() {
                if item.is_ok() {
                    shown.rows.fetch_add(1, Ordering::Relaxed);
                } else {
                    // An error is the stream's last item.
                    show_end(&inner, &shown);
                }
                return Some((item, (rx, batch, inner, shown)));
            }
            match rx.recv().await {
                Some(next) => {
                    batch = next.into_iter();
                    let peak = inner.max_buffered.load(Ordering::Relaxed);
                    shown.max_buffered.fetch_max(peak, Ordering::Relaxed);
                }
                None => {
                    show_end(&inner, &shown);
                    return None;
                }
            }
        }
    })
}

/// The decoder is done: show what it found at the end.
fn show_end(inner: &Stats, shown: &Stats) {
    for (from, to) in [
        (&inner.finished, &shown.finished),
        (&inner.truncated, &shown.truncated),
    ] {
        to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    let peak = inner.max_buffered.load(Ordering::Relaxed);
    shown.max_buffered.fetch_max(peak, Ordering::Relaxed);
}
