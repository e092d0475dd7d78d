//! Every option the attributes take, in one table: the parsers read their known names from
//! it, suggestions are drawn from it, and the macros' docs are checked against it.

/// Where an option is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Place {
    /// `#[deployment(...)]` on a struct or fn.
    Deployment,
    /// `Type::bind(...).options(...)` in a graph.
    Binding,
    /// `#[graph(...)]`.
    Graph,
    /// `autoscaling_config(...)` inside a deployment's or a binding's options.
    Autoscaling,
    /// `#[batch(...)]` on a method.
    Batch,
    /// `#[multiplexed(...)]` on a loader.
    Multiplexed,
}

impl Place {
    /// How messages name the place: "unknown deployment option".
    pub fn what(self) -> &'static str {
        match self {
            Place::Deployment => "deployment",
            Place::Binding => "binding",
            Place::Graph => "graph",
            Place::Autoscaling => "autoscaling_config",
            Place::Batch => "batch",
            Place::Multiplexed => "multiplexed",
        }
    }
}

/// One option: its name, where it may be written, and what it does.
pub struct Known {
    pub name: &'static str,
    pub places: &'static [Place],
    pub doc: &'static str,
}

use Place::{Autoscaling, Batch, Binding, Deployment, Graph, Multiplexed};

/// The options, each place's in the order its messages list them.
pub const TABLE: &[Known] = &[
    Known {
        name: "route_prefix",
        places: &[Graph],
        doc: "the path the graph is served at",
    },
    Known {
        name: "http_adapter",
        places: &[Graph],
        doc: "what turns a request into the graph's input: `json_request`, `query`, `raw_bytes` or a fn",
    },
    Known {
        name: "grpc",
        places: &[Graph],
        doc: "serve the graph as this unary gRPC method, `package.Service/Method`",
    },
    Known {
        name: "body_limit",
        places: &[Graph],
        doc: "the largest request body, in bytes",
    },
    Known {
        name: "request_timeout_ms",
        places: &[Graph],
        doc: "how long a request may take",
    },
    Known {
        name: "deny_unknown_fields",
        places: &[Graph],
        doc: "refuse JSON fields the graph does not take",
    },
    Known {
        name: "name",
        places: &[Deployment],
        doc: "the deployment's name, when not its item's",
    },
    Known {
        name: "num_replicas",
        places: &[Deployment, Binding, Graph],
        doc: "how many replicas serve the calls",
    },
    Known {
        name: "max_ongoing_requests",
        places: &[Deployment, Binding, Graph],
        doc: "the calls one replica serves at once",
    },
    Known {
        name: "max_queued_requests",
        places: &[Deployment, Binding, Graph],
        doc: "the calls that may wait for a replica before more are refused",
    },
    Known {
        name: "num_cpus",
        places: &[Deployment, Binding],
        doc: "CPUs each replica reserves (fractions allowed)",
    },
    Known {
        name: "num_gpus",
        places: &[Deployment, Binding],
        doc: "GPUs each replica reserves (fractions allowed)",
    },
    Known {
        name: "executor",
        places: &[Deployment, Binding],
        doc: "where calls run: `inline` on the server's tasks or `threads` of the replica's own",
    },
    Known {
        name: "graceful_shutdown_timeout_s",
        places: &[Deployment, Binding],
        doc: "how long a stopping replica may finish its calls",
    },
    Known {
        name: "health_check_period_s",
        places: &[Deployment, Binding],
        doc: "how often `check_health` runs",
    },
    Known {
        name: "health_check_timeout_s",
        places: &[Deployment, Binding],
        doc: "how long `check_health` may take",
    },
    Known {
        name: "autoscaling_config",
        places: &[Deployment, Binding],
        doc: "replicas follow the load, between bounds (a nested list)",
    },
    Known {
        name: "remote",
        places: &[Deployment],
        doc: "the deployment can run in a process of its own",
    },
    Known {
        name: "min_replicas",
        places: &[Autoscaling],
        doc: "the fewest replicas",
    },
    Known {
        name: "initial_replicas",
        places: &[Autoscaling],
        doc: "the replicas at start",
    },
    Known {
        name: "max_replicas",
        places: &[Autoscaling],
        doc: "the most replicas",
    },
    Known {
        name: "target_ongoing_requests",
        places: &[Autoscaling],
        doc: "the calls per replica the controller aims at",
    },
    Known {
        name: "upscale_delay_s",
        places: &[Autoscaling],
        doc: "how long the load must stay high before scaling up",
    },
    Known {
        name: "downscale_delay_s",
        places: &[Autoscaling],
        doc: "how long the load must stay low before scaling down",
    },
    Known {
        name: "upscaling_factor",
        places: &[Autoscaling],
        doc: "how much of a wanted increase to make at once",
    },
    Known {
        name: "downscaling_factor",
        places: &[Autoscaling],
        doc: "how much of a wanted decrease to make at once",
    },
    Known {
        name: "look_back_period_s",
        places: &[Autoscaling],
        doc: "the window the load is averaged over",
    },
    Known {
        name: "metrics_interval_s",
        places: &[Autoscaling],
        doc: "how often the load is sampled",
    },
    Known {
        name: "max_batch_size",
        places: &[Batch],
        doc: "the most inputs in one batch",
    },
    Known {
        name: "batch_wait_timeout_s",
        places: &[Batch],
        doc: "how long a batch waits to fill",
    },
    Known {
        name: "max_concurrent_batches",
        places: &[Batch],
        doc: "batches of the method one replica runs at once",
    },
    Known {
        name: "max_num_models_per_replica",
        places: &[Multiplexed],
        doc: "models one replica keeps loaded",
    },
];

/// The names written at `place`, in the table's order.
pub fn names(place: Place) -> Vec<&'static str> {
    TABLE
        .iter()
        .filter(|k| k.places.contains(&place))
        .map(|k| k.name)
        .collect()
}

/// What the option `name` does.
pub fn doc(name: &str) -> &'static str {
    TABLE.iter().find(|k| k.name == name).map_or("", |k| k.doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_in_the_docs_of_its_attribute() {
        let docs = include_str!("../lib.rs");
        let section = |start: &str, end: &str| {
            let from = docs.find(start).expect("the section is there");
            let to = from + docs[from..].find(end).expect("the section ends");
            docs[from..to].to_owned()
        };
        let deployment = section("/// Turns a struct", "pub fn deployment");
        let graph = section("/// Turns an `async fn`", "pub fn graph");
        for (place, text) in [
            (Place::Deployment, &deployment),
            (Place::Graph, &graph),
            (Place::Autoscaling, &deployment),
            (Place::Batch, &deployment),
            (Place::Multiplexed, &deployment),
        ] {
            for name in names(place) {
                let word = |at: usize| {
                    let before = text[..at].chars().next_back();
                    let after = text[at + name.len()..].chars().next();
                    let ident =
                        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !ident(before) && !ident(after)
                };
                assert!(
                    text.match_indices(name).any(|(at, _)| word(at)),
                    "the docs of {place:?} options do not mention `{name}`"
                );
            }
        }
    }

    #[test]
    fn names_are_unique_within_a_place() {
        for place in [Deployment, Binding, Graph, Autoscaling, Batch, Multiplexed] {
            let mut all = names(place);
            let n = all.len();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), n, "{place:?}");
        }
    }
}
