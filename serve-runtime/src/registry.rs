//! Every deployment and graph compiled into the binary, registered by the macros.

use std::collections::BTreeMap;

use crate::deployment::DeploymentKind;
use crate::error::Error;
use crate::options::DeploymentOptions;
use crate::spec::GraphSpec;

/// A deployment as `#[deployment]` registers it.
#[derive(Debug)]
pub struct DeploymentRegistration {
    /// Its name.
    pub name: &'static str,
    /// The module it was declared in.
    pub module: &'static str,
    /// Struct or function.
    pub kind: DeploymentKind,
    /// Its options.
    pub options: DeploymentOptions,
    /// The methods a handle can call.
    pub methods: &'static [&'static str],
}

/// A graph as `#[graph]` registers it.
#[derive(Debug)]
pub struct GraphRegistration {
    /// Its name.
    pub name: &'static str,
    /// The module it was declared in.
    pub module: &'static str,
    /// Its topology.
    pub spec: fn() -> GraphSpec,
}

inventory::collect!(DeploymentRegistration);
inventory::collect!(GraphRegistration);

/// Every deployment in the binary, sorted by name then module.
pub fn deployments() -> Vec<&'static DeploymentRegistration> {
    let mut all: Vec<_> = inventory::iter::<DeploymentRegistration>().collect();
    all.sort_by_key(|d| (d.name, d.module));
    all
}

/// Every graph in the binary, sorted by name then module.
pub fn graphs() -> Vec<&'static GraphRegistration> {
    let mut all: Vec<_> = inventory::iter::<GraphRegistration>().collect();
    all.sort_by_key(|g| (g.name, g.module));
    all
}

/// Refuses two deployments with one name: configuration addresses deployments by name.
pub fn check_unique_names() -> Result<(), Error> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for d in deployments() {
        if let Some(first) = seen.insert(d.name, d.module) {
            return Err(Error::Config(format!(
                "two deployments are named `{}` (in `{first}` and in `{}`); rename one with `#[deployment(name = \"...\")]`",
                d.name, d.module
            )));
        }
    }
    Ok(())
}
