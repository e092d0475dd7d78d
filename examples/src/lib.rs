//! Runnable examples of `serve-runtime` graphs; the code lives under each example's own
//! folder (see `Cargo.toml`), so this library is empty.
