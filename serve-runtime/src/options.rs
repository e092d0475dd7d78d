//! A deployment's options: what `#[deployment(...)]` declares, and what the runtime uses
//! once the defaults that depend on the deployment's code are filled in.

use serde::Serialize;

/// Where a deployment's replicas run their calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// On the caller's task: no thread hop, for light async work (I/O, routing, glue).
    Inline,
    /// On OS threads that each replica owns, never on the server's tokio workers: for
    /// compute. Async methods run on a small runtime of the replica's own.
    Threads,
}

/// Per-deployment options, with every default filled in: what the runtime starts replicas
/// with and what the spec shows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DeploymentOptions {
    /// How many replicas (independent instances) serve this deployment.
    pub num_replicas: u32,
    /// How many calls one replica serves at once; further calls wait in the queue.
    pub max_ongoing_requests: u32,
    /// How many calls may wait for a free replica before new ones are refused with
    /// [`Error::Overloaded`](crate::Error::Overloaded).
    pub max_queued_requests: u32,
    /// CPUs reserved for each replica (fractional). A thread replica gets
    /// `ceil(num_cpus)` threads, at least one.
    pub num_cpus: f64,
    /// GPUs reserved for each replica (fractional, e.g. 0.5 to share one GPU between two).
    pub num_gpus: f64,
    /// Where the replicas run their calls.
    pub executor: Executor,
    /// How long a stopping replica may take to finish its ongoing calls before its
    /// `shutdown` hook runs and it is dropped.
    pub graceful_shutdown_timeout_s: f64,
    /// How often each replica's `check_health` runs.
    pub health_check_period_s: f64,
    /// How long `check_health` may take before the replica counts as unhealthy.
    pub health_check_timeout_s: f64,
    /// When set, the replica count follows the load within these bounds, and
    /// `num_replicas` is only where it starts.
    pub autoscaling_config: Option<AutoscalingConfig>,
}

/// How a deployment's replica count follows its load: Ray Serve's `autoscaling_config`,
/// with its defaults.
///
/// Every `metrics_interval_s` the deployment's load (calls running on its replicas plus
/// calls waiting in its queue) is sampled; the average over `look_back_period_s`, divided
/// by `target_ongoing_requests`, is how many replicas it wants. A count above the current
/// one must be wanted for `upscale_delay_s`, one below for `downscale_delay_s`, before it
/// is applied, and moves by `upscaling_factor` / `downscaling_factor` of the gap. With
/// `min_replicas = 0` an idle deployment stops every replica, and the first call after
/// starts one at once (it waits in the queue meanwhile).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AutoscalingConfig {
    /// The fewest replicas (0 lets an idle deployment stop them all).
    pub min_replicas: u32,
    /// How many replicas start with the deployment; `min_replicas` when unset.
    pub initial_replicas: Option<u32>,
    /// The most replicas.
    pub max_replicas: u32,
    /// Calls (running or queued) one replica should have on average.
    pub target_ongoing_requests: f64,
    /// How long more replicas must be wanted before they are started.
    pub upscale_delay_s: f64,
    /// How long fewer replicas must be wanted before some are drained.
    pub downscale_delay_s: f64,
    /// How much of the gap to the wanted count one step up closes (1 closes it all).
    pub upscaling_factor: f64,
    /// How much of the gap to the wanted count one step down closes.
    pub downscaling_factor: f64,
    /// The window the load is averaged over.
    pub look_back_period_s: f64,
    /// How often the load is sampled and a decision made.
    pub metrics_interval_s: f64,
}

impl AutoscalingConfig {
    /// Ray Serve's defaults.
    pub const DEFAULT: Self = Self {
        min_replicas: 1,
        initial_replicas: None,
        max_replicas: 1,
        target_ongoing_requests: 2.0,
        upscale_delay_s: 30.0,
        downscale_delay_s: 600.0,
        upscaling_factor: 1.0,
        downscaling_factor: 1.0,
        look_back_period_s: 30.0,
        metrics_interval_s: 10.0,
    };

    /// How many replicas the deployment starts with.
    pub fn initial(&self) -> u32 {
        self.initial_replicas.unwrap_or(self.min_replicas)
    }
}

impl Default for AutoscalingConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl DeploymentOptions {
    /// The options of a light async deployment that sets none.
    pub const DEFAULT: Self = DeclaredOptions::NONE.resolve(false);
}

impl Default for DeploymentOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The options a `#[deployment(...)]` attribute gives; `None` where it says nothing.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeclaredOptions {
    pub num_replicas: Option<u32>,
    pub max_ongoing_requests: Option<u32>,
    pub max_queued_requests: Option<u32>,
    pub num_cpus: Option<f64>,
    pub num_gpus: Option<f64>,
    pub executor: Option<Executor>,
    pub graceful_shutdown_timeout_s: Option<f64>,
    pub health_check_period_s: Option<f64>,
    pub health_check_timeout_s: Option<f64>,
    pub autoscaling_config: Option<AutoscalingConfig>,
}

