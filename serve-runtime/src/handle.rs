//! Typed handles: how graphs and deployments call other deployments.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::deployment::Deployment;
use crate::error::{BoxError, Error, panic_message};
use crate::replica::ReplicaGuard;
use crate::router::ReplicaSet;

/// The generated client of a deployment: one async method per deployment method.
///
/// Implemented by `#[deployment]`; a [`Handle`] derefs to it, so
/// `handle.classify(image).await` calls the deployment's `classify` on one of its replicas.
pub trait Client<D>: Clone + Send + Sync + 'static {
    /// Wraps the replica set the calls are routed over.
    fn from_set(set: Arc<ReplicaSet<D>>) -> Self;
    /// The replica set the calls are routed over.
    fn set(&self) -> &Arc<ReplicaSet<D>>;
}

/// A typed, cloneable handle to a running deployment.
///
/// Constructors receive handles for the deployments bound into them
/// (`Dispatcher::bind(Fruit::bind())` gives `Dispatcher::new` a `Handle<Fruit>`), and call
/// them at run time: `self.fruit.classify(image).await`. Every call picks a replica with
/// free capacity and returns `Result<T, serve_runtime::Error>`.
pub struct Handle<D: Deployment> {
    client: D::Client,
}

impl<D: Deployment> Handle<D> {
    pub(crate) fn new(set: Arc<ReplicaSet<D>>) -> Self {
        Self {
            client: D::Client::from_set(set),
        }
    }

    /// The deployment's name (unique within its graph).
    pub fn name(&self) -> &str {
        self.client.set().name()
    }

    /// How many replicas serve this deployment now.
    pub fn num_replicas(&self) -> usize {
        self.client.set().num_replicas()
    }

    /// The calls running on each replica now.
    pub fn ongoing(&self) -> Vec<u32> {
        self.client.set().ongoing()
    }
}

impl<D: Deployment> Clone for Handle<D> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
        }
    }
}

impl<D: Deployment> Deref for Handle<D> {
    type Target = D::Client;
    fn deref(&self) -> &D::Client {
        &self.client
    }
}

impl<D: Deployment> fmt::Debug for Handle<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("deployment", &self.name())
            .field("replicas", &self.num_replicas())
            .finish()
    }
}

/// Runs one method call on a reserved replica: panics and errors become [`Error`]s that
/// name the deployment and method. The replica keeps serving after either.
pub async fn invoke<D, T, F>(
    guard: &ReplicaGuard<'_, D>,
    method: &'static str,
    call: F,
) -> Result<T, Error>
where
    F: Future<Output = Result<T, BoxError>>,
{
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(Error::Node {
            deployment: guard.deployment().to_owned(),
            method,
            source,
        }),
        Err(payload) => Err(Error::Panic {
            deployment: guard.deployment().to_owned(),
            method,
            message: panic_message(&*payload),
        }),
    }
}
