//! The rules a deployment's items must follow, each reported at the token at fault.

use syn::spanned::Spanned;
use syn::{FnArg, Generics, Signature};

use crate::deployment::parse::{Ctor, DeploymentImpl, Output, type_ident};
use crate::diag::Errors;

/// Methods are served concurrently by replicas: `&self`, no generics. Sync methods are
/// allowed: they make the deployment run on threads of its own.
pub fn method(sig: &Signature, errors: &mut Errors) -> bool {
    // A lifetime parameter is reported where it is used, as a borrow that crosses a node.
    let only_lifetimes = sig.generics.where_clause.is_none()
        && sig
            .generics
            .params
            .iter()
            .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
    let mut ok = only_lifetimes || no_generics(&sig.generics, "a deployment method", errors);
    let name = &sig.ident;
    match sig.receiver() {
        Some(r) if r.colon_token.is_some() => {
            errors.help(
                r.span(),
                format!("`{name}` must take `&self`"),
                "a replica is shared by concurrent calls; write `&self`",
            );
            ok = false;
        }
        Some(r) if r.reference.is_none() => {
            errors.help(
                r.self_token.span,
                format!("`{name}` cannot take `self` by value"),
                "a replica serves many calls; write `&self`",
            );
            ok = false;
        }
        Some(r) if r.mutability.is_some() => {
            let span = r.mutability.map_or(r.self_token.span, |m| m.span);
            errors.help(
                span,
                format!("`{name}` cannot take `&mut self`: a replica serves many calls at once"),
                "take `&self` and keep mutable state behind a `Mutex` or an atomic",
            );
            ok = false;
        }
        _ => {}
    }
    // The runtime's hooks have rules of their own (`hook`, `reconfigure`).
    let hook = [
        crate::deployment::parse::CHECK_HEALTH,
        crate::deployment::parse::SHUTDOWN,
        crate::deployment::parse::RECONFIGURE,
    ]
    .iter()
    .any(|h| sig.ident == h);
    (hook || owned_values(sig, errors)) && ok
}

/// `check_health` and `shutdown`, which the runtime calls: `&self` and nothing else;
/// `check_health` returns `()` or `Result<(), E>`, `shutdown` returns nothing.
pub fn hook(sig: &Signature, self_ty: &syn::Type, errors: &mut Errors) -> bool {
    let name = &sig.ident;
    if sig.receiver().is_none() {
        errors.help(
            name.span(),
            format!("`{name}` is called by the runtime on each replica, so it must take `&self`"),
            format!("write `async fn {name}(&self)`"),
        );
        return false;
    }
    let mut ok = method(sig, errors);
    if let Some(extra) = sig.inputs.iter().nth(1) {
        errors.help(
            extra.span(),
            format!("`{name}` is called by the runtime and takes no arguments"),
            format!("write `async fn {name}(&self)`"),
        );
        ok = false;
    }
    let returns_ok = match Output::of(&sig.output, self_ty) {
        Output::Unit => true,
        Output::Fallible(_) => name != "shutdown",
        Output::Plain(_) => false,
    };
    if !returns_ok {
        let fix = if name == "shutdown" {
            "`shutdown` returns nothing: a replica stops whatever it says"
        } else {
            "return `()` for a check that cannot fail, or `Result<(), E>`: an `Err` marks the replica unhealthy"
        };
        let span = match &sig.output {
            syn::ReturnType::Type(_, ty) => ty.span(),
            syn::ReturnType::Default => sig.ident.span(),
        };
        errors.help(span, format!("`{name}` has the wrong return type"), fix);
        ok = false;
    }
    ok
}

