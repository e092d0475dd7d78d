//! `#[deployment(name = "...", num_replicas = 2, ...)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::diag::Errors;
use crate::options::{self, Opt};
use crate::paths::private;

/// Every deployment option, in the order the docs list them.
pub const OPTIONS: &[&str] = &[
    "name",
    "num_replicas",
    "max_ongoing_requests",
    "max_queued_requests",
    "num_cpus",
    "num_gpus",
];

/// The replica-set options shared by deployments and the graph's ingress driver.
#[derive(Default)]
pub struct ReplicaOptions {
    pub num_replicas: Option<u64>,
    pub max_ongoing_requests: Option<u64>,
    pub max_queued_requests: Option<u64>,
    pub num_cpus: Option<f64>,
    pub num_gpus: Option<f64>,
}

impl ReplicaOptions {
    /// Takes `opt` if it is a replica option; false if it is some other option.
    pub fn take(&mut self, opt: &Opt, errors: &mut Errors) -> bool {
        match opt.key.to_string().as_str() {
            "num_replicas" => self.num_replicas = options::integer(opt, 1, errors),
            "max_ongoing_requests" => self.max_ongoing_requests = options::integer(opt, 1, errors),
            "max_queued_requests" => self.max_queued_requests = options::integer(opt, 0, errors),
            "num_cpus" => self.num_cpus = options::fraction(opt, errors),
            "num_gpus" => self.num_gpus = options::fraction(opt, errors),
            _ => return false,
        }
        true
    }

    /// A `DeploymentOptions` literal: what was given, defaults for the rest.
    pub fn to_tokens(&self) -> TokenStream {
        let private = private();
        let u32_field = |name: &str, v: Option<u64>| {
            v.map(|v| {
                let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
                let v = v.min(u64::from(u32::MAX)) as u32;
                quote!(#ident: #v,)
            })
        };
        let f64_field = |name: &str, v: Option<f64>| {
            v.map(|v| {
                let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
                quote!(#ident: #v,)
            })
        };
        let fields = [
            u32_field("num_replicas", self.num_replicas),
            u32_field("max_ongoing_requests", self.max_ongoing_requests),
            u32_field("max_queued_requests", self.max_queued_requests),
            f64_field("num_cpus", self.num_cpus),
            f64_field("num_gpus", self.num_gpus),
        ];
        let fields = fields.into_iter().flatten();
        quote!(#private::DeploymentOptions { #(#fields)* ..#private::DeploymentOptions::DEFAULT })
    }
}

/// The parsed attribute of a struct or fn deployment.
#[derive(Default)]
pub struct DeploymentAttr {
    pub name: Option<LitStr>,
    pub replicas: ReplicaOptions,
}

pub fn parse(attr: TokenStream, errors: &mut Errors) -> DeploymentAttr {
    let mut out = DeploymentAttr::default();
    for opt in options::parse(attr, OPTIONS, "deployment", errors) {
        if out.replicas.take(&opt, errors) {
            continue;
        }
        // `name` is the only other known option.
        if let Some(name) = options::string(&opt, errors) {
            if name.value().trim().is_empty() {
                errors.help(
                    name.span(),
                    "a deployment name cannot be empty",
                    "remove `name` to use the item's own name",
                );
            } else {
                out.name = Some(name);
            }
        }
    }
    out
}
