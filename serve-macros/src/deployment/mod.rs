//! `#[deployment]` on a struct (name and options), on its impl (methods and constructor),
//! or on an `async fn` (a stateless function node).

mod attr;
mod batch;
mod check;
mod expand;
mod method_attr;
mod multiplex;
mod parse;
mod shared;
mod wire;

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::spanned::Spanned;
use syn::{Item, ItemFn, ItemImpl, ItemStruct};

use crate::diag::{Errors, report_expansion};
pub use attr::ReplicaOptions;

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let started = std::time::Instant::now();
    let item = match syn::parse2::<Item>(item.clone()) {
        Ok(item) => item,
        // Not Rust we can read: give rustc the tokens back so its error is the one shown.
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#item #e);
        }
    };
    let mut errors = Errors::default();
    let (name, out) = match &item {
        Item::Struct(s) => (s.ident.to_string(), on_struct(attr, s, &mut errors)),
        Item::Impl(i) => (
            i.self_ty.to_token_stream().to_string(),
            on_impl(attr, i, &mut errors),
        ),
        Item::Fn(f) => (f.sig.ident.to_string(), on_fn(attr, f, &mut errors)),
        other => {
            errors.help(
                other.span(),
                "`#[deployment]` goes on a struct, its `impl` block, or an `async fn`",
                "mark `struct Model` and `impl Model`, or `async fn step(...)`",
            );
            (String::new(), other.to_token_stream())
        }
    };
    let errors = errors.into_compile_errors();
    let out = quote!(#out #errors);
    report_expansion("deployment", &name, &out, started.elapsed());
    out
}

