//! Resolving a graph's names into a plan, and the structural rules: every name defined
//! once and before use, handles and values in their places, nothing bound and left unused.
//!
//! Types are not checked here: the generated code puts each argument under the user's own
//! token, so rustc's type errors land on it.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::visit::Visit;
use syn::{Expr, Ident, ItemFn, Path, Type};

use crate::diag::{Errors, closest};
use crate::graph::attr::{Adapter, GraphAttr};
use crate::graph::parse::{Bind, BindArg, Call, GraphFn, Param, Rhs, Tail, path_text, tidy};
use crate::graph::plan::{Dep, DepArg, Kind, Node, NodeArg, Plan, ValueRef};

/// What a name in the graph stands for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Binding {
    Value(ValueRef),
    Dep(usize),
}

struct Resolver<'a, 'e> {
    errors: &'e mut Errors,
    scope: HashMap<String, (Binding, Span)>,
    used: HashSet<Binding>,
    later: HashMap<String, Span>,
    /// The name the statement being resolved defines, if any.
    defining: Option<String>,
    /// Names a rejected statement would have defined: their uses are not reported again.
    poisoned: HashSet<String>,
    functions: HashMap<String, usize>,
    deps: Vec<Dep<'a>>,
    nodes: Vec<Node>,
}

pub fn resolve<'a>(item: &ItemFn, g: &'a GraphFn, errors: &mut Errors) -> Option<Plan<'a>> {
    let later = g
        .statements
        .iter()
        .filter_map(|s| s.name.as_ref())
        .map(|n| (n.to_string(), n.span()))
        .collect();
    let mut r = Resolver {
        errors,
        scope: HashMap::new(),
        used: HashSet::new(),
        later,
        defining: None,
        poisoned: g.rejected.iter().map(Ident::to_string).collect(),
        functions: HashMap::new(),
        deps: Vec::new(),
        nodes: Vec::new(),
    };
    for (i, p) in g.params.iter().enumerate() {
        r.define(&p.ident, Binding::Value(ValueRef::Input(i)));
    }
    for s in &g.statements {
        match &s.rhs {
            Rhs::Bind(bind) => {
                let dep = r.bind(bind);
                if let Some(name) = &s.name {
                    if let Some(ty) = &s.ty {
                        r.errors.help(
                            syn::spanned::Spanned::span(ty),
                            "a bound deployment has no type to annotate",
                            "remove the annotation: the handle's type is the deployment's",
                        );
                    }
                    r.define(name, Binding::Dep(dep));
                }
            }
            Rhs::Call(call) => {
                let id = s
                    .name
                    .as_ref()
                    .map_or_else(|| format!("_{}", r.nodes.len()), Ident::to_string);
                r.defining = s.name.as_ref().map(Ident::to_string);
                let node = r.call(call, id, s.ty.clone());
                r.defining = None;
                match (node, &s.name) {
                    (Some(node), Some(name)) => {
                        r.define(name, Binding::Value(ValueRef::Node(node)))
                    }
                    // The call was reported: its name is poisoned, not missing.
                    (None, Some(name)) => {
                        r.poisoned.insert(name.to_string());
                    }
                    (_, None) => {}
                }
            }
        }
    }
    let output = match &g.tail {
        Some(Tail::Value(ident)) => r.value(ident).map(|v| (v, ident.span())),
        Some(Tail::Call(call, span)) => r
            .call(call, "return".to_owned(), None)
            .map(|n| (ValueRef::Node(n), *span)),
        None if g.tail_rejected => None,
        None => {
            let close = item.block.brace_token.span.close();
            r.errors.help(
                close,
                "a graph must end with the value it returns",
                "end the body with a value's name or a call, without a `;`",
            );
            None
        }
    };
    // An unused name next to another error is most often that error's consequence (a
    // call that could not be resolved uses nothing): it is reported once the graph has
    // no other error.
    if r.errors.is_empty() {
        r.report_unused();
    }
    let (output, output_span) = output?;
    Some(Plan {
        inputs: &g.params,
        deps: r.deps,
        nodes: r.nodes,
        output,
        output_span,
    })
}

