//! Deployments served by another process (`<bin> serve --deployments NAME`).
//!
//! A deployment declared `#[deployment(remote = true)]` has every method's arguments and
//! result checked for serde at compile time. In a process that does not run it, its
//! handle sends each call over HTTP/2 to the process that does (the config's `address`
//! for it), as MessagePack, and decodes the answer; that process serves the call on its
//! own replicas, under their limits. Deployments without `remote = true` always run in
//! the process that calls them, with no encoding at all.

mod call;
mod codec;
pub(crate) mod deadline;
pub(crate) mod groups;
pub(crate) mod interface;
mod peer;
mod peers;
pub(crate) mod plan;
mod secret;
pub(crate) mod serve;
mod tls;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use call::RemoteWatch;
pub use call::{RemoteCall, RemoteDeployment, RemoteDeploymentStatus};
pub use codec::{Apart, Codec, InProcess, Wire, WireMode};
pub use peer::{PeerHealth, PeerStatus};
pub use secret::CallSecret;
pub use serve::{WireArgs, WireFuture, wire_reply};
pub use tls::CallTls;

use crate::error::Error;

/// The content type of a call and of its result: version 1 of the encoding. A process
/// that speaks another refuses the call with 415.
pub(crate) const CONTENT_TYPE_V1: &str = "application/vnd.serve.call.v1+msgpack";

/// The header a call carries the request's time left in, in milliseconds.
pub(crate) const TIMEOUT_HEADER: &str = "serve-timeout-ms";

/// How this process calls the others: the secret that proves it is one of the graph's
/// processes, and how it watches their health.
#[derive(Clone, Debug, Default)]
pub(crate) struct Link {
    pub(crate) secret: Option<CallSecret>,
    pub(crate) health: PeerHealth,
    /// Mutual TLS: the files, and what [`Link::load`] made of them.
    pub(crate) tls_files: Option<CallTls>,
    pub(crate) tls: Option<Arc<tls::TlsConfigs>>,
}

impl Link {
    /// Reads the TLS files, once, before anything is served or called.
    pub(crate) fn load(&mut self) -> Result<(), Error> {
        if let (Some(files), None) = (&self.tls_files, &self.tls) {
            self.tls = Some(files.load()?);
        }
        Ok(())
    }
}

/// A failed call's answer, as JSON: enough to rebuild the error on the caller's side.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireError {
    /// [`Error::code`].
    pub(crate) error: String,
    /// The whole message, as the serving process would log it.
    pub(crate) message: String,
    /// The deployment the error is about.
    pub(crate) deployment: Option<String>,
    /// What went wrong inside it, without the deployment's own prefix.
    pub(crate) cause: Option<String>,
}

impl WireError {
    pub(crate) fn from_error(error: &Error) -> Self {
        let cause = match error {
            Error::Node { source, .. } => Some(crate::error::chain(&**source)),
            Error::Panic { message, .. } => Some(message.clone()),
            Error::Unavailable { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        Self {
            error: error.code().to_owned(),
            message: error.to_string(),
            deployment: error.deployment().map(str::to_owned),
            cause,
        }
    }

    /// The error as the caller reports it. `called` is the deployment the caller asked
    /// for, `method` the method.
    pub(crate) fn into_error(self, called: &str, method: &'static str) -> Error {
        let deployment = self.deployment.unwrap_or_else(|| called.to_owned());
        let cause = self.cause.unwrap_or(self.message);
        match self.error.as_str() {
            "overloaded" => Error::Overloaded { deployment },
            "node_failed" => Error::Node {
                deployment,
                method,
                source: cause.into(),
            },
            "node_panicked" => Error::Panic {
                deployment,
                method,
                message: cause,
            },
            "unavailable" => Error::Unavailable {
                deployment,
                reason: cause,
            },
            _ => Error::Unavailable {
                deployment: called.to_owned(),
                reason: cause,
            },
        }
    }
}
