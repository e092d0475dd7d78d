//! `Graph::build`: starts every deployment once, in the order the graph binds them, each
//! given the handles its constructor takes.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::{dep_ident, deployment_item, fn_node_item};
use crate::graph::plan::{DepArg, Kind, Plan};
use crate::paths::{private, private_at};

pub fn build(plan: &Plan<'_>) -> TokenStream {
    let private = private();
    let deploys = plan.deps.iter().enumerate().map(|(i, dep)| {
        let ident = dep_ident(i);
        let ty = &dep.ty;
        if let Kind::Function = dep.kind {
            let deploy = fn_node_item(ty, quote!(deploy));
            return quote!(let #ident = #deploy(__serve_ctx).await?;);
        }
        // The constructor is made again when a config changes the `bind` arguments, so the
        // handles it takes are cloned into the closure that makes it.
        let captured: Vec<_> = dep
            .args
            .iter()
            .enumerate()
            .filter_map(|(k, a)| match a {
                DepArg::Handle { dep, .. } => {
                    let local = format_ident!("__serve_h{}_{}", i, k);
                    let handle = dep_ident(*dep);
                    Some(quote!(let #local = #private::Clone::clone(&#handle);))
                }
                DepArg::Const(_) => None,
            })
            .collect();
        let args = dep.args.iter().enumerate().map(|(k, a)| match a {
            DepArg::Handle { span, .. } => {
                // Every token at the user's argument, the runtime path included, so a
                // handle of the wrong type is reported there.
                let local = format_ident!("__serve_h{}_{}", i, k, span = *span);
                let private = private_at(*span);
                quote_spanned!(*span=> #private::Clone::clone(&#local))
            }
            DepArg::Const(expr) => quote!(#expr),
        });
        let binder_ty = deployment_item(ty, quote!(Binder));
        let binder = quote!(<#binder_ty as ::core::default::Default>::default());
        let bind = &dep.bind;
        quote! {
            let #ident = {
                #(#captured)*
                __serve_ctx
                    .deploy(move |__serve_args: &#private::BindArgs| {
                        #binder.with_args(__serve_args).#bind(#(#args),*)
                    })
                    .await?
            };
        }
    });
    let handles = (0..plan.deps.len()).map(dep_ident);
    quote! {
        async fn build<__SERVE_C: #private::Deploy>(__serve_ctx: &mut __SERVE_C) -> #private::Result<#private::Nodes, #private::Error> {
            #(#deploys)*
            let mut __serve_nodes = #private::Nodes::default();
            #(__serve_nodes.push(#handles);)*
            #private::Result::Ok(__serve_nodes)
        }
    }
}
