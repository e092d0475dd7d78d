//! The config file: what `<bin> build` writes, `<bin> serve --config` starts with and
//! `<bin> deploy` applies to a running server. Shaped like Ray Serve's: `http_options`,
//! then one application per graph with its deployments' options.
//!
//! A config is refused whole when anything in it is wrong, with every problem listed at
//! its line and column; nothing of a refused config is applied.

mod address;
mod model;
mod problem;
pub(crate) mod settings;
pub(crate) mod yaml;

use std::path::Path;

pub use problem::{ConfigError, Problem};
pub(crate) use settings::ServeSettings;

use crate::error::Error;
use crate::spec::GraphSpec;
use model::FileConfig;
use problem::closest;

/// A parsed config file, not yet checked against the graphs it configures.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    source_name: String,
    text: String,
    file: FileConfig,
}

impl ServeConfig {
    /// Parses a config; `source_name` (a path, or "the config") names it in errors.
    pub fn from_yaml(source_name: &str, text: &str) -> Result<Self, ConfigError> {
        // An empty file parses as every default: applied, it would set every deployment
        // back to the code's values, which a file cut short or never written should not.
        let content = text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !content {
            let problem = Problem {
                line: 1,
                column: 1,
                message: "the config is empty".to_owned(),
                help: Some(
                    "write one with `build -o FILE`; a field left out takes the code's value"
                        .to_owned(),
                ),
            };
            return Err(ConfigError::new(source_name, text, vec![problem]));
        }
        match serde_saphyr::from_str::<FileConfig>(text) {
            Ok(file) => Ok(Self {
                source_name: source_name.to_owned(),
                text: text.to_owned(),
                file,
            }),
            Err(e) => Err(ConfigError::new(source_name, text, vec![parse_problem(&e)])),
        }
    }

    /// Reads and parses a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("could not read config `{}`: {e}", path.display()))
        })?;
        Self::from_yaml(&path.display().to_string(), &text)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Whether it names no application (only `http_options`, or an `applications:` cut
    /// short).
    pub(crate) fn has_no_application(&self) -> bool {
        self.file.applications.is_empty()
    }

    /// The config's text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The code's settings for `specs` with this config on top.
    pub(crate) fn resolve(&self, specs: &[GraphSpec]) -> Result<ServeSettings, ConfigError> {
        ServeSettings::overlay(specs, &self.file).map_err(|problems| self.error(problems))
    }

    /// Where `field` of an application (or of one of its deployments) is written, for a
    /// problem found after resolving; the entry's name when the field is not written, and
    /// (0, 0) when neither is.
    pub(crate) fn position(&self, app: &str, deployment: Option<&str>, field: &str) -> (u32, u32) {
        let at = |l: &serde_saphyr::Location| (l.line() as u32, l.column() as u32);
        let Some(a) = self.file.applications.iter().find(|a| a.name.value == app) else {
            return (0, 0);
        };
        let Some(name) = deployment else {
            return match (field, &a.route_prefix) {
                ("route_prefix", Some(p)) => at(&p.referenced),
                _ => at(&a.name.referenced),
            };
        };
        let Some(d) = a.deployments.iter().find(|d| d.name.value == name) else {
            return at(&a.name.referenced);
        };
        let written = match field {
            "num_cpus" => d.num_cpus.as_ref().map(|v| v.referenced),
            "num_gpus" => d.num_gpus.as_ref().map(|v| v.referenced),
            "address" => d.address.as_ref().map(|v| v.referenced),
            _ => None,
        };
        at(&written.unwrap_or(d.name.referenced))
    }

    /// A refusal of this config for `problems`.
    pub(crate) fn error(&self, problems: Vec<Problem>) -> ConfigError {
        ConfigError::new(&self.source_name, &self.text, problems)
    }
}

/// The parser's error as a problem, with a likely fix for a misspelt field.
fn parse_problem(e: &serde_saphyr::Error) -> Problem {
    let bare = e.without_snippet().to_string();
    // The parser puts "line L column C: " in front; the problem carries those apart.
    let message = match bare.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => bare.as_str(),
    };
    // serde's messages may end with the place again.
    let message = match message.rsplit_once(" at line ") {
        Some((text, place)) if place.contains(", column ") => text.to_owned(),
        _ => message.to_owned(),
    };
    let help = unknown_field(&message).and_then(|(field, expected)| {
        ray_name(field).or_else(|| {
            closest(field, expected.iter().copied()).map(|c| format!("did you mean `{c}`?"))
        })
    });
    let (line, column) = e
        .location()
        .map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    Problem {
        line,
        column,
        message,
        help,
    }
}

/// What a Ray Serve config's field is called here, for the names that changed.
fn ray_name(field: &str) -> Option<String> {
    let help = match field {
        "max_concurrent_queries" => {
            "`max_concurrent_queries` is Ray Serve's old name: write `max_ongoing_requests`"
        }
        "target_num_ongoing_requests_per_replica" => {
            "this is Ray Serve's old name: write `target_ongoing_requests`"
        }
        "ray_actor_options" => {
            "there are no actor options: set `num_cpus` and `num_gpus` on the deployment"
        }
        "import_path" | "runtime_env" => "the graphs are compiled into the binary: leave it out",
        _ => return None,
    };
    Some(help.to_owned())
}

/// `unknown field `x`, expected one of a, b` -> (`x`, [a, b]).
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split_once("expected ")
        .map(|(_, list)| list)
        .unwrap_or_default()
        .trim_start_matches("one of ")
        .split(", ")
        .map(|s| s.trim_matches('`'))
        .filter(|s| !s.is_empty())
        .collect();
    Some((field, expected))
}
