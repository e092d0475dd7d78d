//! The manifests read back as YAML and checked field by field; the emitter's strings read
//! back unchanged (`yaml`); every manifest is a valid object of the API (`validate`); the
//! Dockerfile builds what the cluster names (`dockerfile`).

mod dockerfile;
mod schema;
mod validate;

use serde_json::{Value, json};

use super::{Cluster, PodAutoscaling, Process, render};

/// Its own text, with what trips YAML writers: comments, quotes, an empty line and a
/// line that would end a document at the top level.
const CONFIG: &str = "\
# Serving config of `content_understanding`.
http_options:
  host: \"0.0.0.0\"  # quoted
  port: 8000

applications:
  - name: content_understanding
---
";

/// An ingress, a process on half a GPU, and one that autoscales.
pub(super) fn cluster() -> Cluster {
    let process = |name: &str, deployments: &[&str]| Process {
        name: name.to_owned(),
        ingress: false,
        deployments: deployments.iter().map(|d| (*d).to_owned()).collect(),
        pods: 1,
        num_cpus: 0.0,
        num_gpus: 0.0,
        grace_period_s: 30.0,
        autoscaling: None,
    };
    Cluster {
        binary: "content_understanding".to_owned(),
        example: true,
        image: "content_understanding:latest".to_owned(),
        app: "content-understanding".to_owned(),
        config_yaml: CONFIG.to_owned(),
        port: 8000,
        processes: vec![
            Process {
                ingress: true,
                num_cpus: 0.25,
                ..process("ingress", &["Ingress"])
            },
            Process {
                pods: 2,
                num_cpus: 1.75,
                num_gpus: 0.5,
                grace_period_s: 12.5,
                ..process("general", &["Classify", "Caption"])
            },
            Process {
                num_cpus: 0.1 + 0.2,
                autoscaling: Some(PodAutoscaling {
                    min_pods: 2,
                    max_pods: 8,
                    target_cpu_utilization: 70,
                }),
                ..process("preprocessor", &["Resize"])
            },
        ],
    }
}

pub(super) fn files() -> Vec<(String, String)> {
    render(&cluster())
}

fn text(name: &str) -> String {
    let files = files();
    let found = files.iter().find(|(n, _)| n == name);
    found.unwrap_or_else(|| panic!("no {name}")).1.clone()
}

/// A file's YAML documents, split on `---` lines and parsed one by one.
pub(super) fn documents(text: &str) -> Vec<Value> {
    let mut chunks = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end_matches('\n') == "---" {
            chunks.push(String::new());
        } else {
            chunks.last_mut().unwrap().push_str(line);
        }
    }
    let parse =
        |c: &String| serde_saphyr::from_str::<Value>(c).unwrap_or_else(|e| panic!("{e}\n{c}"));
    chunks.iter().map(parse).collect()
}

/// The one document of `kind` in a process's file.
fn object(process: &str, kind: &str) -> Value {
    let docs = documents(&text(&format!("{process}.yaml")));
    let mut of_kind = docs.into_iter().filter(|d| d["kind"] == kind);
    let found = of_kind
        .next()
        .unwrap_or_else(|| panic!("no {kind} for {process}"));
    assert!(of_kind.next().is_none(), "two {kind}s for {process}");
    found
}

fn container(process: &str) -> Value {
    object(process, "Deployment")["spec"]["template"]["spec"]["containers"][0].clone()
}

#[test]
fn one_file_a_process_plus_the_config_map_and_the_image() {
    let names: Vec<String> = files().into_iter().map(|(n, _)| n).collect();
    let expected = [
        "configmap.yaml",
        "ingress.yaml",
        "general.yaml",
        "preprocessor.yaml",
        "Dockerfile",
        "Dockerfile.dockerignore",
    ];
    assert_eq!(names, expected);
    for (name, text) in files().iter().filter(|(n, _)| n.ends_with(".yaml")) {
        assert!(text.starts_with("# Made by `content_understanding build --target kubernetes`"));
        assert!(text.contains("\n#   kubectl apply -f DIR\n"), "{name}");
    }
    let kinds = |p: &str| -> Vec<Value> {
        let docs = documents(&text(&format!("{p}.yaml")));
        docs.iter().map(|d| d["kind"].clone()).collect()
    };
    let budget = ["PodDisruptionBudget", "NetworkPolicy"];
    assert_eq!(
        kinds("ingress"),
        [&["Deployment", "Service"][..], &budget].concat()
    );
    assert_eq!(
        kinds("preprocessor"),
        [
            &["Deployment", "Service", "HorizontalPodAutoscaler"][..],
            &budget
        ]
        .concat()
    );
}

