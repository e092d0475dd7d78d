//! What lets a deployment's methods be called from another process: per method, the
//! codecs of its arguments and result (one associated const, so a type that cannot cross
//! is one error, at that type), the client's branch that sends a call away when the
//! deployment runs apart, and the arm of `serve_wire` that answers such a call.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Index;

use crate::paths::{private, private_at};

/// One value a caller passes: its parameter name and type.
pub struct Arg<'a> {
    pub name: &'a Ident,
    pub ty: TokenStream,
    /// Where an error about the type points.
    pub span: Span,
}

/// The generated pieces for one client method.
pub struct WireMethod {
    /// The codecs, as an associated const of the client.
    pub codecs: TokenStream,
    /// The start of the client method: the call goes to another process when the
    /// deployment runs there.
    pub branch: TokenStream,
    /// Its arm in the client's `serve_wire`, and its entry in `wire_shapes`.
    pub arm: WireArm,
}

/// What the client's `serve_wire` and `wire_shapes` hold of one method.
pub struct WireArm {
    arm: TokenStream,
    shapes: TokenStream,
}

/// `ok` is the method's success type, and `ok_span` where an error about it points.
pub fn method(
    self_ty: &TokenStream,
    exposed: &Ident,
    args: &[Arg<'_>],
    ok: &TokenStream,
    ok_span: Span,
) -> WireMethod {
    let private = private();
    let label = exposed.to_string();
    let constant = format_ident!("__SERVE_WIRE_{}", exposed);
    // The mode is spanned at the deployment's type, where an impl without `#[deployment]`
    // on its struct is already reported (rustc reports the same error there once); the
    // codec at the value's type, where a type that cannot cross is reported.
    let mode = {
        let span = self_ty
            .clone()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        let private = private_at(span);
        quote_spanned!(span=> <#self_ty as #private::Deployment>::Wire)
    };
    let codec = |(ty, span): (&TokenStream, Span)| {
        let private = private_at(span);
        quote_spanned! {span=>
            <#ty as #private::Wire<#mode>>::CODEC
        }
    };
    let types = args.iter().map(|a| (&a.ty, a.span)).chain([(ok, ok_span)]);
    let slot_types = types
        .clone()
        .map(|(ty, _)| quote!(::core::option::Option<#private::Codec<#ty>>));
    let values = types.map(codec);
    let codecs = quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #constant: (#(#slot_types,)*) = (#(#values,)*);
    };
    let indexes: Vec<Index> = (0..args.len()).map(Index::from).collect();
    let every: Vec<Index> = (0..=args.len()).map(Index::from).collect();
    let shapes = quote! {
        (#label, ::std::vec![#(#private::wire_shape(Self::#constant.#every)),*])
    };
    let result = Index::from(args.len());
    let names: Vec<&Ident> = args.iter().map(|a| a.name).collect();
    // A constant first: a deployment that cannot run apart compiles the check out.
    let branch = quote! {
        if <#self_ty as #private::Deployment>::REMOTE {
            if let ::core::option::Option::Some(__serve_remote) = self.__serve_set.remote() {
                let __serve_codecs = Self::#constant;
                let mut __serve_call = __serve_remote.call(#label);
                #(__serve_call.arg(__serve_codecs.#indexes, &#names)?;)*
                return __serve_call.send(__serve_codecs.#result).await;
            }
        }
    };
    let arm = quote! {
        #label => {
            let __serve_this = #private::Clone::clone(self);
            ::std::boxed::Box::pin(async move {
                let __serve_codecs = Self::#constant;
                let __serve_name = __serve_this.__serve_set.name();
                let mut __serve_args = #private::WireArgs::new(__serve_name, #label, __serve_body);
                #(let #names = __serve_args.take(__serve_codecs.#indexes)?;)*
                let __serve_result = __serve_this.#exposed(#(#names),*).await?;
                #private::wire_reply(__serve_codecs.#result, &__serve_result, __serve_name)
            })
        }
    };
    WireMethod {
        codecs,
        branch,
        arm: WireArm { arm, shapes },
    }
}

/// The client's `serve_wire` (one arm per method) and `wire_shapes`.
pub fn serve(methods: &[WireArm]) -> TokenStream {
    let private = private();
    let arms = methods.iter().map(|m| &m.arm);
    let shapes = methods.iter().map(|m| &m.shapes);
    quote! {
        fn serve_wire(&self, __serve_method: &str, __serve_body: #private::Bytes) -> #private::WireFuture {
            match __serve_method {
                #(#arms)*
                _ => #private::wire_unknown(self.__serve_set.name(), __serve_method),
            }
        }

        fn wire_shapes() -> ::std::vec::Vec<(&'static str, ::std::vec::Vec<::std::string::String>)> {
            ::std::vec![#(#shapes),*]
        }
    }
}
