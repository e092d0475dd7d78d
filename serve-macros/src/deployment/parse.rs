//! The IR of a deployment: its constructor and methods, with `Self` spelled out.

use syn::visit_mut::VisitMut;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemFn, ItemImpl, ReturnType, Signature, Type,
    Visibility,
};

/// What a method or constructor returns, as the generated client sees it.
pub enum Output {
    /// No return type.
    Unit,
    /// A value; the call cannot fail (except by panicking).
    Plain(Type),
    /// A `Result`: its error becomes the node's error.
    Fallible(Type),
}

impl Output {
    /// Whether the method streams its answer: returns `ItemStream<T>` (or a `Result` of
    /// one), by the type's last name as the runtime exports it.
    pub fn streams(&self) -> bool {
        let ty = match self {
            Output::Unit => return false,
            Output::Plain(ty) => ty,
            Output::Fallible(ty) => match ok_type(ty) {
                Some(ok) => ok,
                None => return false,
            },
        };
        last_segment(ty).is_some_and(|s| s.ident == "ItemStream")
    }

    pub fn of(ret: &ReturnType, self_ty: &Type) -> Self {
        match ret {
            ReturnType::Default => Output::Unit,
            ReturnType::Type(_, ty) => {
                let ty = replace_self(ty, self_ty);
                if is_result(&ty) {
                    Output::Fallible(ty)
                } else {
                    Output::Plain(ty)
                }
            }
        }
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

/// `T` of `Result<T, E>` (or a one-parameter alias).
fn ok_type(ty: &Type) -> Option<&Type> {
    match &last_segment(ty)?.arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

/// A `Result` by name (`Result`, `io::Result`, `anyhow::Result`...); its `Ok` type is read
/// through a trait, so aliases with one parameter work too.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result")
        }
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => false,
    }
}

/// One parameter of a method or constructor: a value the caller passes, or the replica's
/// context, which the runtime passes.
#[allow(clippy::large_enum_variant)] // a handful per method, built once per expansion
pub enum Param {
    Value(Type),
    /// `ReplicaContext` by value (`false`) or by reference (`true`).
    Context {
        by_ref: bool,
    },
    /// `Loaded<M>`: the model its caller names by id, from the replica's cache.
    Model,
}

/// A method a handle can call.
pub struct Method<'a> {
    /// The method's (or fn's) own visibility: the client method keeps it.
    pub vis: &'a Visibility,
    pub docs: Vec<&'a Attribute>,
    pub params: Vec<Param>,
    pub output: Output,
    pub is_async: bool,
}

/// The `new` constructor, if the impl has one.
pub struct Ctor<'a> {
    pub sig: &'a Signature,
    pub params: Vec<Param>,
    pub output: Output,
}

/// The methods the runtime calls itself, by name.
pub const CHECK_HEALTH: &str = "check_health";
pub const SHUTDOWN: &str = "shutdown";
pub const RECONFIGURE: &str = "reconfigure";

/// A `#[deployment] impl`.
pub struct DeploymentImpl<'a> {
    pub item: &'a ItemImpl,
    pub self_ty: &'a Type,
    pub ctor: Option<Ctor<'a>>,
    /// Functions with a receiver: the deployment's methods, checked or not.
    pub methods: Vec<&'a ImplItemFn>,
    /// `check_health`, `shutdown` and `reconfigure`, which the runtime calls and handles
    /// do not.
    pub hooks: Vec<&'a ImplItemFn>,
}

pub fn deployment_impl(item: &ItemImpl) -> DeploymentImpl<'_> {
    let self_ty = &*item.self_ty;
    let mut ctor = None;
    let mut methods = Vec::new();
    let mut hooks = Vec::new();
    for f in item.items.iter().filter_map(|i| match i {
        ImplItem::Fn(f) => Some(f),
        _ => None,
    }) {
        if [CHECK_HEALTH, SHUTDOWN, RECONFIGURE]
            .iter()
            .any(|h| f.sig.ident == h)
        {
            hooks.push(f);
        } else if f.sig.receiver().is_some() {
            methods.push(f);
        } else if f.sig.ident == "new" {
            ctor = Some(Ctor {
                sig: &f.sig,
                params: params(&f.sig, self_ty),
                output: Output::of(&f.sig.output, self_ty),
            });
        }
    }
    DeploymentImpl {
        item,
        self_ty,
        ctor,
        methods,
        hooks,
    }
}

pub fn method<'a>(f: &'a ImplItemFn, self_ty: &Type) -> Method<'a> {
    Method {
        vis: &f.vis,
        docs: docs(&f.attrs),
        params: params(&f.sig, self_ty),
        output: Output::of(&f.sig.output, self_ty),
        is_async: f.sig.asyncness.is_some(),
    }
}

/// A function deployment, seen as a method of an invisible unit struct.
pub fn function<'a>(item: &'a ItemFn, self_ty: &Type) -> Method<'a> {
    Method {
        vis: &item.vis,
        docs: docs(&item.attrs),
        params: params(&item.sig, self_ty),
        output: Output::of(&item.sig.output, self_ty),
        is_async: item.sig.asyncness.is_some(),
    }
}

/// The types of the parameters a caller passes, leaving out the context.
pub fn values(params: &[Param]) -> Vec<&Type> {
    params
        .iter()
        .filter_map(|p| match p {
            Param::Value(ty) => Some(ty),
            Param::Context { .. } | Param::Model => None,
        })
        .collect()
}

fn docs(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("doc")).collect()
}

fn params(sig: &Signature, self_ty: &Type) -> Vec<Param> {
    sig.inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(pat) => Some(match context_param(&pat.ty) {
                Some(by_ref) => Param::Context { by_ref },
                None if crate::deployment::multiplex::is_loaded(&pat.ty) => Param::Model,
                None => Param::Value(replace_self(&pat.ty, self_ty)),
            }),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// `ReplicaContext` or `&ReplicaContext`, by the type's last name, as the runtime exports
/// it; `Some(by_ref)` when it is one.
pub fn context_param(ty: &Type) -> Option<bool> {
    match ty {
        Type::Reference(r) if r.mutability.is_none() => context_param(&r.elem)
            .filter(|by_ref| !by_ref)
            .map(|_| true),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            (last.ident == "ReplicaContext" && last.arguments.is_none()).then_some(false)
        }
        Type::Group(g) => context_param(&g.elem),
        Type::Paren(p) => context_param(&p.elem),
        _ => None,
    }
}

/// The last identifier of the impl's type: `Segmentation` in `impl models::Segmentation`.
pub fn type_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            last.arguments.is_none().then_some(&last.ident)
        }
        Type::Group(g) => type_ident(&g.elem),
        _ => None,
    }
}

/// Generated code lives outside the impl, where `Self` would mean something else.
fn replace_self(ty: &Type, self_ty: &Type) -> Type {
    struct Replace<'a>(&'a Type);
    impl VisitMut for Replace<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::Path(p) = ty
                && p.qself.is_none()
                && p.path.is_ident("Self")
            {
                *ty = self.0.clone();
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut ty = ty.clone();
    Replace(self_ty).visit_type_mut(&mut ty);
    ty
}