fn on_struct(attr: TokenStream, item: &ItemStruct, errors: &mut Errors) -> TokenStream {
    let attr = attr::parse(attr, errors);
    if !item.generics.params.is_empty() {
        let only_lifetimes = item
            .generics
            .params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
        if only_lifetimes {
            errors.help(
                item.generics.span(),
                "a deployment cannot borrow: each replica holds it for as long as it serves",
                "own what it holds (`String`, `Vec<T>`, or `Arc<T>` to share one value between replicas) and drop the lifetime",
            );
        } else {
            errors.help(
                item.generics.span(),
                "a deployment cannot be generic",
                "each replica is built with concrete types: use a concrete type, or a trait object (`Box<dyn Model + Send + Sync>`)",
            );
        }
        return item.to_token_stream();
    }
    let ident = &item.ident;
    let config = expand::config(&quote!(#ident), ident, &attr);
    let mut not_shared = false;
    for field in &item.fields {
        if let Some(found) = shared::not_shared(&field.ty) {
            errors.spanned(found.tokens, found.message, found.help);
            not_shared = true;
        }
    }
    // The error above stops the build, so these never hold in a program that runs; they
    // keep every use of the deployment from repeating the error through the runtime's
    // types (its client, replica set, and the futures of its methods).
    let silence = not_shared.then(|| {
        quote! {
            unsafe impl ::core::marker::Send for #ident {}
            unsafe impl ::core::marker::Sync for #ident {}
        }
    });
    quote!(#item #config #silence)
}

fn on_impl(attr: TokenStream, item: &ItemImpl, errors: &mut Errors) -> TokenStream {
    if !attr.is_empty() {
        errors.help(
            attr.span(),
            "deployment options go on the struct, not on its impl block",
            "move them to `#[deployment(...)]` on the struct",
        );
    }
    // `#[batch]` is read here and removed: rustc has no such attribute.
    let mut cleaned = item.clone();
    for f in cleaned.items.iter_mut() {
        if let syn::ImplItem::Fn(f) = f {
            method_attr::strip(&mut f.attrs);
        }
    }
    let d = parse::deployment_impl(item);
    for f in &d.hooks {
        let what = format!("`{}`, which the runtime calls", f.sig.ident);
        method_attr::misplaced(&f.attrs, &what, errors);
    }
    for f in item.items.iter().filter_map(|i| match i {
        syn::ImplItem::Fn(f) if f.sig.receiver().is_none() => Some(f),
        _ => None,
    }) {
        let what = format!("`{}`, which takes no `self`", f.sig.ident);
        method_attr::misplaced(&f.attrs, &what, errors);
    }
    let item = &cleaned;
    if !check::deployment_impl(&d, errors) {
        return item.to_token_stream();
    }
    let ident = parse::type_ident(d.self_ty).expect("checked above");
    let self_ty = d.self_ty.to_token_stream();
    // The loader of a multiplexed deployment is the runtime's to call, not a handle's.
    let loader = multiplex::loader(&d.methods, d.self_ty, errors);
    // A loader that was refused has its error; the methods that need it are left out
    // without another.
    let loader_refused =
        loader.is_none() && d.methods.iter().any(|f| multiplex::has_attr(&f.attrs));
    // Methods that break a rule are left out of the client, so one mistake gives one error.
    let checked: Vec<_> = d
        .methods
        .iter()
        .filter(|f| !multiplex::has_attr(&f.attrs))
        .filter(|f| {
            check::method(&f.sig, errors)
                && (loader.is_some()
                    || (!loader_refused && multiplex::needs_no_loader(&f.sig, errors))
                    || (loader_refused && !multiplex::takes_model(&f.sig)))
        })
        .collect();
    let first_sync = checked
        .iter()
        .find(|f| f.sig.asyncness.is_none())
        .map(|f| f.sig.fn_token.span);
    let mut hook = |name: &str| {
        d.hooks
            .iter()
            .find(|f| f.sig.ident == name)
            .filter(|f| check::hook(&f.sig, d.self_ty, errors))
            .map(|f| parse::method(f, d.self_ty))
    };
    let check_health = hook(parse::CHECK_HEALTH);
    let shutdown = hook(parse::SHUTDOWN);
    let reconfigure = d
        .hooks
        .iter()
        .find(|f| f.sig.ident == parse::RECONFIGURE)
        .and_then(|f| {
            let config = check::reconfigure(&f.sig, d.self_ty, errors)?;
            Some((parse::method(f, d.self_ty), config))
        });
    let (hooks, hook_helpers) = expand::hooks(
        &self_ty,
        check_health.as_ref(),
        shutdown.as_ref(),
        reconfigure.as_ref().map(|(m, c)| (m, c)),
    );
    let mut batch_attrs = Vec::new();
    let mut methods = Vec::new();
    let mut wire_arms = Vec::new();
    for f in checked {
        let m = parse::method(f, d.self_ty);
        let name = &f.sig.ident;
        let target = quote!(<#self_ty>::#name);
        let client = match batch::attr(&f.attrs, errors) {
            None => expand::client_method(&self_ty, &m, name, target, true, loader.as_ref()),
            Some(attr) => {
                // A batched method whose signature is wrong is left out of the client.
                let Some(types) = batch::signature(&f.sig, errors) else {
                    continue;
                };
                let index = batch_attrs.len();
                let client =
                    expand::batched_client_method(&self_ty, &m, name, target, true, index, &types);
                batch_attrs.push((name.to_string(), attr));
                client
            }
        };
        methods.push((name.clone(), client.0));
        wire_arms.push(client.1);
    }
    let batched: Vec<_> = batch_attrs.iter().map(|(n, a)| (n.clone(), a)).collect();
    let mut batched = batch::specs(&self_ty, &batched);
    if let Some(loader) = &loader {
        batched.0.extend(multiplex::spec(loader));
    }
    let bind_params = d.ctor.as_ref().map(expand::bind_params).unwrap_or_default();
    let bind = match &d.ctor {
        Some(ctor) => expand::bind_with_ctor(&self_ty, ctor),
        None => expand::bind_without_args(&self_ty, expand::default_construct(d.self_ty)),
    };
    let parts = expand::Parts {
        vis: &syn::Visibility::Public(Default::default()),
        self_ty,
        ident,
        kind: expand::kind("Struct"),
        methods,
        wire_arms,
        bind,
        first_sync,
        hooks,
        hook_helpers,
        bind_params,
        batched,
    };
    let generated = expand::deployment(parts);
    quote!(#item #generated)
}

fn on_fn(attr: TokenStream, item: &ItemFn, errors: &mut Errors) -> TokenStream {
    let attr = attr::parse(attr, errors);
    let batch = batch::attr(&item.attrs, errors);
    let mut cleaned = item.clone();
    // A function takes `#[batch]`; `#[multiplexed]` is left for rustc to refuse.
    cleaned
        .attrs
        .retain(|a| !a.path().is_ident(batch::ATTRIBUTE));
    let original = item;
    let item = &cleaned;
    if !check::function(&item.sig, errors) || !multiplex::needs_no_loader(&item.sig, errors) {
        return item.to_token_stream();
    }
    let ident = &item.sig.ident;
    let vis = &item.vis;
    // A braced struct lives only in the type namespace, so it can share the fn's name:
    // graphs name the deployment `aggregate` and still call the fn `aggregate`.
    let marker = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #ident { __serve_private: () }
    };
    let self_ty = quote!(#ident);
    let self_type: syn::Type = syn::parse_quote!(#ident);
    let method = parse::function(item, &self_type);
    let call = format_ident!("call", span = ident.span());
    let mut batch_types = None;
    let (client, batched) = match batch {
        None => (
            expand::client_method(&self_ty, &method, &call, quote!(#ident), false, None),
            Default::default(),
        ),
        Some(batch) => {
            let Some(types) = batch::signature(&original.sig, errors) else {
                return item.to_token_stream();
            };
            let client = expand::batched_client_method(
                &self_ty,
                &method,
                &call,
                quote!(#ident),
                false,
                0,
                &types,
            );
            let specs = batch::specs(&self_ty, &[("call".to_owned(), &batch)]);
            batch_types = Some(types);
            (client, specs)
        }
    };
    let (client, arm) = client;
    let methods = vec![(call.clone(), client)];
    let bind = expand::bind_without_args(&self_ty, quote!(#ident { __serve_private: () }));
    let config = expand::config(&self_ty, ident, &attr);
    let parts = expand::Parts {
        vis,
        self_ty: self_ty.clone(),
        ident,
        kind: expand::kind("Function"),
        methods,
        wire_arms: vec![arm],
        bind,
        first_sync: item
            .sig
            .asyncness
            .is_none()
            .then_some(item.sig.fn_token.span),
        hooks: TokenStream::new(),
        hook_helpers: TokenStream::new(),
        bind_params: TokenStream::new(),
        batched,
    };
    let generated = expand::deployment(parts);
    let by_name = expand::fn_node(&self_ty);
    let route = format!(
        "/{}",
        attr.name
            .as_ref()
            .map_or_else(|| ident.to_string(), |n| n.value())
    );
    let alone = expand::standalone(&self_ty, &item.sig, &method, batch_types.as_ref(), &route);
    quote!(#item #marker #config #generated #by_name #alone)
}