impl<'a> Resolver<'a, '_> {
    fn define(&mut self, name: &Ident, binding: Binding) {
        let key = name.to_string();
        if let Some((_, first)) = self.scope.get(&key) {
            let first = *first;
            self.errors.help(
                name.span(),
                format!("`{key}` is defined twice in this graph"),
                "give each value its own name",
            );
            self.errors
                .error(first, format!("`{key}` is first defined here"));
            return;
        }
        self.scope.insert(key, (binding, name.span()));
    }

    fn lookup(&mut self, ident: &Ident) -> Option<Binding> {
        let found = self.scope.get(&ident.to_string()).map(|(b, _)| *b);
        if let Some(b) = found {
            self.used.insert(b);
        }
        found
    }

    fn unknown(&mut self, ident: &Ident) {
        let name = ident.to_string();
        if self.poisoned.contains(&name) {
            return;
        }
        if self.defining.as_ref() == Some(&name) {
            self.errors.help(
                ident.span(),
                format!("`{name}` is what this call makes, so it cannot also take it"),
                "a graph has no cycles: pass a value defined above, or do the repeated work inside one deployment",
            );
            return;
        }
        let near = closest(&name, self.scope.keys().map(String::as_str)).map(str::to_owned);
        let help = if self.later.contains_key(&name) {
            format!("`{name}` is defined later in the graph; move this use below its `let`")
        } else if let Some(near) = near {
            format!("did you mean `{near}`?")
        } else {
            "a graph's values are its parameters and the names it binds with `let`".to_owned()
        };
        self.errors.help(
            ident.span(),
            format!("cannot find `{name}` in this graph"),
            help,
        );
    }

    /// A name that must be a value (an input or a call's result).
    fn value(&mut self, ident: &Ident) -> Option<ValueRef> {
        match self.lookup(ident) {
            Some(Binding::Value(v)) => Some(v),
            Some(Binding::Dep(_)) => {
                self.errors.help(ident.span(), format!("`{ident}` is a deployment handle, not a value"), format!("call one of its methods (`{ident}.method(...)`), or pass it to another deployment's `bind(...)`"));
                None
            }
            None => {
                self.unknown(ident);
                None
            }
        }
    }

    fn bind(&mut self, bind: &'a Bind) -> usize {
        let args = bind.args.iter().filter_map(|a| self.bind_arg(a)).collect();
        self.deps.push(Dep {
            ty: bind.ty.clone(),
            kind: Kind::Struct,
            bind: bind.bind.clone(),
            args,
            options: bind.options.as_deref(),
            written_args: &bind.written,
        });
        self.deps.len() - 1
    }

    fn bind_arg(&mut self, arg: &'a BindArg) -> Option<DepArg> {
        let arg = match arg {
            BindArg::Bind(bind, span) => {
                let dep = self.bind(bind);
                return Some(DepArg::Handle { dep, span: *span });
            }
            BindArg::Expr(expr) => expr,
        };
        match as_name(arg) {
            Some(ident) => match self.lookup(ident) {
                Some(Binding::Dep(dep)) => Some(DepArg::Handle {
                    dep,
                    span: ident.span(),
                }),
                Some(Binding::Value(_)) => {
                    self.errors.help(ident.span(), format!("`{ident}` is a per-request value; `bind` arguments are fixed when the graph starts"), "pass per-request values to a method call, and handles or constants to `bind`");
                    None
                }
                None if looks_local(ident) => {
                    self.unknown(ident);
                    None
                }
                None => Some(DepArg::Const(arg.clone())),
            },
            None => self.constant(arg).then(|| DepArg::Const(arg.clone())),
        }
    }

    fn call(&mut self, call: &Call, id: String, ty: Option<Type>) -> Option<usize> {
        let (dep, method, callee_span, receiver_span) = match call {
            Call::Method {
                receiver, method, ..
            } => {
                match self.lookup(receiver) {
                    Some(Binding::Dep(dep)) => {
                        (dep, Some(method.clone()), method.span(), receiver.span())
                    }
                    Some(Binding::Value(_)) => {
                        self.errors.help(receiver.span(), format!("`{receiver}` is a value, not a deployment"), "only bound deployments have methods; transform values inside a deployment");
                        return None;
                    }
                    None => {
                        self.unknown(receiver);
                        return None;
                    }
                }
            }
            Call::Function { func, .. } => {
                let dep = self.function(func);
                let span = syn::spanned::Spanned::span(func);
                (dep, None, span, span)
            }
        };
        let args: Vec<NodeArg> = call
            .args()
            .iter()
            .filter_map(|a| self.call_arg(a))
            .collect();
        if args.len() != call.args().len() {
            return None;
        }
        self.nodes.push(Node {
            id,
            dep,
            method,
            callee_span,
            receiver_span,
            args,
            ty,
        });
        Some(self.nodes.len() - 1)
    }

    /// Every call of one function deployment shares its replicas.
    fn function(&mut self, func: &Path) -> usize {
        let key = path_text(func);
        if let Some(&dep) = self.functions.get(&key) {
            return dep;
        }
        let last = func.segments.last().expect("a path has a segment");
        let bind = Ident::new("bind", last.ident.span());
        self.deps.push(Dep {
            ty: func.clone(),
            kind: Kind::Function,
            bind,
            args: Vec::new(),
            options: None,
            written_args: &[],
        });
        let dep = self.deps.len() - 1;
        self.functions.insert(key, dep);
        dep
    }

    fn call_arg(&mut self, arg: &Expr) -> Option<NodeArg> {
        match as_name(arg) {
            Some(ident) => match self.scope.get(&ident.to_string()).map(|(b, _)| *b) {
                Some(_) => self.value(ident).map(|from| NodeArg::Value {
                    from,
                    token: ident.clone(),
                }),
                None if self.poisoned.contains(&ident.to_string()) => None,
                None if looks_local(ident) => {
                    self.unknown(ident);
                    None
                }
                None => Some(NodeArg::Const(arg.clone())),
            },
            None => self.constant(arg).then(|| NodeArg::Const(arg.clone())),
        }
    }

    /// A constant may not hide a graph value inside an expression.
    fn constant(&mut self, expr: &Expr) -> bool {
        struct Finder<'a> {
            names: &'a HashMap<String, (Binding, Span)>,
            poisoned: &'a HashSet<String>,
            found: Vec<Ident>,
            found_poisoned: bool,
        }
        impl<'ast> Visit<'ast> for Finder<'_> {
            fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
                if let Some(ident) = p.path.get_ident() {
                    let name = ident.to_string();
                    if self.names.contains_key(&name) {
                        self.found.push(ident.clone());
                    } else if self.poisoned.contains(&name) {
                        self.found_poisoned = true;
                    }
                }
            }
        }
        let mut finder = Finder {
            names: &self.scope,
            poisoned: &self.poisoned,
            found: Vec::new(),
            found_poisoned: false,
        };
        finder.visit_expr(expr);
        if finder.found_poisoned {
            // Built from a statement already reported: nothing more to say.
            return false;
        }
        if !finder.found.is_empty() && matches!(expr, Expr::Call(_) | Expr::MethodCall(_)) {
            let call = tidy(&quote::quote!(#expr).to_string());
            self.errors.help(
                syn::spanned::Spanned::span(expr),
                "a call inside another call: a graph passes each node's result by name",
                format!("bind it first, `let value = {call};`, and pass `value`"),
            );
            return false;
        }
        for ident in &finder.found {
            self.errors.help(ident.span(), format!("`{ident}` is a graph value and cannot be used inside an expression"), format!("pass `{ident}` on its own as an argument, and compute with it inside a deployment"));
        }
        finder.found.is_empty()
    }

    fn report_unused(&mut self) {
        let mut unused: Vec<(&String, &(Binding, Span))> = self
            .scope
            .iter()
            .filter(|(name, (b, _))| !name.starts_with('_') && !self.used.contains(b))
            .collect();
        unused.sort_by_key(|(name, _)| name.as_str());
        let mut found = Vec::new();
        for (name, (binding, span)) in unused {
            let (message, help) = match binding {
                Binding::Dep(_) => (format!("deployment `{name}` is bound but never used"), "call one of its methods, pass it to another deployment's `bind(...)`, or remove it".to_owned()),
                Binding::Value(ValueRef::Input(_)) => (format!("graph input `{name}` is never used"), format!("pass it to a call, remove it, or name it `_{name}`")),
                Binding::Value(ValueRef::Node(_)) => (format!("the value `{name}` is never used"), format!("pass it to another call or return it; name it `_{name}` if the call runs only for its effect")),
            };
            found.push((*span, message, help));
        }
        for (span, message, help) in found {
            self.errors.help(span, message, help);
        }
    }
}

