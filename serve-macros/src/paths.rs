//! Every runtime path generated code names goes through here: one hidden module.

use proc_macro2::TokenStream;
use quote::quote;

/// `::serve_runtime::__private`, the only door generated code uses into the runtime.
pub fn private() -> TokenStream {
    quote!(::serve_runtime::__private)
}

/// The same path with every token at `span`, for generated code whose errors should be
/// reported on the user's token rather than on the macro attribute.
pub fn private_at(span: proc_macro2::Span) -> TokenStream {
    quote::quote_spanned!(span=> ::serve_runtime::__private)
}

/// The path serde's derive is told to use for itself.
pub const SERDE: &str = "::serve_runtime::__private::serde";
