//! A deployment's `address` in the config file: where the processes that run it listen.

use serde_saphyr::Spanned;

use super::Problem;
use super::model::AddressFile;
use crate::spec::DeploymentSpec;

/// Checks a config's `address` for a deployment: it must be able to run apart, and each
/// address must be `http://HOST:PORT` (or `https://`). Several are kept joined by `, `, what the
/// settings and the split plan carry as the deployment's "where".
pub(crate) fn check(
    written: &Spanned<AddressFile>,
    spec: &DeploymentSpec,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if !spec.remote {
        problems.push(
            Problem::at(
                &written.referenced,
                format!(
                    "`{}` cannot run apart: its methods' values are not checked to cross processes",
                    spec.name
                ),
            )
            .help(Some(
                "declare it `#[deployment(remote = true)]` (its arguments and results must then be serde types), or remove `address`".to_owned(),
            )),
        );
        return None;
    }
    let each = written.value.each();
    let mut good = Vec::with_capacity(each.len());
    for text in each.iter().map(|t| t.trim()) {
        let ok = (text.strip_prefix("http://"))
            .or_else(|| text.strip_prefix("https://"))
            .and_then(|rest| {
                rest.trim_end_matches('/')
                    .parse::<http::uri::Authority>()
                    .ok()
            })
            .is_some_and(|a| a.port_u16().is_some());
        if ok {
            good.push(text.trim_end_matches('/').to_owned());
        } else {
            problems.push(
                Problem::at(
                    &written.referenced,
                    format!("`{text}` is not an address for a deployment"),
                )
                .help(Some(
                    "write `http://HOST:PORT` (`https://` with mutual TLS), where the process serving it with `--deployments` listens (in Kubernetes, its Service: `http://NAME:8000`), or a list of them".to_owned(),
                )),
            );
        }
    }
    if good.is_empty() && problems.is_empty() {
        problems.push(Problem::at(
            &written.referenced,
            "an empty list of addresses: give at least one `http://HOST:PORT`".to_owned(),
        ));
    }
    (good.len() == each.len() && !good.is_empty()).then(|| good.join(", "))
}
