//! What a deployment is to the runtime: its name, options, typed client and constructor.
//!
//! The `#[deployment]` macro implements these traits; users name them only in bounds.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::error::BoxError;
use crate::handle::Client;

/// Per-deployment options, set with `#[deployment(...)]`.
///
/// The replica set reads them when the graph starts; later they can be changed at run time
/// without touching the deployment's code.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DeploymentOptions {
    /// How many replicas (independent instances) serve this deployment.
    pub num_replicas: u32,
    /// How many calls one replica serves at once; further calls wait in the queue.
    pub max_ongoing_requests: u32,
    /// How many calls may wait for a free replica before new ones are refused with
    /// [`Error::Overloaded`](crate::Error::Overloaded).
    pub max_queued_requests: u32,
    /// CPUs each replica asks for (fractional). Used for placement.
    pub num_cpus: f64,
    /// GPUs each replica asks for (fractional, e.g. 0.5 to share one GPU between two).
    pub num_gpus: f64,
}

impl DeploymentOptions {
    /// The options of a deployment that sets none.
    pub const DEFAULT: Self = Self {
        num_replicas: 1,
        max_ongoing_requests: 100,
        max_queued_requests: 1000,
        num_cpus: 1.0,
        num_gpus: 0.0,
    };
}

impl Default for DeploymentOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The name and options of a deployment: what `#[deployment(...)]` on a struct or fn says.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has a `#[deployment]` impl block, but its struct is not marked",
    label = "needs `#[deployment]` on its struct",
    note = "add `#[deployment]` (with any options) to `struct {Self}` as well"
)]
pub trait DeploymentConfig {
    /// The deployment's name: its struct or fn name unless `name = "..."` says otherwise.
    const NAME: &'static str;
    /// The options given in the attribute, defaults for the rest.
    const OPTIONS: DeploymentOptions;
}

/// A deployment: a struct with a `#[deployment]` impl, or a `#[deployment] async fn`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a deployment",
    label = "not a deployment",
    note = "add `#[deployment]` to the struct and to its `impl` block, or to an `async fn`"
)]
pub trait Deployment: Sized + Send + Sync + 'static {
    /// The deployment's name (from [`DeploymentConfig`]).
    const NAME: &'static str;
    /// Its options (from [`DeploymentConfig`]).
    const OPTIONS: DeploymentOptions;
    /// The typed client a [`Handle`](crate::Handle) derefs to: one async method per
    /// deployment method.
    type Client: Client<Self>;
    /// `Handle<Self>`, named through the trait so graphs that use a type that is not a
    /// deployment get one error rather than one per use.
    #[doc(hidden)]
    type Handle;
    /// Makes the constructor of each replica from the arguments given to `bind`.
    #[doc(hidden)]
    type Binder: Default;
    /// The names of the methods a handle can call.
    const METHODS: &'static [&'static str];
}

type MakeFuture<D> = Pin<Box<dyn Future<Output = Result<D, BoxError>> + Send>>;

/// Builds one replica: the constructor with its bind arguments, callable once per replica.
pub struct Factory<D> {
    make: Box<dyn Fn() -> MakeFuture<D> + Send + Sync>,
}

impl<D> Factory<D> {
    /// Wraps a constructor; it is called once for every replica.
    pub fn new<F, Fut>(make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<D, BoxError>> + Send + 'static,
    {
        Self {
            make: Box::new(move || Box::pin(make())),
        }
    }

    pub(crate) fn make(&self) -> MakeFuture<D> {
        (self.make)()
    }
}

/// What a fallible deployment method or constructor returns: `Result<T, E>` with any error
/// that converts into a boxed error (`std` errors, `anyhow::Error`, `String`...).
pub trait IntoNodeResult {
    /// The success type.
    type Ok;
    /// Boxes the error.
    fn into_node_result(self) -> Result<Self::Ok, BoxError>;
}

impl<T, E: Into<BoxError>> IntoNodeResult for Result<T, E> {
    type Ok = T;
    fn into_node_result(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
}

/// `bind` on a deployment whose impl has no `new` uses `Default`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `new` constructor and does not implement `Default`",
    label = "cannot construct the replicas of this deployment",
    note = "add `fn new(...) -> Self` (sync or async, may return `Result`) to the `#[deployment]` impl, or derive `Default`"
)]
pub trait DefaultConstructible: Sized {
    /// Builds a replica with `Default::default()`.
    fn construct() -> Self;
}

impl<T: Default> DefaultConstructible for T {
    fn construct() -> Self {
        T::default()
    }
}

/// What kind of item a deployment was declared on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    /// A struct with a `#[deployment]` impl of async methods.
    Struct,
    /// A `#[deployment] async fn`.
    Function,
}
