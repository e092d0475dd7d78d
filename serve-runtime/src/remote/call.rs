//! The caller's side: a handle to a deployment that other processes run sends each call
//! to one of them over HTTP/2 and turns the answer back into the method's result or
//! error.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};

use super::codec::{Codec, present};
use super::peer::{Fault, Peer, PeerStatus, fault_of};
use super::peers::Peers;
use super::{CONTENT_TYPE_V1, Link, TIMEOUT_HEADER, WireError, deadline, interface};
use crate::error::{Error, chain};

/// The codes of a serving process's refusals that say it is not one this process can
/// call (a rolling update half done), rather than an answer about the call.
const WRONG_VERSION: [&str; 3] = ["interface_mismatch", "wire_version", "not_served"];

/// Where a deployment this process does not run is served: what its handle sends calls to.
#[derive(Debug)]
pub struct RemoteDeployment {
    graph: String,
    deployment: String,
    /// The config's `address`, as written.
    address: Option<String>,
    /// The processes behind it; none when no address is given for it.
    peers: Option<Arc<Peers>>,
    link: Link,
    /// This build's fingerprint of the deployment: a process that runs another refuses
    /// the call.
    interface: String,
}

impl RemoteDeployment {
    /// `address`: one `http://HOST:PORT` (`https://` with mutual TLS), or several joined
    /// by commas. `link` has its TLS files loaded. `interface`: the deployment's
    /// fingerprint in this build.
    pub(crate) fn new(
        graph: &str,
        deployment: &str,
        address: Option<String>,
        link: &Link,
        interface: String,
    ) -> Result<Self, Error> {
        let each: Vec<String> = address
            .iter()
            .flat_map(|a| a.split(',').map(|s| s.trim().to_owned()))
            .collect();
        let secure = link.tls.is_some();
        if let Some(wrong) = each.iter().find(|a| a.starts_with("https://") != secure) {
            return Err(Error::Config(if secure {
                format!(
                    "`{deployment}` is called over mutual TLS (--call-tls-*), so its address must be `https://...`, not `{wrong}`"
                )
            } else {
                format!(
                    "`{deployment}`'s address `{wrong}` asks for TLS: give this process its certificate, key and CA with --call-tls-cert, --call-tls-key and --call-tls-ca (or App::call_tls)"
                )
            }));
        }
        let peers = address
            .as_ref()
            .map(|_| Peers::new(&each, link.health, link.tls.clone()));
        Ok(Self {
            graph: graph.to_owned(),
            deployment: deployment.to_owned(),
            address,
            peers,
            link: link.clone(),
            interface,
        })
    }

    pub(crate) fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// What the controller keeps to report it in `status`.
    pub(crate) fn watch(&self) -> RemoteWatch {
        RemoteWatch {
            deployment: self.deployment.clone(),
            address: self.address.clone(),
            peers: self.peers.clone(),
        }
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

/// A remote deployment's processes, as `status` reports them.
pub(crate) struct RemoteWatch {
    deployment: String,
    address: Option<String>,
    peers: Option<Arc<Peers>>,
}

impl RemoteWatch {
    pub(crate) fn status(&self) -> RemoteDeploymentStatus {
        RemoteDeploymentStatus {
            name: self.deployment.clone(),
            address: self.address.clone(),
            processes: self.peers.as_ref().map(|p| p.status()).unwrap_or_default(),
        }
    }
}

/// A deployment that other processes run: where, and each process's state as this one
/// sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct RemoteDeploymentStatus {
    /// The deployment's name in its graph.
    pub name: String,
    /// The config's `address` for it; none when no process is given for it.
    pub address: Option<String>,
    /// Every process found at the address.
    pub processes: Vec<PeerStatus>,
}

impl RemoteDeploymentStatus {
    /// Whether a call could be sent now: some process is not ejected.
    pub fn is_reachable(&self) -> bool {
        self.processes.iter().any(|p| p.state != "ejected")
    }
}

/// One call on its way to another process: the arguments, encoded in order.
pub struct RemoteCall<'a> {
    remote: &'a RemoteDeployment,
    method: &'static str,
    body: Vec<u8>,
}

/// How one attempt ended: the answer's status and body, or the fault and its reason, and
/// whether the call was never sent (so another process may take it).
enum Attempt {
    /// The result's bytes, or the serving process's error.
    Answer(Result<Bytes, WireError>),
    Failed {
        reason: String,
        unsent: bool,
    },
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