/// `reconfigure(&self, config: C)`, which the runtime calls with each `user_config`:
/// `&self` and the config by value, returning `()` or `Result<(), E>`. Gives `C`.
pub fn reconfigure(sig: &Signature, self_ty: &syn::Type, errors: &mut Errors) -> Option<syn::Type> {
    let fix = "write `async fn reconfigure(&self, config: MyConfig)` with `MyConfig: Deserialize`";
    if sig.receiver().is_none() {
        errors.help(
            sig.ident.span(),
            "`reconfigure` is called by the runtime on each replica, so it must take `&self`",
            fix,
        );
        return None;
    }
    let mut ok = method(sig, errors);
    let config = match sig.inputs.iter().nth(1) {
        Some(FnArg::Typed(pat)) => match &*pat.ty {
            syn::Type::Reference(r) => {
                errors.help(
                    r.span(),
                    "`reconfigure` takes its config by value: each replica gets its own",
                    fix,
                );
                None
            }
            ty => Some(ty.clone()),
        },
        _ => {
            errors.help(
                sig.ident.span(),
                "`reconfigure` takes one argument: the deployment's `user_config`",
                fix,
            );
            None
        }
    };
    if let Some(extra) = sig.inputs.iter().nth(2) {
        errors.help(
            extra.span(),
            "`reconfigure` takes one argument: the deployment's `user_config`",
            fix,
        );
        ok = false;
    }
    if let Output::Plain(ty) = Output::of(&sig.output, self_ty) {
        errors.help(
            ty.span(),
            "`reconfigure` has the wrong return type",
            "return `()`, or `Result<(), E>`: an `Err` is reported in the deployment's status",
        );
        ok = false;
    }
    config.filter(|_| ok)
}

/// A function deployment: no generics, no receiver. A sync one runs on threads.
pub fn function(sig: &Signature, errors: &mut Errors) -> bool {
    let mut ok = no_generics(&sig.generics, "a deployment function", errors);
    if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
        errors.help(
            r.span(),
            "a deployment function cannot take `self`",
            "put methods in a `#[deployment] impl` of a struct",
        );
        ok = false;
    }
    owned_values(sig, errors) && ok
}

/// The impl as a whole: inherent, not generic, of a named type, with a usable `new`.
pub fn deployment_impl(d: &DeploymentImpl<'_>, errors: &mut Errors) -> bool {
    // `impl<'a> Model<'a>`: the struct's own `#[deployment]` reports its parameters, once.
    if !d.item.generics.params.is_empty() && of_generic_struct(d.self_ty) {
        return false;
    }
    let mut ok = no_generics(&d.item.generics, "a deployment", errors);
    if let Some((_, path, _)) = &d.item.trait_ {
        errors.help(
            path.span(),
            "`#[deployment]` goes on the struct's own `impl` block, not on a trait impl",
            "move the deployment's methods into `impl Type { ... }`",
        );
        ok = false;
    }
    if type_ident(d.self_ty).is_none() {
        errors.help(
            d.self_ty.span(),
            "a deployment must be a named struct",
            "write `impl MyDeployment { ... }`",
        );
        ok = false;
    }
    if let Some(ctor) = &d.ctor {
        ok &= constructor(ctor, errors);
    }
    ok
}

/// `Model<'a>`, `Model<T>`: a named type given parameters.
fn of_generic_struct(self_ty: &syn::Type) -> bool {
    let syn::Type::Path(p) = self_ty else {
        return false;
    };
    p.qself.is_none()
        && p.path
            .segments
            .last()
            .is_some_and(|s| !s.arguments.is_empty())
}

fn constructor(ctor: &Ctor<'_>, errors: &mut Errors) -> bool {
    let ok = no_generics(&ctor.sig.generics, "a deployment constructor", errors);
    if let Output::Unit = ctor.output {
        errors.help(
            ctor.sig.ident.span(),
            "`new` must return `Self` or `Result<Self, E>`",
            "add `-> Self`",
        );
        return false;
    }
    ok
}

fn no_generics(generics: &Generics, what: &str, errors: &mut Errors) -> bool {
    if generics.params.is_empty() && generics.where_clause.is_none() {
        return true;
    }
    errors.help(generics.span(), format!("{what} cannot be generic"), "deployments are instantiated once per replica with concrete types; use a concrete type or a trait object");
    false
}

/// A call's arguments and result move between tasks, and to a replica's threads: they
/// must be owned (or `'static`). `&ReplicaContext` is the one borrow a method may take.
fn owned_values(sig: &Signature, errors: &mut Errors) -> bool {
    crate::owned::signature(
        sig,
        |ty| crate::deployment::parse::context_param(ty).is_some(),
        "a node's result must be owned: it is sent back to its caller",
        errors,
    )
}
