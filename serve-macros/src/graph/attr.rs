//! `#[graph(route_prefix = "/classify", http_adapter = json_request, ...)]`, or
//! `#[graph(grpc = "package.Service/Method")]`.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Path};

use crate::deployment::ReplicaOptions;
use crate::diag::Errors;
use crate::options;

/// The built-in adapters; any other path names a user function.
pub const JSON_REQUEST: &str = "json_request";
pub const RAW_BYTES: &str = "raw_bytes";
pub const QUERY: &str = "query";
/// The adapter name a gRPC graph's ingress options carry.
pub const GRPC: &str = "grpc";

pub enum Adapter {
    Json,
    /// The parameters from the query string of a GET.
    Query,
    RawBytes(Path),
    Custom(Path),
    /// Served as the gRPC method `package.Service/Method`: the one parameter is the
    /// request message, decoded from protobuf.
    Grpc(LitStr),
}

pub struct GraphAttr {
    pub route_prefix: Option<LitStr>,
    pub adapter: Adapter,
    pub body_limit: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    /// Refuse JSON fields the graph has no parameter for (by default they are ignored, as
    /// Ray Serve's models do).
    pub deny_unknown_fields: bool,
    pub driver: ReplicaOptions,
}

pub fn parse(attr: TokenStream, errors: &mut Errors) -> GraphAttr {
    let mut out = GraphAttr {
        route_prefix: None,
        adapter: Adapter::Json,
        body_limit: None,
        request_timeout_ms: None,
        deny_unknown_fields: false,
        driver: ReplicaOptions::default(),
    };
    // Options a gRPC graph has no use for, where they were written.
    let mut http_only: Vec<(String, Span)> = Vec::new();
    let mut grpc = None;
    for opt in options::parse(attr, options::Place::Graph, errors) {
        if out.driver.take(&opt, errors) {
            continue;
        }
        let key = opt.key.to_string();
        if matches!(
            key.as_str(),
            "route_prefix" | "http_adapter" | "deny_unknown_fields"
        ) {
            http_only.push((key.clone(), opt.key.span()));
        }
        match key.as_str() {
            "grpc" => grpc = options::string(&opt, errors).filter(|m| grpc_method(m, errors)),
            "route_prefix" => {
                out.route_prefix = options::string(&opt, errors).filter(|p| route_prefix(p, errors))
            }
            "body_limit" => out.body_limit = options::integer(&opt, 1, errors),
            "request_timeout_ms" => out.request_timeout_ms = options::integer(&opt, 1, errors),
            "deny_unknown_fields" => {
                out.deny_unknown_fields = options::boolean(&opt, errors).unwrap_or(false)
            }
            _ => {
                if let Some(adapter) = adapter(&opt.value, errors) {
                    out.adapter = adapter;
                }
            }
        }
    }
    if let Some(method) = grpc {
        for (key, span) in http_only {
            errors.help(
                span,
                format!("`{key}` does not apply to a gRPC graph"),
                format!(
                    "a graph with `grpc = ...` is served at `/{}` and reads its one parameter from the protobuf request; remove `{key}`",
                    method.value()
                ),
            );
        }
        out.adapter = Adapter::Grpc(method);
    }
    out
}

/// `package.Service/Method`: a service name (dotted, its package first) and a method.
fn grpc_method(method: &LitStr, errors: &mut Errors) -> bool {
    let value = method.value();
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let valid = match value.split_once('/') {
        Some((service, name)) => service.split('.').all(ident) && ident(name),
        None => false,
    };
    if !valid {
        errors.help(
            method.span(),
            format!("invalid gRPC method `{value}`"),
            "write the method as the `.proto` file names it: `package.Service/Method`, e.g. `grpc = \"classify.Classifier/Classify\"`",
        );
    }
    valid
}

fn route_prefix(prefix: &LitStr, errors: &mut Errors) -> bool {
    let value = prefix.value();
    let fixed = format!("/{}", value.trim_matches('/'));
    let problem = if !value.starts_with('/') || (value.len() > 1 && value.ends_with('/')) {
        Some(format!("write `route_prefix = \"{fixed}\"`"))
    } else if value.starts_with("/-/") || value == "/-" {
        Some("`/-/` is reserved for the server's own routes (`/-/healthz`, `/-/routes`); pick another prefix".to_owned())
    } else if value.contains(|c: char| {
        c.is_whitespace() || c == '{' || c == '}' || c == '*' || c == '?' || c == '#'
    }) {
        Some("use a plain path: letters, digits, `-`, `_`, `.` and `/`".to_owned())
    } else {
        None
    };
    match problem {
        Some(help) => {
            errors.help(
                prefix.span(),
                format!("invalid route prefix `{value}`"),
                format!("a route prefix starts with `/` and has no trailing `/`; {help}"),
            );
            false
        }
        None => true,
    }
}

fn adapter(value: &Expr, errors: &mut Errors) -> Option<Adapter> {
    let Expr::Path(p) = value else {
        errors.help(value.span(), "`http_adapter` must be a path", format!("use `{JSON_REQUEST}`, `{QUERY}`, `{RAW_BYTES}`, or the path of an `async fn(HttpRequest) -> Result<Input, AdapterError>`"));
        return None;
    };
    let path = p.path.clone();
    Some(if path.is_ident(JSON_REQUEST) {
        Adapter::Json
    } else if path.is_ident(QUERY) {
        Adapter::Query
    } else if path.is_ident(RAW_BYTES) {
        Adapter::RawBytes(path)
    } else {
        Adapter::Custom(path)
    })
}
