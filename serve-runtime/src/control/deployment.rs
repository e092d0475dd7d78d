//! One deployment's replicas, kept at their target: started in parallel (each with its
//! reservation and, on threads, its own runtime), drained and stopped, checked for health
//! and replaced when they fail. A constructor that fails while scaling up is retried with
//! backoff; the replicas already serving keep serving.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::arg::BindArgs;
use crate::config::Problem;
use crate::config::settings::DeploymentSettings;
use crate::context::ReplicaContext;
use crate::control::autoscale::Autoscaler;
use crate::control::placement::{Placement, Reservation};
use crate::control::status::{DeploymentStatus, ReplicaState, ReplicaStatus};
use crate::deployment::{Deployment, Factory};
use crate::error::{BoxError, Error, chain, panic_message};
use crate::exec::BatchSpec;
use crate::exec::threads::ReplicaThreads;
use crate::options::{DeploymentOptions, Executor};
use crate::replica::{Replica, SetShared};
use crate::router::ReplicaSet;

/// Stopped and failed replicas kept in the status, per deployment.
const ENDED_KEPT: usize = 8;
/// The first wait before a failed start is retried; it doubles up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(30);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

mod health;
mod reconcile;
use health::Progress;
use reconcile::Rollout;

/// What the graph's controller needs of a deployment, whatever its type.
pub(crate) trait Managed: Send + Sync {
    fn name(&self) -> &str;
    fn status(&self) -> DeploymentStatus;
    /// What the deployment's replicas share: its queue and its call figures.
    fn shared(&self) -> &Arc<SetShared>;
    /// What `status().is_ready()` says, without building the status: `/-/healthz` asks
    /// on every probe.
    fn is_ready(&self) -> bool;
    fn scale(&self, replicas: u32);
    /// The options new replicas start with now, and the `user_config` they get: what a
    /// rolled-back update went back to, not what it asked for.
    fn current(&self) -> (DeploymentOptions, Option<serde_json::Value>, BindArgs);
    /// Why `settings` cannot be applied, if it cannot (a `user_config` that does not
    /// fit the deployment's `reconfigure`).
    fn check(&self, settings: &DeploymentSettings) -> Option<Problem>;
    /// Applies checked settings while serving: limits and timings at once, the replica
    /// count through the control loop, a new `user_config` through every replica's
    /// `reconfigure`. Says what changed, and what failed at once.
    fn apply(self: Arc<Self>, settings: DeploymentSettings) -> BoxFuture<Applied>;
    /// Keeps the replicas at their target until `stop` is cancelled.
    fn control(self: Arc<Self>, stop: CancellationToken) -> BoxFuture<()>;
    /// Drains and stops every replica.
    fn stop(self: Arc<Self>) -> BoxFuture<()>;
}

/// What applying new settings to a deployment did, one line each, prefixed with its name.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) changes: Vec<String>,
    /// What failed at once (a `reconfigure`); a rollout that fails later says so in the
    /// status.
    pub(crate) failed: Vec<String>,
}

/// Makes a deployment's constructor from `bind` arguments (see [`Deploy`](crate::graph::Deploy)).
pub(crate) type Rebind<D> = Box<dyn Fn(&BindArgs) -> Result<Factory<D>, Error> + Send + Sync>;

pub(crate) struct ManagedDeployment<D: Deployment> {
    set: Arc<ReplicaSet<D>>,
    /// The constructor new replicas of the current generation are built with.
    factory: Mutex<Arc<Factory<D>>>,
    /// The constructor to go back to if the update being rolled out fails.
    previous_factory: Mutex<Option<Arc<Factory<D>>>>,
    rebind: Rebind<D>,
    placement: Placement,
    constructor_timeout: Duration,
    state: Mutex<State>,
    changed: Notify,
    next_id: AtomicU32,
}