fn as_name(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        Expr::Group(g) => as_name(&g.expr),
        _ => None,
    }
}

/// Lower-case names are values or handles; `CONSTANTS` and `Paths` are constants.
fn looks_local(ident: &Ident) -> bool {
    ident
        .to_string()
        .starts_with(|c: char| c.is_lowercase() || c == '_')
}

pub fn adapter(attr: &GraphAttr, params: &[Param], fn_span: Span, errors: &mut Errors) {
    if let Adapter::Grpc(method) = &attr.adapter
        && params.len() != 1
    {
        let n = params.len();
        errors.help(
            if n == 0 { fn_span } else { params[1].ident.span() },
            format!(
                "a gRPC graph takes exactly one parameter, its request message, and this graph has {n}"
            ),
            format!(
                "take one protobuf message (a `prost::Message`) as the request of `{}`; put several values in its fields",
                method.value()
            ),
        );
    }
    if let Adapter::RawBytes(path) = &attr.adapter {
        let n = params.len();
        if n != 1 {
            errors.help(
                if n == 0 { fn_span } else { syn::spanned::Spanned::span(path) },
                format!(
                    "`raw_bytes` hands the body to a graph with exactly one parameter, and this graph has {n}"
                ),
                "use `json_request` for several inputs, or write your own adapter",
            );
        }
    }
}
