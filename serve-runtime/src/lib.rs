//! Compose many models into one serving graph, checked at compile time.
//!
//! - [`#[deployment]`](deployment) turns a struct (with its `impl` of async methods) or an
//!   `async fn` into a deployment: a node served by N replicas with its own limits.
//! - [`#[graph]`](graph) turns an `async fn` that wires deployments together into a static
//!   graph: mistakes are compile errors, independent nodes run concurrently, and the
//!   topology is data ([`GraphSpec`]).
//! - [`start`] runs a graph in-process; [`App`] serves graphs over HTTP.
//!
//! ```
//! use serve_runtime::{deployment, graph};
//!
//! #[deployment(num_replicas = 2)]
//! struct Scale { factor: f64 }
//!
//! #[deployment]
//! impl Scale {
//!     fn new(factor: f64) -> Self { Scale { factor } }
//!     async fn apply(&self, x: f64) -> f64 { x * self.factor }
//! }
//!
//! #[deployment]
//! async fn add(a: f64, b: f64) -> f64 { a + b }
//!
//! #[graph(route_prefix = "/sum")]
//! async fn scaled_sum(x: f64) -> f64 {
//!     let double = Scale::bind(2.0);
//!     let triple = Scale::bind(3.0);
//!     let a = double.apply(x);   // these two run concurrently
//!     let b = triple.apply(x);
//!     add(a, b)
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let graph = serve_runtime::start(scaled_sum).await?;
//! assert_eq!(graph.call(1.5).await?, 7.5);
//! assert_eq!(scaled_sum::spec().deployments[1].name, "Scale_1");
//! # Ok::<(), serve_runtime::Error>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

extern crate self as serve_runtime;

mod adapter;
mod admin;
mod alone;
mod app;
mod arg;
mod called;
mod cli;
mod compose;
mod config;
mod context;
mod control;
mod deployment;
mod error;
mod exec;
mod graph;
#[cfg(feature = "grpc")]
mod grpc;
mod handle;
mod ingress;
mod kubernetes;
mod multiplex;
mod observe;
mod options;
pub mod registry;
mod remote;
mod render;
mod replica;
mod router;
mod server;
mod slot;
mod spec;
mod stream;
mod yaml;

