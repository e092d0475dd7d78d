//! Constants written in a graph: `Model::bind("weights.bin", 8)` and `m.run(x, "plant")`.
//!
//! `Into` would be too loose here: an integer literal passed where a `usize` is expected has
//! many `From` candidates, so it falls back to `i32` and fails. This trait has the identity
//! and a few string conversions, so literals take the parameter's type.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// A constant argument converted to the parameter's type.
#[diagnostic::on_unimplemented(
    message = "expected `{T}`, found `{Self}`",
    label = "expected `{T}` here",
    note = "constants in a graph are passed as the parameter's type, or as `&str` for `String`, `PathBuf`, `Arc<str>` and `Box<str>`"
)]
pub trait ConstArg<T> {
    /// Converts the constant.
    fn into_arg(self) -> T;
}

impl<T> ConstArg<T> for T {
    fn into_arg(self) -> T {
        self
    }
}

macro_rules! from_str {
    ($($target:ty),*) => {$(
        impl ConstArg<$target> for &str {
            fn into_arg(self) -> $target {
                <$target>::from(self)
            }
        }
    )*};
}

from_str!(String, PathBuf, Arc<str>, Box<str>);

impl ConstArg<PathBuf> for String {
    fn into_arg(self) -> PathBuf {
        PathBuf::from(self)
    }
}

/// Values a config gives a deployment's `bind` parameters, by parameter name; they replace
/// the constants the graph binds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BindArgs(BTreeMap<String, serde_json::Value>);

impl BindArgs {
    pub(crate) fn new(values: BTreeMap<String, serde_json::Value>) -> Self {
        Self(values)
    }

    /// The value given for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }

    pub(crate) fn values(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.0
    }
}

/// One parameter of a deployment's `bind`: its name, and whether a config can set it.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindParam {
    pub name: &'static str,
    pub configurable: bool,
}

/// Reads a `bind` argument from a config, for a parameter of type `T`. Called as
/// `(&&ArgParser::<T>::NEW).parse_arg(v)`, method resolution picks [`ParseArg`] when
/// `T: Deserialize` and [`ParseArgFallback`] otherwise, so parameters of any type can be
/// bound in code and those that can be read, from a config. (Types with lifetimes never
/// come here: the macro sends them to the fallback, since `&'static str` would match the
/// first and then fail to compile.)
#[doc(hidden)]
pub struct ArgParser<T>(PhantomData<fn() -> T>);

impl<T> ArgParser<T> {
    pub const NEW: Self = Self(PhantomData);
}

#[doc(hidden)]
pub trait ParseArg<T> {
    fn parse_arg(&self, value: &serde_json::Value) -> Result<T, String>;
    fn configurable(&self) -> bool;
}

impl<T: DeserializeOwned> ParseArg<T> for &ArgParser<T> {
    fn parse_arg(&self, value: &serde_json::Value) -> Result<T, String> {
        T::deserialize(value).map_err(|e| e.to_string())
    }
    fn configurable(&self) -> bool {
        true
    }
}

#[doc(hidden)]
pub trait ParseArgFallback<T> {
    fn parse_arg(&self, value: &serde_json::Value) -> Result<T, String>;
    fn configurable(&self) -> bool;
}

impl<T> ParseArgFallback<T> for ArgParser<T> {
    fn parse_arg(&self, _value: &serde_json::Value) -> Result<T, String> {
        Err(format!(
            "its type `{}` cannot be read from a config (it is not `Deserialize`, or it borrows), so it is set in code only",
            std::any::type_name::<T>()
        ))
    }
    fn configurable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::ConstArg;

    fn take<T>(v: impl ConstArg<T>) -> T {
        v.into_arg()
    }

    #[test]
    // The borrows are how resolution picks the reader: that is what is under test.
    #[allow(clippy::needless_borrow)]
    fn a_config_can_set_only_what_deserialises() {
        use super::{ArgParser, ParseArg as _, ParseArgFallback as _};
        let value = serde_json::json!("w.bin");
        let path = (&&ArgParser::<std::path::PathBuf>::NEW).parse_arg(&value);
        assert_eq!(path.unwrap().to_str(), Some("w.bin"));
        assert!((&&ArgParser::<String>::NEW).configurable());
        struct Opaque;
        assert!(!(&&ArgParser::<Opaque>::NEW).configurable());
        let opaque = (&&ArgParser::<Opaque>::NEW).parse_arg(&value);
        assert!(opaque.is_err_and(|e| e.contains("cannot be read from a config")));
        let wrong = (&&ArgParser::<u32>::NEW).parse_arg(&value);
        assert!(wrong.unwrap_err().contains("invalid type"));
    }

    #[test]
    fn literals_take_the_parameter_type() {
        let n: usize = take(8);
        let x: f32 = take(0.5);
        let s: String = take("weights.bin");
        let p: std::path::PathBuf = take("a/b");
        assert_eq!(
            (n, x, s.as_str(), p.to_str()),
            (8, 0.5, "weights.bin", Some("a/b"))
        );
    }
}
