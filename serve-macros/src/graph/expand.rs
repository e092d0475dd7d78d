//! Code generation for `#[graph]`: start-up in dependency order, straight-line per-request
//! code that runs every node as soon as its inputs are ready, the spec, and the adapter.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use crate::graph::attr::{Adapter, GRPC, GraphAttr, JSON_REQUEST, QUERY, RAW_BYTES};
use crate::graph::check::{DepArg, Kind, NodeArg, Plan, ValueRef};
use crate::graph::parse::{Param, path_text, tidy};
use crate::paths::{SERDE, private, private_at};

pub fn graph(item: &ItemFn, attr: &GraphAttr, plan: &Plan<'_>) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let shell = shell(item, plan.inputs);
    let input_ty = input_type(plan.inputs);
    let output_ty = output_type(item);
    let name_text = name.to_string();
    let spec = spec(plan, &name_text, &output_ty);
    let ingress = ingress(attr);
    let build = build(plan);
    let run = run(plan, &output_ty);
    let (adapter_items, adapt) = adapt(attr, plan.inputs);
    let as_node = as_node(item, plan.inputs, &output_ty);
    quote! {
        #shell
        #as_node

        const _: () = {
            #adapter_items

            impl #name {
                /// The graph's static topology: inputs, deployments, calls, edges, options.
                pub fn spec() -> #private::GraphSpec {
                    <Self as #private::Graph>::spec()
                }
            }

            #[allow(clippy::let_unit_value, clippy::unit_arg, clippy::needless_question_mark)]
            impl #private::Graph for #name {
                type Input = #input_ty;
                type Output = #output_ty;
                const NAME: &'static str = #name_text;

                fn spec() -> #private::GraphSpec { #spec }
                fn ingress() -> #private::IngressOptions { #ingress }
                #build
                #run
                #adapt
            }

            #private::inventory::submit! {
                #private::GraphRegistration {
                    name: #name_text,
                    module: ::core::module_path!(),
                    spec: <#name as #private::Graph>::spec,
                }
            }
        };
    }
}

/// What stands for the graph: a braced struct (type namespace only, so it never captures a
/// `let` of the same name the way a unit struct would) and a fn of the same name with the
/// graph's parameters, whose name is what `serve_runtime::start(name)` and
/// `App::graph(name)` take. Calling it returns `Called`, which neither runs nor names the
/// graph: awaiting it, or passing it where a graph's name goes, is an error that says so.
fn shell(item: &ItemFn, params: &[Param]) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let vis = &item.vis;
    let docs: Vec<_> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let types = params.iter().map(|p| &p.ty);
    let shell = quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        #vis struct #name { __serve_private: () }
    };
    let called = quote! {
        #private::graph_fn!(#(#docs)* (#vis) #name (#(#types),*));
    };
    quote! { #shell #called }
}

/// What is left when the graph has errors: the struct and an `impl Graph` with the
/// declared types, so code that uses the graph does not add errors of its own.
pub fn fallback(item: &ItemFn, params: &[Param]) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let name_text = name.to_string();
    let shell = shell(item, params);
    let input_ty = input_type(params);
    let output_ty = output_type(item);
    let as_node = as_node(item, params, &output_ty);
    quote! {
        #shell
        #as_node
        const _: () = {
            impl #name {
                pub fn spec() -> #private::GraphSpec { ::core::unreachable!() }
            }
            impl #private::Graph for #name {
                type Input = #input_ty;
                type Output = #output_ty;
                const NAME: &'static str = #name_text;
                fn spec() -> #private::GraphSpec { ::core::unreachable!() }
                fn ingress() -> #private::IngressOptions { ::core::unreachable!() }
                async fn build<__SERVE_C: #private::Deploy>(_: &mut __SERVE_C) -> #private::Result<#private::Nodes, #private::Error> { ::core::unreachable!() }
                async fn run(_: &#private::Nodes, _: Self::Input) -> #private::Result<Self::Output, #private::Error> { ::core::unreachable!() }
                async fn adapt(_: #private::HttpRequest) -> #private::Result<Self::Input, #private::AdapterError> { ::core::unreachable!() }
            }
        };
    }
}