pub use adapter::{AdapterError, HttpRequest, sub_path};
pub use admin::DeployReport;
pub use alone::Alone;
pub use app::{App, Server};
pub use bytes::Bytes;
pub use called::Called;
pub use config::{ConfigError, Problem, ServeConfig};
pub use context::ReplicaContext;
pub use control::placement::Resources;
pub use control::status::{DeploymentStatus, GraphStatus, ReplicaState, ReplicaStatus};
pub use control::{GraphHandle, StartOptions, start, start_with};
pub use deployment::{Client, Deployment, DeploymentKind};
pub use error::{BoxError, Error, MAX_ERROR_MESSAGE};
pub use graph::{Graph, IntoGraph};
pub use handle::Handle;
pub use ingress::Respond;
pub use multiplex::Loaded;
#[cfg(feature = "otlp")]
pub use observe::otlp::{OtlpGuard, otlp_layer};
pub use options::{AutoscalingConfig, DeploymentOptions, Executor};
pub use remote::{CallSecret, CallTls, PeerHealth, PeerStatus, RemoteDeploymentStatus};
pub use render::Format;
pub use serve_macros::{deployment, graph};
pub use server::{HttpLimits, TlsFiles};
pub use spec::{
    ArgSpec, BindArgSpec, DeploymentSpec, Edge, GraphSpec, IngressOptions, InputSpec, NodeSpec,
    OutputSpec,
};
pub use stream::{ItemSender, ItemStream, StreamClosed};

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// What generated code names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__graph_fn as graph_fn;
    pub use crate::adapter::{
        AdapterError, HttpRequest, json_request, query_request, raw_body, raw_bytes,
    };
    pub use crate::alone::{Params, Standalone};
    pub use crate::arg::{ArgParser, BindArgs, BindParam, ConstArg, ParseArg, ParseArgFallback};
    pub use crate::called::{Called, NotCalledLikeAFunction};
    pub use crate::compose::{DepRef, FnNode, GraphNode, spec_fn_deployment, spec_inner_graph};
    pub use crate::context::ReplicaContext;
    pub use crate::control::BuildContext;
    pub use crate::deployment::{
        Client, DefaultConstructible, Deployment, DeploymentConfig, DeploymentKind, Factory,
        IntoNodeResult,
    };
    pub use crate::error::{BoxError, Error};
    pub use crate::exec::{
        BatchFn, BatchReplica, BatchSpec, batch_future, hold_stream, invoke_batched, invoke_inline,
        invoke_threads, invoke_threads_stream,
    };
    pub use crate::graph::{Deploy, Graph, IntoGraph, Nodes};
    #[cfg(feature = "grpc")]
    pub use crate::grpc::grpc_decode;

    /// Without the `grpc` feature, a gRPC graph's request cannot be decoded.
    #[cfg(not(feature = "grpc"))]
    #[diagnostic::on_unimplemented(
        message = "gRPC graphs need the `grpc` feature of `serve-runtime`",
        label = "this graph is declared `#[graph(grpc = ...)]`",
        note = "turn the feature back on: `serve-runtime = {{ version = \"...\", features = [\"grpc\"] }}` (it is a default feature)"
    )]
    pub trait GrpcFeature {}

    #[cfg(not(feature = "grpc"))]
    pub fn grpc_decode<T: GrpcFeature>(_: HttpRequest) -> Result<T, AdapterError> {
        unreachable!("no type implements `GrpcFeature`")
    }
    pub use crate::handle::Handle;
    pub use crate::multiplex::{MultiplexSpec, load_model};
    pub use crate::options::{AutoscalingConfig, DeclaredOptions, DeploymentOptions, Executor};
    pub use crate::registry::{DeploymentRegistration, GraphRegistration};
    pub use crate::remote::{
        Apart, Codec, InProcess, RemoteCall, RemoteDeployment, Wire, WireArgs, WireFuture,
        WireMode, wire_reply,
    };
    pub use crate::router::{ReplicaGuard, ReplicaSet};
    pub use crate::slot::Slot;
    pub use crate::spec::IngressOptions;
    pub use crate::spec::{ArgSpec, GraphSpec, SpecBuilder, constant, value};
    pub use crate::spec::{DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT};
    pub use crate::stream::THREAD_BUFFER as STREAM_THREAD_BUFFER;
    pub use ::core::{clone::Clone, convert::From, result::Result};
    pub use ::std::sync::Arc;
    pub use bytes::Bytes;
    pub use inventory;
    pub use serde;
    pub use tokio::try_join;

    /// What a value looks like on the wire, when its deployment can run apart.
    pub fn wire_shape<T>(codec: ::core::option::Option<Codec<T>>) -> ::std::string::String {
        codec.map(|codec| codec.shape()).unwrap_or_default()
    }

    /// A method name another process asked for that the deployment does not have (the
    /// serving side checks the names first, so this is a backstop).
    pub fn wire_unknown(deployment: &str, method: &str) -> WireFuture {
        let error = Error::Config(format!("`{deployment}` has no method `{method}`"));
        ::std::boxed::Box::pin(async move { Err(error) })
    }

    /// The constructor builder of a deployment: `binder::<T>().bind(args)`.
    pub fn binder<D: Deployment>() -> D::Binder {
        Default::default()
    }

    /// Waits for a value produced by another node of the same request.
    pub async fn recv<T>(slot: &Slot<T>) -> Result<T, Error> {
        // Each slot has one consumer, so the value is always there to take once; this error
        // is a backstop, not something clients see.
        slot.take()
            .await
            .ok_or_else(|| Error::Config("internal: a node's input was taken twice".into()))
    }

    /// What the graph's last node returns, checked against the graph's declared return type.
    #[diagnostic::on_unimplemented(
        message = "the graph ends with a value of type `{Self}`, but it is declared to return `{T}`",
        label = "this node returns `{Self}`",
        note = "change the graph's return type to `{Self}`, or end the graph with a node that returns `{T}`"
    )]
    pub trait GraphReturns<T> {
        fn into_output(self) -> T;
    }
    impl<T> GraphReturns<T> for T {
        fn into_output(self) -> T {
            self
        }
    }

    /// A graph's `let` annotation, checked against what the node returns.
    #[diagnostic::on_unimplemented(
        message = "this `let` says `{T}`, but the node returns `{Self}`",
        label = "the node returns `{Self}`",
        note = "write `{Self}`, or leave the annotation out: a graph's values have their nodes' types"
    )]
    pub trait Annotated<T> {}
    impl<T> Annotated<T> for T {}

    /// Checks a `let` annotation against the node's value.
    #[inline(always)]
    pub fn annotated<T, U: Annotated<T>>(_value: &U) {}

    /// A value with several consumers is cloned for all but the last.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is passed to several nodes, so it must be `Clone`",
        label = "this value has more than one consumer",
        note = "derive `Clone`, or return an `Arc<{Self}>` to share one value without copying it"
    )]
    pub trait FanOut: Clone {}
    impl<T: Clone> FanOut for T {}

    pub fn fan_out<T: FanOut>(value: &T) -> T {
        value.clone()
    }

    pub use serde_json::Value as JsonValue;

    /// What `reconfigure` takes: the `user_config` of a config file, deserialised.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a deployment's `user_config`: it does not implement `serde::Deserialize`",
        label = "`reconfigure` takes this as the `user_config` of a config file",
        note = "add `#[derive(serde::Deserialize)]` to `{Self}`"
    )]
    pub trait UserConfig: serde::de::DeserializeOwned {}
    impl<T: serde::de::DeserializeOwned> UserConfig for T {}

    /// `config` as a `C`.
    pub fn user_config<C: UserConfig>(config: JsonValue) -> Result<C, BoxError> {
        serde_json::from_value(config).map_err(Into::into)
    }
}
