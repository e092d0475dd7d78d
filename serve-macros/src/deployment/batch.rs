//! `#[batch(max_batch_size = 32, batch_wait_timeout_s = 0.01)]` on a deployment method:
//! parsed from the method's attributes (which `#[deployment]` then removes), and its
//! signature checked to be `Vec<In> -> Vec<Out>`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, GenericArgument, PathArguments, ReturnType, Signature, Type};

use crate::deployment::parse::context_param;
use crate::diag::Errors;
use crate::options;
use crate::paths::private;

/// Ray Serve's defaults.
const DEFAULT_MAX_BATCH_SIZE: u64 = 10;
const DEFAULT_WAIT_S: f64 = 0.01;

/// The attribute's name; users write it without importing anything.
pub const ATTRIBUTE: &str = "batch";

/// A parsed `#[batch(...)]`.
pub struct BatchAttr {
    pub max_batch_size: u32,
    /// Where `max_batch_size` was written, or the attribute when it was not.
    pub max_batch_size_at: Span,
    pub batch_wait_timeout_s: f64,
    pub max_concurrent_batches: u32,
}

/// The method's `#[batch]`, if it has one; errors for a malformed or repeated one.
pub fn attr(attrs: &[Attribute], errors: &mut Errors) -> Option<BatchAttr> {
    let mut found = attrs.iter().filter(|a| a.path().is_ident(ATTRIBUTE));
    let first = found.next()?;
    for again in found {
        errors.spanned(
            again,
            "duplicate `#[batch]`",
            "give the method one `#[batch(...)]`",
        );
    }
    let mut out = BatchAttr {
        max_batch_size: DEFAULT_MAX_BATCH_SIZE as u32,
        max_batch_size_at: first.meta.span(),
        batch_wait_timeout_s: DEFAULT_WAIT_S,
        max_concurrent_batches: 1,
    };
    let tokens = match &first.meta {
        syn::Meta::Path(_) => TokenStream::new(),
        syn::Meta::List(list) => list.tokens.clone(),
        syn::Meta::NameValue(nv) => {
            errors.help(
                nv.span(),
                "`#[batch]` takes a list of options",
                "write `#[batch(max_batch_size = 32, batch_wait_timeout_s = 0.01)]`",
            );
            return Some(out);
        }
    };
    for opt in options::parse(tokens, options::Place::Batch, errors) {
        if opt.key == "max_batch_size" {
            if let Some(n) = options::integer(&opt, 1, errors) {
                out.max_batch_size = n.min(u64::from(u32::MAX)) as u32;
                out.max_batch_size_at = opt.value.span();
            }
        } else if opt.key == "max_concurrent_batches" {
            if let Some(n) = options::integer(&opt, 1, errors) {
                out.max_concurrent_batches = n.min(u64::from(u32::MAX)) as u32;
            }
        } else if let Some(s) = options::seconds(&opt, errors) {
            out.batch_wait_timeout_s = s;
        }
    }
    Some(out)
}

/// A batched method's types: each caller passes one `input` and gets one `output`.
pub struct BatchTypes {
    pub input: Type,
    pub output: Type,
}

