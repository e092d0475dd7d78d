//! A deployment's struct is shared by its calls, which run on several threads at once, so
//! it must be `Send + Sync`. The types newcomers reach for to mutate through `&self`
//! (`RefCell`, `Cell`, `Rc`) are not: they are found here, in the field's type, and
//! reported once at the type with what to use instead.
//!
//! Other types that are not `Send + Sync` are left to rustc, which can see through them;
//! a name alone cannot (a user's own `Cell` may be anything), so only the standard
//! library's shapes (one type argument) are recognised.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// A field type that cannot be shared, where it is, and what to write instead.
pub struct NotShared {
    pub tokens: TokenStream,
    pub message: String,
    pub help: String,
}

/// The first part of `ty` that cannot be shared between threads.
pub fn not_shared(ty: &Type) -> Option<NotShared> {
    walk(ty, false)
}

fn walk(ty: &Type, locked: bool) -> Option<NotShared> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let inner = one_type_arg(&last.arguments);
            let name = last.ident.to_string();
            if let Some(inner) = inner
                && let Some(found) = known(&name, inner, ty, locked)
            {
                return Some(found);
            }
            // A `Mutex` hands its value to one thread at a time, so what it holds needs
            // only be `Send`: a `RefCell` or `Cell` inside is fine, an `Rc` is not.
            let locked = locked || name == "Mutex";
            match &last.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                    GenericArgument::Type(t) => walk(t, locked),
                    _ => None,
                }),
                _ => None,
            }
        }
        Type::Tuple(t) => t.elems.iter().find_map(|t| walk(t, locked)),
        Type::Array(a) => walk(&a.elem, locked),
        Type::Slice(s) => walk(&s.elem, locked),
        Type::Paren(p) => walk(&p.elem, locked),
        Type::Group(g) => walk(&g.elem, locked),
        _ => None,
    }
}

fn known(name: &str, inner: &Type, ty: &Type, locked: bool) -> Option<NotShared> {
    let inner_text = tidy(inner);
    let ty_text = tidy(ty);
    let (message, help) = match name {
        "RefCell" if !locked => (
            format!(
                "`{ty_text}` is not `Sync`: a deployment is shared by its calls, which run on several threads at once"
            ),
            format!(
                "use `std::sync::Mutex<{inner_text}>` (or `RwLock`), or `tokio::sync::Mutex<{inner_text}>` if the lock is held across an `.await`"
            ),
        ),
        "Cell" if !locked => (
            format!(
                "`{ty_text}` is not `Sync`: a deployment is shared by its calls, which run on several threads at once"
            ),
            format!(
                "use an atomic (`std::sync::atomic::AtomicU64`, `AtomicBool`, ...) or `std::sync::Mutex<{inner_text}>`"
            ),
        ),
        "Rc" => (
            format!(
                "`{ty_text}` is neither `Send` nor `Sync`: a deployment is shared by its calls, which run on several threads at once"
            ),
            format!("use `std::sync::Arc<{inner_text}>`"),
        ),
        _ => return None,
    };
    Some(NotShared {
        tokens: ty.to_token_stream(),
        message,
        help,
    })
}

fn one_type_arg(args: &PathArguments) -> Option<&Type> {
    match args {
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match a.args.first()? {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

fn tidy(ty: &Type) -> String {
    crate::graph::parse::tidy(&ty.to_token_stream().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(ty: &str) -> Option<String> {
        not_shared(&syn::parse_str(ty).unwrap()).map(|n| n.message)
    }

    #[test]
    fn finds_the_standard_cells_and_rc_wherever_they_are() {
        assert!(
            found("RefCell<u32>")
                .unwrap()
                .starts_with("`RefCell<u32>` is not `Sync`")
        );
        assert!(found("std::cell::Cell<bool>").is_some());
        assert!(
            found("Arc<RefCell<Vec<u8>>>")
                .unwrap()
                .contains("`RefCell<Vec<u8>>`")
        );
        assert!(
            found("Option<Rc<String>>")
                .unwrap()
                .contains("`Rc<String>`")
        );
        assert!(found("(u32, Cell<u8>)").is_some());
        assert!(
            found("Mutex<Rc<u8>>").is_some(),
            "a Mutex needs what it holds to be Send"
        );
    }

    #[test]
    fn leaves_alone_what_is_shareable_or_not_known() {
        assert!(found("Mutex<RefCell<u32>>").is_none());
        assert!(found("tokio::sync::Mutex<Cell<u32>>").is_none());
        assert!(found("Arc<Mutex<Vec<u8>>>").is_none());
        // A user's own `Cell` without one type argument may be anything.
        assert!(found("Cell").is_none());
        assert!(found("Grid<Cell>").is_none());
        assert!(found("Cell<u8, u8>").is_none());
    }
}
