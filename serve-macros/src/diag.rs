//! Collecting every error with its span, so one run reports them all.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Errors found so far. Turned into `compile_error!`s next to the (fallback) expansion.
#[derive(Default)]
pub struct Errors {
    all: Option<syn::Error>,
}

impl Errors {
    /// An error at `span`.
    pub fn error(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error at `span` with a help line under it.
    pub fn help(&mut self, span: Span, message: impl Display, help: impl Display) {
        self.push(with_help(span, message, help));
    }

    /// An error covering the tokens of `tokens`.
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display, help: impl Display) {
        self.push(syn::Error::new_spanned(
            tokens,
            format!("{message}\n\n= help: {help}"),
        ));
    }

    pub fn push(&mut self, error: syn::Error) {
        match &mut self.all {
            Some(all) => all.combine(error),
            None => self.all = Some(error),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_none()
    }

    /// How many errors so far.
    pub fn len(&self) -> usize {
        self.all.as_ref().map_or(0, |e| e.into_iter().count())
    }

    /// The `compile_error!`s, or nothing.
    pub fn into_compile_errors(self) -> TokenStream {
        self.all.map(|e| e.to_compile_error()).unwrap_or_default()
    }
}

/// One error with a help line; stable proc macros cannot attach real `help:` notes, so the
/// line goes under the message in the same layout rustc uses.
pub fn with_help(span: Span, message: impl Display, help: impl Display) -> syn::Error {
    syn::Error::new(span, format!("{message}\n\n= help: {help}"))
}

/// The closest of `candidates` to `name`, if it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1))
        // Ties go to the alphabetically first, so the suggestion never depends on the
        // order a map happened to list the candidates in.
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}

/// Prints an expansion when `SERVE_MACROS_DEBUG` names the item (or is `*`), and how long
/// it took when `SERVE_MACROS_TIMING` is set (what `bench/compile.sh` reads).
pub fn report_expansion(kind: &str, name: &str, tokens: &TokenStream, took: std::time::Duration) {
    if std::env::var_os("SERVE_MACROS_TIMING").is_some() {
        eprintln!(
            "serve-macros: #[{kind}] {name} expanded in {} us",
            took.as_micros()
        );
    }
    if let Ok(wanted) = std::env::var("SERVE_MACROS_DEBUG")
        && (wanted == "*" || wanted == name)
    {
        eprintln!("// #[{kind}] {name}\n{tokens}");
    }
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_names_only() {
        let opts = ["num_replicas", "num_cpus", "num_gpus", "name"];
        assert_eq!(closest("num_replica", opts), Some("num_replicas"));
        assert_eq!(closest("num_gpu", opts), Some("num_gpus"));
        assert_eq!(closest("timeout", opts), None);
    }
}