struct State {
    /// What new replicas start with; a config applied while serving changes it.
    options: DeploymentOptions,
    /// Given to `reconfigure` on every replica, before a new one takes calls.
    user_config: Option<serde_json::Value>,
    /// The `bind` arguments a config set (none: the graph's own).
    bind_args: BindArgs,
    /// The generation of options new replicas start with; replicas of older ones are
    /// replaced.
    generation: u32,
    /// The update being rolled out, while one is.
    rollout: Option<Rollout>,
    /// Sets `target` from the load, when the deployment autoscales.
    autoscaler: Option<Autoscaler>,
    /// Set by `stop`: a replica whose start finishes after it never takes calls.
    stopping: bool,
    target: u32,
    records: Vec<Record>,
    failures_in_row: u32,
    retry_at: Option<Instant>,
    message: Option<String>,
    /// Why the last update was rolled back, until the next one: the deployment runs what
    /// it ran before, healthy, and says so.
    rolled_back: Option<String>,
}

struct Record {
    id: u32,
    generation: u32,
    state: ReplicaState,
    message: Option<String>,
    reservation: Option<Reservation>,
    progress: Progress,
}

impl<D: Deployment> ManagedDeployment<D> {
    /// Starts replacing every replica with new ones (a new generation); if one fails to
    /// start, the deployment goes back to what it runs now.
    fn replace_replicas(&self, state: &mut State) {
        if state.rollout.is_none() {
            state.rollout = Some(Rollout {
                from_generation: state.generation,
                options: state.options,
                user_config: state.user_config.clone(),
                bind_args: state.bind_args.clone(),
            });
            let current = Arc::clone(&self.factory.lock().unwrap_or_else(PoisonError::into_inner));
            *self
                .previous_factory
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(current);
        }
        state.generation += 1;
    }

    /// A new `user_config` failed on some replicas: the deployment keeps `previous`, and
    /// the replicas in `took` (which took the new one) go back to it, or are replaced
    /// when there was none, so that every replica runs one configuration.
    async fn keep_previous_config(
        &self,
        took: &[&Arc<Replica<D>>],
        previous: Option<serde_json::Value>,
    ) {
        let replace = previous.is_none() && !took.is_empty();
        {
            let mut state = self.state();
            state.user_config.clone_from(&previous);
            if replace {
                self.replace_replicas(&mut state);
            }
        }
        if let Some(config) = &previous {
            let back = join_all(took.iter().map(|r| reconfigure(r, config.clone())));
            for (r, result) in took.iter().zip(back.await) {
                if let Err(e) = result {
                    tracing::warn!(
                        deployment = self.set.name(),
                        replica = r.id(),
                        "could not go back to the previous user_config: {}",
                        chain(&*e)
                    );
                }
            }
        }
        self.changed.notify_one();
    }

    /// Gives the `#[batch]` methods the sizes `settings` asks for, at once: the next batch
    /// each replica forms uses them. Says what changed.
    fn resize_batches(&self, settings: &DeploymentSettings) -> Vec<String> {
        let shared = self.set.shared();
        let mut changes = Vec::new();
        for (now, next) in shared.batches.iter().zip(batch_sizes::<D>(Some(settings))) {
            let before = now.spec();
            if before == next {
                continue;
            }
            now.set(next.max_batch_size, next.batch_wait_timeout_s);
            let method = next.method;
            if before.max_batch_size != next.max_batch_size {
                changes.push(format!(
                    "batch {method} max_batch_size {} -> {}",
                    before.max_batch_size, next.max_batch_size
                ));
            }
            if before.batch_wait_timeout_s != next.batch_wait_timeout_s {
                changes.push(format!(
                    "batch {method} batch_wait_timeout_s {} -> {}",
                    before.batch_wait_timeout_s, next.batch_wait_timeout_s
                ));
            }
        }
        changes
    }

