//! The attribute macros of `serve-runtime`. Depend on `serve-runtime`, which re-exports
//! them; this crate's generated code names the runtime through `::serve_runtime` only.

#![warn(missing_docs)]

mod deployment;
mod diag;
mod graph;
mod options;
mod owned;
mod paths;

use proc_macro::TokenStream;

/// Turns a struct and its `impl`, or a fn, into a deployment.
///
/// On the struct (or fn), options: `name = "..."`, `num_replicas = 2`,
/// `max_ongoing_requests = 16`, `max_queued_requests = 100`, `num_cpus = 0.5`,
/// `num_gpus = 0.5`, `executor = inline | threads`, `graceful_shutdown_timeout_s = 20`,
/// `health_check_period_s = 10`, `health_check_timeout_s = 30`, `remote = true` (it can
/// run in a process of its own), and `autoscaling_config(...)` with Ray Serve's fields:
/// `min_replicas`, `initial_replicas`, `max_replicas`, `target_ongoing_requests`,
/// `upscale_delay_s`, `downscale_delay_s`, `upscaling_factor`, `downscaling_factor`,
/// `look_back_period_s`, `metrics_interval_s`. On the `impl`: no options;
/// `new` (sync or async, may return `Result<Self, E>`) is the constructor `bind(...)` calls
/// once per replica, and every `fn(&self, ...)`, async or sync, becomes a method handles
/// can call. Sync methods, or asking for CPUs or GPUs, put the replicas on threads of
/// their own. `check_health(&self)` and `shutdown(&self)` are called by the runtime, not
/// by handles. A parameter of type `ReplicaContext` (or `&ReplicaContext`) in `new` or a
/// method is filled in by the runtime. A method marked `#[batch(max_batch_size = 32,
/// batch_wait_timeout_s = 0.01, max_concurrent_batches = 1)]` takes and returns a `Vec`
/// and is called with the inputs of several calls at once; a method marked
/// `#[multiplexed(max_num_models_per_replica = 3)]` loads the models of a multiplexed
/// deployment.
///
/// See the `serve-runtime` crate docs for a full example.
#[proc_macro_attribute]
pub fn deployment(attr: TokenStream, item: TokenStream) -> TokenStream {
    deployment::expand(attr.into(), item.into()).into()
}

/// Turns an `async fn` that wires deployments together into a static graph.
///
/// Options: `route_prefix = "/classify"`, `http_adapter = json_request | query |
/// raw_bytes | path`, `deny_unknown_fields = true`, `num_replicas`,
/// `max_ongoing_requests`, `max_queued_requests` (of the ingress), `body_limit` (bytes)
/// and `request_timeout_ms`; or `grpc = "package.Service/Method"` to serve the graph as
/// that gRPC method (with `App::grpc`).
///
/// See the `serve-runtime` crate docs for a full example.
#[proc_macro_attribute]
pub fn graph(attr: TokenStream, item: TokenStream) -> TokenStream {
    graph::expand(attr.into(), item.into()).into()
}
