//! A manifest checked against the Kubernetes API's own types (`k8s-openapi`), in Rust, so
//! the test suite needs no outside tool. Each document is read into the type its `kind`
//! names and written back: a field the API does not have is dropped on the way (and so
//! shows as a difference), a required one missing or a value of the wrong type fails the
//! read. `.ci/run` also runs `kubernetes-validate --strict` on the example's manifests,
//! which knows the enums and formats these types leave as strings.
//!
//! Shared with `examples/tests/split_processes.rs` by path, so it names no crate item.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

/// Every problem with one document, as lines; empty when it is a valid object of its kind.
pub fn problems(document: &Value) -> Vec<String> {
    let kind = document["kind"].as_str().unwrap_or("");
    let api_version = document["apiVersion"].as_str().unwrap_or("");
    match (api_version, kind) {
        ("apps/v1", "Deployment") => round_trip::<Deployment>(document),
        ("v1", "Service") => round_trip::<Service>(document),
        ("v1", "ConfigMap") => round_trip::<ConfigMap>(document),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(document),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(document),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            round_trip::<HorizontalPodAutoscaler>(document)
        }
        _ => vec![format!(
            "no schema here for kind `{kind}` of apiVersion `{api_version}`"
        )],
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(document: &Value) -> Vec<String> {
    let typed: T = match serde_path_to_error::deserialize(document) {
        Ok(typed) => typed,
        Err(e) => return vec![format!("at `{}`: {}", e.path(), e.inner())],
    };
    let back = serde_json::to_value(&typed).expect("the API's types serialise");
    let mut out = Vec::new();
    differences("", document, &back, &mut out);
    out
}

/// Where `written` (the manifest) and `known` (what the API's type kept of it) differ. The
/// types fill a required field that is missing with an empty value, so a field only
/// `known` has is a required one the manifest lacks.
fn differences(at: &str, written: &Value, known: &Value, out: &mut Vec<String>) {
    match (written, known) {
        (Value::Object(w), Value::Object(k)) => {
            for (key, value) in w {
                let path = format!("{at}.{key}");
                match k.get(key) {
                    Some(kept) => differences(&path, value, kept, out),
                    None => out.push(format!("`{path}` is not a field of the API")),
                }
            }
            for key in k.keys().filter(|key| !w.contains_key(*key)) {
                out.push(format!("`{at}.{key}` is required and missing"));
            }
        }
        // A quantity or int-or-string written as a number reads back as its text.
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => {}
        (Value::Array(w), Value::Array(k)) if w.len() == k.len() => {
            for (i, (value, kept)) in w.iter().zip(k).enumerate() {
                differences(&format!("{at}[{i}]"), value, kept, out);
            }
        }
        _ if written == known => {}
        _ => out.push(format!("`{at}` reads back as {known}, written {written}")),
    }
}
