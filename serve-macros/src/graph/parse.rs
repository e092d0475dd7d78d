//! Reading a graph body: each statement binds a deployment or calls one.
//!
//! This step is syntax only (a binding's options are read and checked here too, as the
//! attributes' are); names are resolved in `check`.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, Pat, Path, Stmt, Type};

use crate::deployment::ReplicaOptions;
use crate::diag::Errors;
use crate::options::Place;

/// A graph parameter.
pub struct Param {
    pub ident: Ident,
    pub ty: Type,
}

/// `Type::bind(args)`, or `Type::bind(args).options(key = value, ...)`.
pub struct Bind {
    /// The deployment type: the path without `::bind`.
    pub ty: Path,
    pub bind: Ident,
    pub args: Vec<BindArg>,
    /// The arguments as written, for the spec.
    pub written: Vec<Expr>,
    /// This binding's own options, read and checked.
    pub options: Option<Box<ReplicaOptions>>,
}

/// An argument of `bind`: a deployment bound in place (`Picker::bind(Model::bind(1))`),
/// or an expression (a handle's name, or a constant).
pub enum BindArg {
    Bind(Bind, Span),
    Expr(Expr),
}

/// A per-request call.
pub enum Call {
    /// `handle.method(args)`.
    Method {
        receiver: Ident,
        method: Ident,
        args: Vec<Expr>,
    },
    /// `function(args)`: a function deployment.
    Function { func: Path, args: Vec<Expr> },
}

impl Call {
    pub fn args(&self) -> &[Expr] {
        match self {
            Call::Method { args, .. } | Call::Function { args, .. } => args,
        }
    }
}

pub enum Rhs {
    Bind(Bind),
    Call(Call),
}

/// One `let` (or a bare call statement, whose value is dropped: `name` is `None`).
pub struct Statement {
    pub name: Option<Ident>,
    pub ty: Option<Type>,
    pub rhs: Rhs,
}

pub enum Tail {
    Value(Ident),
    Call(Call, Span),
}

pub struct GraphFn {
    pub params: Vec<Param>,
    pub statements: Vec<Statement>,
    pub tail: Option<Tail>,
    /// The last expression was there but rejected (and reported).
    pub tail_rejected: bool,
    /// The names of `let`s already reported as errors: their later uses are not reported
    /// again as missing.
    pub rejected: Vec<Ident>,
}

pub fn graph_fn(item: &ItemFn, errors: &mut Errors) -> GraphFn {
    let params = item
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => Some(Param {
                    ident: pi.ident.clone(),
                    ty: (*pt.ty).clone(),
                }),
                other => {
                    errors.help(
                        other.span(),
                        "graph parameters must be plain names",
                        "write `name: Type`; the parameters are the graph's inputs",
                    );
                    None
                }
            },
            FnArg::Receiver(r) => {
                errors.help(
                    r.span(),
                    "a graph cannot take `self`",
                    "a graph is a free `async fn` whose parameters are its inputs",
                );
                None
            }
        })
        .collect();
    let mut statements = Vec::new();
    let mut tail = None;
    let mut rejected = Vec::new();
    let mut tail_rejected = false;
    let count = item.block.stmts.len();
    for (i, stmt) in item.block.stmts.iter().enumerate() {
        match stmt {
            Stmt::Local(local) => {
                let Some(init) = &local.init else {
                    errors.help(
                        local.span(),
                        "a graph `let` needs a value",
                        "write `let name = deployment.method(args);`",
                    );
                    continue;
                };
                if let Some((else_token, _)) = &init.diverge {
                    errors.help(
                        else_token.span(),
                        "`let ... else` is not supported in a graph",
                        "bind the call's value to a name",
                    );
                    continue;
                }
                let (name, ty) = match pattern(&local.pat, errors) {
                    Some(p) => p,
                    None => continue,
                };
                match rhs(&init.expr, errors) {
                    Some(rhs) => statements.push(Statement { name, ty, rhs }),
                    None => rejected.extend(name),
                }
            }
            Stmt::Expr(expr, Some(_)) => match rhs(expr, errors) {
                Some(Rhs::Call(call)) => statements.push(Statement {
                    name: None,
                    ty: None,
                    rhs: Rhs::Call(call),
                }),
                Some(Rhs::Bind(b)) => errors.help(
                    b.bind.span(),
                    "a bound deployment must be given a name",
                    format!("write `let name = {}::bind(...);`", path_text(&b.ty)),
                ),
                None => {}
            },
            Stmt::Expr(expr, None) if i + 1 == count => {
                tail = self::tail(expr, errors);
                tail_rejected = tail.is_none();
            }
            other => {
                errors.help(
                    other.span(),
                    "a graph body only binds deployments and calls them",
                    "use `let h = Model::bind(...);`, `let v = h.method(...);` or `let v = function(...);`; do other work inside a deployment",
                );
            }
        }
    }
    GraphFn {
        params,
        statements,
        tail,
        tail_rejected,
        rejected,
    }
}