    /// A deployment with the code's options, or those of `settings` (a config's) when
    /// given; fails when the config's `user_config` does not fit the deployment.
    pub(crate) fn new(
        name: String,
        rebind: Rebind<D>,
        settings: Option<DeploymentSettings>,
        placement: Placement,
        constructor_timeout: Duration,
    ) -> Result<Arc<Self>, Error> {
        let batches = batch_sizes::<D>(settings.as_ref());
        let (options, user_config, bind_args, args_at) = match settings {
            None => (D::OPTIONS, None, BindArgs::default(), (0, 0)),
            Some(settings) => {
                if let Some(problem) = check_user_config::<D>(&settings) {
                    return Err(Error::Config(format!(
                        "line {}, column {}: {}",
                        problem.line, problem.column, problem.message
                    )));
                }
                let options = DeploymentOptions {
                    executor: D::OPTIONS.executor,
                    ..settings.options
                };
                let bind_args = settings.bind_args();
                let at = settings.bind_args_at;
                (
                    options,
                    settings.user_config.map(|c| c.value),
                    bind_args,
                    at,
                )
            }
        };
        let factory = rebind(&bind_args).map_err(|e| match args_at {
            (0, _) => e,
            (line, column) => Error::Config(format!("line {line}, column {column}: {e}")),
        })?;
        Ok(Arc::new(Self {
            set: Arc::new(ReplicaSet::new(
                name,
                &options,
                &batches,
                D::MULTIPLEXED.is_some(),
            )),
            factory: Mutex::new(Arc::new(factory)),
            previous_factory: Mutex::new(None),
            rebind,
            placement,
            constructor_timeout,
            state: Mutex::new(State {
                options,
                user_config,
                bind_args,
                generation: 0,
                rollout: None,
                autoscaler: options.autoscaling_config.map(Autoscaler::new),
                stopping: false,
                target: options.num_replicas,
                records: Vec::new(),
                failures_in_row: 0,
                retry_at: None,
                message: None,
                rolled_back: None,
            }),
            changed: Notify::new(),
            next_id: AtomicU32::new(0),
        }))
    }

    /// The options new replicas start with now.
    pub(crate) fn options(&self) -> DeploymentOptions {
        self.state().options
    }

