//! The caller's side: a handle to a deployment that another process runs sends each call
//! there over HTTP/2 and turns the answer back into the method's result or error.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};

use super::codec::{Codec, present};
use super::peer::{Peer, is_ping_timeout};
use super::{CONTENT_TYPE_V1, Link, TIMEOUT_HEADER, WireError, build_id, deadline};
use crate::error::{Error, chain};

/// Where a deployment this process does not run is served: what its handle sends calls to.
#[derive(Debug)]
pub struct RemoteDeployment {
    graph: String,
    deployment: String,
    /// The process at `http://HOST:PORT`; none when no process is given for it.
    peer: Option<Peer>,
    link: Link,
}

impl RemoteDeployment {
    pub(crate) fn new(graph: &str, deployment: &str, address: Option<String>, link: &Link) -> Self {
        let peer = address.map(|a| Peer::new(a.trim_end_matches('/').to_owned(), link.health));
        Self {
            graph: graph.to_owned(),
            deployment: deployment.to_owned(),
            peer,
            link: link.clone(),
        }
    }

    pub(crate) fn address(&self) -> Option<&str> {
        self.peer.as_ref().map(|p| p.address.as_str())
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
        let Some(peer) = &remote.peer else {
            return Err(remote.unavailable(
                "this process does not run it, and the config gives no `address` for it".into(),
            ));
        };
        let address = &peer.address;
        let uri = format!(
            "{address}/-/call/{}/{}/{}",
            remote.graph, remote.deployment, self.method
        );
        let mut request = Request::post(uri)
            .header(CONTENT_TYPE, CONTENT_TYPE_V1)
            .header(build_id::HEADER, build_id::build_id());
        if let Some(secret) = &remote.link.secret {
            request = request.header(AUTHORIZATION, secret.header());
        }
        if let Some(left) = deadline::remaining() {
            if left.is_zero() {
                return Err(remote.unavailable("the request's time ran out before the call".into()));
            }
            request = request.header(TIMEOUT_HEADER, left.as_millis().max(1).to_string());
        }
        let request = request
            .body(Full::new(Bytes::from(self.body)))
            .map_err(|e| remote.unavailable(format!("`{address}` is not a usable address: {e}")))?;
        let pass = peer.pass().map_err(|reason| remote.unavailable(reason))?;
        let response = match peer.client.request(request).await {
            Ok(response) => response,
            Err(e) => {
                let reason = format!("cannot reach it at {address}: {}", chain(&e));
                peer.failed(pass, &reason, is_ping_timeout(&e));
                return Err(remote.unavailable(reason));
            }
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => {
                let reason = format!("its answer from {address} broke off: {}", chain(&e));
                peer.failed(pass, &reason, is_ping_timeout(&e));
                return Err(remote.unavailable(reason));
            }
        };
        if status == StatusCode::OK {
            peer.answered(pass);
            return codec.decode(&mut &body[..]).map_err(|e| Error::Node {
                deployment: remote.deployment.clone(),
                method: self.method,
                source: format!("its result could not be decoded: {e}").into(),
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            let reason = format!(
                "{address} refused this process's call secret: every process of a graph needs the same one (--call-secret-file or SERVE_CALL_SECRET)"
            );
            peer.failed(pass, &reason, false);
            return Err(remote.unavailable(reason));
        }
        match serde_json::from_slice::<WireError>(&body) {
            Ok(wire) => {
                peer.answered(pass);
                Err(wire.into_error(&remote.deployment, self.method))
            }
            Err(_) => {
                let reason =
                    format!("{address} answered {status}, which is not a serving process's answer");
                peer.failed(pass, &reason, false);
                Err(remote.unavailable(reason))
            }
        }
    }
}
