//! Kubernetes manifests and a Dockerfile for one serving binary split into processes.
//!
//! A pure renderer: it takes the split as planned ([`Cluster`]) and returns file names
//! with their text, so what gets written, printed or compared in a test is the caller's
//! choice. Each process becomes a Deployment with its Service, PodDisruptionBudget and
//! NetworkPolicy (and a HorizontalPodAutoscaler when it autoscales); one ConfigMap
//! carries the serving config every process reads; the Dockerfile builds the image they
//! all run.

mod autoscaler;
mod dockerfile;
mod split;
mod workload;

pub(crate) use split::cluster;

#[cfg(test)]
mod tests;

use serde_json::{Value, json};

use crate::yaml;

/// Where the ConfigMap is mounted and the file every process is started with.
const CONFIG_DIR: &str = "/etc/serve";
const CONFIG_FILE: &str = "serve.yaml";

/// What the manifests are rendered from: one serving binary split into processes.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    /// The binary's name, e.g. "content_understanding": the container's command and the
    /// Dockerfile's build target (`cargo build --release --example NAME` when `example` is
    /// true, else `--bin NAME`).
    pub binary: String,
    pub example: bool,
    /// The container image the Deployments run, e.g. "content_understanding:latest".
    pub image: String,
    /// Kubernetes object name prefix / app label, DNS-1123 (e.g. "content-understanding").
    pub app: String,
    /// The serving config file's text (YAML), mounted from a ConfigMap at
    /// /etc/serve/serve.yaml.
    pub config_yaml: String,
    /// The port every process listens on inside its pod (8000).
    pub port: u16,
    pub processes: Vec<Process>,
}

/// One process group: a Kubernetes Deployment + Service.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    /// DNS-1123 label, unique: "ingress", "general", "preprocessor"...
    pub name: String,
    /// true for the process that serves the graphs' HTTP routes (no --deployments flag).
    pub ingress: bool,
    /// The deployments it runs (for a non-ingress process: passed as `--deployments A,B`).
    pub deployments: Vec<String>,
    /// Pods to run (Deployment.spec.replicas).
    pub pods: u32,
    /// CPUs one pod reserves (sum over its deployments of num_replicas * num_cpus); may be
    /// fractional, rendered as millicores ("250m"); 0 means no cpu request.
    pub num_cpus: f64,
    /// GPUs one pod needs: rendered as `nvidia.com/gpu` in limits (Kubernetes needs whole
    /// GPUs: fractional sums are rounded up); 0 means none.
    pub num_gpus: f64,
    /// terminationGracePeriodSeconds (rounded up to whole seconds).
    pub grace_period_s: f64,
    /// Some when a deployment in it has autoscaling_config: a HorizontalPodAutoscaler
    /// (autoscaling/v2) on CPU is rendered.
    pub autoscaling: Option<PodAutoscaling>,
}

impl Cluster {
    /// Whether it runs as several processes, which call each other.
    fn is_split(&self) -> bool {
        self.processes.len() > 1
    }
}

/// The bounds and target of a process's HorizontalPodAutoscaler.
#[derive(Debug, Clone)]
pub(crate) struct PodAutoscaling {
    pub min_pods: u32,
    pub max_pods: u32,
    pub target_cpu_utilization: u32,
}

/// Every file of the cluster: `configmap.yaml`, one `<process>.yaml` each, the
/// `Dockerfile` and its `Dockerfile.dockerignore`.
pub(crate) fn render(cluster: &Cluster) -> Vec<(String, String)> {
    let mut files = vec![(
        "configmap.yaml".to_owned(),
        manifest_file(cluster, &[yaml::to_yaml(&config_map(cluster))]),
    )];
    for process in &cluster.processes {
        let mut documents = vec![
            yaml::to_yaml(&workload::deployment(cluster, process)),
            yaml::to_yaml(&workload::service(cluster, process)),
        ];
        if let Some(scaling) = &process.autoscaling {
            documents.push(autoscaler::document(cluster, process, scaling));
        }
        documents.push(yaml::to_yaml(&workload::disruption_budget(
            cluster, process,
        )));
        documents.push(yaml::to_yaml(&workload::network_policy(cluster, process)));
        files.push((
            format!("{}.yaml", process.name),
            manifest_file(cluster, &documents),
        ));
    }
    files.push(("Dockerfile".to_owned(), dockerfile::dockerfile(cluster)));
    files.push((
        "Dockerfile.dockerignore".to_owned(),
        dockerfile::ignore().to_owned(),
    ));
    files
}

/// The documents of one file behind a header saying where they come from.
fn manifest_file(cluster: &Cluster, documents: &[String]) -> String {
    let mut header = format!(
        "# Made by `{binary} build --target kubernetes`; edits are lost when it runs again.\n\
         # Build and push the image {image} with the Dockerfile beside this file,\n",
        binary = cluster.binary,
        image = cluster.image,
    );
    if let Some(create) = create_secret(cluster) {
        header.push_str("# create the Secret the processes prove their calls with, once:\n");
        header.push_str(&format!("#   {create}\n"));
    }
    header.push_str(
        "# then apply every file of this folder, DIR, at once:\n#   kubectl apply -f DIR\n",
    );
    format!("{header}{}", documents.join("---\n"))
}

/// The command that creates the call secret, when the cluster is split and needs one.
pub(crate) fn create_secret(cluster: &Cluster) -> Option<String> {
    cluster.is_split().then(|| {
        format!(
            "kubectl create secret generic {} --from-literal=secret=\"$(openssl rand -hex 32)\"",
            call_secret_name(cluster)
        )
    })
}

/// The Secret every process of a split cluster mounts.
fn call_secret_name(cluster: &Cluster) -> String {
    format!("{}-call-secret", cluster.app)
}

/// The serving config every process mounts at [`CONFIG_DIR`].
fn config_map(cluster: &Cluster) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(cluster),
            "labels": { "app.kubernetes.io/name": cluster.app },
        },
        "data": { CONFIG_FILE: cluster.config_yaml },
    })
}

fn config_map_name(cluster: &Cluster) -> String {
    format!("{}-config", cluster.app)
}

/// The labels that tell a process's pods apart, and select them.
fn labels(cluster: &Cluster, process: &Process) -> Value {
    json!({
        "app.kubernetes.io/name": cluster.app,
        "app.kubernetes.io/component": process.name,
    })
}

/// The name of a process's Deployment, Service and autoscaler.
fn object_name(cluster: &Cluster, process: &Process) -> String {
    format!("{}-{}", cluster.app, process.name)
}
