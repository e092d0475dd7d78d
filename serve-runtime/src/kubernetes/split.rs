//! The cluster a binary's split becomes: one Kubernetes process per process group, each
//! remote deployment reached at its group's Service.

use crate::config::ServeSettings;
use crate::config::yaml;
use crate::remote::groups::{self, label};
use crate::spec::GraphSpec;

use super::{Cluster, PodAutoscaling, Process};

/// The port every process listens on in its pod.
const PORT: u16 = 8000;

/// The CPU use, as a share of the pods' request, an autoscaled process is kept at.
const TARGET_CPU_UTILIZATION: u32 = 70;

/// What the binary `bin` (an example when `example`) is to Kubernetes, with `settings`
/// (the code's, or a config's) for its graphs. `grace_period_s` is how long a process
/// takes to drain at most.
pub(crate) fn cluster(
    specs: &[GraphSpec],
    settings: &ServeSettings,
    bin: &str,
    example: bool,
    image: Option<String>,
    grace_period_s: f64,
) -> Cluster {
    let app = label(bin);
    let groups = groups::plan(specs, settings);
    // Each deployment that runs apart is reached at its process's Service.
    let mut settings = settings.clone();
    for group in groups.iter().filter(|g| !g.is_ingress()) {
        let address = format!("http://{app}-{}:{PORT}", group.name);
        for d in settings
            .graphs
            .iter_mut()
            .flat_map(|g| &mut g.deployments)
            .filter(|d| group.deployments.contains(&d.name))
        {
            d.address = Some(address.clone());
        }
    }
    settings.http.host = Some("0.0.0.0".to_owned());
    settings.http.port = Some(PORT);
    let config_yaml = yaml::write(
        &settings,
        specs,
        bin,
        "as `build --target kubernetes` wrote it",
    );
    let processes = groups
        .into_iter()
        .map(|g| Process {
            ingress: g.is_ingress(),
            pods: 1,
            num_cpus: g.num_cpus,
            num_gpus: g.num_gpus,
            grace_period_s,
            autoscaling: g.autoscaling.map(|a| PodAutoscaling {
                min_pods: a.min_replicas.max(1),
                max_pods: a.max_replicas.max(1),
                target_cpu_utilization: TARGET_CPU_UTILIZATION,
            }),
            name: g.name,
            deployments: g.deployments,
        })
        .collect();
    Cluster {
        binary: bin.to_owned(),
        example,
        image: image.unwrap_or_else(|| format!("{bin}:latest")),
        app,
        config_yaml,
        port: PORT,
        processes,
    }
}
