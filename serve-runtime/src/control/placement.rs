//! What this process may place replicas on, and what each replica has reserved.
//!
//! As Ray's scheduler does: CPUs are one pool shared by fractions; a replica asking for at
//! most one GPU gets a share of a single GPU (the fullest one it still fits on, so shares
//! pack), and one asking for more gets that many whole GPUs.

use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::options::DeploymentOptions;

/// Rounding slack, so that ten replicas of 0.1 GPU fit on one.
const EPSILON: f64 = 1e-9;

/// The CPUs and GPUs replicas are placed on.
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    num_cpus: f64,
    num_gpus: u32,
}

impl Resources {
    /// Exactly these resources: `num_gpus` GPUs get the ids `0..num_gpus`.
    pub fn new(num_cpus: f64, num_gpus: u32) -> Self {
        Self {
            num_cpus: num_cpus.max(0.0),
            num_gpus,
        }
    }

    /// What this process can use: CPUs as the OS allows it (cgroup quotas and CPU affinity,
    /// such as `taskset`, are honoured), GPUs as `CUDA_VISIBLE_DEVICES` lists them, or as
    /// the NVIDIA driver reports them when it is not set.
    pub fn detect() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let gpus = match std::env::var("CUDA_VISIBLE_DEVICES") {
            Ok(list) => visible_devices(&list),
            Err(_) => std::fs::read_dir("/proc/driver/nvidia/gpus")
                .map_or(0, |entries| entries.count() as u32),
        };
        Self::new(cpus as f64, gpus)
    }

    /// The CPUs replicas may reserve.
    pub fn num_cpus(&self) -> f64 {
        self.num_cpus
    }

    /// The GPUs replicas may reserve.
    pub fn num_gpus(&self) -> u32 {
        self.num_gpus
    }

    /// The same, with this many CPUs.
    pub fn with_num_cpus(mut self, num_cpus: f64) -> Self {
        self.num_cpus = num_cpus.max(0.0);
        self
    }

    /// The same, with this many GPUs.
    pub fn with_num_gpus(mut self, num_gpus: u32) -> Self {
        self.num_gpus = num_gpus;
        self
    }
}

/// `CUDA_VISIBLE_DEVICES` as a count: CUDA numbers the devices it lists from 0 in the
/// process, whatever their ids; an empty list, or one starting with an invalid entry such
/// as `-1`, hides them all.
fn visible_devices(list: &str) -> u32 {
    let mut count = 0;
    for entry in list.split(',').map(str::trim) {
        if entry.is_empty() || entry.starts_with('-') || entry.eq_ignore_ascii_case("NoDevFiles") {
            break;
        }
        count += 1;
    }
    count
}

/// What replicas have reserved of the resources, shared by every graph of a process.
#[derive(Clone, Debug)]
pub(crate) struct Placement {
    ledger: Arc<Mutex<Ledger>>,
}

#[derive(Clone, Debug)]
struct Ledger {
    resources: Resources,
    cpus_used: f64,
    /// The share of each GPU in use, by id.
    gpus_used: Vec<f64>,
}

/// One replica's reservation, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    ledger: Arc<Mutex<Ledger>>,
    cpus: f64,
    gpus: Vec<(u32, f64)>,
}

impl Reservation {
    pub(crate) fn gpu_ids(&self) -> Vec<u32> {
        self.gpus.iter().map(|&(id, _)| id).collect()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.cpus_used = (ledger.cpus_used - self.cpus).max(0.0);
        for &(id, share) in &self.gpus {
            let used = &mut ledger.gpus_used[id as usize];
            *used = (*used - share).max(0.0);
        }
    }
}

