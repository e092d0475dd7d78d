//! Model multiplexing: one deployment serves many models by id. Each replica keeps the
//! models it has loaded (at most `max_num_models_per_replica`: the least recently used is
//! dropped before another loads, so its memory is free for the new one), and a call for a
//! model goes to a replica that holds it, or is loading it, when one has room.
//!
//! The deployment's `#[multiplexed]` method loads a model; a method that takes a
//! [`Loaded<M>`] is called with a model id in its place, and gets the model from its
//! replica's cache. Concurrent first calls for one model on a replica wait for one load.

use std::any::Any;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::error::BoxError;
use crate::router::ReplicaGuard;

/// A model a `#[multiplexed]` loader made, shared by the calls that use it. A method that
/// takes one (`model: Loaded<Model>`) is called through its handle with the model's id in
/// its place (`handle.predict(model_id, x)`).
pub struct Loaded<M>(Arc<M>);

impl<M> Loaded<M> {
    /// The shared model itself.
    pub fn shared(this: &Self) -> Arc<M> {
        Arc::clone(&this.0)
    }
}

impl<M> Deref for Loaded<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.0
    }
}

impl<M> Clone for Loaded<M> {
    fn clone(&self) -> Self {
        Loaded(Arc::clone(&self.0))
    }
}

/// A deployment's multiplexing as `#[multiplexed(...)]` declares it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MultiplexSpec {
    /// The loader method's name.
    pub loader: &'static str,
    /// The most models one replica keeps loaded.
    pub max_num_models_per_replica: u32,
}

/// Loads and unloads of one deployment's models, over all its replicas.
#[derive(Debug, Default)]
pub(crate) struct ModelCounts {
    pub(crate) loads: AtomicU64,
    pub(crate) unloads: AtomicU64,
}

/// What routing asks of a replica's models, whatever their type.
pub(crate) trait HeldModels: Send + Sync {
    /// Whether the replica holds the model, or is loading it.
    fn holds(&self, id: &str) -> bool;
    fn as_any(&self) -> &(dyn Any + Send + Sync);
}

/// A model by id, loaded or being loaded.
type Entry<M> = (String, Arc<OnceCell<Arc<M>>>);

/// One replica's models: ids in order of use, the most recent last.
struct ModelCache<M> {
    max: usize,
    entries: Mutex<Vec<Entry<M>>>,
}

impl<M: Send + Sync + 'static> HeldModels for ModelCache<M> {
    fn holds(&self, id: &str) -> bool {
        self.entries().iter().any(|(held, _)| held == id)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
}

impl<M> ModelCache<M> {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry<M>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `id`, made the most recently used; a new one when there is none,
    /// dropping the least recently used past the limit.
    fn entry(&self, id: &str, counts: &ModelCounts) -> Arc<OnceCell<Arc<M>>> {
        let mut entries = self.entries();
        if let Some(at) = entries.iter().position(|(held, _)| held == id) {
            let entry = entries.remove(at);
            let cell = Arc::clone(&entry.1);
            entries.push(entry);
            return cell;
        }
        while entries.len() >= self.max {
            let (_, evicted) = entries.remove(0);
            if evicted.initialized() {
                counts.unloads.fetch_add(1, Ordering::Relaxed);
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.push((id.to_owned(), Arc::clone(&cell)));
        cell
    }

    /// Forgets a failed load, so that the next call tries again.
    fn forget(&self, id: &str, cell: &Arc<OnceCell<Arc<M>>>) {
        let mut entries = self.entries();
        if let Some(at) = entries
            .iter()
            .position(|(held, c)| held == id && Arc::ptr_eq(c, cell) && !c.initialized())
        {
            entries.remove(at);
        }
    }
}

/// The model `id` on the guard's replica: from its cache, or loaded by `load` (once, however
/// many calls ask for it together).
pub async fn load_model<'a, D, M, F, Fut>(
    guard: &'a ReplicaGuard<D>,
    id: String,
    spec: &MultiplexSpec,
    load: F,
) -> Result<Loaded<M>, BoxError>
where
    M: Send + Sync + 'static,
    F: FnOnce(&'a D, String) -> Fut,
    Fut: Future<Output = Result<M, BoxError>>,
{
    let replica = &guard.replica;
    let models = replica.models.get_or_init(|| {
        Arc::new(ModelCache::<M> {
            max: spec.max_num_models_per_replica.max(1) as usize,
            entries: Mutex::new(Vec::new()),
        })
    });
    let cache = models
        .as_any()
        .downcast_ref::<ModelCache<M>>()
        .expect("one model type per deployment");
    let counts = &replica.shared.models;
    let cell = cache.entry(&id, counts);
    let loaded = cell
        .get_or_try_init(|| async {
            let model = load(replica.instance(), id.clone()).await?;
            counts.loads.fetch_add(1, Ordering::Relaxed);
            Ok::<_, BoxError>(Arc::new(model))
        })
        .await;
    match loaded {
        Ok(model) => Ok(Loaded(Arc::clone(model))),
        Err(source) => {
            cache.forget(&id, &cell);
            Err(format!(
                "`{}` could not load model `{id}`: {}",
                spec.loader,
                crate::error::chain(&*source)
            )
            .into())
        }
    }
}
