//! Which deployments this process runs, and where the others are: the config's
//! `address`es say which deployments run apart, `--deployments` which of those this
//! process is.

use std::collections::{HashMap, HashSet};

use crate::config::settings::GraphSettings;
use crate::error::Error;
use crate::spec::GraphSpec;

/// Where one deployment of a graph runs, seen from this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Its replicas run here; `served` when other processes call them too.
    Here { served: bool },
    /// Another process runs it, at this address (none: no process is given for it, and
    /// nothing here calls it).
    Apart(Option<String>),
}

/// Checks `--deployments` against the graphs: every name must be a deployment of one of
/// them that can run apart.
pub(crate) fn check_serving(names: &[String], specs: &[GraphSpec]) -> Result<(), Error> {
    let remote: Vec<&str> = specs
        .iter()
        .flat_map(|g| &g.deployments)
        .filter(|d| d.remote)
        .map(|d| d.name.as_str())
        .collect();
    let listed = || {
        if remote.is_empty() {
            "none of this binary's deployments is declared `remote = true`".to_owned()
        } else {
            format!(
                "the deployments that can run apart are: {}",
                remote.join(", ")
            )
        }
    };
    for name in names {
        let found = specs.iter().find_map(|g| g.deployment(name));
        match found {
            None => {
                return Err(Error::Config(format!(
                    "--deployments names `{name}`, which no graph has; {}",
                    listed()
                )));
            }
            Some(d) if !d.remote => {
                return Err(Error::Config(format!(
                    "--deployments names `{name}`, which cannot run apart: declare it `#[deployment(remote = true)]`; {}",
                    listed()
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Where each deployment of a graph runs. `serving` is `--deployments` (none: the process
/// that serves the graph's routes).
///
/// The routes' process runs every deployment that has no `address`. A `--deployments`
/// process runs those it names and, through the handles their constructors take, the
/// deployments they need that have no `address` of their own.
pub(crate) fn places(
    spec: &GraphSpec,
    settings: &GraphSettings,
    serving: Option<&[String]>,
) -> HashMap<String, Place> {
    let address = |name: &str| settings.deployment(name).and_then(|d| d.address.clone());
    let Some(serving) = serving else {
        return spec
            .deployments
            .iter()
            .map(|d| {
                let place = match address(&d.name) {
                    Some(at) => Place::Apart(Some(at)),
                    None => Place::Here { served: false },
                };
                (d.name.clone(), place)
            })
            .collect();
    };
    let served: HashSet<&str> = serving.iter().map(String::as_str).collect();
    let mut here: HashSet<&str> = HashSet::new();
    let mut todo: Vec<&str> = spec
        .deployments
        .iter()
        .map(|d| d.name.as_str())
        .filter(|n| served.contains(n))
        .collect();
    while let Some(name) = todo.pop() {
        if !here.insert(name) {
            continue;
        }
        let Some(d) = spec.deployment(name) else {
            continue;
        };
        todo.extend(
            d.handles
                .iter()
                .map(String::as_str)
                .filter(|h| served.contains(h) || address(h).is_none()),
        );
    }
    spec.deployments
        .iter()
        .map(|d| {
            let name = d.name.as_str();
            let place = if here.contains(name) {
                Place::Here {
                    served: served.contains(name),
                }
            } else {
                Place::Apart(address(name))
            };
            (d.name.clone(), place)
        })
        .collect()
}
