//! Hand-over of one value between two nodes of the same request.
//!
//! Every node of a request is polled by one join on the request's own task, so a value
//! needs no channel: a slot on the request's stack, filled by the producer and emptied by
//! the consumer, with the consumer's waker kept for when it had to wait. No allocation.

use std::future::{Future, poll_fn};
use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};

enum State<T> {
    Empty(Option<Waker>),
    Full(T),
    Taken,
}

/// A one-shot place for a value, borrowed by its producer and its consumer.
pub struct Slot<T> {
    state: Mutex<State<T>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slot<T> {
    /// An empty slot.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::Empty(None)),
        }
    }

    /// Fills the slot and wakes the consumer if it is waiting.
    pub fn put(&self, value: T) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let State::Empty(Some(waker)) = std::mem::replace(&mut *state, State::Full(value)) {
            drop(state);
            waker.wake();
        }
    }

    /// The value, once it is there. `None` only if it was already taken.
    pub fn take(&self) -> impl Future<Output = Option<T>> + '_ {
        poll_fn(move |cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match &mut *state {
                State::Full(_) => match std::mem::replace(&mut *state, State::Taken) {
                    State::Full(value) => Poll::Ready(Some(value)),
                    _ => unreachable!("matched Full above"),
                },
                State::Empty(waker) => {
                    match waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
                State::Taken => Poll::Ready(None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Slot;

    #[tokio::test]
    async fn hands_over_a_value_put_later() {
        let slot = Slot::new();
        let (got, ()) = tokio::join!(slot.take(), async {
            tokio::task::yield_now().await;
            slot.put(7);
        });
        assert_eq!(got, Some(7));
        assert_eq!(slot.take().await, None, "a value is taken once");
    }
}
