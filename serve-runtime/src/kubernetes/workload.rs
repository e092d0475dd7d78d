//! A process's Deployment (its pods, their container, probes and resources) and the
//! Service in front of them.

use serde_json::{Map, Value, json};

use super::dockerfile::USER_ID;
use super::{
    CONFIG_DIR, CONFIG_FILE, Cluster, Process, call_secret_name, config_map_name, labels,
    object_name,
};

/// The name of the container port, which the probes and the Service refer to.
const PORT_NAME: &str = "http";
const HEALTH_PATH: &str = "/-/healthz";
/// Where the call secret is mounted, and the key of the Secret that holds it.
const SECRET_DIR: &str = "/var/run/serve/call-secret";
const SECRET_KEY: &str = "secret";
/// Seconds a pod keeps accepting after SIGTERM, not ready, while Kubernetes takes it out
/// of its Services' endpoints (which every node learns a few seconds later); no `preStop`
/// hook is needed for it.
const DRAIN_DELAY_S: u64 = 5;

/// Float sums such as 0.1 + 0.2 + 0.7 land a hair above the whole number they mean;
/// rounding up should not turn that hair into one more GPU or second.
const ROUNDING_SLACK: f64 = 1e-9;

pub(super) fn deployment(cluster: &Cluster, process: &Process) -> Value {
    let mut spec = Map::new();
    // With an autoscaler, the replica count is left out: every `kubectl apply` would
    // otherwise reset it to this number, undoing what the autoscaler decided.
    if process.autoscaling.is_none() {
        spec.insert("replicas".into(), process.pods.into());
    }
    spec.insert(
        "selector".into(),
        json!({ "matchLabels": labels(cluster, process) }),
    );
    spec.insert("template".into(), pod_template(cluster, process));
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": object_name(cluster, process),
            "labels": labels(cluster, process),
        },
        "spec": spec,
    })
}

fn pod_template(cluster: &Cluster, process: &Process) -> Value {
    let grace = round_up(process.grace_period_s);
    // The root filesystem is read-only: what the process writes goes to /tmp.
    let mut mounts = vec![
        json!({ "name": "config", "mountPath": CONFIG_DIR, "readOnly": true }),
        json!({ "name": "tmp", "mountPath": "/tmp" }),
    ];
    let mut volumes = vec![
        json!({ "name": "config", "configMap": { "name": config_map_name(cluster) } }),
        json!({ "name": "tmp", "emptyDir": {} }),
    ];
    if cluster.is_split() {
        // Every process proves its calls with the Secret's value and checks the others'.
        // The manifests name it only: it is created apart, so no file here holds it.
        mounts.push(json!({ "name": "call-secret", "mountPath": SECRET_DIR, "readOnly": true }));
        volumes.push(json!({
            "name": "call-secret",
            "secret": { "secretName": call_secret_name(cluster), "defaultMode": 0o440 },
        }));
    }
    json!({
        "metadata": { "labels": labels(cluster, process) },
        "spec": {
            // The drain, then the grace period: the kubelet kills only past both.
            "terminationGracePeriodSeconds": DRAIN_DELAY_S + grace,
            // The "restricted" Pod Security Standard. The Dockerfile's user is numeric,
            // so the kubelet can check it is not root; its group owns the mounted files,
            // so the secret can be readable by it alone.
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": USER_ID,
                "runAsGroup": USER_ID,
                "fsGroup": USER_ID,
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            // The process calls no Kubernetes API.
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "serve",
                "image": cluster.image,
                "command": [format!("/usr/local/bin/{}", cluster.binary)],
                "args": args(cluster, process, grace),
                "ports": [{ "name": PORT_NAME, "containerPort": cluster.port, "protocol": "TCP" }],
                "resources": resources(process),
                "startupProbe": probe(5, 60),
                "readinessProbe": probe(5, 3),
                "livenessProbe": probe(10, 3),
                "volumeMounts": mounts,
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": { "drop": ["ALL"] },
                },
            }],
            "volumes": volumes,
        },
    })
}