/// Checks the signature is `(&self, xs: Vec<In>) -> Vec<Out>` (or `Result<Vec<Out>, E>`;
/// no `self` for a function deployment) and gives `In` and `Out`.
pub fn signature(sig: &Signature, errors: &mut Errors) -> Option<BatchTypes> {
    let name = &sig.ident;
    let fix = format!("write `async fn {name}(&self, inputs: Vec<In>) -> Vec<Out>`");
    let values: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(pat) => Some(pat),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let mut ok = true;
    if let Some(ctx) = values.iter().find(|p| context_param(&p.ty).is_some()) {
        errors.spanned(
            &ctx.ty,
            "a `#[batch]` method cannot take the replica's context",
            "keep what the batch needs in the struct, set up in `new`",
        );
        ok = false;
    }
    let values: Vec<_> = values
        .into_iter()
        .filter(|p| context_param(&p.ty).is_none())
        .collect();
    let input = match values.as_slice() {
        [one] => match vec_item(&one.ty) {
            Some(item) => Some(item.clone()),
            None => {
                errors.help(
                    one.ty.span(),
                    format!(
                        "a `#[batch]` method takes a `Vec` of inputs, one per caller, not `{}`",
                        type_text(&one.ty)
                    ),
                    format!(
                        "write `inputs: Vec<{}>`: callers still pass one `{}` each",
                        type_text(&one.ty),
                        type_text(&one.ty)
                    ),
                );
                None
            }
        },
        [] => {
            errors.help(
                name.span(),
                format!("the `#[batch]` method `{name}` takes no inputs"),
                &fix,
            );
            None
        }
        [_, extra, ..] => {
            errors.help(
                extra.span(),
                "a `#[batch]` method takes one `Vec` of inputs",
                "put what each caller passes into one type (a struct or a tuple) and take a `Vec` of it",
            );
            None
        }
    };
    let output = match &sig.output {
        ReturnType::Default => {
            errors.help(
                name.span(),
                format!("the `#[batch]` method `{name}` returns nothing"),
                "return `Vec<Out>`, one output per input, in the inputs' order",
            );
            None
        }
        ReturnType::Type(_, ty) => {
            let vec = result_ok(ty).unwrap_or(ty);
            match vec_item(vec) {
                Some(item) => Some(item.clone()),
                None => {
                    errors.help(
                        vec.span(),
                        format!(
                            "a `#[batch]` method returns a `Vec` of outputs, one per input, not `{}`",
                            type_text(vec)
                        ),
                        format!("return `Vec<{}>`, in the inputs' order", type_text(vec)),
                    );
                    None
                }
            }
        }
    };
    let (input, output) = (input?, output?);
    ok.then_some(BatchTypes { input, output })
}

/// `T` of `Vec<T>` (by the last path segment's name).
fn vec_item(ty: &Type) -> Option<&Type> {
    first_type_arg_of(ty, "Vec")
}

/// `T` of `Result<T, E>` or of a one-parameter alias such as `anyhow::Result<T>`.
fn result_ok(ty: &Type) -> Option<&Type> {
    first_type_arg_of(ty, "Result")
}

/// The first type argument of `ty` when its last path segment is `name`.
fn first_type_arg_of<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if last.ident != name {
                return None;
            }
            first_type_arg(&last.arguments)
        }
        Type::Group(g) => first_type_arg_of(&g.elem, name),
        Type::Paren(p) => first_type_arg_of(&p.elem, name),
        _ => None,
    }
}

fn first_type_arg(args: &PathArguments) -> Option<&Type> {
    match args {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn type_text(ty: &Type) -> String {
    quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
}

/// The `Deployment::BATCHED` item: each batched method's name and sizes, in order; and
/// a check per method that its batches can fill, reported at its `max_batch_size`.
pub fn specs(
    self_ty: &TokenStream,
    batched: &[(String, &BatchAttr)],
) -> (TokenStream, TokenStream) {
    if batched.is_empty() {
        return Default::default();
    }
    let private = private();
    let checks = batched.iter().map(|(_, a)| {
        let size = a.max_batch_size;
        let message = format!(
            "`max_batch_size = {size}` is more than this deployment's `max_ongoing_requests`: \
             each caller holds one of its replica's `max_ongoing_requests` slots while it \
             waits, so no batch could fill; set `max_ongoing_requests = {size}` or more on \
             the struct's `#[deployment(...)]`"
        );
        quote_spanned! {a.max_batch_size_at=>
            const _: () = if <#self_ty as #private::Deployment>::OPTIONS.max_ongoing_requests < #size {
                ::core::panic!(#message)
            };
        }
    });
    let checks = quote!(#(#checks)*);
    let specs = batched.iter().map(|(name, a)| {
        let size = a.max_batch_size;
        let wait = a.batch_wait_timeout_s;
        let concurrent = a.max_concurrent_batches;
        quote!(#private::BatchSpec {
            method: #name,
            max_batch_size: #size,
            batch_wait_timeout_s: #wait,
            max_concurrent_batches: #concurrent,
        })
    });
    let specs = quote!(const BATCHED: &'static [#private::BatchSpec] = &[#(#specs),*];);
    (specs, checks)
}
