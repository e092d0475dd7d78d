//! What a graph's name is as a value: the `#[graph]` macro keeps a fn of the graph's name
//! and parameters, so that `serve_runtime::start(my_graph)` names it and its docs show its
//! signature. Calling that fn runs nothing: awaiting what it returns, or passing it where a
//! graph's name goes, is a compile error that says what to write instead.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::graph::{Graph, IntoGraph};

/// What calling a graph's function returns: nothing that runs. The function is there so
/// that its name stands for the graph (`serve_runtime::start(my_graph)`) with the graph's
/// own signature in the docs; calling it and awaiting the result is a compile error that
/// says how to run the graph.
pub struct Called<G>(PhantomData<fn() -> G>);

impl<G> Default for Called<G> {
    fn default() -> Self {
        Called(PhantomData)
    }
}

/// Never implemented: it carries the message for a graph called like a function.
#[diagnostic::on_unimplemented(
    message = "a graph is not called like a function: `{Self}(..)` does not run it",
    label = "this does not run the graph",
    note = "start the graph once, then call it as often as needed: `let graph = serve_runtime::start({Self}).await?;` and `graph.call(input).await?`"
)]
pub trait NotCalledLikeAFunction {}

impl<G: Graph + NotCalledLikeAFunction> Future for Called<G> {
    type Output = G::Output;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        unreachable!("`NotCalledLikeAFunction` has no implementations")
    }
}

/// The fn that stands for a graph, for `#[graph]`. Written by a `macro_rules!` of this
/// crate so that the fn's span is not the user's: rustc offers to make an awaited fn
/// `async`, which for this one would be `async #[graph]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __graph_fn {
    // The usual visibilities are written here, not passed on: rustc puts its `async`
    // after the visibility when there is one.
    ($(#[$attr:meta])* () $($rest:tt)*) => { $crate::__graph_fn!(@ $(#[$attr])* () $($rest)*); };
    ($(#[$attr:meta])* (pub) $($rest:tt)*) => { $crate::__graph_fn!(@ $(#[$attr])* (pub) $($rest)*); };
    ($(#[$attr:meta])* (pub(crate)) $($rest:tt)*) => { $crate::__graph_fn!(@ $(#[$attr])* (pub(crate)) $($rest)*); };
    ($(#[$attr:meta])* (pub(super)) $($rest:tt)*) => { $crate::__graph_fn!(@ $(#[$attr])* (pub(super)) $($rest)*); };
    ($(#[$attr:meta])* ($vis:vis) $($rest:tt)*) => { $crate::__graph_fn!(@ $(#[$attr])* ($vis) $($rest)*); };
    (@ $(#[$attr:meta])* ($($vis:tt)*) $name:ident ($($ty:ty),*)) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        $($vis)* fn $name($(_: $ty),*) -> $crate::Called<$name> {
            ::core::default::Default::default()
        }
    };
}

macro_rules! graph_fn {
    ($($arg:ident),*) => {
        impl<G: Graph, F: FnOnce($($arg),*) -> Called<G>, $($arg),*> IntoGraph<fn($($arg),*) -> G> for F {
            type Graph = G;
        }
    };
}

graph_fn!();
graph_fn!(A);
graph_fn!(A, B);
graph_fn!(A, B, C);
graph_fn!(A, B, C, D);
graph_fn!(A, B, C, D, E);
graph_fn!(A, B, C, D, E, F1);
graph_fn!(A, B, C, D, E, F1, G1);
graph_fn!(A, B, C, D, E, F1, G1, H);
graph_fn!(A, B, C, D, E, F1, G1, H, I);
graph_fn!(A, B, C, D, E, F1, G1, H, I, J);
graph_fn!(A, B, C, D, E, F1, G1, H, I, J, K);
graph_fn!(A, B, C, D, E, F1, G1, H, I, J, K, L);
