//! `key = value` option lists, shared by `#[deployment(...)]` and `#[graph(...)]`.

mod table;

pub use table::{Place, names};

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Meta, Token, UnOp};

use crate::diag::{Errors, closest};

/// The options written as a nested list, `key(a = 1, b = 2)`, rather than `key = value`.
const NESTED: &[&str] = &["autoscaling_config"];

/// The `a = 1, b = 2` inside a nested option, as given to [`parse`].
pub fn nested(opt: &Opt) -> Option<TokenStream> {
    match &opt.value {
        Expr::Verbatim(tokens) => {
            let group: proc_macro2::Group = syn::parse2(tokens.clone()).ok()?;
            Some(group.stream())
        }
        _ => None,
    }
}

/// Options a Ray Serve user (or a reader of another attribute) would write here, with
/// where they are or what they are called in this project.
fn from_elsewhere(name: &str, place: Place) -> Option<(String, String)> {
    let (message, help) = match (name, place) {
        ("max_concurrent_queries", _) => (
            "`max_concurrent_queries` is Ray Serve's old name".to_owned(),
            "write `max_ongoing_requests`: the calls one replica serves at once",
        ),
        ("target_num_ongoing_requests_per_replica", _) => (
            "`target_num_ongoing_requests_per_replica` is Ray Serve's old name".to_owned(),
            "write `target_ongoing_requests`",
        ),
        ("ray_actor_options", Place::Deployment | Place::Binding) => (
            "there are no `ray_actor_options`: a deployment reserves resources itself".to_owned(),
            "write `num_cpus = 1` or `num_gpus = 0.5` directly",
        ),
        (
            "route_prefix" | "http_adapter" | "body_limit" | "request_timeout_ms",
            Place::Deployment | Place::Binding,
        ) => (
            format!("`{name}` is an option of the graph, which serves HTTP"),
            "put it on the graph: `#[graph(route_prefix = \"/path\")]`",
        ),
        ("user_config", Place::Deployment | Place::Binding) => (
            "`user_config` comes from the config file, not the code".to_owned(),
            "give the deployment `async fn reconfigure(&self, config: C)` and set `user_config` in the file `<bin> build` writes",
        ),
        _ => return None,
    };
    Some((message, help.to_owned()))
}

/// One `key = value`, with the spans of both.
pub struct Opt {
    pub key: Ident,
    pub value: Expr,
}

