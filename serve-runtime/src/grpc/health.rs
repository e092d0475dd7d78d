//! `grpc.health.v1.Health`: the server (`""`) and each gRPC service report SERVING while
//! every deployment of their graphs has a replica running and making progress (what
//! `/-/healthz` checks), and NOT_SERVING otherwise. Once the server drains, everything is
//! NOT_SERVING and each `Watch` ends after saying so, so a watcher does not hold the
//! drain open for the whole grace period.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::admin::Admin;
use crate::ingress::Served;
use crate::server::Phase;

/// How often the statuses are brought up to date.
const PERIOD: Duration = Duration::from_millis(500);

/// What the health service answers from.
#[derive(Clone, Debug, Default, PartialEq)]
struct Statuses {
    /// Service name (`""` for the server) → its status.
    services: BTreeMap<String, ServingStatus>,
    /// The server is draining: watches end after their last answer.
    draining: bool,
}

/// Keeps the statuses current, from the graphs' replicas.
pub(crate) struct HealthTracker {
    statuses: watch::Sender<Statuses>,
    /// Service name → the paths of its methods (`/pkg.Service/Method`), which are the
    /// route prefixes of their graphs.
    services: BTreeMap<String, Vec<String>>,
}

impl HealthTracker {
    /// The tracker and the service that answers from it. `methods`: each gRPC graph's
    /// application name and method path.
    pub(crate) fn new(methods: &[(String, String)]) -> (Self, HealthServer<HealthService>) {
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, path) in methods {
            services
                .entry(super::service_of(path).to_owned())
                .or_default()
                .push(path.clone());
        }
        let (statuses, answers) = watch::channel(Statuses::default());
        let tracker = Self { statuses, services };
        (
            tracker,
            HealthServer::new(HealthService { statuses: answers }),
        )
    }

    /// Keeps the statuses current until the server drains (`phase` leaves serving) or its
    /// admin state is dropped (a router that is no longer served).
    pub(crate) fn spawn(self, admin: Weak<Admin>, mut phase: Option<watch::Receiver<Phase>>) {
        if let Some(admin) = admin.upgrade() {
            // Answer from the first check on, not from the task's first turn.
            self.statuses.send_replace(self.statuses(&admin, false));
        }
        tokio::spawn(async move {
            loop {
                let draining = phase
                    .as_ref()
                    .is_some_and(|p| *p.borrow() != Phase::Serving);
                let Some(admin) = admin.upgrade() else { break };
                let now = self.statuses(&admin, draining);
                drop(admin);
                self.statuses.send_if_modified(|old| {
                    let changed = *old != now;
                    *old = now;
                    changed
                });
                if draining {
                    break;
                }
                let changed = async {
                    match phase.as_mut() {
                        Some(s) => {
                            let _ = s.changed().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(PERIOD) => {}
                    () = changed => {}
                }
            }
        });
    }

    fn statuses(&self, admin: &Arc<Admin>, draining: bool) -> Statuses {
        let ready =
            |served: &Served| !draining && served.instance.controller.not_ready().is_empty();
        let method_ready = |path: &String| {
            admin
                .served
                .iter()
                .filter(|s| &s.front.route == path)
                .all(ready)
        };
        let mut services: BTreeMap<String, ServingStatus> = self
            .services
            .iter()
            .map(|(service, paths)| (service.clone(), status(paths.iter().all(method_ready))))
            .collect();
        services.insert(String::new(), status(admin.served.iter().all(ready)));
        Statuses { services, draining }
    }
}

fn status(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// The `grpc.health.v1.Health` service.
pub(crate) struct HealthService {
    statuses: watch::Receiver<Statuses>,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        match self.statuses.borrow().services.get(service) {
            Some(status) => Ok(Response::new(answer(*status))),
            None => Err(Status::not_found(format!(
                "no gRPC service named `{service}` is served here"
            ))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let service = request.into_inner().service;
        let mut statuses = self.statuses.clone();
        statuses.mark_changed();
        // Each change of the service's status, the first answer at once; an unknown
        // service is SERVICE_UNKNOWN, as the protocol asks, and the call stays open.
        let stream = futures_util::stream::unfold(
            (statuses, None, false),
            move |(mut statuses, last, finished)| {
                let service = service.clone();
                async move {
                    if finished {
                        return None;
                    }
                    loop {
                        if statuses.changed().await.is_err() {
                            return None;
                        }
                        let (now, draining) = {
                            let s = statuses.borrow_and_update();
                            let now = s
                                .services
                                .get(&service)
                                .copied()
                                .unwrap_or(ServingStatus::ServiceUnknown);
                            (now, s.draining)
                        };
                        if last != Some(now) {
                            return Some((Ok(answer(now)), (statuses, Some(now), draining)));
                        }
                        if draining {
                            return None;
                        }
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

fn answer(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}
