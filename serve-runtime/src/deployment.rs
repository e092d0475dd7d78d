//! What a deployment is to the runtime: its name, options, typed client and constructor.
//!
//! The `#[deployment]` macro implements these traits; users name them only in bounds.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use serde::Serialize;

use crate::context::ReplicaContext;
use crate::error::BoxError;
use crate::options::{DeclaredOptions, DeploymentOptions};
use crate::router::ReplicaSet;

/// The generated client of a deployment: one async method per deployment method.
///
/// Implemented by `#[deployment]`; a [`Handle`](crate::Handle) derefs to it, so
/// `handle.classify(image).await` calls the deployment's `classify` on one of its replicas.
pub trait Client<D>: Clone + Send + Sync + 'static {
    /// Wraps the replica set the calls are routed over.
    fn from_set(set: Arc<ReplicaSet<D>>) -> Self;
    /// The replica set the calls are routed over.
    fn set(&self) -> &Arc<ReplicaSet<D>>;
    /// Answers a call another process sent: decodes the arguments of `method`, calls it
    /// here, and encodes its result.
    #[doc(hidden)]
    fn serve_wire(&self, method: &str, body: bytes::Bytes) -> crate::remote::WireFuture;
    /// Every method's name, with the shapes of its arguments then its result (empty for
    /// a deployment that always runs in its callers' process): what its fingerprint is
    /// made of.
    #[doc(hidden)]
    fn wire_shapes() -> Vec<(&'static str, Vec<String>)>;
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
    /// The options given in the attribute; the defaults are filled in with the impl.
    const OPTIONS: DeclaredOptions;
    /// [`Apart`](crate::remote::Apart) when declared `remote = true`, else
    /// [`InProcess`](crate::remote::InProcess).
    #[doc(hidden)]
    type Wire: crate::remote::WireMode;
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
    /// Its options: those of [`DeploymentConfig`], with the defaults that depend on its
    /// methods filled in.
    const OPTIONS: DeploymentOptions;
    /// The typed client a [`Handle`](crate::Handle) derefs to: one async method per
    /// deployment method.
    type Client: Client<Self>;
    /// [`Apart`](crate::remote::Apart) when declared `remote = true`, else
    /// [`InProcess`](crate::remote::InProcess).
    #[doc(hidden)]
    type Wire: crate::remote::WireMode;
    /// `Handle<Self>`, named through the trait so graphs that use a type that is not a
    /// deployment get one error rather than one per use.
    #[doc(hidden)]
    type Handle;
    /// Makes the constructor of each replica from the arguments given to `bind`.
    #[doc(hidden)]
    type Binder: Default;
    /// The names of the methods a handle can call.
    const METHODS: &'static [&'static str];
    /// Whether it is declared `remote = true`: it can run in a process of its own.
    #[doc(hidden)]
    const REMOTE: bool = false;
    /// The methods marked `#[batch(...)]`, with the sizes declared there.
    #[doc(hidden)]
    const BATCHED: &'static [crate::exec::BatchSpec] = &[];
    /// Its `#[multiplexed]` loader, if it has one.
    #[doc(hidden)]
    const MULTIPLEXED: Option<crate::multiplex::MultiplexSpec> = None;

    /// Whether the impl has a `check_health` of its own. Without one nothing is run on the
    /// replica to check it: a replica busy in long blocking work is not replaced (its
    /// thread could not be reclaimed), it shows as stalled instead.
    #[doc(hidden)]
    const HAS_CHECK_HEALTH: bool = false;

    /// The deployment's own `check_health`, if its impl has one.
    #[doc(hidden)]
    fn __serve_check_health(&self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// Whether the impl has a `reconfigure(&self, config: C)`, which takes `user_config`.
    #[doc(hidden)]
    const HAS_RECONFIGURE: bool = false;

    /// Checks that a `user_config` deserialises into the `reconfigure` parameter's type.
    #[doc(hidden)]
    fn __serve_check_user_config(_config: &serde_json::Value) -> Result<(), String> {
        Err(format!(
            "`{}` takes no user_config: its impl has no `reconfigure(&self, config: C)` method",
            Self::NAME
        ))
    }

    /// The deployment's own `reconfigure`, given a `user_config` already checked.
    #[doc(hidden)]
    fn __serve_reconfigure(
        &self,
        _config: serde_json::Value,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// The parameters of `bind`, in order, and whether a config can set each.
    #[doc(hidden)]
    fn __serve_bind_params() -> Vec<crate::arg::BindParam> {
        Vec::new()
    }

    /// The deployment's own `shutdown`, if its impl has one: the last call a stopping
    /// replica gets.
    #[doc(hidden)]
    fn __serve_shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

type MakeFuture<D> = Pin<Box<dyn Future<Output = Result<D, BoxError>> + Send>>;

/// Builds one replica: the constructor with its bind arguments, callable once per replica
/// (and again for each replacement).
pub struct Factory<D> {
    make: Box<dyn Fn(ReplicaContext) -> MakeFuture<D> + Send + Sync>,
}

impl<D> Factory<D> {
    /// Wraps a constructor; it is called once for every replica.
    pub fn new<F, Fut>(make: F) -> Self
    where
        F: Fn(ReplicaContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<D, BoxError>> + Send + 'static,
    {
        Self {
            make: Box::new(move |context| Box::pin(make(context))),
        }
    }

    pub(crate) fn make(&self, context: ReplicaContext) -> MakeFuture<D> {
        (self.make)(context)
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