impl Ledger {
    /// The GPUs a replica asking for `want` would get, if it fits.
    fn gpus_for(&self, want: f64) -> Option<Vec<(u32, f64)>> {
        if want <= EPSILON {
            return Some(Vec::new());
        }
        if want <= 1.0 + EPSILON {
            // The fullest GPU that still has room, so that shares pack together.
            let best = self
                .gpus_used
                .iter()
                .enumerate()
                .filter(|(_, used)| **used + want <= 1.0 + EPSILON)
                .max_by(|a, b| a.1.total_cmp(b.1))?;
            return Some(vec![(best.0 as u32, want.min(1.0))]);
        }
        let whole = want.ceil() as usize;
        let free: Vec<(u32, f64)> = self
            .gpus_used
            .iter()
            .enumerate()
            .filter(|(_, used)| **used <= EPSILON)
            .map(|(id, _)| (id as u32, 1.0))
            .take(whole)
            .collect();
        (free.len() == whole).then_some(free)
    }

    fn take(&mut self, num_cpus: f64, num_gpus: f64) -> Option<(f64, Vec<(u32, f64)>)> {
        if self.cpus_used + num_cpus > self.resources.num_cpus + EPSILON {
            return None;
        }
        let gpus = self.gpus_for(num_gpus)?;
        self.cpus_used += num_cpus;
        for &(id, share) in &gpus {
            self.gpus_used[id as usize] += share;
        }
        Some((num_cpus, gpus))
    }
}

