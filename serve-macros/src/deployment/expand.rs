//! Code generation for `#[deployment]`: config, client, binder and registration.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{LitStr, Type, Visibility};

use crate::deployment::attr::DeploymentAttr;
use crate::deployment::batch::BatchTypes;
use crate::deployment::multiplex::{self, Loader};
use crate::deployment::parse::{Ctor, Method, Output, Param, values};
use crate::deployment::wire;
use crate::graph::parse::tidy;
use crate::paths::{private, private_at};

/// `impl DeploymentConfig`: the name and options.
pub fn config(self_ty: &TokenStream, default_name: &Ident, attr: &DeploymentAttr) -> TokenStream {
    let private = private();
    let name = attr
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&default_name.to_string(), default_name.span()));
    let options = attr.replicas.to_tokens();
    let wire = if attr.remote {
        quote!(#private::Apart)
    } else {
        quote!(#private::InProcess)
    };
    quote! {
        impl #private::DeploymentConfig for #self_ty {
            const NAME: &'static str = #name;
            const OPTIONS: #private::DeclaredOptions = #options;
            type Wire = #wire;
        }
    }
}

/// The generated items every deployment has: client struct, binder struct, the
/// `Deployment` impl and the inventory registration.
pub struct Parts<'a> {
    pub vis: &'a Visibility,
    pub self_ty: TokenStream,
    pub ident: &'a Ident,
    pub kind: TokenStream,
    pub methods: Vec<(Ident, TokenStream)>,
    /// Each method's arm of `serve_wire`.
    pub wire_arms: Vec<wire::WireArm>,
    pub bind: TokenStream,
    /// The first sync method's `fn` token, if any: such a deployment runs on threads.
    pub first_sync: Option<Span>,
    /// `check_health`, `shutdown` and `reconfigure`, as `Deployment` trait items.
    pub hooks: TokenStream,
    /// What those items call, in an inherent impl of the type.
    pub hook_helpers: TokenStream,
    /// `__serve_bind_params`, as a `Deployment` trait item, when `new` takes arguments.
    pub bind_params: TokenStream,
    /// `BATCHED`, as a `Deployment` trait item, when methods are `#[batch]`, and the
    /// checks of their sizes against the options.
    pub batched: (TokenStream, TokenStream),
}

pub fn deployment(parts: Parts<'_>) -> TokenStream {
    let private = private();
    let Parts {
        vis,
        self_ty,
        ident,
        kind,
        methods,
        wire_arms,
        bind,
        first_sync,
        hooks,
        hook_helpers,
        bind_params,
        batched: (batched, batch_checks),
    } = parts;
    let serve_wire = wire::serve(&wire_arms);
    // Spanned at the impl's type, so a struct without `#[deployment]` is reported there.
    let config = quote_spanned!(ident.span()=> #self_ty);
    // Spanned at the impl's type, as `config` is: a struct without `#[deployment]` is one
    // error there, not a second one at the attribute.
    let wire = {
        let private = private_at(ident.span());
        quote_spanned! {ident.span()=>
            type Wire = <#config as #private::DeploymentConfig>::Wire;
            const REMOTE: bool = <<#config as #private::DeploymentConfig>::Wire as #private::WireMode>::REMOTE;
        }
    };
    let client = format_ident!("__serve_client_{}", ident);
    let binder = format_ident!("__serve_binder_{}", ident);
    let names: Vec<String> = methods.iter().map(|(name, _)| name.to_string()).collect();
    let bodies = methods.iter().map(|(_, body)| body);
    let has_sync = first_sync.is_some();
    let sync_check = first_sync.map(|span| {
        let message = format!(
            "`{ident}` has sync methods, which would block the server's threads if run inline: \
             remove `executor = inline` so that it runs on threads of its own, or make them `async`"
        );
        quote_spanned! {span=>
            const _: () = if ::core::matches!(
                <#config as #private::DeploymentConfig>::OPTIONS.executor,
                ::core::option::Option::Some(#private::Executor::Inline)
            ) {
                ::core::panic!(#message)
            };
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #client {
            __serve_set: #private::Arc<#private::ReplicaSet<#self_ty>>,
        }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Default)]
        #vis struct #binder {
            /// The `bind` arguments a config gives in place of the graph's.
            __serve_args: #private::BindArgs,
        }

        const _: () = {
            impl #private::Clone for #client {
                fn clone(&self) -> Self {
                    Self { __serve_set: #private::Clone::clone(&self.__serve_set) }
                }
            }

            impl #private::Client<#self_ty> for #client {
                fn from_set(set: #private::Arc<#private::ReplicaSet<#self_ty>>) -> Self {
                    Self { __serve_set: set }
                }
                fn set(&self) -> &#private::Arc<#private::ReplicaSet<#self_ty>> {
                    &self.__serve_set
                }
                #serve_wire
            }

            impl #private::Deployment for #self_ty {
                const NAME: &'static str = <#config as #private::DeploymentConfig>::NAME;
                const OPTIONS: #private::DeploymentOptions =
                    <#config as #private::DeploymentConfig>::OPTIONS.resolve(#has_sync);
                type Client = #client;
                #wire
                type Handle = #private::Handle<#self_ty>;
                type Binder = #binder;
                const METHODS: &'static [&'static str] = &[#(#names),*];
                #hooks
                #bind_params
                #batched
            }

            #hook_helpers

            #sync_check

            #batch_checks

            #[allow(private_interfaces, clippy::too_many_arguments)]
            impl #client {
                #(#bodies)*
            }

            #[allow(private_interfaces, clippy::too_many_arguments)]
            impl #binder {
                /// Takes the `bind` arguments a config gives.
                pub fn with_args(mut self, args: &#private::BindArgs) -> Self {
                    self.__serve_args = #private::Clone::clone(args);
                    self
                }

                #bind
            }

            #private::inventory::submit! {
                #private::DeploymentRegistration {
                    name: <#self_ty as #private::Deployment>::NAME,
                    module: ::core::module_path!(),
                    kind: #kind,
                    options: <#self_ty as #private::Deployment>::OPTIONS,
                    methods: &[#(#names),*],
                }
            }
        };
    }
}

