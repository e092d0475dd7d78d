//! gRPC: a `#[graph(grpc = "package.Service/Method")]` graph served as a unary method on the
//! ingress's port (HTTP/2), beside the `grpc.health.v1` health service and server
//! reflection. Messages are protobuf (`prost`); the runtime needs no `.proto` compiler.

mod codec;
mod health;
mod method;
mod reflection;
mod status;

pub(crate) use health::HealthTracker;
pub(crate) use method::route_for;
pub(crate) use reflection::Descriptors;

use crate::adapter::{AdapterError, HttpRequest};

/// A protobuf message a gRPC graph can take as its request.
#[diagnostic::on_unimplemented(
    message = "the request of a gRPC graph must be a protobuf message, and `{Self}` is not one",
    label = "not a `prost::Message`",
    note = "derive it: `#[derive(Clone, PartialEq, prost::Message)]` with a `#[prost(...)]` attribute on each field, or generate it from a `.proto` file with `prost-build`"
)]
pub trait GrpcRequest: prost::Message + Default {}

impl<T: prost::Message + Default> GrpcRequest for T {}

/// Decodes a gRPC graph's request message: what its generated `adapt` calls.
pub fn grpc_decode<T: GrpcRequest>(request: HttpRequest) -> Result<T, AdapterError> {
    T::decode(request.into_body()).map_err(|e| {
        AdapterError::bad_request(format!(
            "the request is not a valid `{}` message: {e}",
            short_type_name::<T>()
        ))
    })
}

/// `Request` for `my_crate::proto::Request`: what a client knows the message as.
fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

/// The service of a method path: `pkg.Service` for `/pkg.Service/Method`.
pub(crate) fn service_of(path: &str) -> &str {
    let path = path.trim_start_matches('/');
    path.split_once('/').map_or(path, |(service, _)| service)
}
