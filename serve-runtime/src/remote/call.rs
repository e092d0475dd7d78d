//! The caller's side: a handle to a deployment that another process runs sends each call
//! there over HTTP/2 and turns the answer back into the method's result or error.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header::CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::codec::{Codec, present};
use super::{CONTENT_TYPE_V1, TIMEOUT_HEADER, WireError, build_id, deadline};
use crate::error::{Error, chain};

/// How long connecting to another process may take: past it the call fails with 503
/// rather than hang while the process is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a deployment this process does not run is served: what its handle sends calls to.
#[derive(Debug)]
pub struct RemoteDeployment {
    graph: String,
    deployment: String,
    /// `http://HOST:PORT`; none when no process is given for it in this one.
    address: Option<String>,
}

impl RemoteDeployment {
    pub(crate) fn new(graph: &str, deployment: &str, address: Option<String>) -> Self {
        Self {
            graph: graph.to_owned(),
            deployment: deployment.to_owned(),
            address: address.map(|a| a.trim_end_matches('/').to_owned()),
        }
    }

    pub(crate) fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Starts a call of `method`; the generated client adds the arguments and sends it.
    pub fn call(&self, method: &'static str) -> RemoteCall<'_> {
        RemoteCall {
            remote: self,
            method,
            body: Vec::new(),
        }
    }

    fn unavailable(&self, reason: String) -> Error {
        Error::Unavailable {
            deployment: self.deployment.clone(),
            reason,
        }
    }
}

/// One call on its way to another process: the arguments, encoded in order.
pub struct RemoteCall<'a> {
    remote: &'a RemoteDeployment,
    method: &'static str,
    body: Vec<u8>,
}

impl RemoteCall<'_> {
    /// Encodes the next argument.
    pub fn arg<T>(&mut self, codec: Option<Codec<T>>, value: &T) -> Result<(), Error> {
        let codec = present(codec, &self.remote.deployment)?;
        codec
            .encode(value, &mut self.body)
            .map_err(|e| Error::Node {
                deployment: self.remote.deployment.clone(),
                method: self.method,
                source: format!("an argument could not be encoded to cross processes: {e}").into(),
            })
    }

    /// Sends the call and decodes its result.
    pub async fn send<T>(self, codec: Option<Codec<T>>) -> Result<T, Error> {
        let remote = self.remote;
        let codec = present(codec, &remote.deployment)?;
        let Some(address) = &remote.address else {
            return Err(remote.unavailable(
                "this process does not run it, and the config gives no `address` for it".into(),
            ));
        };
        let uri = format!(
            "{address}/-/call/{}/{}/{}",
            remote.graph, remote.deployment, self.method
        );
        let mut request = Request::post(uri)
            .header(CONTENT_TYPE, CONTENT_TYPE_V1)
            .header(build_id::HEADER, build_id::build_id());
        if let Some(left) = deadline::remaining() {
            if left.is_zero() {
                return Err(remote.unavailable("the request's time ran out before the call".into()));
            }
            request = request.header(TIMEOUT_HEADER, left.as_millis().max(1).to_string());
        }
        let request = request
            .body(Full::new(Bytes::from(self.body)))
            .map_err(|e| remote.unavailable(format!("`{address}` is not a usable address: {e}")))?;
        let response = client().request(request).await.map_err(|e| {
            remote.unavailable(format!("cannot reach it at {address}: {}", chain(&e)))
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| remote.unavailable(format!("its answer from {address} broke off: {e}")))?
            .to_bytes();
        if status == StatusCode::OK {
            return codec.decode(&mut &body[..]).map_err(|e| Error::Node {
                deployment: remote.deployment.clone(),
                method: self.method,
                source: format!("its result could not be decoded: {e}").into(),
            });
        }
        Err(match serde_json::from_slice::<WireError>(&body) {
            Ok(wire) => wire.into_error(&remote.deployment, self.method),
            Err(_) => remote.unavailable(format!(
                "{address} answered {status}, which is not a serving process's answer"
            )),
        })
    }
}

/// One HTTP/2 client for the process: a connection per address, shared by every call to
/// it. A call is retried only when its connection closed before the call was sent.
fn client() -> &'static Client<HttpConnector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector)
    })
}
