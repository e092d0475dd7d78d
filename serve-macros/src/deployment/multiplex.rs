//! `#[multiplexed(max_num_models_per_replica = 3)]` on the method that loads a model by id,
//! and the methods that take a `Loaded<M>`: their clients take the model's id instead.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ImplItemFn, Type};

use crate::deployment::parse::{Output, context_param};
use crate::diag::Errors;
use crate::options;
use crate::paths::private;

/// The attribute's name; users write it without importing anything.
pub const ATTRIBUTE: &str = "multiplexed";

/// Ray Serve's default.
const DEFAULT_MAX_MODELS: u64 = 3;

/// The deployment's loader: its name, sizes and how to call it.
pub struct Loader<'a> {
    pub f: &'a ImplItemFn,
    pub max_num_models_per_replica: u32,
    pub output: Output,
    pub is_async: bool,
}

/// Whether `ty` is `Loaded<M>`, by its last name as the runtime exports it.
pub fn is_loaded(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Loaded" && !s.arguments.is_none()),
        Type::Group(g) => is_loaded(&g.elem),
        Type::Paren(p) => is_loaded(&p.elem),
        _ => false,
    }
}

pub fn has_attr(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident(ATTRIBUTE))
}

/// The impl's loader: the one method marked `#[multiplexed]`, its signature checked to be
/// `(&self, model_id: String) -> M` (or `Result<M, E>`).
pub fn loader<'a>(
    methods: &[&'a ImplItemFn],
    self_ty: &Type,
    errors: &mut Errors,
) -> Option<Loader<'a>> {
    let mut marked = methods.iter().filter(|f| has_attr(&f.attrs));
    let f = *marked.next()?;
    for again in marked {
        let attr = again.attrs.iter().find(|a| a.path().is_ident(ATTRIBUTE));
        errors.spanned(
            attr,
            "a deployment has one `#[multiplexed]` loader",
            format!("`{}` already loads the models", f.sig.ident),
        );
    }
    let attr = f.attrs.iter().find(|a| a.path().is_ident(ATTRIBUTE))?;
    let mut max = DEFAULT_MAX_MODELS;
    if let syn::Meta::List(list) = &attr.meta {
        for opt in options::parse(list.tokens.clone(), options::Place::Multiplexed, errors) {
            if let Some(n) = options::integer(&opt, 1, errors) {
                max = n;
            }
        }
    }
    let fix = format!(
        "write `async fn {}(&self, model_id: String) -> Result<Model, E>`",
        f.sig.ident
    );
    let values: Vec<&syn::PatType> = f
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(p) if context_param(&p.ty).is_none() => Some(p),
            _ => None,
        })
        .collect();
    let ok = match values.as_slice() {
        [one] if is_string(&one.ty) => true,
        [one] => {
            errors.spanned(
                &one.ty,
                "the `#[multiplexed]` loader takes the model's id as a `String`",
                &fix,
            );
            false
        }
        _ => {
            errors.help(
                f.sig.ident.span(),
                "the `#[multiplexed]` loader takes one argument: the model's id",
                &fix,
            );
            false
        }
    };
    let output = Output::of(&f.sig.output, self_ty);
    if let Output::Unit = output {
        errors.help(
            f.sig.ident.span(),
            "the `#[multiplexed]` loader returns the model it loaded",
            &fix,
        );
        return None;
    }
    ok.then_some(Loader {
        f,
        max_num_models_per_replica: max.min(u64::from(u32::MAX)) as u32,
        output,
        is_async: f.sig.asyncness.is_some(),
    })
}

fn is_string(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "String")
        }
        Type::Group(g) => is_string(&g.elem),
        _ => false,
    }
}

/// The `Deployment::MULTIPLEXED` item.
pub fn spec(loader: &Loader<'_>) -> TokenStream {
    let private = private();
    let name = loader.f.sig.ident.to_string();
    let max = loader.max_num_models_per_replica;
    quote! {
        const MULTIPLEXED: ::core::option::Option<#private::MultiplexSpec> =
            ::core::option::Option::Some(#private::MultiplexSpec { loader: #name, max_num_models_per_replica: #max });
    }
}

/// The statement that gets the call's model from its replica (loading it if need be), as
/// `model` (an expression of `Loaded<M>`); `replica` is the call's guard.
pub fn fetch(
    self_ty: &TokenStream,
    loader: &Loader<'_>,
    replica: &TokenStream,
    id: &TokenStream,
    model: &TokenStream,
) -> TokenStream {
    let private = private();
    let name = &loader.f.sig.ident;
    let awaited = loader.is_async.then(|| quote!(.await));
    let call = quote!(<#self_ty>::#name(__serve_d, __serve_id) #awaited);
    let load = match &loader.output {
        Output::Fallible(ty) => {
            quote_spanned!(ty.span()=> #private::IntoNodeResult::into_node_result(#call))
        }
        _ => quote!(#private::Result::Ok(#call)),
    };
    quote! {
        let #model = #private::load_model(
            &#replica,
            #id,
            &<#self_ty as #private::Deployment>::MULTIPLEXED.expect("the deployment has a loader"),
            |__serve_d: &#self_ty, __serve_id: ::std::string::String| async move { #load },
        )
        .await?;
    }
}

fn loaded_param(sig: &syn::Signature) -> Option<&Type> {
    sig.inputs.iter().find_map(|a| match a {
        FnArg::Typed(p) if is_loaded(&p.ty) => Some(&*p.ty),
        _ => None,
    })
}

/// Whether `sig` takes a `Loaded<M>`.
pub fn takes_model(sig: &syn::Signature) -> bool {
    loaded_param(sig).is_some()
}

/// False, with an error at the parameter, when `sig` takes a `Loaded<M>` that no loader
/// of the deployment could make.
pub fn needs_no_loader(sig: &syn::Signature, errors: &mut Errors) -> bool {
    let Some(loaded) = loaded_param(sig) else {
        return true;
    };
    errors.spanned(
        loaded,
        format!("`{}` takes a loaded model, but the deployment loads none", sig.ident),
        "add a loader to the impl: `#[multiplexed(max_num_models_per_replica = 3)] async fn load(&self, model_id: String) -> Result<Model, E>`",
    );
    false
}
