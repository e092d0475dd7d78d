//! The controller and what it decides: where replicas are placed, how many run, when one
//! is drained, replaced or retried, and the status that reports it all.
//!
//! Each deployment of a started graph has a control task that reconciles its running
//! replicas toward a target count and checks their health; [`GraphHandle`] and the HTTP
//! server read their status and change their targets.

mod autoscale;
pub(crate) mod deployment;
pub(crate) mod placement;
mod start;
pub(crate) mod status;

use std::sync::Arc;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::remote::RemoteWatch;
use deployment::Managed;
pub use start::{BuildContext, GraphHandle, StartOptions, start, start_with};
pub(crate) use start::{GraphInstance, start_graph};
use status::GraphStatus;

/// The deployments of one started graph, and the tasks that keep them at their targets.
/// Dropping it stops those tasks.
pub(crate) struct Controller {
    graph: &'static str,
    deployments: Vec<Arc<dyn Managed>>,
    /// The deployments other processes run, which it only reports.
    remote: Vec<RemoteWatch>,
    stop: CancellationToken,
}

impl Controller {
    fn new(
        graph: &'static str,
        deployments: Vec<Arc<dyn Managed>>,
        remote: Vec<RemoteWatch>,
    ) -> Self {
        let stop = CancellationToken::new();
        for d in &deployments {
            tokio::spawn(Arc::clone(d).control(stop.clone()));
        }
        Self {
            graph,
            deployments,
            remote,
            stop,
        }
    }

    pub(crate) fn status(&self) -> GraphStatus {
        GraphStatus {
            name: self.graph.to_owned(),
            deployments: self.deployments.iter().map(|d| d.status()).collect(),
            remote: self.remote.iter().map(RemoteWatch::status).collect(),
        }
    }

    /// The remote deployments no process of which takes calls now: what `/-/healthz`
    /// reports as degraded. (Reads only the remote ones: probes call it often.)
    pub(crate) fn degraded(&self) -> Vec<String> {
        self.remote
            .iter()
            .map(RemoteWatch::status)
            .filter(|r| !r.is_reachable())
            .map(|r| r.name)
            .collect()
    }

    /// The names of the deployments with no replica taking calls and making progress
    /// (while any is wanted): what `/-/healthz` reports.
    pub(crate) fn not_ready(&self) -> Vec<&str> {
        self.deployments
            .iter()
            .filter(|d| !d.is_ready())
            .map(|d| d.name())
            .collect()
    }

    /// The deployment called `name`.
    pub(crate) fn deployment(&self, name: &str) -> Option<&Arc<dyn Managed>> {
        self.deployments.iter().find(|d| d.name() == name)
    }

    pub(crate) fn scale(&self, deployment: &str, replicas: u32) -> Result<(), Error> {
        if replicas == 0 {
            return Err(Error::Config(format!(
                "cannot scale `{deployment}` to 0 replicas: scaling to zero is not supported yet"
            )));
        }
        let Some(d) = self.deployments.iter().find(|d| d.name() == deployment) else {
            let names: Vec<String> = self
                .deployments
                .iter()
                .map(|d| format!("`{}`", d.name()))
                .collect();
            return Err(Error::Config(format!(
                "graph `{}` has no deployment named `{deployment}`; it has {}",
                self.graph,
                names.join(", ")
            )));
        };
        d.scale(replicas);
        Ok(())
    }

    /// Stops the control tasks, then drains every replica and runs its `shutdown` hook.
    pub(crate) async fn shutdown(&self) {
        self.stop.cancel();
        join_all(self.deployments.iter().map(|d| Arc::clone(d).stop())).await;
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
