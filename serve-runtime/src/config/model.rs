//! The config file as written: every field optional but the names, each value with where
//! it was written so a refusal can point at it.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A config file: the HTTP options and one application per graph.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) http_options: HttpOptionsConfig,
    #[serde(default)]
    pub(crate) applications: Vec<ApplicationConfig>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpOptionsConfig {
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) port: Option<Spanned<u16>>,
    pub(crate) request_timeout_s: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicationConfig {
    pub(crate) name: Spanned<String>,
    pub(crate) route_prefix: Option<Spanned<String>>,
    pub(crate) request_timeout_s: Option<Spanned<f64>>,
    #[serde(default)]
    pub(crate) deployments: Vec<DeploymentConfig>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentConfig {
    pub(crate) name: Spanned<String>,
    pub(crate) num_replicas: Option<Spanned<u32>>,
    pub(crate) max_ongoing_requests: Option<Spanned<u32>>,
    pub(crate) max_queued_requests: Option<Spanned<u32>>,
    pub(crate) num_cpus: Option<Spanned<f64>>,
    pub(crate) num_gpus: Option<Spanned<f64>>,
    pub(crate) user_config: Option<Spanned<serde_json::Value>>,
    pub(crate) graceful_shutdown_timeout_s: Option<Spanned<f64>>,
    pub(crate) health_check_period_s: Option<Spanned<f64>>,
    pub(crate) health_check_timeout_s: Option<Spanned<f64>>,
    pub(crate) autoscaling_config: Option<Spanned<AutoscalingFile>>,
    pub(crate) bind_args: Option<Spanned<std::collections::BTreeMap<String, serde_json::Value>>>,
    /// Where the processes that run it listen, `http://HOST:PORT` or a list of them: set,
    /// the deployment runs apart (`serve --deployments NAME` there) and every other
    /// process calls it, balancing over every process found.
    pub(crate) address: Option<Spanned<AddressFile>>,
    /// The sizes of `#[batch]` methods, by method name.
    pub(crate) batch: Option<Spanned<std::collections::BTreeMap<String, Spanned<BatchFile>>>>,
}

/// One address, or several.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum AddressFile {
    One(String),
    Many(Vec<String>),
}

impl AddressFile {
    pub(crate) fn each(&self) -> &[String] {
        match self {
            AddressFile::One(one) => std::slice::from_ref(one),
            AddressFile::Many(many) => many,
        }
    }
}

/// One `#[batch]` method's sizes; what is left out stays the code's.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchFile {
    pub(crate) max_batch_size: Option<Spanned<u32>>,
    pub(crate) batch_wait_timeout_s: Option<Spanned<f64>>,
}

/// `autoscaling_config`, every field optional (Ray's defaults fill the rest).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct AutoscalingFile {
    pub(crate) min_replicas: Option<Spanned<u32>>,
    pub(crate) initial_replicas: Option<Spanned<u32>>,
    pub(crate) max_replicas: Option<Spanned<u32>>,
    pub(crate) target_ongoing_requests: Option<Spanned<f64>>,
    pub(crate) upscale_delay_s: Option<Spanned<f64>>,
    pub(crate) downscale_delay_s: Option<Spanned<f64>>,
    pub(crate) upscaling_factor: Option<Spanned<f64>>,
    pub(crate) downscaling_factor: Option<Spanned<f64>>,
    pub(crate) look_back_period_s: Option<Spanned<f64>>,
    pub(crate) metrics_interval_s: Option<Spanned<f64>>,
}
