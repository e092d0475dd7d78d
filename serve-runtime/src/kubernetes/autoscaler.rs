//! A process's HorizontalPodAutoscaler: pods added and removed on CPU use.
//!
//! The runtime's own autoscaling follows calls in flight, which Kubernetes cannot see
//! without a metrics adapter; CPU is what every cluster's metrics-server reports. The
//! document carries, as a comment, how to scale on calls instead.

use serde_json::{Value, json};

use super::{Cluster, PodAutoscaling, Process, object_name};
use crate::yaml;

/// The autoscaler as YAML: the comment on scaling by calls, then the object.
pub(super) fn document(cluster: &Cluster, process: &Process, scaling: &PodAutoscaling) -> String {
    let mut out = String::new();
    if process.num_cpus <= 0.0 {
        out.push_str(
            "# The pods request no CPU, so their CPU utilization is undefined and this autoscaler\n\
             # will not act until a request is set (num_cpus on the process's deployments).\n",
        );
    }
    out.push_str(CALLS_VARIANT);
    out.push_str(&yaml::to_yaml(&autoscaler(cluster, process, scaling)));
    out
}

fn autoscaler(cluster: &Cluster, process: &Process, scaling: &PodAutoscaling) -> Value {
    let name = object_name(cluster, process);
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "labels": super::labels(cluster, process),
        },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
            // An autoscaler with a minimum of 0 is rejected unless a feature gate is on.
            "minReplicas": scaling.min_pods.max(1),
            "maxReplicas": scaling.max_pods.max(scaling.min_pods).max(1),
            "metrics": [{
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": scaling.target_cpu_utilization,
                    },
                },
            }],
        },
    })
}

/// Scaling on calls in flight, as a comment: it needs Prometheus scraping the pods and an
/// adapter serving the metric to Kubernetes, which not every cluster has.
const CALLS_VARIANT: &str = "\
# To scale on calls in flight rather than CPU, have Prometheus scrape the pods' /-/metrics and
# serve `serve_replica_processing_queries` (calls running on a replica) per pod through a
# metrics adapter such as prometheus-adapter, with a rule summing it over the pod's replicas:
#   metricsQuery: sum(serve_replica_processing_queries{<<.LabelMatchers>>}) by (<<.GroupBy>>)
# then replace `metrics` below with a Pods metric; averageValue is the calls per pod to aim
# for (the deployments' target_ongoing_requests times their replicas per pod):
#   metrics:
#     - type: Pods
#       pods:
#         metric:
#           name: serve_replica_processing_queries
#         target:
#           type: AverageValue
#           averageValue: \"4\"
";