/// Parses the options written at `place`; unknown keys and duplicates are reported and
/// dropped, with the closest known name suggested.
pub fn parse(attr: TokenStream, place: Place, errors: &mut Errors) -> Vec<Opt> {
    let known = names(place);
    let what = place.what();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut out = Vec::new();
    for meta in metas {
        let (path, value) = match meta {
            Meta::NameValue(nv) => (nv.path, nv.value),
            Meta::Path(path) => {
                errors.help(
                    path.span(),
                    format!("`{}` needs a value", quote::quote!(#path)),
                    "write options as `key = value`",
                );
                continue;
            }
            // A nested list (`autoscaling_config(min_replicas = 0, ...)`), where the
            // option is one; its tokens are read by the option's own parser.
            Meta::List(list)
                if list.path.get_ident().is_some_and(|i| {
                    NESTED.contains(&i.to_string().as_str())
                        && known.contains(&i.to_string().as_str())
                }) =>
            {
                let tokens = list.tokens;
                (list.path, Expr::Verbatim(quote::quote!((#tokens))))
            }
            Meta::List(list) => {
                errors.help(
                    list.path.span(),
                    "expected `key = value`",
                    "write options as `key = value`",
                );
                continue;
            }
        };
        let Some(key) = path.get_ident().cloned() else {
            errors.help(
                path.span(),
                format!("unknown {what} option"),
                format!("valid options: {}", known.join(", ")),
            );
            continue;
        };
        let name = key.to_string();
        if !known.contains(&name.as_str())
            && let Some((message, help)) = from_elsewhere(&name, place)
        {
            errors.help(key.span(), message, help);
            continue;
        }
        if !known.contains(&name.as_str()) {
            let help = match closest(&name, known.iter().copied()) {
                Some(near) => format!(
                    "did you mean `{near}` ({})? valid options: {}",
                    table::doc(near),
                    known.join(", ")
                ),
                None => format!("valid options: {}", known.join(", ")),
            };
            errors.help(key.span(), format!("unknown {what} option `{name}`"), help);
            continue;
        }
        if let Some(first) = seen.get(&name) {
            errors.help(
                key.span(),
                format!("duplicate option `{name}`"),
                "remove one of the two",
            );
            errors.error(*first, format!("`{name}` is first set here"));
            continue;
        }
        seen.insert(name, key.span());
        out.push(Opt { key, value });
    }
    out
}

fn negative(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            ..
        })
    )
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => literal(expr),
        Expr::Group(g) => literal(&g.expr),
        _ => None,
    }
}

/// A number literal with its sign: syn reads `-1` either as a negated literal or as a
/// negative one, so both are handled here.
fn signed(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.base10_parse().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => signed(expr).map(|v| -v),
        Expr::Group(g) => signed(&g.expr),
        _ => None,
    }
}

/// A whole number literal of at least `min`.
pub fn integer(opt: &Opt, min: u64, errors: &mut Errors) -> Option<u64> {
    let key = &opt.key;
    let parsed = match literal(&opt.value) {
        Some(Lit::Int(int)) if !negative(&opt.value) => int.base10_parse::<u64>().ok(),
        Some(Lit::Int(_)) => None,
        Some(Lit::Float(_)) => {
            errors.spanned(
                &opt.value,
                format!("`{key}` must be a whole number"),
                format!("write `{key} = 1`"),
            );
            return None;
        }
        _ => {
            errors.spanned(
                &opt.value,
                format!("`{key}` must be an integer literal"),
                format!("write `{key} = {}`", min.max(1)),
            );
            return None;
        }
    };
    match parsed {
        Some(n) if n >= min => Some(n),
        _ => {
            errors.spanned(
                &opt.value,
                format!("`{key}` must be at least {min}"),
                format!("write `{key} = {}` or more", min),
            );
            None
        }
    }
}

/// A number literal (whole or fractional) that is not negative.
pub fn fraction(opt: &Opt, errors: &mut Errors) -> Option<f64> {
    let key = &opt.key;
    match signed(&opt.value) {
        Some(v) if v < 0.0 => {
            errors.spanned(
                &opt.value,
                format!("`{key}` cannot be negative"),
                format!(
                    "use `{key} = 0` for none, or a fraction such as `{key} = 0.5` to share one"
                ),
            );
            None
        }
        Some(v) if v.is_finite() => Some(v),
        _ => {
            errors.spanned(
                &opt.value,
                format!("`{key}` must be a number literal"),
                format!("write `{key} = 1` or a fraction such as `{key} = 0.5`"),
            );
            None
        }
    }
}

/// A number of seconds, zero or more.
pub fn seconds(opt: &Opt, errors: &mut Errors) -> Option<f64> {
    let key = &opt.key;
    match signed(&opt.value) {
        Some(v) if v.is_finite() && v >= 0.0 => Some(v),
        _ => {
            // A batch waits for milliseconds; everything else here for seconds.
            let example = if key == "batch_wait_timeout_s" {
                "0.01"
            } else {
                "20"
            };
            errors.spanned(
                &opt.value,
                format!("`{key}` must be a number of seconds, 0 or more"),
                format!("write `{key} = {example}`, or `{key} = 0` not to wait"),
            );
            None
        }
    }
}

/// A number literal greater than zero.
pub fn positive(opt: &Opt, errors: &mut Errors) -> Option<f64> {
    let value = fraction(opt, errors)?;
    if value > 0.0 {
        return Some(value);
    }
    let key = &opt.key;
    errors.spanned(
        &opt.value,
        format!("`{key}` must be greater than 0"),
        format!("write `{key} = 10` or a fraction such as `{key} = 0.5`"),
    );
    None
}

/// `true` or `false`.
pub fn boolean(opt: &Opt, errors: &mut Errors) -> Option<bool> {
    match literal(&opt.value) {
        Some(Lit::Bool(b)) => Some(b.value),
        _ => {
            errors.spanned(
                &opt.value,
                format!("`{}` must be `true` or `false`", opt.key),
                format!("write `{} = true`", opt.key),
            );
            None
        }
    }
}

/// A string literal.
pub fn string(opt: &Opt, errors: &mut Errors) -> Option<LitStr> {
    match &opt.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.clone()),
        other => {
            errors.spanned(
                other,
                format!("`{}` must be a string literal", opt.key),
                format!("write `{} = \"...\"`", opt.key),
            );
            None
        }
    }
}