#[test]
fn the_ingress_serves_the_routes_and_the_others_their_deployments() {
    let ingress = container("ingress");
    assert_eq!(
        ingress["command"],
        json!(["/usr/local/bin/content_understanding"])
    );
    assert_eq!(ingress["image"], "content_understanding:latest");
    let serve = |grace: &'static str| {
        let args = [
            "serve",
            "--config",
            "/etc/serve/serve.yaml",
            "--host",
            "0.0.0.0",
        ];
        let secret = ["--call-secret-file", "/var/run/serve/call-secret/secret"];
        [
            &args[..],
            &[
                "--port",
                "8000",
                "--drain-delay",
                "5",
                "--grace-period",
                grace,
            ],
            &secret,
        ]
        .concat()
    };
    assert_eq!(ingress["args"], json!(serve("30")));
    let general = [serve("13"), vec!["--deployments", "Classify,Caption"]].concat();
    assert_eq!(container("general")["args"], json!(general));
    assert_eq!(
        ingress["ports"],
        json!([{ "name": "http", "containerPort": 8000, "protocol": "TCP" }])
    );
}

#[test]
fn pods_reserve_millicores_and_whole_gpus() {
    assert_eq!(
        container("ingress")["resources"],
        json!({ "requests": { "cpu": "250m" } })
    );
    let general = json!({ "requests": { "cpu": "1750m" }, "limits": { "nvidia.com/gpu": 1 } });
    assert_eq!(container("general")["resources"], general);
    // 0.1 + 0.2 is a hair above 0.3.
    assert_eq!(
        container("preprocessor")["resources"],
        json!({ "requests": { "cpu": "300m" } })
    );
    let mut idle = cluster();
    idle.processes.truncate(1);
    idle.processes[0].num_cpus = 0.0;
    idle.processes[0].num_gpus = 1.0 + f64::EPSILON;
    let text = &render(&idle)[1].1;
    let resources = &documents(text)[0]["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(resources, &json!({ "limits": { "nvidia.com/gpu": 1 } }));
}

#[test]
fn probes_ask_healthz_and_allow_a_slow_start() {
    let c = container("general");
    let probe = |period: u32, failures: u32| {
        json!({
            "httpGet": { "path": "/-/healthz", "port": "http" },
            "periodSeconds": period,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        })
    };
    assert_eq!(c["startupProbe"], probe(5, 60));
    assert_eq!(c["readinessProbe"], probe(5, 3));
    assert_eq!(c["livenessProbe"], probe(10, 3));
}

#[test]
fn pods_get_the_drain_and_grace_period_rounded_up_and_the_config_mounted() {
    let deployment = object("general", "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    // 5 s of drain, then 12.5 s of grace.
    assert_eq!(pod["terminationGracePeriodSeconds"], 18);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["metadata"]["name"],
        "content-understanding-general"
    );
    let labels = json!({
        "app.kubernetes.io/name": "content-understanding",
        "app.kubernetes.io/component": "general",
    });
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(deployment["spec"]["template"]["metadata"]["labels"], labels);
    let mount = json!([
        { "name": "config", "mountPath": "/etc/serve", "readOnly": true },
        { "name": "tmp", "mountPath": "/tmp" },
        { "name": "call-secret", "mountPath": "/var/run/serve/call-secret", "readOnly": true },
    ]);
    assert_eq!(pod["containers"][0]["volumeMounts"], mount);
    let volume = json!([
        { "name": "config", "configMap": { "name": "content-understanding-config" } },
        { "name": "tmp", "emptyDir": {} },
        {
            "name": "call-secret",
            "secret": { "secretName": "content-understanding-call-secret", "defaultMode": 288 },
        },
    ]);
    assert_eq!(pod["volumes"], volume);
    // The image's user (10001) reads the secret through the group that owns it.
    assert_eq!(pod["securityContext"]["fsGroup"], 10001);
}

/// What the "restricted" Pod Security Standard asks of every pod and container.
#[test]
fn pods_meet_the_restricted_pod_security_standard() {
    for process in ["ingress", "general", "preprocessor"] {
        let pod = &object(process, "Deployment")["spec"]["template"]["spec"];
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"], true);
        assert_eq!(security["runAsUser"], 10001);
        assert_eq!(
            security["seccompProfile"],
            json!({ "type": "RuntimeDefault" })
        );
        assert_eq!(pod["automountServiceAccountToken"], false);
        let container = &container(process)["securityContext"];
        assert_eq!(
            *container,
            json!({
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": { "drop": ["ALL"] },
            })
        );
    }
}

#[test]
fn voluntary_disruptions_take_one_pod_at_a_time_and_only_the_graph_calls_its_processes() {
    let labels = |process: &str| {
        json!({
            "app.kubernetes.io/name": "content-understanding",
            "app.kubernetes.io/component": process,
        })
    };
    for process in ["ingress", "general"] {
        let budget = object(process, "PodDisruptionBudget");
        assert_eq!(budget["spec"]["maxUnavailable"], 1);
        assert_eq!(budget["spec"]["selector"]["matchLabels"], labels(process));
        let policy = object(process, "NetworkPolicy");
        assert_eq!(
            policy["spec"]["podSelector"]["matchLabels"],
            labels(process)
        );
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    }
    let port = json!([{ "port": "http", "protocol": "TCP" }]);
    // The graphs' routes are public; the calls port takes the app's own pods only.
    let public = object("ingress", "NetworkPolicy");
    assert_eq!(public["spec"]["ingress"], json!([{ "ports": port }]));
    let calls = object("general", "NetworkPolicy");
    let own = json!({ "podSelector": { "matchLabels": { "app.kubernetes.io/name": "content-understanding" } } });
    assert_eq!(
        calls["spec"]["ingress"],
        json!([{ "from": [own], "ports": port }])
    );
}

#[test]
fn a_split_names_its_call_secret_and_one_process_needs_none() {
    // The header says how to create it; no file holds a value for it.
    let header = text("general.yaml");
    assert!(
        header.contains("#   kubectl create secret generic content-understanding-call-secret --from-literal=secret=\"$(openssl rand -hex 32)\"\n"),
        "{header}"
    );
    for (name, text) in files() {
        assert!(!text.contains("kind: Secret"), "{name} holds a Secret");
    }
    let mut alone = cluster();
    alone.processes.truncate(1);
    let text = &render(&alone)[1].1;
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn each_process_has_a_service_on_its_pods() {
    for process in ["ingress", "general", "preprocessor"] {
        let service = object(process, "Service");
        let deployment = object(process, "Deployment");
        assert_eq!(
            service["metadata"]["name"],
            format!("content-understanding-{process}")
        );
        assert_eq!(service["spec"]["type"], "ClusterIP");
        // Callers of a process's deployments resolve each of its pods.
        let headless = if process == "ingress" {
            None
        } else {
            Some("None")
        };
        assert_eq!(service["spec"]["clusterIP"].as_str(), headless, "{process}");
        assert_eq!(
            service["spec"]["selector"],
            deployment["spec"]["selector"]["matchLabels"]
        );
        let port =
            json!([{ "name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP" }]);
        assert_eq!(service["spec"]["ports"], port);
    }
}

#[test]
fn an_autoscaled_process_gets_a_cpu_autoscaler_and_no_fixed_replicas() {
    let hpa = object("preprocessor", "HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    let target = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": "content-understanding-preprocessor" });
    assert_eq!(hpa["spec"]["scaleTargetRef"], target);
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone()
        ),
        (json!(2), json!(8))
    );
    let cpu = json!([{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }]);
    assert_eq!(hpa["spec"]["metrics"], cpu);
    assert!(
        object("preprocessor", "Deployment")["spec"]
            .get("replicas")
            .is_none()
    );
    let file = text("preprocessor.yaml");
    for words in [
        "prometheus-adapter",
        "#     - type: Pods",
        "serve_replica_processing_queries",
    ] {
        assert!(file.contains(words), "{words}");
    }
}

#[test]
fn an_autoscaler_without_a_cpu_request_says_so_and_keeps_one_pod() {
    let mut idle = cluster();
    let process = &mut idle.processes[2];
    process.num_cpus = 0.0;
    process.autoscaling.as_mut().unwrap().min_pods = 0;
    let file = &render(&idle)[3].1;
    assert!(file.contains("# The pods request no CPU"), "{file}");
    assert_eq!(documents(file)[2]["spec"]["minReplicas"], 1);
}

#[test]
fn the_config_map_carries_the_config_as_written() {
    let file = text("configmap.yaml");
    assert!(
        file.contains("\n  serve.yaml: |\n    # Serving config"),
        "{file}"
    );
    let map = &documents(&file)[0];
    assert_eq!(map["metadata"]["name"], "content-understanding-config");
    assert_eq!(map["data"]["serve.yaml"], CONFIG);
}