impl DeclaredOptions {
    /// An attribute without options.
    pub const NONE: Self = Self {
        num_replicas: None,
        max_ongoing_requests: None,
        max_queued_requests: None,
        num_cpus: None,
        num_gpus: None,
        executor: None,
        graceful_shutdown_timeout_s: None,
        health_check_period_s: None,
        health_check_timeout_s: None,
        autoscaling_config: None,
    };

    /// Fills in the defaults. The executor, unless given, is `threads` for a deployment
    /// that has sync methods or asks for CPUs or GPUs, and `inline` otherwise. An unset
    /// `num_cpus` is 1 on threads (Ray's default) and 0 inline, so light nodes reserve
    /// nothing and any number of them fit on a small machine.
    pub const fn resolve(self, has_sync_methods: bool) -> DeploymentOptions {
        let num_gpus = unwrap_f64(self.num_gpus, 0.0);
        let asks_for_resources = num_gpus > 0.0 || unwrap_f64(self.num_cpus, 0.0) > 0.0;
        let executor = match self.executor {
            Some(executor) => executor,
            None if has_sync_methods || asks_for_resources => Executor::Threads,
            None => Executor::Inline,
        };
        let default_cpus = match executor {
            Executor::Threads => 1.0,
            Executor::Inline => 0.0,
        };
        let num_replicas = match &self.autoscaling_config {
            // The load sets the count, starting here.
            Some(auto) => match auto.initial_replicas {
                Some(initial) => initial,
                None => auto.min_replicas,
            },
            None => unwrap_u32(self.num_replicas, 1),
        };
        DeploymentOptions {
            num_replicas,
            max_ongoing_requests: unwrap_u32(self.max_ongoing_requests, 100),
            max_queued_requests: unwrap_u32(self.max_queued_requests, 1000),
            num_cpus: unwrap_f64(self.num_cpus, default_cpus),
            num_gpus,
            executor,
            graceful_shutdown_timeout_s: unwrap_f64(self.graceful_shutdown_timeout_s, 20.0),
            health_check_period_s: unwrap_f64(self.health_check_period_s, 10.0),
            health_check_timeout_s: unwrap_f64(self.health_check_timeout_s, 30.0),
            autoscaling_config: self.autoscaling_config,
        }
    }
}

impl DeclaredOptions {
    /// `base` with these options on top: what `Type::bind(..).options(..)` gives one
    /// binding. The executor stays `base`'s: the deployment's code decides it.
    pub const fn over(self, base: DeploymentOptions) -> DeploymentOptions {
        let (num_replicas, autoscaling_config) = match (self.autoscaling_config, self.num_replicas)
        {
            (Some(auto), _) => (
                match auto.initial_replicas {
                    Some(initial) => initial,
                    None => auto.min_replicas,
                },
                Some(auto),
            ),
            // A fixed count for this binding ends the code's autoscaling.
            (None, Some(n)) => (n, None),
            (None, None) => (base.num_replicas, base.autoscaling_config),
        };
        DeploymentOptions {
            num_replicas,
            max_ongoing_requests: unwrap_u32(self.max_ongoing_requests, base.max_ongoing_requests),
            max_queued_requests: unwrap_u32(self.max_queued_requests, base.max_queued_requests),
            num_cpus: unwrap_f64(self.num_cpus, base.num_cpus),
            num_gpus: unwrap_f64(self.num_gpus, base.num_gpus),
            executor: base.executor,
            graceful_shutdown_timeout_s: unwrap_f64(
                self.graceful_shutdown_timeout_s,
                base.graceful_shutdown_timeout_s,
            ),
            health_check_period_s: unwrap_f64(
                self.health_check_period_s,
                base.health_check_period_s,
            ),
            health_check_timeout_s: unwrap_f64(
                self.health_check_timeout_s,
                base.health_check_timeout_s,
            ),
            autoscaling_config,
        }
    }
}

const fn unwrap_u32(v: Option<u32>, default: u32) -> u32 {
    match v {
        Some(v) => v,
        None => default,
    }
}

const fn unwrap_f64(v: Option<f64>, default: f64) -> f64 {
    match v {
        Some(v) => v,
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_follows_the_code_and_the_resources() {
        let light = DeclaredOptions::NONE.resolve(false);
        assert_eq!((light.executor, light.num_cpus), (Executor::Inline, 0.0));
        let sync = DeclaredOptions::NONE.resolve(true);
        assert_eq!((sync.executor, sync.num_cpus), (Executor::Threads, 1.0));
        let half = DeclaredOptions {
            num_cpus: Some(0.5),
            ..DeclaredOptions::NONE
        }
        .resolve(false);
        assert_eq!((half.executor, half.num_cpus), (Executor::Threads, 0.5));
        let gpu = DeclaredOptions {
            num_gpus: Some(0.25),
            ..DeclaredOptions::NONE
        }
        .resolve(false);
        assert_eq!((gpu.executor, gpu.num_cpus), (Executor::Threads, 1.0));
        let pinned = DeclaredOptions {
            executor: Some(Executor::Inline),
            num_cpus: Some(2.0),
            ..DeclaredOptions::NONE
        }
        .resolve(false);
        assert_eq!((pinned.executor, pinned.num_cpus), (Executor::Inline, 2.0));
    }
}
