//! Streamed outputs: a node that returns an [`ItemStream`] hands its items on as they are
//! made, to the next node, to an in-process caller, or to an HTTP client as server-sent
//! events or JSON lines.
//!
//! A stream is lazy: its items are made when its reader asks for them, so a slow reader
//! slows the maker down (over HTTP, through the socket's buffers) and a reader that goes
//! away drops the stream, which cancels the work behind it. The replica a stream comes
//! from keeps the call's slot until the stream ends or is dropped. On a replica with
//! threads of its own, the stream is run there and its items cross over a bounded channel
//! ([`THREAD_BUFFER`] items).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::error::{BoxError, Error, panic_message};

/// Items a stream made on a replica's threads may get ahead of its reader.
pub const THREAD_BUFFER: usize = 16;

type Items<T> = Pin<Box<dyn Stream<Item = Result<T, BoxError>> + Send>>;

/// A stream of a node's outputs, item by item: what a deployment method returns to stream
/// its answer (`-> ItemStream<String>`), and what a graph ending in such a node gives its
/// caller. It yields `Result<T, Error>`: an `Err` ends it.
///
/// Make one from any stream ([`new`](Self::new), [`try_new`](Self::try_new)) or from a
/// producer that sends its items ([`produce`](Self::produce)).
pub struct ItemStream<T> {
    items: Items<T>,
    /// The deployment and method the items come from, once a handle returned the stream.
    origin: Option<(String, &'static str)>,
    /// What lives as long as the stream: the replica's slot, or the task pumping it.
    _held: Option<Box<dyn Any + Send>>,
    ended: bool,
}

impl<T: Send + 'static> ItemStream<T> {
    /// A stream of items that cannot fail.
    pub fn new<S>(items: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Self::from_items(Box::pin(items.map(Ok)))
    }

    /// A stream whose items can fail: the first `Err` ends it, and reaches the reader as
    /// the node's error (over HTTP, as a last event or line).
    pub fn try_new<S, E>(items: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self::from_items(Box::pin(items.map(|r| r.map_err(Into::into))))
    }

    /// A stream whose items `producer` sends, one `send(..).await` at a time: the producer
    /// runs as the stream is read, never further ahead than one item, and is dropped
    /// (cancelled) with the stream. An `Err` it returns ends the stream after the items it
    /// sent.
    ///
    /// ```
    /// # use serve_runtime::ItemStream;
    /// let countdown = ItemStream::produce(|tx| async move {
    ///     for n in (1..=3).rev() {
    ///         tx.send(n).await?;
    ///     }
    ///     Ok::<_, serve_runtime::BoxError>(())
    /// });
    /// ```
    pub fn produce<F, Fut, E>(producer: F) -> Self
    where
        F: FnOnce(ItemSender<T>) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let (tx, rx) = mpsc::channel(1);
        let producer = producer(ItemSender(tx)).map(|r| r.map_err(Into::into));
        Self::from_items(Box::pin(Produced {
            producer: Some(Box::pin(producer)),
            items: rx,
            failed: None,
        }))
    }

    fn from_items(items: Items<T>) -> Self {
        Self {
            items,
            origin: None,
            _held: None,
            ended: false,
        }
    }

    /// Names where the items come from and keeps `held` (the call's replica slot) until
    /// the stream ends or is dropped.
    pub(crate) fn hold(
        mut self,
        deployment: &str,
        method: &'static str,
        held: impl Any + Send,
    ) -> Self {
        self.origin = Some((deployment.to_owned(), method));
        self._held = Some(Box::new(held));
        self
    }

    /// Runs the stream on `runtime` (a replica's threads), its items crossing to the reader
    /// over a channel of [`THREAD_BUFFER`]; `held` (the replica slot) stays with the task
    /// that runs it. Dropping the stream stops that task and cancels `context`.
    pub(crate) fn pump_on(
        mut self,
        runtime: &crate::exec::threads::ReplicaThreads,
        held: impl Any + Send,
        context: crate::context::ReplicaContext,
    ) -> Self {
        let (tx, rx) = mpsc::channel(THREAD_BUFFER);
        let mut items = std::mem::replace(&mut self.items, Box::pin(futures_util::stream::empty()));
        let task = runtime.spawn(async move {
            let _held = held;
            loop {
                let next = AssertUnwindSafe(items.next()).catch_unwind().await;
                let (item, last) = match next {
                    Ok(None) => break,
                    Ok(Some(item)) => {
                        let last = item.is_err();
                        (item, last)
                    }
                    Err(payload) => (
                        Err(Box::new(Panicked(panic_message(&*payload))) as BoxError),
                        true,
                    ),
                };
                if tx.send(item).await.is_err() || last {
                    break;
                }
            }
        });
        let mut rx = rx;
        self.items = Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        self._held = Some(Box::new(Pump {
            abort: task.abort_handle(),
            context,
        }));
        self
    }
}

