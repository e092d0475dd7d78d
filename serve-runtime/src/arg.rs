//! Constants written in a graph: `Model::bind("weights.bin", 8)` and `m.run(x, "plant")`.
//!
//! `Into` would be too loose here: an integer literal passed where a `usize` is expected has
//! many `From` candidates, so it falls back to `i32` and fails. This trait has the identity
//! and a few string conversions, so literals take the parameter's type.

use std::path::PathBuf;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::ConstArg;

    fn take<T>(v: impl ConstArg<T>) -> T {
        v.into_arg()
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
