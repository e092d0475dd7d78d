//! Code generation for `#[graph]`, from its plan only: the items that stand for the graph
//! (here), start-up (`build`), the per-request code (`run`), the spec (`spec`), and how it
//! is served (`ingress`).

mod build;
mod ingress;
mod run;
mod spec;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use crate::graph::attr::GraphAttr;
use crate::graph::parse::Param;
use crate::graph::plan::Plan;
use crate::paths::{private, private_at};

pub fn graph(item: &ItemFn, attr: &GraphAttr, plan: &Plan<'_>) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let shell = shell(item, plan.inputs);
    let input_ty = input_type(plan.inputs);
    let output_ty = output_type(item);
    let name_text = name.to_string();
    let spec = spec::spec(plan, &name_text, &output_ty);
    let ingress = ingress::ingress(attr);
    let build = build::build(plan);
    let run = run::run(plan, &output_ty);
    let (adapter_items, adapt) = ingress::adapt(attr, plan.inputs);
    let as_node = as_node(item, plan.inputs, &output_ty);
    quote! {
        #shell
        #as_node

        const _: () = {
            #adapter_items

            impl #name {
                /// The graph's static topology: inputs, deployments, calls, edges, options.
                pub fn spec() -> #private::GraphSpec {
                    <Self as #private::Graph>::spec()
                }
            }

            #[allow(clippy::let_unit_value, clippy::unit_arg, clippy::needless_question_mark)]
            impl #private::Graph for #name {
                type Input = #input_ty;
                type Output = #output_ty;
                const NAME: &'static str = #name_text;

                fn spec() -> #private::GraphSpec { #spec }
                fn ingress() -> #private::IngressOptions { #ingress }
                #build
                #run
                #adapt
            }

            #private::inventory::submit! {
                #private::GraphRegistration {
                    name: #name_text,
                    module: ::core::module_path!(),
                    spec: <#name as #private::Graph>::spec,
                }
            }
        };
    }
}

/// What stands for the graph: a braced struct (type namespace only, so it never captures a
/// `let` of the same name the way a unit struct would) and a fn of the same name with the
/// graph's parameters, whose name is what `serve_runtime::start(name)` and
/// `App::graph(name)` take. Calling it returns `Called`, which neither runs nor names the
/// graph: awaiting it, or passing it where a graph's name goes, is an error that says so.
fn shell(item: &ItemFn, params: &[Param]) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let vis = &item.vis;
    let docs: Vec<_> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let types = params.iter().map(|p| &p.ty);
    let shell = quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        #vis struct #name { __serve_private: () }
    };
    let called = quote! {
        #private::graph_fn!(#(#docs)* (#vis) #name (#(#types),*));
    };
    quote! { #shell #called }
}

/// What is left when the graph has errors: the struct and an `impl Graph` with the
/// declared types, so code that uses the graph does not add errors of its own.
pub fn fallback(item: &ItemFn, params: &[Param]) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let name_text = name.to_string();
    let shell = shell(item, params);
    let input_ty = input_type(params);
    let output_ty = output_type(item);
    let as_node = as_node(item, params, &output_ty);
    quote! {
        #shell
        #as_node
        const _: () = {
            impl #name {
                pub fn spec() -> #private::GraphSpec { ::core::unreachable!() }
            }
            impl #private::Graph for #name {
                type Input = #input_ty;
                type Output = #output_ty;
                const NAME: &'static str = #name_text;
                fn spec() -> #private::GraphSpec { ::core::unreachable!() }
                fn ingress() -> #private::IngressOptions { ::core::unreachable!() }
                async fn build<__SERVE_C: #private::Deploy>(_: &mut __SERVE_C) -> #private::Result<#private::Nodes, #private::Error> { ::core::unreachable!() }
                async fn run(_: &#private::Nodes, _: Self::Input) -> #private::Result<Self::Output, #private::Error> { ::core::unreachable!() }
                async fn adapt(_: #private::HttpRequest) -> #private::Result<Self::Input, #private::AdapterError> { ::core::unreachable!() }
            }
        };
    }
}

/// What lets another graph call this one by name, as a node: a struct holding its started
/// nodes, whose `call` takes the graph's parameters, and `FnNode` for the graph.
fn as_node(item: &ItemFn, params: &[Param], output_ty: &TokenStream) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let vis = &item.vis;
    let node = format_ident!("__serve_node_{}", name);
    let idents: Vec<&Ident> = params.iter().map(|p| &p.ident).collect();
    let types = params.iter().map(|p| &p.ty);
    let input = match idents.as_slice() {
        [one] => quote!(#one),
        many => quote!((#(#many,)*)),
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #node(#private::GraphNode<#name>);

        const _: () = {
            impl #node {
                #[allow(clippy::too_many_arguments)]
                #vis async fn call(&self, #(#idents: #types),*) -> #private::Result<#output_ty, #private::Error> {
                    self.0.run(#input).await
                }
            }

            impl #private::FnNode for #name {
                type Handle = #node;
                async fn deploy<__SERVE_C: #private::Deploy>(
                    __serve_ctx: &mut __SERVE_C,
                ) -> #private::Result<Self::Handle, #private::Error> {
                    #private::Result::Ok(#node(#private::GraphNode::deploy(__serve_ctx).await?))
                }
                fn spec_dep(__serve_spec: &mut #private::SpecBuilder, _: &str) -> #private::DepRef {
                    #private::spec_inner_graph::<#name>(__serve_spec)
                }
            }
        };
    }
}

fn input_type(params: &[Param]) -> TokenStream {
    let types = params.iter().map(|p| &p.ty);
    match params {
        [one] => {
            let ty = &one.ty;
            quote!(#ty)
        }
        _ => quote!((#(#types,)*)),
    }
}

fn output_type(item: &ItemFn) -> TokenStream {
    match &item.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    }
}

/// `<Ty as Deployment>::ITEM`, spanned at the user's type. Every use of a deployment type
/// goes through this one projection, so a type that is not a deployment gives one error.
fn deployment_item(ty: &syn::Path, item: TokenStream) -> TokenStream {
    let private = private_at(ty.span());
    quote_spanned!(ty.span()=> <#ty as #private::Deployment>::#item)
}

/// `<f as FnNode>::ITEM`, spanned at the user's path: what a graph calls by name (a
/// function deployment or another graph) goes through this one projection.
fn fn_node_item(ty: &syn::Path, item: TokenStream) -> TokenStream {
    let private = private_at(ty.span());
    quote_spanned!(ty.span()=> <#ty as #private::FnNode>::#item)
}

fn dep_ident(i: usize) -> Ident {
    format_ident!("__serve_d{}", i)
}
