//! Code generation for `#[deployment]`: config, client, binder and registration.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{LitStr, Type, Visibility};

use crate::deployment::attr::DeploymentAttr;
use crate::deployment::parse::{Ctor, Method, Output};
use crate::paths::private;

/// `impl DeploymentConfig`: the name and options.
pub fn config(self_ty: &TokenStream, default_name: &Ident, attr: &DeploymentAttr) -> TokenStream {
    let private = private();
    let name = attr
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&default_name.to_string(), default_name.span()));
    let options = attr.replicas.to_tokens();
    quote! {
        impl #private::DeploymentConfig for #self_ty {
            const NAME: &'static str = #name;
            const OPTIONS: #private::DeploymentOptions = #options;
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
    pub bind: TokenStream,
}

pub fn deployment(parts: Parts<'_>) -> TokenStream {
    let private = private();
    let Parts {
        vis,
        self_ty,
        ident,
        kind,
        methods,
        bind,
    } = parts;
    // Spanned at the impl's type, so a struct without `#[deployment]` is reported there.
    let config = quote_spanned!(ident.span()=> #self_ty);
    let client = format_ident!("__serve_client_{}", ident);
    let binder = format_ident!("__serve_binder_{}", ident);
    let names: Vec<String> = methods.iter().map(|(name, _)| name.to_string()).collect();
    let bodies = methods.iter().map(|(_, body)| body);
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #client {
            __serve_set: #private::Arc<#private::ReplicaSet<#self_ty>>,
        }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Default)]
        #vis struct #binder;

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
            }

            impl #private::Deployment for #self_ty {
                const NAME: &'static str = <#config as #private::DeploymentConfig>::NAME;
                const OPTIONS: #private::DeploymentOptions = <#config as #private::DeploymentConfig>::OPTIONS;
                type Client = #client;
                type Handle = #private::Handle<#self_ty>;
                type Binder = #binder;
                const METHODS: &'static [&'static str] = &[#(#names),*];
            }

            #[allow(private_interfaces, clippy::too_many_arguments)]
            impl #client {
                #(#bodies)*
            }

            #[allow(private_interfaces, clippy::too_many_arguments)]
            impl #binder {
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

fn args(params: &[Type]) -> (Vec<Ident>, Vec<&Type>) {
    let names = (0..params.len())
        .map(|i| format_ident!("__serve_a{}", i))
        .collect();
    (names, params.iter().collect())
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

/// A client method: reserve a replica, call, map errors and panics.
/// `target` is the callee path (`<Seg>::forward` or `aggregate`), `receiver` adds `&*replica`.
pub fn client_method(
    method: &Method<'_>,
    exposed: &Ident,
    target: TokenStream,
    receiver: bool,
) -> TokenStream {
    let private = private();
    let (names, types) = args(&method.params);
    let docs = &method.docs;
    let replica = quote!(__serve_replica);
    let self_arg = receiver.then(|| quote!(&*#replica,));
    let call = quote!(#target(#self_arg #(#names),*).await);
    let (ok, body) = result(&method.output, call);
    let label = exposed.to_string();
    quote! {
        #(#docs)*
        pub async fn #exposed(&self, #(#names: #types),*) -> #private::Result<#ok, #private::Error> {
            let #replica = self.__serve_set.acquire().await?;
            #private::invoke(&#replica, #label, async { #body }).await
        }
    }
}

/// `Binder::bind(args) -> Factory<T>`: each replica gets its own clone of the arguments.
pub fn bind_with_ctor(self_ty: &TokenStream, ctor: &Ctor<'_>) -> TokenStream {
    let private = private();
    let (names, types) = args(&ctor.params);
    let clones = names
        .iter()
        .zip(&types)
        .map(|(n, ty)| quote_spanned!(ty.span()=> let #n: #ty = #private::Clone::clone(&#n);));
    let awaited = ctor.sig.asyncness.map(|_| quote!(.await));
    let call = quote!(<#self_ty>::new(#(#names),*) #awaited);
    let (_, construct) = result(&ctor.output, call);
    let span = ctor.sig.ident.span();
    let bind = Ident::new("bind", span);
    quote! {
        pub fn #bind(self, #(#names: impl #private::ConstArg<#types>),*) -> #private::Factory<#self_ty> {
            #(let #names: #types = #private::ConstArg::into_arg(#names);)*
            #private::Factory::new(move || {
                #(#clones)*
                async move { #construct }
            })
        }
    }
}

/// `bind()` of a deployment without `new`: `Default`, or the fn deployment's marker.
pub fn bind_without_args(self_ty: &TokenStream, construct: TokenStream) -> TokenStream {
    let private = private();
    quote! {
        pub fn bind(self) -> #private::Factory<#self_ty> {
            #private::Factory::new(|| async { #private::Result::Ok(#construct) })
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
