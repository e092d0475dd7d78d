//! Values that cross a node (a call's arguments and result, a graph's inputs and output)
//! move between tasks and threads, so they must be owned: where a type borrows, and what
//! to take instead.

use syn::spanned::Spanned;

use crate::diag::Errors;

/// Reports every borrow in `sig`'s parameters (but those `allowed`) and result, at the
/// borrow, with the owned type to take; whether there was none.
pub fn signature(
    sig: &syn::Signature,
    allowed: impl Fn(&syn::Type) -> bool,
    result: &str,
    errors: &mut Errors,
) -> bool {
    let mut ok = true;
    for arg in &sig.inputs {
        let syn::FnArg::Typed(pt) = arg else { continue };
        if allowed(&pt.ty) {
            continue;
        }
        if let Some(span) = borrow_in(&pt.ty) {
            errors.help(
                span,
                "values that cross a node must be owned",
                owned_fix(&pt.ty),
            );
            ok = false;
        }
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output
        && let Some(span) = borrow_in(ty)
    {
        errors.help(span, result, owned_fix(ty));
        ok = false;
    }
    ok
}
/// Where `ty` borrows for less than `'static`, if it does.
pub fn borrow_in(ty: &syn::Type) -> Option<proc_macro2::Span> {
    use syn::visit::Visit;
    struct Finder(Option<proc_macro2::Span>);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            if self.0.is_none() && r.lifetime.as_ref().is_none_or(|l| l.ident != "static") {
                self.0 = Some(
                    r.and_token
                        .span
                        .join(r.elem.span())
                        .unwrap_or(r.and_token.span),
                );
            }
            syn::visit::visit_type_reference(self, r);
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if self.0.is_none() && l.ident != "static" {
                self.0 = Some(l.span());
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type(ty);
    finder.0
}

/// What to take instead of a borrowed `ty`.
pub fn owned_fix(ty: &syn::Type) -> String {
    let syn::Type::Reference(r) = ty else {
        return "use an owned type (no lifetimes); share big values with `Arc<T>`".to_owned();
    };
    match &*r.elem {
        syn::Type::Path(p) if p.path.is_ident("str") => "take `String`, not `&str`".to_owned(),
        syn::Type::Slice(s) => {
            let elem = &s.elem;
            let elem = crate::graph::parse::tidy(&quote::quote!(#elem).to_string());
            format!("take `Vec<{elem}>`, not `&[{elem}]`")
        }
        elem => {
            let elem = crate::graph::parse::tidy(&quote::quote!(#elem).to_string());
            format!("take `{elem}` (or `Arc<{elem}>` to share one without copying), not `&{elem}`")
        }
    }
}
