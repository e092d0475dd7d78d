//! `#[graph]`: an `async fn` whose body wires deployments into a static graph.

mod attr;
mod check;
mod expand;
pub(crate) mod parse;
mod plan;

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
    let owned = owned_signature(&item, &mut errors);
    let plan = check::resolve(&item, &body, &mut errors);
    let out = match plan {
        Some(plan) if errors.is_empty() => expand::graph(&item, &attr, &plan),
        // A borrowed input or output is reported once: the fallback's types are owned.
        _ if !owned => {
            let (item, params) = without_borrows(&item, &body.params);
            expand::fallback(&item, &params)
        }
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

/// A graph's inputs come from a request, or from a caller it may outlive, and its output
/// goes back to one: both must be owned.
fn owned_signature(item: &ItemFn, errors: &mut Errors) -> bool {
    crate::owned::signature(
        &item.sig,
        |_| false,
        "a graph's result must be owned: it is sent back to its caller",
        errors,
    )
}

/// The graph with `()` for every type that borrows, for the fallback.
fn without_borrows(item: &ItemFn, params: &[parse::Param]) -> (ItemFn, Vec<parse::Param>) {
    use crate::owned::borrow_in;
    let unit: syn::Type = syn::parse_quote!(());
    let params = params
        .iter()
        .map(|p| parse::Param {
            ident: p.ident.clone(),
            ty: if borrow_in(&p.ty).is_some() {
                unit.clone()
            } else {
                p.ty.clone()
            },
        })
        .collect();
    let mut item = item.clone();
    if let syn::ReturnType::Type(_, ty) = &mut item.sig.output
        && borrow_in(ty).is_some()
    {
        **ty = unit;
    }
    (item, params)
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
    if let Some(extra) = sig.inputs.iter().nth(MAX_INPUTS) {
        errors.spanned(
            extra,
            format!("a graph takes at most {MAX_INPUTS} inputs"),
            "group them in a struct that derives `Deserialize` and take that",
        );
    }
    let _ = item.to_token_stream();
}

/// The most parameters a graph's fn may have: `IntoGraph` is implemented for functions of
/// up to this many (`serve-runtime/src/graph.rs`).
const MAX_INPUTS: usize = 12;
