//! The option parser of `#[graph(...)]` and `#[deployment(...)]`, compiled from
//! serve-macros' own source files (a proc-macro crate cannot be a dependency of a binary).
//! proc-macro2 runs in its fallback mode outside a macro, so spans and errors still work.
//!
//! Property: no input that lexes as tokens makes the parser or the option readers panic, and
//! what `options::parse` returns has only known, distinct keys.

#![no_main]
// The included files hold what the macros need besides the parser.
#![allow(dead_code)]

#[path = "../../serve-macros/src/diag.rs"]
mod diag;
#[path = "../../serve-macros/src/options/mod.rs"]
mod options;
#[path = "../../serve-macros/src/paths.rs"]
mod paths;

#[path = "../../serve-macros/src/deployment/attr.rs"]
mod deployment_attr;
#[path = "../../serve-macros/src/graph/attr.rs"]
mod graph_attr;

/// Where `graph/attr.rs` finds `ReplicaOptions` in the macro crate.
mod deployment {
    pub use crate::deployment_attr::ReplicaOptions;
}

use std::collections::HashSet;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use proc_macro2::TokenStream;

use diag::Errors;

/// Every reader on every option, whatever its key, as a typo'd macro input would reach them.
fn read_all(tokens: TokenStream, place: options::Place) {
    let known = options::names(place);
    let mut errors = Errors::default();
    let opts = options::parse(tokens, place, &mut errors);
    let mut keys = HashSet::new();
    for opt in &opts {
        let key = opt.key.to_string();
        assert!(known.contains(&key.as_str()), "unknown key `{key}` kept");
        assert!(keys.insert(key), "duplicate key kept");
        for min in [0, 1] {
            let _ = options::integer(opt, min, &mut errors);
        }
        if let Some(v) = options::fraction(opt, &mut errors) {
            assert!(v.is_finite() && v >= 0.0, "fraction {v}");
        }
        if let Some(s) = options::string(opt, &mut errors) {
            let _ = s.value();
        }
    }
    let _ = errors.into_compile_errors();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tokens) = TokenStream::from_str(text) else {
        return;
    };
    for place in [
        options::Place::Graph,
        options::Place::Deployment,
        options::Place::Binding,
        options::Place::Autoscaling,
        options::Place::Batch,
    ] {
        read_all(tokens.clone(), place);
    }

    // The macros' own readers on top of the parser, and the tokens they generate.
    let mut errors = Errors::default();
    let graph = graph_attr::parse(tokens.clone(), &mut errors);
    let _ = graph.driver.to_tokens();
    let deployment = deployment_attr::parse(tokens, &mut errors);
    let _ = deployment.replicas.to_tokens();
    let _ = errors.into_compile_errors();
});