/// What lets another graph call this one by name, as a node: a struct holding its started
/// nodes, whose `call` takes the graph's parameters, and `FnNode` for the graph.
fn as_node(item: &ItemFn, params: &[Param], output_ty: &TokenStream) -> TokenStream {
    let private = private();
    let name = &item.sig.ident;
    let vis = &item.vis;
    let node = format_ident!("__serve_node_{}", name);
    let idents: Vec<&Ident> = params.iter().map(|p| &p.ident).collect();
    let types = params.iter().map(|p| &p.ty);
    let input = match idents.as_slice() {
        [one] => quote!(#one),
        many => quote!((#(#many,)*)),
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #node(#private::GraphNode<#name>);

        const _: () = {
            impl #node {
                #[allow(clippy::too_many_arguments)]
                #vis async fn call(&self, #(#idents: #types),*) -> #private::Result<#output_ty, #private::Error> {
                    self.0.run(#input).await
                }
            }

            impl #private::FnNode for #name {
                type Handle = #node;
                async fn deploy<__SERVE_C: #private::Deploy>(
                    __serve_ctx: &mut __SERVE_C,
                ) -> #private::Result<Self::Handle, #private::Error> {
                    #private::Result::Ok(#node(#private::GraphNode::deploy(__serve_ctx).await?))
                }
                fn spec_dep(__serve_spec: &mut #private::SpecBuilder, _: &str) -> #private::DepRef {
                    #private::spec_inner_graph::<#name>(__serve_spec)
                }
            }
        };
    }
}