    pub(crate) fn set(&self) -> &Arc<ReplicaSet<D>> {
        &self.set
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the first replicas, all at once; any failure fails the start.
    pub(crate) async fn start(&self) -> Result<(), Error> {
        let starts = self.begin_starts(self.options().num_replicas);
        let results = join_all(starts.iter().map(|start| self.start_replica(start))).await;
        let mut first_error = None;
        for (id, result) in starts.iter().map(|s| s.id).zip(results) {
            match result {
                Ok((replica, reservation)) => {
                    // Before the controller exists nothing can stop the deployment.
                    let _ = self.now_running(replica, reservation);
                }
                Err(source) => {
                    self.now_ended(id, ReplicaState::Failed, Some(source.to_string()));
                    first_error.get_or_insert(Error::Start {
                        deployment: self.set.name().to_owned(),
                        replica: id,
                        source,
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Records `n` replicas as starting, with the options and `user_config` of the
    /// current generation.
    fn begin_starts(&self, n: u32) -> Vec<Start<D>> {
        let mut state = self.state();
        let (generation, options, config) =
            (state.generation, state.options, state.user_config.clone());
        let factory = Arc::clone(&self.factory.lock().unwrap_or_else(PoisonError::into_inner));
        (0..n)
            .map(|_| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                state.records.push(Record {
                    id,
                    generation,
                    state: ReplicaState::Starting,
                    message: None,
                    reservation: None,
                    progress: Progress::new(),
                });
                Start {
                    id,
                    options,
                    user_config: config.clone(),
                    factory: Arc::clone(&factory),
                }
            })
            .collect()
    }

    /// Reserves, starts the replica's threads, and runs the constructor there.
    async fn start_replica(
        &self,
        start: &Start<D>,
    ) -> Result<(Arc<Replica<D>>, Reservation), BoxError> {
        let (id, options, user_config) = (start.id, &start.options, start.user_config.clone());
        let name = self.set.name();
        let reservation = self
            .placement
            .reserve(options)
            .ok_or_else(|| format!("it does not fit: {}", self.placement.explain(options)))?;
        let context = ReplicaContext::new(
            name.to_owned(),
            id,
            reservation.gpu_ids(),
            options.num_cpus,
            options.executor,
        );
        let threads = match options.executor {
            Executor::Threads => {
                let count = options.num_cpus.ceil().max(1.0) as usize;
                Some(ReplicaThreads::start(&format!("{name}#{id}"), count)?)
            }
            Executor::Inline => None,
        };
        let made = AssertUnwindSafe(start.factory.make(context.clone())).catch_unwind();
        let late = || {
            format!(
                "the constructor did not finish within {:?}",
                self.constructor_timeout
            )
        };
        let made = match &threads {
            Some(threads) => {
                let task = threads.spawn(made);
                let abort = task.abort_handle();
                match timeout(self.constructor_timeout, task).await {
                    Ok(joined) => joined?,
                    Err(_) => {
                        abort.abort();
                        return Err(late().into());
                    }
                }
            }
            None => timeout(self.constructor_timeout, made)
                .await
                .map_err(|_| late())?,
        };
        let instance = match made {
            Ok(result) => result?,
            Err(panic) => {
                return Err(format!("constructor panicked: {}", panic_message(&*panic)).into());
            }
        };
        let shared = Arc::clone(self.set.shared());
        let replica = Arc::new(Replica::new(instance, shared, context, threads));
        if let Some(config) = user_config {
            reconfigure(&replica, config)
                .await
                .map_err(|e| format!("`reconfigure` failed: {}", chain(&*e)))?;
        }
        Ok((replica, reservation))
    }

    /// Puts a started replica into routing, unless the deployment has stopped since its
    /// start began: then it is handed back, to be drained without taking a call.
    #[must_use]
    fn now_running(
        &self,
        replica: Arc<Replica<D>>,
        reservation: Reservation,
    ) -> Option<Arc<Replica<D>>> {
        let id = replica.id();
        // Under the state lock, so `stop` either sees this replica running (and drains
        // it) or has already said the deployment is stopping.
        let mut state = self.state();
        let stopping = state.stopping;
        if let Some(record) = state.records.iter_mut().find(|r| r.id == id) {
            record.reservation = Some(reservation);
            record.state = if stopping {
                ReplicaState::Draining
            } else {
                ReplicaState::Running
            };
        }
        if stopping {
            return Some(replica);
        }
        self.set.push(replica);
        self.set.shared().starts.fetch_add(1, Ordering::Relaxed);
        drop(state);
        tracing::debug!(
            deployment = self.set.name(),
            replica = id,
            "replica running"
        );
        None
    }

    fn now_ended(&self, id: u32, end: ReplicaState, message: Option<String>) {
        let mut state = self.state();
        if let Some(record) = state.records.iter_mut().find(|r| r.id == id) {
            record.state = end;
            record.message = message;
            record.reservation = None;
        }
        let ended = |r: &Record| matches!(r.state, ReplicaState::Stopped | ReplicaState::Failed);
        while state.records.iter().filter(|r| ended(r)).count() > ENDED_KEPT {
            let oldest = state.records.iter().position(ended).expect("counted above");
            state.records.remove(oldest);
        }
    }

    /// No new calls reach the replica; its ongoing ones get up to the graceful shutdown
    /// timeout to finish; then its `shutdown` hook runs and it is dropped.
    async fn drain(
        self: Arc<Self>,
        replica: Arc<Replica<D>>,
        end: ReplicaState,
        why: Option<String>,
    ) {
        let grace = Duration::from_secs_f64(self.options().graceful_shutdown_timeout_s);
        let deadline = Instant::now() + grace;
        while replica.ongoing() > 0 && Instant::now() < deadline {
            sleep(Duration::from_millis(5)).await;
        }
        let hook = {
            let replica = Arc::clone(&replica);
            async move { replica.instance().__serve_shutdown().await }
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        if timeout(left, on_replica(&replica, hook)).await.is_err() {
            tracing::warn!(
                deployment = self.set.name(),
                replica = replica.id(),
                "`shutdown` did not finish in time"
            );
        }
        // Tells calls still running past the grace period that their work is abandoned.
        replica.context.cancel();
        let id = replica.id();
        drop(replica);
        self.now_ended(id, end, why);
        // Its reservation is free now: a replica waiting for room may start.
        self.changed.notify_one();
        tracing::debug!(
            deployment = self.set.name(),
            replica = id,
            "replica stopped"
        );
    }
}

impl<D: Deployment> ManagedDeployment<D> {
    /// Samples the load (calls running and queued) and lets the autoscaler move the
    /// target.
    fn autoscale(&self) {
        let running: u32 = self.set.ongoing().iter().sum();
        let load = f64::from(running) + f64::from(self.set.queued());
        let mut state = self.state();
        let current = state.target;
        let Some(autoscaler) = state.autoscaler.as_mut() else {
            return;
        };
        if let Some(target) = autoscaler.sample(Instant::now(), load, current) {
            tracing::info!(
                deployment = self.set.name(),
                "autoscaling from {current} to {target} replicas (load {load})"
            );
            state.target = target;
        }
    }

    /// A call found no replica: one starts at once when the deployment is scaled to zero.
    fn wake(&self) {
        let mut state = self.state();
        let current = state.target;
        if let Some(target) = state.autoscaler.as_mut().and_then(|a| a.wake(current)) {
            tracing::info!(
                deployment = self.set.name(),
                "a call is waiting: starting {target} replica(s) from zero"
            );
            state.target = target;
        }
    }
}

/// "num_replicas 2 -> 3" for every option that differs.
/// The sizes of `D`'s `#[batch]` methods: the code's, or those `settings` gives.
fn batch_sizes<D: Deployment>(settings: Option<&DeploymentSettings>) -> Vec<BatchSpec> {
    D::BATCHED
        .iter()
        .map(|code| {
            settings
                .and_then(|s| s.batches.iter().find(|b| b.method == code.method))
                .copied()
                .unwrap_or(*code)
        })
        .collect()
}

fn option_changes(before: &DeploymentOptions, after: &DeploymentOptions) -> Vec<String> {
    macro_rules! rows {
        ($($field:ident),*) => {
            [$((stringify!($field), before.$field.to_string(), after.$field.to_string())),*]
        };
    }
    let rows = rows!(
        num_replicas,
        max_ongoing_requests,
        max_queued_requests,
        num_cpus,
        num_gpus,
        graceful_shutdown_timeout_s,
        health_check_period_s,
        health_check_timeout_s
    );
    rows.into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(name, a, b)| format!("{name} {a} -> {b}"))
        .collect()
}

/// One replica about to start, with what its generation starts with.
struct Start<D> {
    id: u32,
    options: DeploymentOptions,
    user_config: Option<serde_json::Value>,
    factory: Arc<Factory<D>>,
}

/// Gives a replica its `user_config`, where it runs its calls.
async fn reconfigure<D: Deployment>(
    replica: &Arc<Replica<D>>,
    config: serde_json::Value,
) -> Result<(), BoxError> {
    let target = Arc::clone(replica);
    on_replica(replica, async move {
        target.instance().__serve_reconfigure(config).await
    })
    .await?
}

/// Why `settings.user_config` does not fit `D`, if it does not.
fn check_user_config<D: Deployment>(settings: &DeploymentSettings) -> Option<Problem> {
    let config = settings.user_config.as_ref()?;
    let message = D::__serve_check_user_config(&config.value).err()?;
    Some(Problem {
        line: config.line,
        column: config.column,
        message: format!("user_config of `{}`: {message}", settings.name),
        help: None,
    })
}

/// Runs `work` where the replica runs its calls, catching a panic.
async fn on_replica<D, T, F>(replica: &Arc<Replica<D>>, work: F) -> Result<T, BoxError>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let work = AssertUnwindSafe(work).catch_unwind();
    let outcome = match &replica.threads {
        Some(threads) => threads.spawn(work).await?,
        None => work.await,
    };
    outcome.map_err(|panic| format!("panicked: {}", panic_message(&*panic)).into())
}

impl<D: Deployment> Managed for ManagedDeployment<D> {
    fn name(&self) -> &str {
        self.set.name()
    }

    fn shared(&self) -> &Arc<SetShared> {
        self.set.shared()
    }

    fn status(&self) -> DeploymentStatus {
        let ongoing: Vec<(u32, u32)> = self
            .set
            .replicas()
            .iter()
            .map(|r| (r.id(), r.ongoing()))
            .collect();
        let state = self.state();
        DeploymentStatus {
            name: self.set.name().to_owned(),
            executor: D::OPTIONS.executor,
            target_replicas: state.target,
            queued: self.set.queued(),
            replicas: state
                .records
                .iter()
                .map(|r| ReplicaStatus {
                    replica_id: r.id,
                    state: r.state,
                    ongoing: ongoing
                        .iter()
                        .find(|(id, _)| *id == r.id)
                        .map_or(0, |o| o.1),
                    stalled: r.state == ReplicaState::Running && r.progress.stalled,
                    message: r.message.clone(),
                })
                .collect(),
            message: state.message.clone(),
            updating: state.rollout.is_some(),
            rolled_back: state.rolled_back.clone(),
        }
    }

    fn scale(&self, replicas: u32) {
        let mut state = self.state();
        state.target = replicas;
        // A new target is a new intent: try it now rather than after an old backoff.
        state.retry_at = None;
        drop(state);
        self.changed.notify_one();
    }

    fn is_ready(&self) -> bool {
        let state = self.state();
        state.target == 0
            || state
                .records
                .iter()
                .any(|r| r.state == ReplicaState::Running && !r.progress.stalled)
    }

    fn current(&self) -> (DeploymentOptions, Option<serde_json::Value>, BindArgs) {
        let state = self.state();
        (
            state.options,
            state.user_config.clone(),
            state.bind_args.clone(),
        )
    }

    fn check(&self, settings: &DeploymentSettings) -> Option<Problem> {
        if let Some(problem) = check_user_config::<D>(settings) {
            return Some(problem);
        }
        let args = settings.bind_args();
        if args == self.state().bind_args {
            return None;
        }
        let why = (self.rebind)(&args).err()?;
        let (line, column) = settings.bind_args_at;
        Some(Problem {
            line,
            column,
            message: why.to_string(),
            help: None,
        })
    }

    fn apply(self: Arc<Self>, settings: DeploymentSettings) -> BoxFuture<Applied> {
        Box::pin(async move {
            let next = DeploymentOptions {
                executor: D::OPTIONS.executor,
                ..settings.options
            };
            let args = settings.bind_args();
            let batch_changes = self.resize_batches(&settings);
            let user_config = settings.user_config.map(|c| c.value);
            // Checked before anything was applied; a failure here leaves the old ones.
            let rebound = (args != self.state().bind_args)
                .then(|| (self.rebind)(&args).ok())
                .flatten();
            let args_changed = rebound.is_some();
            let (before, config_changed, previous_config) = {
                let mut state = self.state();
                let before = state.options;
                let resources =
                    next.num_cpus != before.num_cpus || next.num_gpus != before.num_gpus;
                // Replicas cannot forget a `user_config`: with none, new ones (which never
                // got it) replace them, so every replica runs one configuration.
                let config_removed = state.user_config.is_some() && user_config.is_none();
                if resources || rebound.is_some() || config_removed {
                    self.replace_replicas(&mut state);
                }
                if let Some(factory) = rebound {
                    *self.factory.lock().unwrap_or_else(PoisonError::into_inner) =
                        Arc::new(factory);
                    state.bind_args = args.clone();
                }
                state.options = next;
                state.target = match next.autoscaling_config {
                    None => {
                        state.autoscaler = None;
                        next.num_replicas
                    }
                    Some(config) => {
                        let current = state.target;
                        let autoscaler = state
                            .autoscaler
                            .get_or_insert_with(|| Autoscaler::new(config));
                        autoscaler.set_config(config);
                        autoscaler.clamp(current)
                    }
                };
                state.retry_at = None;
                // A new config is a new intent: what went wrong with the old one is news
                // only if it goes wrong again.
                state.message = None;
                state.rolled_back = None;
                let config_changed = state.user_config != user_config;
                let previous_config = state.user_config.clone();
                state.user_config.clone_from(&user_config);
                (before, config_changed, previous_config)
            };
            self.set
                .set_limits(next.max_ongoing_requests, next.max_queued_requests);
            self.changed.notify_one();
            let mut changes = option_changes(&before, &next);
            changes.extend(batch_changes);
            if args_changed {
                let values: Vec<String> = args
                    .values()
                    .iter()
                    .map(|(name, value)| format!("{name} = {value}"))
                    .collect();
                changes.push(format!("bind_args {}", values.join(", ")));
            }
            if before.autoscaling_config != next.autoscaling_config {
                changes.retain(|c| !c.starts_with("num_replicas "));
                changes.push(match next.autoscaling_config {
                    Some(_) => "autoscaling_config".to_owned(),
                    None => format!(
                        "autoscaling_config removed, num_replicas {}",
                        next.num_replicas
                    ),
                });
            }
            let mut failures = Vec::new();
            if config_changed {
                changes.push(match user_config {
                    Some(_) => "user_config".to_owned(),
                    None => "user_config removed: the replicas are replaced".to_owned(),
                });
                if let Some(config) = user_config {
                    let replicas = self.set.replicas();
                    let done = join_all(replicas.iter().map(|r| reconfigure(r, config.clone())));
                    let results = done.await;
                    let failed: Vec<String> = replicas
                        .iter()
                        .zip(&results)
                        .filter_map(|(r, result)| {
                            let e = result.as_ref().err()?;
                            Some(format!("replica {}: {}", r.id(), chain(&**e)))
                        })
                        .collect();
                    if !failed.is_empty() {
                        let took: Vec<_> = replicas
                            .iter()
                            .zip(&results)
                            .filter(|(_, result)| result.is_ok())
                            .map(|(r, _)| r)
                            .collect();
                        self.keep_previous_config(&took, previous_config).await;
                        let message = format!(
                            "`reconfigure` failed on {}; every replica keeps the user_config it had",
                            failed.join("; ")
                        );
                        tracing::warn!(deployment = self.set.name(), "{message}");
                        self.state().message = Some(message.clone());
                        failures.push(message);
                    }
                }
            }
            let named = |lines: Vec<String>| -> Vec<String> {
                let name = self.set.name();
                lines.into_iter().map(|c| format!("{name}: {c}")).collect()
            };
            Applied {
                changes: named(changes),
                failed: named(failures),
            }
        })
    }

    fn control(self: Arc<Self>, stop: CancellationToken) -> BoxFuture<()> {
        Box::pin(async move {
            let period = || Duration::from_secs_f64(self.options().health_check_period_s);
            let mut next_check = Instant::now() + period();
            let mut next_sample = Instant::now();
            loop {
                self.reconcile().await;
                let (retry_at, sampling) = {
                    let state = self.state();
                    (
                        state.retry_at,
                        state.autoscaler.as_ref().map(Autoscaler::interval),
                    )
                };
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = self.changed.notified() => {}
                    () = self.set.shared().wanted.notified() => self.wake(),
                    () = sleep_until(next_sample), if sampling.is_some() => {
                        self.autoscale();
                        next_sample = Instant::now() + sampling.unwrap_or_default();
                    }
                    () = self.set.shared().unhealthy.notified() => self.check_health().await,
                    () = sleep_until(next_check) => {
                        self.check_health().await;
                        next_check = Instant::now() + period();
                    }
                    () = sleep_until(retry_at.unwrap_or(next_check)), if retry_at.is_some() => {}
                }
            }
        })
    }

    fn stop(self: Arc<Self>) -> BoxFuture<()> {
        Box::pin(async move {
            let ids: Vec<u32> = {
                let mut state = self.state();
                state.target = 0;
                state.stopping = true;
                let running = state
                    .records
                    .iter_mut()
                    .filter(|r| r.state == ReplicaState::Running);
                running
                    .map(|r| {
                        r.state = ReplicaState::Draining;
                        r.id
                    })
                    .collect()
            };
            let drains = ids.into_iter().filter_map(|id| {
                let replica = self.set.remove(id)?;
                Some(Arc::clone(&self).drain(replica, ReplicaState::Stopped, None))
            });
            join_all(drains).await;
            // Replicas still starting are drained as their starts finish (see
            // `scale_up`); the caller's grace period bounds this wait.
            while self
                .state()
                .records
                .iter()
                .any(|r| matches!(r.state, ReplicaState::Starting | ReplicaState::Draining))
            {
                sleep(Duration::from_millis(5)).await;
            }
        })
    }
}