impl Placement {
    pub(crate) fn new(resources: Resources) -> Self {
        let gpus_used = vec![0.0; resources.num_gpus as usize];
        Self {
            ledger: Arc::new(Mutex::new(Ledger {
                resources,
                cpus_used: 0.0,
                gpus_used,
            })),
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves what one replica with these options asks for, if it fits now.
    pub(crate) fn reserve(&self, options: &DeploymentOptions) -> Option<Reservation> {
        let (cpus, gpus) = self.ledger().take(options.num_cpus, options.num_gpus)?;
        Some(Reservation {
            ledger: Arc::clone(&self.ledger),
            cpus,
            gpus,
        })
    }

    /// Whether one more replica with these options fits now.
    pub(crate) fn fits_now(&self, options: &DeploymentOptions) -> bool {
        self.ledger()
            .clone()
            .take(options.num_cpus, options.num_gpus)
            .is_some()
    }

    /// Why one more replica with these options does not fit now.
    pub(crate) fn explain(&self, options: &DeploymentOptions) -> String {
        let ledger = self.ledger();
        let gpus_free: f64 = ledger.gpus_used.iter().map(|u| 1.0 - u).sum();
        format!(
            "a replica needs {} CPUs and {} GPUs; {} of {} CPUs and {} of {} GPUs are free",
            options.num_cpus,
            options.num_gpus,
            round(ledger.resources.num_cpus - ledger.cpus_used),
            ledger.resources.num_cpus,
            round(gpus_free),
            ledger.resources.num_gpus,
        )
    }

    /// Checks that every replica of these deployments fits at once, on what is free now;
    /// if not, a message with each deployment's demand against the capacity.
    pub(crate) fn check_fits(
        &self,
        graph: &str,
        deployments: &[(String, DeploymentOptions)],
    ) -> Result<(), String> {
        let mut trial = self.ledger().clone();
        let fits = deployments.iter().all(|(_, o)| {
            (0..o.num_replicas).all(|_| trial.take(o.num_cpus, o.num_gpus).is_some())
        });
        if fits {
            return Ok(());
        }
        let ledger = self.ledger();
        let res = &ledger.resources;
        let mut msg = format!(
            "graph `{graph}` does not fit on this machine ({} CPUs, {} GPUs",
            res.num_cpus, res.num_gpus
        );
        if ledger.cpus_used > EPSILON || ledger.gpus_used.iter().any(|u| *u > EPSILON) {
            let gpus: f64 = ledger.gpus_used.iter().sum();
            let _ = write!(
                msg,
                "; {} CPUs and {} GPUs already reserved by other graphs",
                round(ledger.cpus_used),
                round(gpus)
            );
        }
        msg.push_str("):\n");
        let _ = writeln!(
            msg,
            "  {:<24} {:>8} {:>9} {:>9} {:>10} {:>10}",
            "deployment", "replicas", "num_cpus", "num_gpus", "total CPUs", "total GPUs"
        );
        let (mut cpus, mut gpus) = (0.0, 0.0);
        for (name, o) in deployments
            .iter()
            .filter(|(_, o)| o.num_cpus > 0.0 || o.num_gpus > 0.0)
        {
            let n = f64::from(o.num_replicas);
            cpus += n * o.num_cpus;
            gpus += n * o.num_gpus;
            let _ = writeln!(
                msg,
                "  {:<24} {:>8} {:>9} {:>9} {:>10} {:>10}",
                name,
                o.num_replicas,
                o.num_cpus,
                o.num_gpus,
                round(n * o.num_cpus),
                round(n * o.num_gpus)
            );
        }
        let _ = write!(
            msg,
            "  needs {} CPUs and {} GPUs in all (GPU shares must each fit on one GPU); \
             lower num_replicas, num_cpus or num_gpus, or say what the machine has with \
             --num-cpus / --num-gpus",
            round(cpus),
            round(gpus)
        );
        Err(msg)
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DeclaredOptions;

    fn opts(replicas: u32, cpus: f64, gpus: f64) -> DeploymentOptions {
        DeclaredOptions {
            num_replicas: Some(replicas),
            num_cpus: Some(cpus),
            num_gpus: Some(gpus),
            ..DeclaredOptions::NONE
        }
        .resolve(false)
    }

    #[test]
    fn gpu_shares_pack_onto_one_gpu_and_are_given_back() {
        let placement = Placement::new(Resources::new(4.0, 2));
        let half = opts(1, 0.0, 0.5);
        let a = placement.reserve(&half).unwrap();
        let b = placement.reserve(&half).unwrap();
        assert_eq!(a.gpu_ids(), b.gpu_ids(), "two halves share one GPU");
        let whole = placement.reserve(&opts(1, 0.0, 1.0)).unwrap();
        assert_ne!(whole.gpu_ids(), a.gpu_ids());
        assert!(placement.reserve(&half).is_none(), "both GPUs are full");
        drop(a);
        assert!(
            placement.reserve(&half).is_some(),
            "a dropped reservation is free again"
        );
    }

    #[test]
    fn cpus_are_a_pool_of_fractions() {
        let placement = Placement::new(Resources::new(2.0, 0));
        let tenth = opts(1, 0.1, 0.0);
        let all: Vec<_> = (0..20)
            .map(|_| placement.reserve(&tenth).unwrap())
            .collect();
        assert!(placement.reserve(&tenth).is_none());
        assert_eq!(all.len(), 20);
    }

    #[test]
    fn a_graph_that_does_not_fit_is_explained() {
        let placement = Placement::new(Resources::new(2.0, 0));
        let deployments = vec![
            ("Light".to_owned(), opts(4, 0.0, 0.0)),
            ("Heavy".to_owned(), opts(3, 1.0, 0.0)),
            ("Vision".to_owned(), opts(1, 0.0, 0.5)),
        ];
        let msg = placement.check_fits("g", &deployments).unwrap_err();
        assert!(
            msg.starts_with("graph `g` does not fit on this machine (2 CPUs, 0 GPUs)"),
            "{msg}"
        );
        assert!(msg.contains("Heavy"), "{msg}");
        assert!(msg.contains("Vision"), "{msg}");
        assert!(
            !msg.contains("Light"),
            "deployments that reserve nothing are left out: {msg}"
        );
        assert!(msg.contains("needs 3 CPUs and 0.5 GPUs in all"), "{msg}");
        let fitting = vec![("Heavy".to_owned(), opts(2, 1.0, 0.0))];
        assert_eq!(placement.check_fits("g", &fitting), Ok(()));
    }

    #[test]
    fn cuda_visible_devices_counts_until_an_invalid_entry() {
        assert_eq!(visible_devices("0,1,3"), 3);
        assert_eq!(visible_devices(""), 0);
        assert_eq!(visible_devices("-1"), 0);
        assert_eq!(visible_devices("GPU-8a1b,GPU-77c2"), 2);
        assert_eq!(visible_devices("0,-1,2"), 1);
    }
}
