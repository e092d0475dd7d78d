//! `Graph::spec`: the graph's static topology as data (inputs, deployments with their
//! options and `bind` arguments, calls, edges, output), for `build`, status and drawing.

use proc_macro2::TokenStream;
use quote::quote;

use super::{dep_ident, deployment_item, fn_node_item};
use crate::graph::parse::{path_text, tidy};
use crate::graph::plan::{DepArg, Kind, NodeArg, Plan};
use crate::paths::private;

pub fn spec(plan: &Plan<'_>, name: &str, output_ty: &TokenStream) -> TokenStream {
    let private = private();
    let inputs = plan.inputs.iter().map(|p| {
        let n = p.ident.to_string();
        let ty = &p.ty;
        let t = tidy(&quote!(#ty).to_string());
        quote!(__serve_spec.input(#n, #t);)
    });
    let deps = plan.deps.iter().enumerate().map(|(i, d)| {
        let ident = dep_ident(i);
        let ty = &d.ty;
        let text = path_text(ty);
        if let Kind::Function = d.kind {
            let spec_dep = fn_node_item(ty, quote!(spec_dep));
            return quote!(let #ident = #spec_dep(&mut __serve_spec, #text););
        }
        let kind = match d.kind {
            Kind::Struct => quote!(#private::DeploymentKind::Struct),
            Kind::Function => quote!(#private::DeploymentKind::Function),
        };
        let handles = d.args.iter().filter_map(|a| match a {
            DepArg::Handle { dep, .. } => Some(dep_ident(*dep)),
            DepArg::Const(_) => None,
        });
        let name = deployment_item(ty, quote!(NAME));
        let code = deployment_item(ty, quote!(OPTIONS));
        let options = match d.options {
            Some(declared) => {
                let declared = declared.to_tokens();
                quote!(#declared.over(#code))
            }
            None => code,
        };
        let bind_args = d.written_args.iter().map(|a| tidy(&quote!(#a).to_string()));
        let params = deployment_item(ty, quote!(__serve_bind_params));
        let batched = deployment_item(ty, quote!(BATCHED));
        let remote = deployment_item(ty, quote!(REMOTE));
        quote!(let #ident = __serve_spec.deployment(#name, #options, #text, #kind, &[#(#handles),*], &[#(#bind_args),*], #params(), #batched, #remote);)
    });
    let nodes = plan.nodes.iter().map(|node| {
        let id = &node.id;
        let dep = dep_ident(node.dep);
        let method = match &node.method {
            Some(m) => {
                let m = m.to_string();
                quote!(::core::option::Option::Some(#m))
            }
            None => quote!(::core::option::Option::None),
        };
        let args = node.args.iter().map(|a| match a {
            NodeArg::Value { from, .. } => {
                let id = plan.value_id(*from);
                quote!(#private::value(#id))
            }
            NodeArg::Const(expr) => {
                let text = tidy(&quote!(#expr).to_string());
                quote!(#private::constant(#text))
            }
        });
        match plan.deps[node.dep].kind {
            Kind::Struct => quote!(__serve_spec.node(#id, #dep, #method, ::std::vec![#(#args),*]);),
            Kind::Function => {
                let spec_call = fn_node_item(&plan.deps[node.dep].ty, quote!(spec_call));
                quote!(#spec_call(&mut __serve_spec, #dep, #id, ::std::vec![#(#args),*]);)
            }
        }
    });
    let output = plan.value_id(plan.output);
    let output_text = tidy(&output_ty.to_string());
    quote! {
        let mut __serve_spec = #private::SpecBuilder::new(#name, <Self as #private::Graph>::ingress());
        #(#inputs)*
        #(#deps)*
        #(#nodes)*
        __serve_spec.output(#output, #output_text)
    }
}