fn input_type(params: &[Param]) -> TokenStream {
    let types = params.iter().map(|p| &p.ty);
    match params {
        [one] => {
            let ty = &one.ty;
            quote!(#ty)
        }
        _ => quote!((#(#types,)*)),
    }
}

fn output_type(item: &ItemFn) -> TokenStream {
    match &item.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    }
}

/// `<Ty as Deployment>::ITEM`, spanned at the user's type. Every use of a deployment type
/// goes through this one projection, so a type that is not a deployment gives one error.
fn deployment_item(ty: &syn::Path, item: TokenStream) -> TokenStream {
    let private = private_at(ty.span());
    quote_spanned!(ty.span()=> <#ty as #private::Deployment>::#item)
}

/// `<f as FnNode>::ITEM`, spanned at the user's path: what a graph calls by name (a
/// function deployment or another graph) goes through this one projection.
fn fn_node_item(ty: &syn::Path, item: TokenStream) -> TokenStream {
    let private = private_at(ty.span());
    quote_spanned!(ty.span()=> <#ty as #private::FnNode>::#item)
}

/// The borrow of the slot carrying node `n`'s value to its `j`th consumer.
fn slot_ref(n: usize, j: usize) -> Ident {
    format_ident!("__serve_s_{}_{}", n, j)
}

fn dep_ident(i: usize) -> Ident {
    format_ident!("__serve_d{}", i)
}

fn build(plan: &Plan<'_>) -> TokenStream {
    let private = private();
    let deploys = plan.deps.iter().enumerate().map(|(i, dep)| {
        let ident = dep_ident(i);
        let ty = &dep.ty;
        if let Kind::Function = dep.kind {
            let deploy = fn_node_item(ty, quote!(deploy));
            return quote!(let #ident = #deploy(__serve_ctx).await?;);
        }
        // The constructor is made again when a config changes the `bind` arguments, so the
        // handles it takes are cloned into the closure that makes it.
        let captured: Vec<_> = dep
            .args
            .iter()
            .enumerate()
            .filter_map(|(k, a)| match a {
                DepArg::Handle { dep, .. } => {
                    let local = format_ident!("__serve_h{}_{}", i, k);
                    let handle = dep_ident(*dep);
                    Some(quote!(let #local = #private::Clone::clone(&#handle);))
                }
                DepArg::Const(_) => None,
            })
            .collect();
        let args = dep.args.iter().enumerate().map(|(k, a)| match a {
            DepArg::Handle { span, .. } => {
                // Every token at the user's argument, the runtime path included, so a
                // handle of the wrong type is reported there.
                let local = format_ident!("__serve_h{}_{}", i, k, span = *span);
                let private = private_at(*span);
                quote_spanned!(*span=> #private::Clone::clone(&#local))
            }
            DepArg::Const(expr) => quote!(#expr),
        });
        let binder_ty = deployment_item(ty, quote!(Binder));
        let binder = quote!(<#binder_ty as ::core::default::Default>::default());
        let bind = &dep.bind;
        quote! {
            let #ident = {
                #(#captured)*
                __serve_ctx
                    .deploy(move |__serve_args: &#private::BindArgs| {
                        #binder.with_args(__serve_args).#bind(#(#args),*)
                    })
                    .await?
            };
        }
    });
    let handles = (0..plan.deps.len()).map(dep_ident);
    quote! {
        async fn build<__SERVE_C: #private::Deploy>(__serve_ctx: &mut __SERVE_C) -> #private::Result<#private::Nodes, #private::Error> {
            #(#deploys)*
            let mut __serve_nodes = #private::Nodes::default();
            #(__serve_nodes.push(#handles);)*
            #private::Result::Ok(__serve_nodes)
        }
    }
}

/// Where a consumer gets a value from.
enum Source {
    /// The `j`th slot of node `n`.
    Slot(usize, usize),
    /// The `j`th copy of input `i`.
    Input(usize, usize),
}

impl Source {
    fn tokens(&self, span: Span) -> TokenStream {
        let private = private();
        match *self {
            Source::Slot(n, j) => {
                let rx = slot_ref(n, j);
                quote_spanned!(span=> #private::recv(#rx).await?)
            }
            Source::Input(i, j) => {
                let v = format_ident!("__serve_in_{}_{}", i, j);
                quote!(#v)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Consumer {
    Arg(usize, usize),
    Output,
}

fn run(plan: &Plan<'_>, output_ty: &TokenStream) -> TokenStream {
    let private = private();
    // Each value is handed to its consumers in node order; the last one gets the original.
    let mut consumers: HashMap<ValueRef, Vec<Consumer>> = HashMap::new();
    for (n, node) in plan.nodes.iter().enumerate() {
        for (a, arg) in node.args.iter().enumerate() {
            if let NodeArg::Value { from, .. } = arg {
                consumers
                    .entry(*from)
                    .or_default()
                    .push(Consumer::Arg(n, a));
            }
        }
    }
    consumers
        .entry(plan.output)
        .or_default()
        .push(Consumer::Output);
    let mut sources: HashMap<Consumer, Source> = HashMap::new();
    for (value, list) in &consumers {
        for (j, c) in list.iter().enumerate() {
            let source = match *value {
                ValueRef::Node(n) => Source::Slot(n, j),
                ValueRef::Input(i) => Source::Input(i, j),
            };
            sources.insert(*c, source);
        }
    }

    // The handles this request calls, looked up once, typed through the same projection
    // as everywhere else so a type that is not a deployment is reported once.
    let mut called: Vec<usize> = plan.nodes.iter().map(|n| n.dep).collect();
    called.sort_unstable();
    called.dedup();
    let lookups = called.iter().map(|&d| {
        let handle = dep_ident(d);
        let dep = &plan.deps[d];
        let ty = match dep.kind {
            Kind::Struct => deployment_item(&dep.ty, quote!(Handle)),
            Kind::Function => fn_node_item(&dep.ty, quote!(Handle)),
        };
        quote!(let #handle: &#ty = __serve_nodes.get(#d);)
    });
    let params: Vec<&Ident> = plan.inputs.iter().map(|p| &p.ident).collect();
    let unpack = match params.as_slice() {
        [one] => quote!(let #one = __serve_input;),
        many => quote!(let (#(#many,)*) = __serve_input;),
    };
    let copies = plan.inputs.iter().enumerate().map(|(i, p)| {
        let ident = &p.ident;
        let list = consumers
            .get(&ValueRef::Input(i))
            .map_or(&[][..], Vec::as_slice);
        let names: Vec<Ident> = (0..list.len())
            .map(|j| format_ident!("__serve_in_{}_{}", i, j))
            .collect();
        match names.split_last() {
            None => quote!(let _ = #ident;),
            Some((last, rest)) => {
                let fan = quote_spanned!(ident.span()=> #private::fan_out(&#ident));
                quote! { #(let #rest = #fan;)* let #last = #ident; }
            }
        }
    });
    let slots = plan.nodes.iter().enumerate().flat_map(|(n, _)| {
        let count = consumers.get(&ValueRef::Node(n)).map_or(0, Vec::len);
        let private = private.clone();
        (0..count).map(move |j| {
            // The slot lives on the request's stack; the node blocks, which are `async move`,
            // take copies of a borrow of it.
            let slot = format_ident!("__serve_slot_{}_{}", n, j);
            let borrow = slot_ref(n, j);
            quote! {
                let #slot = #private::Slot::new();
                let #borrow = &#slot;
            }
        })
    });
    let node_blocks = plan.nodes.iter().enumerate().map(|(n, node)| {
        let mut receive = Vec::new();
        let args: Vec<TokenStream> = node
            .args
            .iter()
            .enumerate()
            .map(|(a, arg)| match arg {
                NodeArg::Value { token, .. } => {
                    let local = Ident::new(&format!("__serve_arg{a}"), token.span());
                    let source = sources[&Consumer::Arg(n, a)].tokens(token.span());
                    receive.push(quote!(let #local = #source;));
                    quote!(#local)
                }
                NodeArg::Const(expr) => {
                    let private = private_at(expr.span());
                    quote_spanned!(expr.span()=> #private::ConstArg::into_arg(#expr))
                }
            })
            .collect();
        let receiver = {
            let handle = dep_ident(node.dep);
            // Through `*`, so an unknown method is reported on `Handle<T>`, not on `&Handle<T>`.
            quote_spanned!(node.receiver_span=> (*#handle))
        };
        let method = node.method.clone().unwrap_or_else(|| Ident::new("call", node.callee_span));
        // A `let` annotation is checked against the node's output, at the annotation; the
        // value goes on with the node's own type, so a wrong one is one error.
        let annotation = node.ty.as_ref().map(|ty| {
            let private = private_at(ty.span());
            quote_spanned!(ty.span()=> #private::annotated::<#ty, _>(&__serve_out);)
        });
        let count = consumers.get(&ValueRef::Node(n)).map_or(0, Vec::len);
        let sends = (0..count).map(|j| {
            let tx = slot_ref(n, j);
            if j + 1 == count {
                quote!(#private::Slot::put(#tx, __serve_out);)
            } else {
                quote_spanned!(node.callee_span=> #private::Slot::put(#tx, #private::fan_out(&__serve_out));)
            }
        });
        quote! {
            async move {
                #(#receive)*
                let __serve_out = #receiver.#method(#(#args),*).await?;
                #annotation
                #(#sends)*
                #private::Result::<(), #private::Error>::Ok(())
            }
        }
    });
    // The blocks are written straight into the join, so each future is built where it is
    // polled instead of being moved there (moving a future copies all of its state).
    let node_blocks: Vec<TokenStream> = node_blocks.collect();
    let join = join(&node_blocks);
    // The value is checked against the declared return type through a trait spanned at the
    // tail, so a mismatch is one designed error on the user's tail expression.
    let source = sources[&Consumer::Output].tokens(plan.output_span);
    let tail = Ident::new("__serve_tail", plan.output_span);
    let returns = private_at(plan.output_span);
    let output = quote_spanned! {plan.output_span=>
        let #tail = #source;
        let __serve_output: #output_ty =
            <_ as #returns::GraphReturns<#output_ty>>::into_output(#tail);
    };
    quote! {
        #[allow(unused_variables)]
        async fn run(__serve_nodes: &#private::Nodes, __serve_input: Self::Input) -> #private::Result<#output_ty, #private::Error> {
            #(#lookups)*
            #unpack
            #(#copies)*
            #(#slots)*
            #join
            #output
            #private::Result::Ok(__serve_output)
        }
    }
}

/// Polls every node of a request together; the first error ends the request and drops
/// (cancels) the rest. Nested in groups so very wide graphs stay within macro limits.
fn join(blocks: &[TokenStream]) -> TokenStream {
    let private = private();
    const GROUP: usize = 12;
    match blocks.len() {
        0 => quote!(),
        1 => {
            let b = &blocks[0];
            quote!((#b).await?;)
        }
        n if n <= GROUP => quote!(#private::try_join!(#(#blocks),*)?;),
        _ => {
            let groups: Vec<TokenStream> = blocks
                .chunks(GROUP)
                .map(|chunk| {
                    let inner = join(chunk);
                    quote!(async move { #inner #private::Result::<(), #private::Error>::Ok(()) })
                })
                .collect();
            join(&groups)
        }
    }
}

fn spec(plan: &Plan<'_>, name: &str, output_ty: &TokenStream) -> TokenStream {
    let private = private();
    let inputs = plan.inputs.iter().map(|p| {
        let n = p.ident.to_string();
        let ty = &p.ty;
        let t = tidy(&quote!(#ty).to_string());
        quote!(__serve_spec.input(#n, #t);)
    });
    let deps = plan.deps.iter().enumerate().map(|(i, d)| {
        let ident = dep_ident(i);
        let ty = &d.ty;
        let text = path_text(ty);
        if let Kind::Function = d.kind {
            let spec_dep = fn_node_item(ty, quote!(spec_dep));
            return quote!(let #ident = #spec_dep(&mut __serve_spec, #text););
        }
        let kind = match d.kind {
            Kind::Struct => quote!(#private::DeploymentKind::Struct),
            Kind::Function => quote!(#private::DeploymentKind::Function),
        };
        let handles = d.args.iter().filter_map(|a| match a {
            DepArg::Handle { dep, .. } => Some(dep_ident(*dep)),
            DepArg::Const(_) => None,
        });
        let name = deployment_item(ty, quote!(NAME));
        let code = deployment_item(ty, quote!(OPTIONS));
        let options = match &d.options {
            Some(declared) => quote!(#declared.over(#code)),
            None => code,
        };
        let bind_args = d.written_args.iter().map(|a| tidy(&quote!(#a).to_string()));
        let params = deployment_item(ty, quote!(__serve_bind_params));
        let batched = deployment_item(ty, quote!(BATCHED));
        let remote = deployment_item(ty, quote!(REMOTE));
        quote!(let #ident = __serve_spec.deployment(#name, #options, #text, #kind, &[#(#handles),*], &[#(#bind_args),*], #params(), #batched, #remote);)
    });
    let value_id = |v: &ValueRef| match *v {
        ValueRef::Input(i) => plan.inputs[i].ident.to_string(),
        ValueRef::Node(n) => plan.nodes[n].id.clone(),
    };
    let nodes = plan.nodes.iter().map(|node| {
        let id = &node.id;
        let dep = dep_ident(node.dep);
        let method = match &node.method {
            Some(m) => {
                let m = m.to_string();
                quote!(::core::option::Option::Some(#m))
            }
            None => quote!(::core::option::Option::None),
        };
        let args = node.args.iter().map(|a| match a {
            NodeArg::Value { from, .. } => {
                let id = value_id(from);
                quote!(#private::value(#id))
            }
            NodeArg::Const(expr) => {
                let text = tidy(&quote!(#expr).to_string());
                quote!(#private::constant(#text))
            }
        });
        match plan.deps[node.dep].kind {
            Kind::Struct => quote!(__serve_spec.node(#id, #dep, #method, ::std::vec![#(#args),*]);),
            Kind::Function => {
                let spec_call = fn_node_item(&plan.deps[node.dep].ty, quote!(spec_call));
                quote!(#spec_call(&mut __serve_spec, #dep, #id, ::std::vec![#(#args),*]);)
            }
        }
    });
    let output = value_id(&plan.output);
    let output_text = tidy(&output_ty.to_string());
    quote! {
        let mut __serve_spec = #private::SpecBuilder::new(#name, <Self as #private::Graph>::ingress());
        #(#inputs)*
        #(#deps)*
        #(#nodes)*
        __serve_spec.output(#output, #output_text)
    }
}

fn ingress(attr: &GraphAttr) -> TokenStream {
    let private = private();
    let prefix = match &attr.adapter {
        // A gRPC method is served at its own path.
        Adapter::Grpc(method) => format!("/{}", method.value()),
        _ => attr
            .route_prefix
            .as_ref()
            .map_or_else(|| "/".to_owned(), |p| p.value()),
    };
    let adapter = match &attr.adapter {
        Adapter::Grpc(_) => GRPC.to_owned(),
        Adapter::Json => JSON_REQUEST.to_owned(),
        Adapter::Query => QUERY.to_owned(),
        Adapter::RawBytes(_) => RAW_BYTES.to_owned(),
        Adapter::Custom(path) => path_text(path),
    };
    // Unset, the runtime's defaults, which a deployment served alone gets too.
    let limit = match attr.body_limit {
        Some(limit) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            quote!(#limit)
        }
        None => quote!(#private::DEFAULT_BODY_LIMIT),
    };
    let timeout = match attr.request_timeout_ms {
        Some(ms) => quote!(::core::time::Duration::from_millis(#ms)),
        None => quote!(#private::DEFAULT_REQUEST_TIMEOUT),
    };
    let driver = attr.driver.to_tokens();
    let driver = quote!(#driver.resolve(false));
    quote! {
        #private::IngressOptions {
            route_prefix: #prefix,
            http_adapter: #adapter,
            driver: #driver,
            body_limit: #limit,
            request_timeout: #timeout,
        }
    }
}

/// The `adapt` method, plus the items it needs (the JSON input struct).
fn adapt(attr: &GraphAttr, inputs: &[Param]) -> (TokenStream, TokenStream) {
    let private = private();
    let signature = quote!(async fn adapt(__serve_request: #private::HttpRequest) -> #private::Result<Self::Input, #private::AdapterError>);
    match &attr.adapter {
        Adapter::Json | Adapter::Query => {
            let idents: Vec<&Ident> = inputs.iter().map(|p| &p.ident).collect();
            let types = inputs.iter().map(|p| &p.ty);
            let names = idents.iter().map(|i| i.to_string());
            let serde = SERDE;
            let strict = attr
                .deny_unknown_fields
                .then(|| quote!(, deny_unknown_fields));
            let read = match attr.adapter {
                Adapter::Query => quote!(query_request),
                _ => quote!(json_request),
            };
            let items = quote! {
                #[derive(#private::serde::Deserialize)]
                #[serde(crate = #serde #strict)]
                struct __serve_Input { #(#idents: #types,)* }
            };
            let value = match idents.as_slice() {
                [one] => quote!(__serve_v.#one),
                many => quote!((#(__serve_v.#many,)*)),
            };
            let body = quote! {
                #signature {
                    let __serve_v: __serve_Input = #private::#read(&__serve_request, &[#(#names),*])?;
                    #private::Result::Ok(#value)
                }
            };
            (items, body)
        }
        Adapter::RawBytes(path) => {
            // Spanned at the parameter's type, which must be made from the body.
            let read = match inputs {
                [one] => {
                    let ty = &one.ty;
                    quote_spanned!(ty.span()=> #private::raw_body::<#ty>(__serve_request))
                }
                // Reported by the check; the signature still needs a body.
                _ => {
                    quote_spanned!(path.span()=> #private::From::from(#private::raw_bytes(__serve_request)))
                }
            };
            (quote!(), quote!(#signature { #private::Result::Ok(#read) }))
        }
        Adapter::Custom(path) => {
            let call = quote_spanned!(path.span()=> #path(__serve_request).await);
            (quote!(), quote!(#signature { #call }))
        }
        Adapter::Grpc(_) => {
            // Spanned at the parameter's type, which must be a protobuf message.
            let decode = match inputs {
                [one] => {
                    let ty = &one.ty;
                    quote_spanned!(ty.span()=> #private::grpc_decode::<#ty>(__serve_request))
                }
                // Reported by the check; the signature still needs a body.
                _ => quote!(::core::unreachable!()),
            };
            (quote!(), quote!(#signature { #decode }))
        }
    }
}
