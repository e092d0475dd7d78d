//! `Graph::ingress` and `Graph::adapt`: how the graph is served, and what turns a request
//! into its input.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::graph::attr::{Adapter, GRPC, GraphAttr, JSON_REQUEST, QUERY, RAW_BYTES};
use crate::graph::parse::{Param, path_text};
use crate::paths::{SERDE, private};

pub fn ingress(attr: &GraphAttr) -> TokenStream {
    let private = private();
    let prefix = match &attr.adapter {
        // A gRPC method is served at its own path.
        Adapter::Grpc(method) => format!("/{}", method.value()),
        _ => attr
            .route_prefix
            .as_ref()
            .map_or_else(|| "/".to_owned(), |p| p.value()),
    };
    let adapter = match &attr.adapter {
        Adapter::Grpc(_) => GRPC.to_owned(),
        Adapter::Json => JSON_REQUEST.to_owned(),
        Adapter::Query => QUERY.to_owned(),
        Adapter::RawBytes(_) => RAW_BYTES.to_owned(),
        Adapter::Custom(path) => path_text(path),
    };
    // Unset, the runtime's defaults, which a deployment served alone gets too.
    let limit = match attr.body_limit {
        Some(limit) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            quote!(#limit)
        }
        None => quote!(#private::DEFAULT_BODY_LIMIT),
    };
    let timeout = match attr.request_timeout_ms {
        Some(ms) => quote!(::core::time::Duration::from_millis(#ms)),
        None => quote!(#private::DEFAULT_REQUEST_TIMEOUT),
    };
    let driver = attr.driver.to_tokens();
    let driver = quote!(#driver.resolve(false));
    quote! {
        #private::IngressOptions {
            route_prefix: #prefix,
            http_adapter: #adapter,
            driver: #driver,
            body_limit: #limit,
            request_timeout: #timeout,
        }
    }
}

/// The `adapt` method, plus the items it needs (the JSON input struct).
pub fn adapt(attr: &GraphAttr, inputs: &[Param]) -> (TokenStream, TokenStream) {
    let private = private();
    let signature = quote!(async fn adapt(__serve_request: #private::HttpRequest) -> #private::Result<Self::Input, #private::AdapterError>);
    match &attr.adapter {
        Adapter::Json | Adapter::Query => {
            let idents: Vec<&Ident> = inputs.iter().map(|p| &p.ident).collect();
            let types = inputs.iter().map(|p| &p.ty);
            let names = idents.iter().map(|i| i.to_string());
            let serde = SERDE;
            let strict = attr
                .deny_unknown_fields
                .then(|| quote!(, deny_unknown_fields));
            let read = match attr.adapter {
                Adapter::Query => quote!(query_request),
                _ => quote!(json_request),
            };
            let items = quote! {
                #[derive(#private::serde::Deserialize)]
                #[serde(crate = #serde #strict)]
                struct __serve_Input { #(#idents: #types,)* }
            };
            let value = match idents.as_slice() {
                [one] => quote!(__serve_v.#one),
                many => quote!((#(__serve_v.#many,)*)),
            };
            let body = quote! {
                #signature {
                    let __serve_v: __serve_Input = #private::#read(&__serve_request, &[#(#names),*])?;
                    #private::Result::Ok(#value)
                }
            };
            (items, body)
        }
        Adapter::RawBytes(path) => {
            // Spanned at the parameter's type, which must be made from the body.
            let read = match inputs {
                [one] => {
                    let ty = &one.ty;
                    quote_spanned!(ty.span()=> #private::raw_body::<#ty>(__serve_request))
                }
                // Reported by the check; the signature still needs a body.
                _ => {
                    quote_spanned!(path.span()=> #private::From::from(#private::raw_bytes(__serve_request)))
                }
            };
            (quote!(), quote!(#signature { #private::Result::Ok(#read) }))
        }
        Adapter::Custom(path) => {
            let call = quote_spanned!(path.span()=> #path(__serve_request).await);
            (quote!(), quote!(#signature { #call }))
        }
        Adapter::Grpc(_) => {
            // Spanned at the parameter's type, which must be a protobuf message.
            let decode = match inputs {
                [one] => {
                    let ty = &one.ty;
                    quote_spanned!(ty.span()=> #private::grpc_decode::<#ty>(__serve_request))
                }
                // Reported by the check; the signature still needs a body.
                _ => quote!(::core::unreachable!()),
            };
            (quote!(), quote!(#signature { #decode }))
        }
    }
}