/// The `serve` command line. On SIGTERM the server drains for `--drain-delay`, then
/// finishes what is in flight within `--grace-period`: together, the pod's
/// terminationGracePeriodSeconds.
fn args(cluster: &Cluster, process: &Process, grace: u64) -> Vec<String> {
    let mut args: Vec<String> = [
        "serve",
        "--config",
        &format!("{CONFIG_DIR}/{CONFIG_FILE}"),
        "--host",
        "0.0.0.0",
        "--port",
        &cluster.port.to_string(),
        "--drain-delay",
        &DRAIN_DELAY_S.to_string(),
        "--grace-period",
        &grace.to_string(),
    ]
    .map(str::to_owned)
    .into();
    if cluster.is_split() {
        args.push("--call-secret-file".into());
        args.push(format!("{SECRET_DIR}/{SECRET_KEY}"));
    }
    if !process.ingress {
        args.push("--deployments".into());
        args.push(process.deployments.join(","));
    }
    args
}

/// Requests for CPU; memory is not known, so none is asked for. GPUs go in limits, which
/// Kubernetes copies to requests (extended resources must have both equal).
fn resources(process: &Process) -> Value {
    let mut resources = Map::new();
    if let Some(cpu) = millicores(process.num_cpus) {
        resources.insert("requests".into(), json!({ "cpu": cpu }));
    }
    let gpus = round_up(process.num_gpus);
    if gpus > 0 {
        resources.insert("limits".into(), json!({ "nvidia.com/gpu": gpus }));
    }
    Value::Object(resources)
}

/// `/-/healthz` on the container's port. The startup probe allows 60 × 5 s for models to
/// load; until it passes, the others wait, so a slow start is not taken for a hang. The
/// timeout is above the default second: a pod busy with inference answers late, and
/// restarting it for that would only lose its work.
fn probe(period_s: u32, failure_threshold: u32) -> Value {
    json!({
        "httpGet": { "path": HEALTH_PATH, "port": PORT_NAME },
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": failure_threshold,
    })
}

/// The Service of a process. A process that serves other processes' calls gets a
/// headless one: its name resolves to every ready pod, and callers balance over them
/// (through one virtual IP, HTTP/2's one connection would pin all calls to one pod).
pub(super) fn service(cluster: &Cluster, process: &Process) -> Value {
    let mut spec = json!({
        "type": "ClusterIP",
        "selector": labels(cluster, process),
        "ports": [{
            "name": PORT_NAME,
            "port": cluster.port,
            "targetPort": PORT_NAME,
            "protocol": "TCP",
        }],
    });
    if !process.ingress {
        spec["clusterIP"] = "None".into();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": object_name(cluster, process),
            "labels": labels(cluster, process),
        },
        "spec": spec,
    })
}

/// The PodDisruptionBudget of a process: a voluntary disruption (a node drained, a
/// cluster upgraded) evicts one of its pods at a time, each draining as on SIGTERM.
pub(super) fn disruption_budget(cluster: &Cluster, process: &Process) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": object_name(cluster, process),
            "labels": labels(cluster, process),
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": { "matchLabels": labels(cluster, process) },
        },
    })
}

/// The NetworkPolicy of a process: the graphs' process takes connections from anywhere
/// on its port (it serves the public routes); a process that serves calls takes them only
/// from the pods of the same app (the graph's other processes).
pub(super) fn network_policy(cluster: &Cluster, process: &Process) -> Value {
    let mut from = Map::new();
    if !process.ingress {
        from.insert(
            "from".into(),
            json!([{ "podSelector": { "matchLabels": { "app.kubernetes.io/name": cluster.app } } }]),
        );
    }
    from.insert(
        "ports".into(),
        json!([{ "port": PORT_NAME, "protocol": "TCP" }]),
    );
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": object_name(cluster, process),
            "labels": labels(cluster, process),
        },
        "spec": {
            "podSelector": { "matchLabels": labels(cluster, process) },
            "policyTypes": ["Ingress"],
            "ingress": [Value::Object(from)],
        },
    })
}

/// CPUs as a Kubernetes quantity in millicores ("250m"), at least 1m when any is asked
/// for; None when none is.
fn millicores(cpus: f64) -> Option<String> {
    (cpus > 0.0).then(|| format!("{}m", ((cpus * 1000.0).round() as u64).max(1)))
}

/// Whole GPUs or seconds, never fewer than asked for.
fn round_up(x: f64) -> u64 {
    if x > 0.0 {
        (x - ROUNDING_SLACK).ceil() as u64
    } else {
        0
    }
}
