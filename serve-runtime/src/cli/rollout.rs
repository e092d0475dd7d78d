//! `deploy` waiting for what it applied: the deployments it changed are watched in the
//! server's status until none is updating, then each is checked for a rollback or a
//! failure, so that the exit status tells a script (or CI) whether the release took.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::AdminClient;
use crate::error::Error;

/// How often the status is read while a rollout runs.
const POLL: Duration = Duration::from_millis(200);

/// Waits until none of `updated` (`graph/deployment`) is UPDATING, at most `timeout`;
/// fails naming each that was rolled back or is unhealthy.
pub(super) async fn watch(
    client: &AdminClient,
    updated: &[String],
    timeout: Duration,
) -> Result<(), Error> {
    if updated.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    loop {
        let apps = client.get_json("/-/applications").await?;
        let states: Vec<(&String, &Value)> = updated
            .iter()
            .map(|name| (name, deployment(&apps, name)))
            .collect();
        let moving: Vec<&str> = states
            .iter()
            .filter(|(_, d)| d["status"] == "UPDATING")
            .map(|(name, _)| name.as_str())
            .collect();
        if moving.is_empty() {
            return verdict(&states);
        }
        if Instant::now() >= deadline {
            return Err(Error::Config(format!(
                "still rolling out after {timeout:?}: {} (the server goes on; `status` shows how it ends)",
                moving.join(", ")
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The deployment `graph/deployment` in `/-/applications`' answer (null when absent).
fn deployment<'a>(apps: &'a Value, name: &str) -> &'a Value {
    let (graph, deployment) = name.split_once('/').unwrap_or(("", name));
    &apps["applications"][graph]["deployments"][deployment]
}

fn verdict(states: &[(&String, &Value)]) -> Result<(), Error> {
    let mut failed = Vec::new();
    for (name, d) in states {
        let message = d["message"].as_str().unwrap_or_default();
        if message.starts_with("the update was rolled back") {
            failed.push(format!("{name}: {message}; it runs what it ran before"));
        } else if d["status"] != "HEALTHY" {
            let status = d["status"].as_str().unwrap_or("unknown");
            failed.push(format!("{name} is {status}: {message}"));
        }
    }
    if failed.is_empty() {
        println!("rolled out");
        return Ok(());
    }
    Err(Error::Config(format!(
        "the config did not roll out:\n  {}",
        failed.join("\n  ")
    )))
}
