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
