//! `#[deployment(name = "...", num_replicas = 2, ...)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::diag::Errors;
use crate::options::{self, Opt, Place};
use crate::paths::private;

/// The values of `executor`.
pub const EXECUTORS: &[&str] = &["inline", "threads"];

/// The replica-set options shared by deployments and the graph's ingress driver.
#[derive(Default)]
pub struct ReplicaOptions {
    pub num_replicas: Option<u64>,
    pub max_ongoing_requests: Option<u64>,
    pub max_queued_requests: Option<u64>,
    pub num_cpus: Option<f64>,
    pub num_gpus: Option<f64>,
    /// `Inline` or `Threads`.
    pub executor: Option<&'static str>,
    pub graceful_shutdown_timeout_s: Option<f64>,
    pub health_check_period_s: Option<f64>,
    pub health_check_timeout_s: Option<f64>,
    /// `AutoscalingConfig` field initialisers, when `autoscaling_config(...)` is given.
    pub autoscaling: Option<Vec<TokenStream>>,
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
            "executor" => self.executor = executor(opt, errors),
            "graceful_shutdown_timeout_s" => {
                self.graceful_shutdown_timeout_s = options::seconds(opt, errors)
            }
            "health_check_period_s" => self.health_check_period_s = options::positive(opt, errors),
            "health_check_timeout_s" => {
                self.health_check_timeout_s = options::positive(opt, errors)
            }
            "autoscaling_config" => self.autoscaling = autoscaling(opt, errors),
            _ => return false,
        }
        true
    }

    /// Errors about options that contradict each other, reported at `at` when set.
    pub fn check_together(&self, num_replicas_at: Option<proc_macro2::Span>, errors: &mut Errors) {
        if let (Some(_), Some(span)) = (&self.autoscaling, num_replicas_at) {
            errors.help(
                span,
                "`num_replicas` and `autoscaling_config` are both set",
                "remove `num_replicas`: with `autoscaling_config` the load sets the count, from `initial_replicas`",
            );
        }
    }

    /// A `DeclaredOptions` literal: `Some` for what was given. The runtime fills in the
    /// defaults, some of which depend on the deployment's methods.
    pub fn to_tokens(&self) -> TokenStream {
        let private = private();
        let field = |name: &str, value: Option<TokenStream>| {
            value.map(|v| {
                let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
                quote!(#ident: ::core::option::Option::Some(#v),)
            })
        };
        let whole = |v: Option<u64>| {
            v.map(|v| {
                let v = v.min(u64::from(u32::MAX)) as u32;
                quote!(#v)
            })
        };
        let real = |v: Option<f64>| v.map(|v| quote!(#v));
        let executor = self.executor.map(|e| {
            let variant = syn::Ident::new(e, proc_macro2::Span::call_site());
            quote!(#private::Executor::#variant)
        });
        let autoscaling = self.autoscaling.as_ref().map(|fields| {
            quote!(#private::AutoscalingConfig { #(#fields,)* ..#private::AutoscalingConfig::DEFAULT })
        });
        let fields = [
            field("autoscaling_config", autoscaling),
            field("num_replicas", whole(self.num_replicas)),
            field("max_ongoing_requests", whole(self.max_ongoing_requests)),
            field("max_queued_requests", whole(self.max_queued_requests)),
            field("num_cpus", real(self.num_cpus)),
            field("num_gpus", real(self.num_gpus)),
            field("executor", executor),
            field(
                "graceful_shutdown_timeout_s",
                real(self.graceful_shutdown_timeout_s),
            ),
            field("health_check_period_s", real(self.health_check_period_s)),
            field("health_check_timeout_s", real(self.health_check_timeout_s)),
        ];
        let fields = fields.into_iter().flatten();
        quote!(#private::DeclaredOptions { #(#fields)* ..#private::DeclaredOptions::NONE })
    }
}

/// The parsed attribute of a struct or fn deployment.
#[derive(Default)]
pub struct DeploymentAttr {
    pub name: Option<LitStr>,
    /// `remote = true`: the deployment can run in a process of its own, so the values
    /// its methods take and return must be serde types.
    pub remote: bool,
    pub replicas: ReplicaOptions,
}

pub fn parse(attr: TokenStream, errors: &mut Errors) -> DeploymentAttr {
    let mut out = DeploymentAttr::default();
    let mut num_replicas_at = None;
    for opt in options::parse(attr, Place::Deployment, errors) {
        if opt.key == "num_replicas" {
            num_replicas_at = Some(opt.key.span());
        }
        if out.replicas.take(&opt, errors) {
            continue;
        }
        if opt.key == "remote" {
            out.remote = options::boolean(&opt, errors).unwrap_or(false);
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
    out.replicas.check_together(num_replicas_at, errors);
    out
}

/// `autoscaling_config(min_replicas = 0, ...)`: each field checked as the config file
/// checks it, and the bounds against each other.
fn autoscaling(opt: &Opt, errors: &mut Errors) -> Option<Vec<TokenStream>> {
    let Some(tokens) = options::nested(opt) else {
        errors.spanned(
            &opt.value,
            "`autoscaling_config` takes a list of fields",
            "write `autoscaling_config(min_replicas = 0, max_replicas = 4)`",
        );
        return None;
    };
    let before = errors.len();
    let mut fields = Vec::new();
    let (mut min, mut max, mut initial) = (None, None, None);
    for field in options::parse(tokens, Place::Autoscaling, errors) {
        let key = field.key.clone();
        let value = match key.to_string().as_str() {
            "min_replicas" => options::integer(&field, 0, errors).map(|n| {
                min = Some((n, key.span()));
                whole(n)
            }),
            "max_replicas" => options::integer(&field, 1, errors).map(|n| {
                max = Some((n, key.span()));
                whole(n)
            }),
            "initial_replicas" => options::integer(&field, 0, errors).map(|n| {
                initial = Some((n, key.span()));
                let n = whole(n);
                quote!(::core::option::Option::Some(#n))
            }),
            "upscale_delay_s" | "downscale_delay_s" => {
                options::seconds(&field, errors).map(|v| quote!(#v))
            }
            _ => options::positive(&field, errors).map(|v| quote!(#v)),
        };
        if let Some(value) = value {
            fields.push(quote!(#key: #value));
        }
    }
    // Ray's defaults for the bounds the user left out: 1 and 1.
    let (lo, hi) = (min.map_or(1, |m| m.0), max.map_or(1, |m| m.0));
    if hi < lo {
        let span = max.or(min).map_or(opt.key.span(), |m| m.1);
        errors.help(
            span,
            format!("`max_replicas` ({hi}) is less than `min_replicas` ({lo})"),
            "`max_replicas` defaults to 1: give it a value at least `min_replicas`",
        );
    }
    if let Some((n, span)) = initial
        && !(lo..=hi).contains(&n)
    {
        errors.help(
            span,
            format!(
                "`initial_replicas` ({n}) is outside `min_replicas..=max_replicas` ({lo}..={hi})"
            ),
            "start within the bounds",
        );
    }
    (errors.len() == before).then_some(fields)
}

fn whole(n: u64) -> TokenStream {
    let n = n.min(u64::from(u32::MAX)) as u32;
    quote!(#n)
}

/// `executor = threads`, `executor = inline`, or the same as strings.
fn executor(opt: &Opt, errors: &mut Errors) -> Option<&'static str> {
    let word = match &opt.value {
        syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    };
    match word.as_deref() {
        Some("inline") => Some("Inline"),
        Some("threads") => Some("Threads"),
        _ => {
            errors.spanned(
                &opt.value,
                "`executor` must be `inline` or `threads`",
                format!(
                    "`inline` runs calls on the caller's task (light async work); `threads` on threads each replica owns (compute); valid values: {}",
                    EXECUTORS.join(", ")
                ),
            );
            None
        }
    }
}
