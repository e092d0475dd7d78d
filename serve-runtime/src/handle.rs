//! Typed handles: how graphs and deployments call other deployments.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::deployment::{Client, Deployment};
use crate::router::ReplicaSet;

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

    // Associated functions, as `Arc::strong_count` is, so that a deployment's own
    // methods called `name`, `num_replicas` or `ongoing` are the ones `handle.name(..)`
    // calls.

    /// The deployment's name (unique within its graph): `Handle::name(&handle)`.
    pub fn name(this: &Self) -> &str {
        this.client.set().name()
    }

    /// How many replicas serve this deployment now: `Handle::num_replicas(&handle)`.
    pub fn num_replicas(this: &Self) -> usize {
        this.client.set().num_replicas()
    }

    /// The calls running on each replica now: `Handle::ongoing(&handle)`.
    pub fn ongoing(this: &Self) -> Vec<u32> {
        this.client.set().ongoing()
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
            .field("deployment", &Self::name(self))
            .field("replicas", &Self::num_replicas(self))
            .finish()
    }
}