/// Names for the parameters a caller passes, with their types.
fn args(params: &[Param]) -> (Vec<Ident>, Vec<&Type>) {
    let types = values(params);
    let names = (0..types.len())
        .map(|i| format_ident!("__serve_a{}", i))
        .collect();
    (names, types)
}

/// The arguments of the user's fn, in its order: the caller's values, and `context` (an
/// expression of type `&ReplicaContext`) where it takes the replica's context.
fn call_args(params: &[Param], names: &[Ident], context: &TokenStream) -> Vec<TokenStream> {
    let private = private();
    let mut names = names.iter();
    params
        .iter()
        .map(|p| match p {
            Param::Value(_) => {
                let name = names.next().expect("one name per value parameter");
                quote!(#name)
            }
            Param::Context { by_ref: true } => quote!(#context),
            Param::Context { by_ref: false } => quote!(#private::Clone::clone(#context)),
            Param::Model => quote!(__serve_model),
        })
        .collect()
}

/// `Result<T, Error>` of the client method, and the expression that yields it from `call`.
fn result(output: &Output, call: TokenStream) -> (TokenStream, TokenStream) {
    let private = private();
    match output {
        Output::Unit => (quote!(()), quote!(#private::Result::Ok(#call))),
        Output::Plain(ty) => (quote!(#ty), quote!(#private::Result::Ok(#call))),
        Output::Fallible(ty) => (
            quote!(<#ty as #private::IntoNodeResult>::Ok),
            quote_spanned!(ty.span()=> #private::IntoNodeResult::into_node_result(#call)),
        ),
    }
}

/// A client method: reserve a replica, hand the call to its executor, map errors and
/// panics. `target` is the callee path (`<Seg>::forward` or `aggregate`), `receiver` adds
/// `&*replica`.
pub fn client_method(
    self_ty: &TokenStream,
    method: &Method<'_>,
    exposed: &Ident,
    target: TokenStream,
    receiver: bool,
    loader: Option<&Loader<'_>>,
) -> (TokenStream, wire::WireArm) {
    let private = private();
    let (names, types) = args(&method.params);
    let docs = &method.docs;
    let vis = method.vis;
    let replica = quote!(__serve_replica);
    let self_arg = receiver.then(|| quote!(&*#replica,));
    let context = quote!(__serve_context);
    let awaited = method.is_async.then(|| quote!(.await));
    // Inline, the replica's own context; on threads, the call's, with its cancellation.
    // A method that takes a `Loaded<M>` is called with the model's id in its place, and
    // gets the model from its replica's cache first, where the call runs.
    let model_id_ident = format_ident!("__serve_model_id");
    let model_id = quote!(#model_id_ident);
    let takes_model = method.params.iter().any(|p| matches!(p, Param::Model));
    let fetch = match loader {
        Some(loader) if takes_model => Some(multiplex::fetch(
            self_ty,
            loader,
            &replica,
            &model_id,
            &quote!(__serve_model),
        )),
        _ => None,
    };
    let body_with = |context: TokenStream| {
        let args = call_args(&method.params, &names, &context);
        let call = quote!(#target(#self_arg #(#args),*) #awaited);
        let (ok, body) = result(&method.output, call);
        (ok, quote!({ #fetch #body }))
    };
    let (ok, inline_body) = body_with(quote!(#replica.context()));
    let (_, threads_body) = body_with(quote!(&#context));
    let label = exposed.to_string();
    let (inline_call, threads_call) = if method.output.streams() {
        // The stream keeps the call's slot until it ends; on threads it runs there.
        (
            quote! {
                let __serve_stream =
                    #private::invoke_inline(&#replica, #label, async { #inline_body }).await?;
                #private::Result::Ok(#private::hold_stream(__serve_stream, #replica, #label))
            },
            {
                let private = private_at(exposed.span());
                quote_spanned! {exposed.span()=>
                    #private::invoke_threads_stream(#replica, #label, move |#replica, #context| async move {
                        let (#replica, #context) = (#replica, #context);
                        let __serve_result = #threads_body;
                        (#replica, __serve_result)
                    }).await
                }
            },
        )
    } else {
        (
            quote!(#private::invoke_inline(&#replica, #label, async { #inline_body }).await),
            // The block owns the guard even when the body does not use it (a function
            // deployment): the replica's slot is held until the call's work ends. The call
            // is spanned at the method's name, where rustc then puts the error for a
            // method whose future is not `Send` (an `Rc` or a `MutexGuard` held across an
            // `.await`), which cannot run on a replica's threads.
            {
                let private = private_at(exposed.span());
                quote_spanned! {exposed.span()=>
                    #private::invoke_threads(#replica, #label, move |#replica, #context| async move {
                        let (#replica, #context) = (#replica, #context);
                        #threads_body
                    }).await
                }
            },
        )
    };
    let acquire = if fetch.is_some() {
        quote!(self.__serve_set.acquire_model(&#model_id).await?)
    } else {
        quote!(self.__serve_set.acquire().await?)
    };
    // The caller's parameters in the method's order, the model's id where it takes the model.
    let mut values = names.iter().zip(&types);
    let passed: Vec<wire::Arg<'_>> = method
        .params
        .iter()
        .filter_map(|p| match p {
            Param::Value(_) => values.next().map(|(name, ty)| wire::Arg {
                name,
                ty: quote!(#ty),
                span: ty.span(),
            }),
            Param::Model if fetch.is_some() => Some(wire::Arg {
                name: &model_id_ident,
                ty: quote!(::std::string::String),
                span: exposed.span(),
            }),
            Param::Model | Param::Context { .. } => None,
        })
        .collect();
    let params = passed.iter().map(|a| {
        let (name, ty) = (a.name, &a.ty);
        quote!(#name: #ty)
    });
    let wire = wire::method(
        self_ty,
        exposed,
        &passed,
        &ok,
        output_span(&method.output, exposed),
    );
    let (codecs, branch) = (&wire.codecs, &wire.branch);
    let body = quote! {
        #codecs

        #(#docs)*
        #vis async fn #exposed(&self, #(#params),*) -> #private::Result<#ok, #private::Error> {
            #branch
            let #replica = #acquire;
            // A constant: the branch not taken is compiled out.
            if ::core::matches!(
                <#self_ty as #private::Deployment>::OPTIONS.executor,
                #private::Executor::Inline
            ) {
                #inline_call
            } else {
                #threads_call
            }
        }
    };
    (body, wire.arm)
}

/// Where an error about a method's result type points: the type, or the method's name
/// when it returns nothing.
fn output_span(output: &Output, name: &Ident) -> Span {
    match output {
        Output::Unit => name.span(),
        Output::Plain(ty) | Output::Fallible(ty) => ty.span(),
    }
}

/// A batched method's client: one input in, one output back. The input joins its
/// replica's queue for the method; the user's method runs on whole batches.
#[allow(clippy::too_many_arguments)]
pub fn batched_client_method(
    self_ty: &TokenStream,
    method: &Method<'_>,
    exposed: &Ident,
    target: TokenStream,
    receiver: bool,
    index: usize,
    types: &BatchTypes,
) -> (TokenStream, wire::WireArm) {
    let private = private();
    let docs = &method.docs;
    let vis = method.vis;
    let BatchTypes { input, output } = types;
    let replica = quote!(__serve_replica);
    let inputs = quote!(__serve_inputs);
    let self_arg = receiver.then(|| quote!(&*#replica,));
    let awaited = method.is_async.then(|| quote!(.await));
    let call = quote!(#target(#self_arg #inputs) #awaited);
    let body = match &method.output {
        Output::Fallible(ty) => {
            quote_spanned!(ty.span()=> #private::IntoNodeResult::into_node_result(#call))
        }
        _ => quote!(#private::Result::Ok(#call)),
    };
    let label = exposed.to_string();
    let input_name = format_ident!("__serve_a0");
    let passed = [wire::Arg {
        name: &input_name,
        ty: quote!(#input),
        span: input.span(),
    }];
    let wire = wire::method(self_ty, exposed, &passed, &quote!(#output), output.span());
    let (codecs, branch) = (&wire.codecs, &wire.branch);
    let body = quote! {
        #codecs

        #(#docs)*
        #vis async fn #exposed(&self, __serve_a0: #input) -> #private::Result<#output, #private::Error> {
            #branch
            let #replica = self.__serve_set.acquire().await?;
            #private::invoke_batched(
                #replica,
                #label,
                #index,
                __serve_a0,
                |#replica: #private::BatchReplica<#self_ty>, #inputs: ::std::vec::Vec<#input>| {
                    #private::batch_future(async move {
                        let _ = &#replica;
                        #body
                    })
                },
            )
            .await
        }
    };
    (body, wire.arm)
}

/// `check_health`, `shutdown` and `reconfigure` as the `Deployment` trait's hidden items,
/// for those the impl has; and the inherent items they call.
pub fn hooks(
    self_ty: &TokenStream,
    check_health: Option<&Method<'_>>,
    shutdown: Option<&Method<'_>>,
    reconfigure: Option<(&Method<'_>, &Type)>,
) -> (TokenStream, TokenStream) {
    let private = private();
    let call = |name: &str, m: &Method<'_>| {
        let ident = Ident::new(name, Span::call_site());
        let awaited = m.is_async.then(|| quote!(.await));
        quote!(<#self_ty>::#ident(self) #awaited)
    };
    let check = check_health.map(|m| {
        let call = call("check_health", m);
        let body = match &m.output {
            Output::Fallible(ty) => quote_spanned!(ty.span()=> #private::IntoNodeResult::into_node_result(#call)),
            _ => quote!({ #call; #private::Result::Ok(()) }),
        };
        quote! {
            const HAS_CHECK_HEALTH: bool = true;
            fn __serve_check_health(&self) -> impl ::core::future::Future<Output = #private::Result<(), #private::BoxError>> + ::core::marker::Send {
                async move { #body }
            }
        }
    });
    let shutdown = shutdown.map(|m| {
        let call = call("shutdown", m);
        quote! {
            fn __serve_shutdown(&self) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                async move { #call; }
            }
        }
    });
    let inherent = reconfigure.map(|(_, config)| {
        // The one place that needs `C: Deserialize`, so a type without it is one error, on
        // the parameter's type.
        let parse = quote_spanned!(config.span()=> #private::user_config::<#config>);
        quote! {
            #[doc(hidden)]
            #[allow(dead_code)]
            impl #self_ty {
                fn __serve_user_config(config: #private::JsonValue) -> #private::Result<#config, #private::BoxError> {
                    #parse(config)
                }
            }
        }
    });
    let reconfigure = reconfigure.map(|(m, _)| {
        let awaited = m.is_async.then(|| quote!(.await));
        let call = quote!(<#self_ty>::reconfigure(self, __serve_config) #awaited);
        let body = match &m.output {
            Output::Fallible(ty) => quote_spanned!(ty.span()=> #private::IntoNodeResult::into_node_result(#call)),
            _ => quote!({ #call; #private::Result::Ok(()) }),
        };
        quote! {
            const HAS_RECONFIGURE: bool = true;
            fn __serve_check_user_config(__serve_config: &#private::JsonValue) -> #private::Result<(), ::std::string::String> {
                <#self_ty>::__serve_user_config(#private::Clone::clone(__serve_config))
                    .map(::core::mem::drop)
                    .map_err(|e| ::std::string::ToString::to_string(&e))
            }
            fn __serve_reconfigure(&self, __serve_config: #private::JsonValue) -> impl ::core::future::Future<Output = #private::Result<(), #private::BoxError>> + ::core::marker::Send {
                async move {
                    let __serve_config = <#self_ty>::__serve_user_config(__serve_config)?;
                    #body
                }
            }
        }
    });
    (quote!(#check #shutdown #reconfigure), quote!(#inherent))
}

/// `Binder::bind(args) -> Factory<T>`: each replica gets its own clone of the arguments,
/// and its context where `new` takes one.
pub fn bind_with_ctor(self_ty: &TokenStream, ctor: &Ctor<'_>) -> TokenStream {
    let private = private();
    let (names, types) = args(&ctor.params);
    let clones = names
        .iter()
        .zip(&types)
        .map(|(n, ty)| quote_spanned!(ty.span()=> let #n: #ty = #private::Clone::clone(&#n);));
    let context = quote!(__serve_context);
    let call_args = call_args(&ctor.params, &names, &quote!(&#context));
    let awaited = ctor.sig.asyncness.map(|_| quote!(.await));
    let call = quote!(<#self_ty>::new(#(#call_args),*) #awaited);
    let (_, construct) = result(&ctor.output, call);
    let span = ctor.sig.ident.span();
    let bind = Ident::new("bind", span);
    let params = param_names(ctor.sig);
    let read = names.iter().zip(&types).zip(&params).map(|((n, ty), p)| {
        let parse = if readable(ty) {
            quote!((&&#private::ArgParser::<#ty>::NEW).parse_arg(__serve_value))
        } else {
            quote!(#private::ParseArgFallback::<#ty>::parse_arg(&#private::ArgParser::<#ty>::NEW, __serve_value))
        };
        quote! {
            let #n: #ty = match __serve_args.get(#p) {
                ::core::option::Option::Some(__serve_value) => #parse.map_err(|why| {
                    #private::Error::Config(::std::format!(
                        "`bind` argument `{}` of `{}`: {}",
                        #p,
                        <#self_ty as #private::Deployment>::NAME,
                        why
                    ))
                })?,
                ::core::option::Option::None => #private::ConstArg::into_arg(#n),
            };
        }
    });
    quote! {
        pub fn #bind(
            self,
            #(#names: impl #private::ConstArg<#types>),*
        ) -> #private::Result<#private::Factory<#self_ty>, #private::Error> {
            #[allow(unused_imports)]
            use #private::{ParseArg as _, ParseArgFallback as _};
            let __serve_args = &self.__serve_args;
            #(#read)*
            #private::Result::Ok(#private::Factory::new(move |#context: #private::ReplicaContext| {
                #(#clones)*
                async move { #construct }
            }))
        }
    }
}

/// The `Deployment` trait item that lists `new`'s parameters a `bind` gives, and whether a
/// config can set each.
pub fn bind_params(ctor: &Ctor<'_>) -> TokenStream {
    let private = private();
    let (_, types) = args(&ctor.params);
    let params = param_names(ctor.sig);
    let entries = types.iter().zip(&params).map(|(ty, p)| {
        let configurable = if readable(ty) {
            quote!((&&#private::ArgParser::<#ty>::NEW).configurable())
        } else {
            quote!(false)
        };
        quote!(#private::BindParam { name: #p, configurable: #configurable })
    });
    quote! {
        fn __serve_bind_params() -> ::std::vec::Vec<#private::BindParam> {
            #[allow(unused_imports)]
            use #private::{ParseArg as _, ParseArgFallback as _};
            ::std::vec![#(#entries),*]
        }
    }
}

/// The names of `new`'s parameters a `bind` gives (not the replica's context), as written;
/// `argN` where a pattern has no single name.
fn param_names(sig: &syn::Signature) -> Vec<String> {
    sig.inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(pat) => Some(pat),
            syn::FnArg::Receiver(_) => None,
        })
        .filter(|pat| {
            let ty = &pat.ty;
            let text = quote!(#ty).to_string();
            // The replica's context is not a `bind` argument.
            !text.ends_with("ReplicaContext")
        })
        .enumerate()
        .map(|(i, pat)| match &*pat.pat {
            syn::Pat::Ident(p) => p.ident.to_string().trim_start_matches('_').to_owned(),
            _ => format!("arg{i}"),
        })
        .collect()
}

/// Whether a config may be able to read a value of `ty`: not when it borrows (`&'static
/// str`), whose `Deserialize` is tied to the input's lifetime and would not compile here.
fn readable(ty: &Type) -> bool {
    let text = quote!(#ty).to_string();
    !text.contains('&') && !text.contains('\'')
}

/// `bind()` of a deployment without `new`: `Default`, or the fn deployment's marker.
pub fn bind_without_args(self_ty: &TokenStream, construct: TokenStream) -> TokenStream {
    let private = private();
    quote! {
        pub fn bind(self) -> #private::Result<#private::Factory<#self_ty>, #private::Error> {
            #private::Result::Ok(#private::Factory::new(|_| async { #private::Result::Ok(#construct) }))
        }
    }
}

/// `FnNode` for a function deployment: what lets a graph call it by name.
pub fn fn_node(self_ty: &TokenStream) -> TokenStream {
    let private = private();
    quote! {
        impl #private::FnNode for #self_ty {
            type Handle = #private::Handle<#self_ty>;
            async fn deploy<__SERVE_C: #private::Deploy>(
                __serve_ctx: &mut __SERVE_C,
            ) -> #private::Result<Self::Handle, #private::Error> {
                __serve_ctx
                    .deploy(|__serve_args: &#private::BindArgs| {
                        #private::binder::<#self_ty>().with_args(__serve_args).bind()
                    })
                    .await
            }
            fn spec_dep(__serve_spec: &mut #private::SpecBuilder, __serve_written: &str) -> #private::DepRef {
                #private::spec_fn_deployment::<#self_ty>(__serve_spec, __serve_written)
            }
        }
    }
}

/// `Standalone` for a function deployment: what `App::deployment` serves at `route`. Its
/// needs (parameters that deserialise, an output that serialises) are bounds of the
/// generic code that serves it, checked only there.
pub fn standalone(
    self_ty: &TokenStream,
    sig: &syn::Signature,
    method: &Method<'_>,
    batched: Option<&BatchTypes>,
    route: &str,
) -> TokenStream {
    let private = private();
    let (idents, mut types) = args(&method.params);
    // A batched function is called (and served) one input at a time.
    if let Some(b) = batched {
        types = vec![&b.input];
    }
    let names: Vec<String> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(pat) => Some(pat),
            syn::FnArg::Receiver(_) => None,
        })
        .filter(|pat| crate::deployment::parse::context_param(&pat.ty).is_none())
        .enumerate()
        .map(|(i, pat)| match &*pat.pat {
            syn::Pat::Ident(p) => p.ident.to_string().trim_start_matches('_').to_owned(),
            _ => format!("arg{i}"),
        })
        .collect();
    let type_texts = types.iter().map(|ty| tidy(&quote!(#ty).to_string()));
    let (mut ok, _) = result(&method.output, quote!(()));
    let mut output_text = match &method.output {
        Output::Unit => "()".to_owned(),
        Output::Plain(ty) | Output::Fallible(ty) => tidy(&quote!(#ty).to_string()),
    };
    if let Some(b) = batched {
        let out = &b.output;
        ok = quote!(#out);
        output_text = tidy(&quote!(#out).to_string());
    }
    quote! {
        impl #private::Standalone for #self_ty {
            type Input = (#(#types,)*);
            type Output = #ok;
            const PARAMS: &'static [&'static str] = &[#(#names),*];
            const PARAM_TYPES: &'static [&'static str] = &[#(#type_texts),*];
            const OUTPUT_TYPE: &'static str = #output_text;
            const ROUTE: &'static str = #route;
            fn call(
                __serve_handle: &#private::Handle<Self>,
                __serve_input: Self::Input,
            ) -> impl ::core::future::Future<Output = #private::Result<Self::Output, #private::Error>> + ::core::marker::Send {
                let (#(#idents,)*) = __serve_input;
                async move { __serve_handle.call(#(#idents),*).await }
            }
        }
    }
}

pub fn default_construct(self_ty: &Type) -> TokenStream {
    let private = private();
    quote_spanned!(self_ty.span()=> <#self_ty as #private::DefaultConstructible>::construct())
}

pub fn kind(name: &str) -> TokenStream {
    let private = private();
    let variant = Ident::new(name, Span::call_site());
    quote!(#private::DeploymentKind::#variant)
}
