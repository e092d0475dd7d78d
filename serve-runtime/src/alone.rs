//! A function deployment served on its own, without a graph written around it:
//! `App::new().deployment::<embed>()` answers `POST /embed` with a JSON object of the
//! function's parameters, as a one-node graph would.

use std::future::Future;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::adapter::{AdapterError, HttpRequest, json_request};
use crate::compose::{DepRef, FnNode, spec_fn_deployment};
use crate::deployment::Deployment;
use crate::error::Error;
use crate::graph::{Deploy, Graph, IntoGraph, Nodes};
use crate::handle::Handle;
use crate::options::DeclaredOptions;
use crate::spec::{
    DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT, GraphSpec, IngressOptions, SpecBuilder, value,
};

/// A function deployment that can be served alone: `#[deployment]` implements it for
/// every `async fn` it marks. What it asks of the parameters (`Deserialize`) and the
/// output (`Serialize`) is checked only where it is served alone.
#[doc(hidden)]
pub trait Standalone: Deployment + FnNode<Handle = Handle<Self>> {
    /// The parameters a caller passes, as a tuple.
    type Input: Send + 'static;
    /// What a call returns.
    type Output: Send + 'static;
    /// The parameters' names, in order.
    const PARAMS: &'static [&'static str];
    /// Their types, as written.
    const PARAM_TYPES: &'static [&'static str];
    /// The output's type, as written.
    const OUTPUT_TYPE: &'static str;
    /// `/` and the deployment's name.
    const ROUTE: &'static str;

    /// Calls it through its handle.
    fn call(
        handle: &Handle<Self>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send;
}

/// The one-node graph that serves function deployment `D` on its own, at `/{name}`.
pub struct Alone<D>(PhantomData<fn() -> D>);

impl<D> Alone<D> {
    /// `D` as a graph, for `serve_runtime::start` or `App::graph`.
    pub fn new() -> Self {
        Alone(PhantomData)
    }
}

impl<D> Default for Alone<D> {
    fn default() -> Self {
        Self::new()
    }
}

#[diagnostic::do_not_recommend]
impl<D> IntoGraph<Alone<D>> for Alone<D>
where
    D: Standalone,
    D::Input: Params,
{
    type Graph = Self;
}

impl<D> Graph for Alone<D>
where
    D: Standalone,
    D::Input: Params,
{
    type Input = D::Input;
    type Output = D::Output;
    const NAME: &'static str = D::NAME;

    fn spec() -> GraphSpec {
        let mut spec = SpecBuilder::new(D::NAME, Self::ingress());
        for (name, ty) in D::PARAMS.iter().zip(D::PARAM_TYPES) {
            spec.input(name, ty);
        }
        let DepRef::Deployment(d) = spec_fn_deployment::<D>(&mut spec, D::NAME) else {
            unreachable!("a function deployment is one deployment")
        };
        let args = D::PARAMS.iter().map(|p| value(p)).collect();
        spec.node("return", d, None, args);
        spec.output("return", D::OUTPUT_TYPE)
    }

    fn ingress() -> IngressOptions {
        IngressOptions {
            route_prefix: D::ROUTE,
            http_adapter: "json_request",
            driver: DeclaredOptions::NONE.resolve(false),
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    async fn build<C: Deploy>(ctx: &mut C) -> Result<Nodes, Error> {
        let handle = <D as FnNode>::deploy(ctx).await?;
        let mut nodes = Nodes::default();
        nodes.push(handle);
        Ok(nodes)
    }

    async fn run(nodes: &Nodes, input: Self::Input) -> Result<Self::Output, Error> {
        D::call(nodes.get::<Handle<D>>(0), input).await
    }

    async fn adapt(request: HttpRequest) -> Result<Self::Input, AdapterError> {
        json_request::<Fields<D>>(&request, D::PARAMS).map(|f| f.0)
    }
}

/// The parameters of a function, read from a JSON object by name.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a deployment served alone reads its parameters `{Self}` from JSON, so each must be `Deserialize`",
    label = "served alone here",
    note = "derive `serde::Deserialize` for the parameter types, or write a `#[graph]` around the deployment with an `http_adapter` of your own"
)]
pub trait Params: Sized + Send + 'static {
    /// Reads the fields of `map`, named `names` in order: a missing one that is not an
    /// `Option` is an error naming it; others are ignored.
    fn read<'de, A: MapAccess<'de>>(
        names: &'static [&'static str],
        map: A,
    ) -> Result<Self, A::Error>;
}

/// What a missing field reads as: `None` for an `Option`, an error naming it otherwise.
fn missing<T: DeserializeOwned, E: serde::de::Error>(name: &'static str) -> Result<T, E> {
    T::deserialize(serde::de::value::UnitDeserializer::<E>::new())
        .map_err(|_: E| E::missing_field(name))
}

macro_rules! params_for_tuple {
    ($($t:ident $i:tt),*) => {
        impl<$($t: DeserializeOwned + Send + 'static),*> Params for ($($t,)*) {
            #[allow(unused_mut, unused_variables)]
            fn read<'de, M: MapAccess<'de>>(
                names: &'static [&'static str],
                mut map: M,
            ) -> Result<Self, M::Error> {
                let mut slots = ($(None::<$t>,)*);
                while let Some(key) = map.next_key::<String>()? {
                    match names.iter().position(|n| *n == key) {
                        $(Some($i) => {
                            if slots.$i.is_some() {
                                return Err(M::Error::duplicate_field(names[$i]));
                            }
                            slots.$i = Some(map.next_value()?);
                        })*
                        // Fields it has no parameter for are ignored, as a graph's are.
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(($(match slots.$i {
                    Some(v) => v,
                    None => missing(names[$i])?,
                },)*))
            }
        }
    };
}

params_for_tuple!();
params_for_tuple!(T0 0);
params_for_tuple!(T0 0, T1 1);
params_for_tuple!(T0 0, T1 1, T2 2);
params_for_tuple!(T0 0, T1 1, T2 2, T3 3);
params_for_tuple!(T0 0, T1 1, T2 2, T3 3, T4 4);
params_for_tuple!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5);
params_for_tuple!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6);
params_for_tuple!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7);

/// `D`'s parameters as a JSON object reads them.
struct Fields<D: Standalone>(D::Input);

impl<'de, D> Deserialize<'de> for Fields<D>
where
    D: Standalone,
    D::Input: Params,
{
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        struct Object<D>(PhantomData<fn() -> D>);
        impl<'de, D> Visitor<'de> for Object<D>
        where
            D: Standalone,
            D::Input: Params,
        {
            type Value = Fields<D>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a JSON object with the fields {}", D::PARAMS.join(", "))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                D::Input::read(D::PARAMS, map).map(Fields)
            }
        }
        deserializer.deserialize_map(Object::<D>(PhantomData))
    }
}