    /// Sends the call and decodes its result. A call that could not be sent (its
    /// connection refused) is tried once more on another process.
    pub async fn send<T>(mut self, codec: Option<Codec<T>>) -> Result<T, Error> {
        let remote = self.remote;
        let codec = present(codec, &remote.deployment)?;
        let Some(peers) = &remote.peers else {
            return Err(remote.unavailable(
                "this process does not run it, and the config gives no `address` for it".into(),
            ));
        };
        let timeout = match deadline::remaining() {
            Some(left) if left.is_zero() => {
                return Err(remote.unavailable("the request's time ran out before the call".into()));
            }
            left => left.map(|l| l.as_millis().max(1).to_string()),
        };
        let body = Bytes::from(std::mem::take(&mut self.body));
        // The process a first attempt could not send the call to, and why.
        let mut tried: Option<(Arc<Peer>, String)> = None;
        let answer = loop {
            let Some(peer) = peers.pick(tried.as_ref().map(|(p, _)| p)).await else {
                return Err(remote.unavailable(match tried {
                    // No other process to try: the first attempt's failure stands.
                    Some((_, reason)) => reason,
                    None => format!(
                        "no process is found at {}",
                        remote.address.as_deref().unwrap_or_default()
                    ),
                }));
            };
            match self
                .attempt(&peer, timeout.as_deref(), body.clone())
                .await?
            {
                Attempt::Answer(answer) => break answer,
                Attempt::Failed { reason, unsent } => {
                    if !unsent || tried.is_some() {
                        return Err(remote.unavailable(reason));
                    }
                    tried = Some((peer, reason));
                }
            }
        };
        match answer {
            Ok(bytes) => codec.decode(&mut &bytes[..]).map_err(|e| Error::Node {
                deployment: remote.deployment.clone(),
                method: self.method,
                source: format!("its result could not be decoded: {e}").into(),
            }),
            Err(wire) => Err(wire.into_error(&remote.deployment, self.method)),
        }
    }

    /// One call to `peer`: its answer when it is a serving process's, with the peer's
    /// health updated either way.
    async fn attempt(
        &self,
        peer: &Peer,
        timeout: Option<&str>,
        body: Bytes,
    ) -> Result<Attempt, Error> {
        let remote = self.remote;
        let address = &peer.address;
        let uri = format!(
            "{address}/-/call/{}/{}/{}",
            remote.graph, remote.deployment, self.method
        );
        let mut request = Request::post(uri)
            .header(CONTENT_TYPE, CONTENT_TYPE_V1)
            .header(interface::HEADER, &remote.interface);
        if let Some(secret) = &remote.link.secret {
            request = request.header(AUTHORIZATION, secret.header());
        }
        if let Some(ms) = timeout {
            request = request.header(TIMEOUT_HEADER, ms);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| remote.unavailable(format!("`{address}` is not a usable address: {e}")))?;
        let pass = peer.pass().map_err(|reason| remote.unavailable(reason))?;
        let response = match peer.client.request(request).await {
            Ok(response) => response,
            Err(e) => {
                let reason = format!("cannot reach it at {address}: {}", chain(&e));
                peer.failed(pass, &reason, fault_of(&e));
                return Ok(Attempt::Failed {
                    reason,
                    unsent: e.is_connect(),
                });
            }
        };
        let status = response.status();
        let answer = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => {
                let reason = format!("its answer from {address} broke off: {}", chain(&e));
                peer.failed(pass, &reason, fault_of(&e));
                return Ok(Attempt::Failed {
                    reason,
                    unsent: false,
                });
            }
        };
        if status == StatusCode::OK {
            peer.answered(pass);
            return Ok(Attempt::Answer(Ok(answer)));
        }
        let (fault, reason) = if status == StatusCode::UNAUTHORIZED {
            let reason = format!(
                "{address} refused this process's call secret: every process of a graph needs the same one (--call-secret-file or SERVE_CALL_SECRET)"
            );
            (Fault::Unauthenticated, reason)
        } else {
            match serde_json::from_slice::<WireError>(&answer) {
                Ok(wire) if WRONG_VERSION.contains(&wire.error.as_str()) => {
                    (Fault::WrongVersion, format!("{address}: {}", wire.message))
                }
                Ok(wire) => {
                    peer.answered(pass);
                    return Ok(Attempt::Answer(Err(wire)));
                }
                Err(_) => {
                    let reason = format!(
                        "{address} answered {status}, which is not a serving process's answer"
                    );
                    (Fault::Unreachable, reason)
                }
            }
        };
        peer.failed(pass, &reason, fault);
        // Another process may run a matching version: the call was refused, not run.
        Ok(Attempt::Failed {
            reason,
            unsent: fault == Fault::WrongVersion,
        })
    }
}