impl<T> Stream for ItemStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let polled =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.items.as_mut().poll_next(cx)));
        let item = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(None)) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            Ok(Poll::Ready(Some(Ok(item)))) => return Poll::Ready(Some(Ok(item))),
            Ok(Poll::Ready(Some(Err(e)))) => e,
            Err(payload) => Box::new(Panicked(panic_message(&*payload))),
        };
        self.ended = true;
        // The replica's slot is given back with the failure.
        self._held = None;
        Poll::Ready(Some(Err(self.error(item))))
    }
}

impl<T> ItemStream<T> {
    fn error(&self, source: BoxError) -> Error {
        let (deployment, method) = self
            .origin
            .clone()
            .unwrap_or_else(|| (String::new(), "stream"));
        let source = match source.downcast::<Error>() {
            Ok(inner) => return *inner,
            Err(source) => source,
        };
        match source.downcast::<Panicked>() {
            Ok(panic) => Error::Panic {
                deployment,
                method,
                message: panic.0,
            },
            Err(source) => Error::Node {
                deployment,
                method,
                source,
            },
        }
    }
}

impl<T> std::fmt::Debug for ItemStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemStream")
            .field("origin", &self.origin)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// Where a producer given to [`ItemStream::produce`] sends its items.
pub struct ItemSender<T>(mpsc::Sender<T>);

impl<T> ItemSender<T> {
    /// Hands one item to the stream's reader, waiting until it has taken the previous one.
    /// Fails only when the stream is gone, which also drops the producer: `?` is enough.
    pub async fn send(&self, item: T) -> Result<(), StreamClosed> {
        self.0.send(item).await.map_err(|_| StreamClosed)
    }
}

/// The stream an [`ItemSender`] sends to has been dropped.
#[derive(Debug, thiserror::Error)]
#[error("the stream's reader is gone")]
pub struct StreamClosed;

/// A panic while making an item, carried to the reader as the node's panic.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Panicked(String);

/// The stream [`ItemStream::produce`] makes: the producer is polled as items are asked for.
struct Produced<T, P> {
    producer: Option<Pin<Box<P>>>,
    items: mpsc::Receiver<T>,
    failed: Option<BoxError>,
}

impl<T, P> Stream for Produced<T, P>
where
    P: Future<Output = Result<(), BoxError>>,
{
    type Item = Result<T, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.items.poll_recv(cx) {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(Ok(item))),
                // Every sender is gone: the producer ended, and its items have been read.
                Poll::Ready(None) => return Poll::Ready(this.failed.take().map(Err)),
                Poll::Pending => {}
            }
            let Some(producer) = &mut this.producer else {
                // A sender the producer handed on still lives; its items will wake us.
                return Poll::Pending;
            };
            let outcome = ready!(producer.as_mut().poll(cx));
            // Dropping the producer drops its sender, so the channel ends after its items.
            this.producer = None;
            this.failed = outcome.err();
        }
    }
}

/// The task running a stream on a replica's threads, as the stream's reader holds it.
struct Pump {
    abort: tokio::task::AbortHandle,
    context: crate::context::ReplicaContext,
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.context.cancel();
        self.abort.abort();
    }
}