fn pattern(pat: &Pat, errors: &mut Errors) -> Option<(Option<Ident>, Option<Type>)> {
    match pat {
        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
            if let Some(m) = &pi.mutability {
                errors.help(m.span(), "graph values are immutable", "remove `mut`");
            }
            Some((Some(pi.ident.clone()), None))
        }
        Pat::Wild(_) => Some((None, None)),
        Pat::Type(pt) => {
            let (name, _) = pattern(&pt.pat, errors)?;
            Some((name, Some((*pt.ty).clone())))
        }
        other => {
            errors.help(
                other.span(),
                "a graph `let` binds one name",
                "write `let name = ...;`; destructure the value inside the deployment that uses it",
            );
            None
        }
    }
}

fn strip_await(expr: &Expr) -> &Expr {
    // Awaiting a node reads naturally; the graph awaits every node anyway.
    match expr {
        Expr::Await(a) => strip_await(&a.base),
        Expr::Paren(p) => strip_await(&p.expr),
        Expr::Group(g) => strip_await(&g.expr),
        other => other,
    }
}

fn rhs(expr: &Expr, errors: &mut Errors) -> Option<Rhs> {
    let expr = strip_await(expr);
    match expr {
        Expr::Call(call) => {
            let Expr::Path(func) = &*call.func else {
                errors.help(
                    call.func.span(),
                    "expected a deployment function or `Type::bind`",
                    "call a `#[deployment] async fn` by name",
                );
                return None;
            };
            let args: Vec<Expr> = call.args.iter().cloned().collect();
            let path = &func.path;
            let last = path.segments.last()?;
            if path.segments.len() >= 2 && last.ident == "bind" {
                let mut ty = path.clone();
                ty.segments.pop();
                let trailing = ty.segments.pop().map(|p| p.into_value());
                if let Some(seg) = trailing {
                    ty.segments.push(seg);
                }
                Some(Rhs::Bind(Bind {
                    ty,
                    bind: last.ident.clone(),
                    args: args.iter().map(|a| bind_arg(a, errors)).collect(),
                    written: args,
                    options: None,
                }))
            } else if let Some(ty) = associated_fn_owner(path) {
                // `Embedder::tokenize(x)`: a type's function, which no replica serves.
                let (owner, name) = (ty.to_string(), &last.ident);
                let handle = owner.to_lowercase();
                errors.spanned(
                    path,
                    format!("`{}` is a function of `{owner}`, which a graph cannot call", path_text(path)),
                    format!(
                        "make it a method of the deployment (`async fn {name}(&self, ...)` in its `#[deployment] impl`) and call it through a bound handle: `let {handle} = {owner}::bind(); {handle}.{name}(...)`"
                    ),
                );
                None
            } else {
                Some(Rhs::Call(Call::Function {
                    func: path.clone(),
                    args,
                }))
            }
        }
        Expr::MethodCall(mc)
            if mc.method == "options" && matches!(strip_await(&mc.receiver), Expr::Call(_)) =>
        {
            match rhs(&mc.receiver, errors)? {
                Rhs::Bind(mut bind) => {
                    let args = mc.args.iter();
                    bind.options =
                        Some(Box::new(binding_options(quote::quote!(#(#args),*), errors)));
                    Some(Rhs::Bind(bind))
                }
                Rhs::Call(call) => {
                    errors.help(
                        mc.method.span(),
                        "`.options(...)` sets the options of a binding",
                        "put it on `Type::bind(...)`; a function deployment takes its options from `#[deployment(...)]`",
                    );
                    // The call itself is fine: keep it, so its value is defined and the
                    // one mistake is one error.
                    Some(Rhs::Call(call))
                }
            }
        }
        Expr::MethodCall(mc) => {
            let receiver = match strip_await(&mc.receiver) {
                Expr::Path(p) if p.path.get_ident().is_some() => p.path.get_ident().cloned()?,
                other => {
                    errors.help(
                        other.span(),
                        "a method is called on a bound deployment's name",
                        "bind it first: `let model = Model::bind(...);` then `model.method(...)`",
                    );
                    return None;
                }
            };
            if let Some(turbofish) = &mc.turbofish {
                errors.help(
                    turbofish.span(),
                    "deployment methods are not generic",
                    "remove the `::<...>`",
                );
            }
            Some(Rhs::Call(Call::Method {
                receiver,
                method: mc.method.clone(),
                args: mc.args.iter().cloned().collect(),
            }))
        }
        Expr::Try(t) => {
            errors.help(
                t.question_token.span(),
                "`?` is not needed in a graph",
                "remove it: a failing node fails the request with an error naming it",
            );
            None
        }
        other => {
            errors.help(other.span(), "expected a deployment call or `Type::bind(...)`", "a graph body only wires deployments: `Model::bind(...)`, `handle.method(...)`, `function(...)`");
            None
        }
    }
}

/// An argument of `bind`: `Type::bind(..)` or `Type::bind(..).options(..)` is a deployment
/// bound in place; anything else is left to `check`.
fn bind_arg(arg: &Expr, errors: &mut Errors) -> BindArg {
    let call = match arg {
        Expr::MethodCall(mc) if mc.method == "options" => match &*mc.receiver {
            Expr::Call(call) => Some(call),
            _ => None,
        },
        Expr::Call(call) => Some(call),
        _ => None,
    };
    let is_bind = call.is_some_and(|call| match &*call.func {
        Expr::Path(p) => {
            let segs = &p.path.segments;
            segs.len() >= 2 && segs.last().is_some_and(|s| s.ident == "bind")
        }
        _ => false,
    });
    if is_bind && let Some(Rhs::Bind(bind)) = rhs(arg, errors) {
        return BindArg::Bind(bind, arg.span());
    }
    BindArg::Expr(arg.clone())
}

/// `.options(key = value, ...)` of one binding, checked like `#[deployment(...)]`'s.
fn binding_options(tokens: TokenStream, errors: &mut Errors) -> ReplicaOptions {
    let mut replicas = ReplicaOptions::default();
    let mut num_replicas_at = None;
    for opt in crate::options::parse(tokens, Place::Binding, errors) {
        if opt.key == "num_replicas" {
            num_replicas_at = Some(opt.key.span());
        }
        if opt.key == "executor" {
            errors.help(
                opt.key.span(),
                "a binding cannot change its deployment's executor",
                "the executor belongs to the deployment's code: set it in `#[deployment(executor = ...)]`",
            );
            continue;
        }
        replicas.take(&opt, errors);
    }
    replicas.check_together(num_replicas_at, errors);
    replicas
}

fn tail(expr: &Expr, errors: &mut Errors) -> Option<Tail> {
    match strip_await(expr) {
        Expr::Path(p) if p.path.get_ident().is_some() => {
            Some(Tail::Value(p.path.get_ident().cloned()?))
        }
        other => match rhs(other, errors)? {
            Rhs::Call(call) => Some(Tail::Call(call, other.span())),
            Rhs::Bind(b) => {
                errors.help(
                    b.bind.span(),
                    "a graph returns a value, not a deployment",
                    "call one of its methods",
                );
                None
            }
        },
    }
}

/// A path as the user wrote it, without spaces.
pub fn path_text(path: &Path) -> String {
    tidy(&quote::quote!(#path).to_string())
}

/// Token text without the spaces `to_string` puts around punctuation.
/// The type of `Type::function`: a path whose last two segments read as a type (capital
/// first letter) and a function (lower case), as `Embedder::tokenize`. Module paths to a
/// function deployment (`models::embed`) are not.
fn associated_fn_owner(path: &syn::Path) -> Option<&Ident> {
    let n = path.segments.len();
    if n < 2 {
        return None;
    }
    let owner = &path.segments[n - 2].ident;
    let function = &path.segments[n - 1].ident.to_string();
    let is_type = owner
        .to_string()
        .starts_with(|c: char| c.is_ascii_uppercase());
    let is_fn = function.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
    (is_type && is_fn).then_some(owner)
}

pub fn tidy(s: &str) -> String {
    s.replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" .", ".")
        .replace(". ", ".")
}
