//! Every manifest checked against the Kubernetes API's types (`schema.rs`), with controls
//! that the check does catch an unknown field, a missing required one and a wrong type.

use serde_json::{Value, json};

use super::schema::problems;
use super::{documents, files};

fn every_document() -> Vec<(String, Value)> {
    let yaml = files().into_iter().filter(|(n, _)| n.ends_with(".yaml"));
    yaml.flat_map(|(name, text)| documents(&text).into_iter().map(move |d| (name.clone(), d)))
        .collect()
}

#[test]
fn every_manifest_is_a_valid_object_of_its_kind() {
    let documents = every_document();
    let kinds: Vec<&str> = documents
        .iter()
        .filter_map(|(_, d)| d["kind"].as_str())
        .collect();
    for kind in [
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ] {
        assert!(kinds.contains(&kind), "no {kind} among {kinds:?}");
    }
    for (file, document) in &documents {
        let found = problems(document);
        assert!(
            found.is_empty(),
            "{file} ({}): {found:#?}",
            document["kind"]
        );
    }
}

fn container(d: &mut Value) -> &mut Value {
    &mut d["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn the_check_catches_a_misspelt_field_a_missing_name_and_a_wrong_type() {
    let (_, deployment) = every_document()
        .into_iter()
        .find(|(_, d)| d["kind"] == "Deployment")
        .expect("a Deployment");

    let mut misspelt = deployment.clone();
    container(&mut misspelt)["imagePullPolicyy"] = json!("IfNotPresent");
    let found = problems(&misspelt);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("imagePullPolicyy"), "{found:?}");

    let mut unnamed = deployment.clone();
    container(&mut unnamed)
        .as_object_mut()
        .unwrap()
        .remove("name");
    let found = problems(&unnamed);
    assert!(found.iter().any(|p| p.contains("name")), "{found:?}");

    let mut wrong = deployment.clone();
    wrong["spec"]["replicas"] = json!("two");
    let found = problems(&wrong);
    assert!(
        found.iter().any(|p| p.contains("spec.replicas")),
        "{found:?}"
    );

    let unknown = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
    assert!(
        problems(&unknown)[0].contains("no schema"),
        "{:?}",
        problems(&unknown)
    );
}
