//! `#[graph]`: an `async fn` whose body wires deployments into a static graph.

mod attr;
mod check;
mod expand;
pub(crate) mod parse;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::ItemFn;

use crate::diag::{Errors, report_expansion};

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let started = std::time::Instant::now();
    let item = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            let e = syn::Error::new(e.span(), format!("{e}\n\n= help: `#[graph]` goes on an `async fn` whose body wires deployments together"))
                .to_compile_error();
            return quote!(#item #e);
        }
    };
    let mut errors = Errors::default();
    let attr = attr::parse(attr, &mut errors);
    signature(&item, &mut errors);
    let body = parse::graph_fn(&item, &mut errors);
    check::adapter(&attr, &body.params, item.sig.fn_token.span, &mut errors);
    let plan = check::resolve(&item, &body, &mut errors);
    let out = match plan {
        Some(plan) if errors.is_empty() => expand::graph(&item, &attr, &plan),
        _ => expand::fallback(&item, &body.params),
    };
    let errors = errors.into_compile_errors();
    let out = quote!(#out #errors);
    report_expansion(
        "graph",
        &item.sig.ident.to_string(),
        &out,
        started.elapsed(),
    );
    out
}

fn signature(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        errors.help(
            sig.fn_token.span,
            "a graph must be an `async fn`",
            format!("write `async fn {}`", sig.ident),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "a graph cannot be generic",
            "graphs are built once with concrete types",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(
            v,
            "a graph cannot be variadic",
            "list its inputs as parameters",
        );
    }
    let _ = item.to_token_stream();
}
