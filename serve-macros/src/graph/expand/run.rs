//! `Graph::run`: the per-request code. Straight-line: the handles the request calls, the
//! inputs copied once per consumer, a slot per edge, one block per node that waits for its
//! arguments, calls, and fills its slots, all polled together, then the output.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::{dep_ident, deployment_item, fn_node_item};
use crate::graph::plan::{Consumer, Consumers, Kind, Node, NodeArg, Plan, ValueRef};
use crate::paths::{private, private_at};

pub fn run(plan: &Plan<'_>, output_ty: &TokenStream) -> TokenStream {
    let private = private();
    let consumers = plan.consumers();
    let lookups = lookups(plan);
    let inputs = inputs(plan, &consumers);
    let slots = slots(plan, &consumers);
    let nodes: Vec<TokenStream> = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(n, node)| node_block(n, node, &consumers))
        .collect();
    // The blocks are written straight into the join, so each future is built where it is
    // polled instead of being moved there (moving a future copies all of its state).
    let join = join(&nodes);
    let output = output(plan, &consumers, output_ty);
    quote! {
        #[allow(unused_variables)]
        async fn run(__serve_nodes: &#private::Nodes, __serve_input: Self::Input) -> #private::Result<#output_ty, #private::Error> {
            #lookups
            #inputs
            #(#slots)*
            #join
            #output
            #private::Result::Ok(__serve_output)
        }
    }
}

/// The handles this request calls, looked up once, typed through the same projection as
/// everywhere else so a type that is not a deployment is reported once.
fn lookups(plan: &Plan<'_>) -> TokenStream {
    let lookups = plan.called().into_iter().map(|d| {
        let handle = dep_ident(d);
        let dep = &plan.deps[d];
        let ty = match dep.kind {
            Kind::Struct => deployment_item(&dep.ty, quote!(Handle)),
            Kind::Function => fn_node_item(&dep.ty, quote!(Handle)),
        };
        quote!(let #handle: &#ty = __serve_nodes.get(#d);)
    });
    quote!(#(#lookups)*)
}

/// The inputs unpacked, and each copied for all of its consumers but the last, which gets
/// the input itself.
fn inputs(plan: &Plan<'_>, consumers: &Consumers) -> TokenStream {
    let private = private();
    let params: Vec<&Ident> = plan.inputs.iter().map(|p| &p.ident).collect();
    let unpack = match params.as_slice() {
        [one] => quote!(let #one = __serve_input;),
        many => quote!(let (#(#many,)*) = __serve_input;),
    };
    let copies = plan.inputs.iter().enumerate().map(|(i, p)| {
        let ident = &p.ident;
        let names: Vec<Ident> = (0..consumers.count(ValueRef::Input(i)))
            .map(|j| input_copy(i, j))
            .collect();
        match names.split_last() {
            None => quote!(let _ = #ident;),
            Some((last, rest)) => {
                let fan = quote_spanned!(ident.span()=> #private::fan_out(&#ident));
                quote! { #(let #rest = #fan;)* let #last = #ident; }
            }
        }
    });
    quote!(#unpack #(#copies)*)
}

/// One slot per edge out of a node. The slot lives on the request's stack; the node
/// blocks, which are `async move`, take copies of a borrow of it.
fn slots(plan: &Plan<'_>, consumers: &Consumers) -> Vec<TokenStream> {
    let private = private();
    (0..plan.nodes.len())
        .flat_map(|n| (0..consumers.count(ValueRef::Node(n))).map(move |j| (n, j)))
        .map(|(n, j)| {
            let slot = format_ident!("__serve_slot_{}_{}", n, j);
            let borrow = slot_ref(n, j);
            quote! {
                let #slot = #private::Slot::new();
                let #borrow = &#slot;
            }
        })
        .collect()
}

/// One node: wait for each argument, call, check the `let`'s annotation, and hand the
/// result to each consumer (copies first, the value itself last).
fn node_block(n: usize, node: &Node, consumers: &Consumers) -> TokenStream {
    let private = private();
    let mut receive = Vec::new();
    let args: Vec<TokenStream> = node
        .args
        .iter()
        .enumerate()
        .map(|(a, arg)| match arg {
            NodeArg::Value { token, .. } => {
                let local = Ident::new(&format!("__serve_arg{a}"), token.span());
                let source = source(consumers, Consumer::Arg(n, a), token.span());
                receive.push(quote!(let #local = #source;));
                quote!(#local)
            }
            NodeArg::Const(expr) => {
                let private = private_at(expr.span());
                quote_spanned!(expr.span()=> #private::ConstArg::into_arg(#expr))
            }
        })
        .collect();
    // Through `*`, so an unknown method is reported on `Handle<T>`, not on `&Handle<T>`.
    let handle = dep_ident(node.dep);
    let receiver = quote_spanned!(node.receiver_span=> (*#handle));
    let method = node
        .method
        .clone()
        .unwrap_or_else(|| Ident::new("call", node.callee_span));
    // A `let` annotation is checked against the node's output, at the annotation; the
    // value goes on with the node's own type, so a wrong one is one error.
    let annotation = node.ty.as_ref().map(|ty| {
        let private = private_at(ty.span());
        quote_spanned!(ty.span()=> #private::annotated::<#ty, _>(&__serve_out);)
    });
    let count = consumers.count(ValueRef::Node(n));
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
}

/// The graph's value, checked against the declared return type through a trait spanned at
/// the tail, so a mismatch is one designed error on the user's tail expression.
fn output(plan: &Plan<'_>, consumers: &Consumers, output_ty: &TokenStream) -> TokenStream {
    let source = source(consumers, Consumer::Output, plan.output_span);
    let tail = Ident::new("__serve_tail", plan.output_span);
    let returns = private_at(plan.output_span);
    quote_spanned! {plan.output_span=>
        let #tail = #source;
        let __serve_output: #output_ty =
            <_ as #returns::GraphReturns<#output_ty>>::into_output(#tail);
    }
}

/// Where `consumer` takes its value from: its copy of an input, or its slot of a node.
fn source(consumers: &Consumers, consumer: Consumer, span: Span) -> TokenStream {
    let private = private();
    match consumers.place(consumer) {
        (ValueRef::Node(n), j) => {
            let rx = slot_ref(n, j);
            quote_spanned!(span=> #private::recv(#rx).await?)
        }
        (ValueRef::Input(i), j) => {
            let v = input_copy(i, j);
            quote!(#v)
        }
    }
}

/// The borrow of the slot carrying node `n`'s value to its `j`th consumer.
fn slot_ref(n: usize, j: usize) -> Ident {
    format_ident!("__serve_s_{}_{}", n, j)
}

/// Input `i` as its `j`th consumer takes it.
fn input_copy(i: usize, j: usize) -> Ident {
    format_ident!("__serve_in_{}_{}", i, j)
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
