//! The attributes `#[deployment]` reads on an impl's methods (`#[batch]`,
//! `#[multiplexed]`): rustc knows none of them, so they are removed from what is emitted,
//! and reported where they cannot go.

use syn::Attribute;

use crate::deployment::{batch, multiplex};
use crate::diag::Errors;

/// Each method attribute, with where it goes, for the error when it is elsewhere.
const ATTRIBUTES: &[(&str, &str)] = &[
    (
        batch::ATTRIBUTE,
        "put it on a method that takes `&self` and one `Vec` of inputs: `async fn forward(&self, xs: Vec<In>) -> Vec<Out>`",
    ),
    (
        multiplex::ATTRIBUTE,
        "put it on the method that loads a model: `async fn load(&self, model_id: String) -> Result<Model, E>`",
    ),
];

/// The attributes without ours.
pub fn strip(attrs: &mut Vec<Attribute>) {
    attrs.retain(|a| !ATTRIBUTES.iter().any(|(name, _)| a.path().is_ident(name)));
}

/// An error for each of ours on an item that cannot take it (`new`, a hook, a function
/// without `self`), described by `what`.
pub fn misplaced(attrs: &[Attribute], what: &str, errors: &mut Errors) {
    for (name, help) in ATTRIBUTES {
        if let Some(a) = attrs.iter().find(|a| a.path().is_ident(name)) {
            errors.spanned(a, format!("`#[{name}]` cannot go on {what}"), help);
        }
    }
}
