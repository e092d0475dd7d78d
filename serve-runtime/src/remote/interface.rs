//! What a deployment's calls carry across processes, as one fingerprint: its methods'
//! names, the shape of each argument and result, and the encoding. Processes whose
//! fingerprints for a deployment match read each other's values the same way, whichever
//! builds they run, so a rebuilt binary interoperates with the one it replaces; a call
//! between processes whose fingerprints differ is refused before anything is decoded.

use serde::de::DeserializeOwned;
use serde_reflection::{Tracer, TracerConfig};

use super::CONTENT_TYPE_V1;
use crate::deployment::{Client, Deployment};

/// The header a call carries its caller's fingerprint of the deployment in.
pub(crate) const HEADER: &str = "serve-interface";

/// The shape of a value that crosses: serde's view of its type (fields, variants and
/// their types, down to the primitives), or, where serde's view cannot be traced (a type
/// that takes any input, such as `serde_json::Value`), its type's path.
pub(crate) fn shape<T: DeserializeOwned>() -> String {
    let mut tracer = Tracer::new(TracerConfig::default());
    let traced = tracer
        .trace_simple_type::<T>()
        .ok()
        .and_then(|(format, _)| Some((format, tracer.registry().ok()?)));
    match traced.and_then(|shape| serde_json::to_string(&shape).ok()) {
        Some(shape) => shape,
        None => format!("type {}", std::any::type_name::<T>()),
    }
}

/// The fingerprint of deployment `D` as this build has it.
pub(crate) fn of<D: Deployment>() -> String {
    fingerprint(<D::Client as Client<D>>::wire_shapes())
}

/// The fingerprint of a deployment's methods, each `(name, shapes of its arguments then
/// its result)`: 16 hex digits, the same for the same interface in any build.
pub(crate) fn fingerprint(methods: Vec<(&'static str, Vec<String>)>) -> String {
    let mut methods = methods;
    methods.sort();
    let mut text = format!("{CONTENT_TYPE_V1}\n");
    for (name, shapes) in methods {
        text.push_str(name);
        for shape in shapes {
            text.push('\t');
            text.push_str(&shape);
        }
        text.push('\n');
    }
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// FNV-1a, 64 bits: fixed by its definition, where std's hasher may change between Rust
/// releases (two builds must agree). Nothing here is secret: it tells versions apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    mod v1 {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Label {
            pub name: String,
            pub score: f32,
        }
    }

    mod v2 {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Label {
            pub name: String,
            pub score: f64,
        }
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    enum Answer {
        Label(v1::Label),
        Nothing,
    }

    fn classify(result: String) -> String {
        fingerprint(vec![("classify", vec![shape::<Vec<u8>>(), result])])
    }

    #[test]
    fn the_same_interface_gives_the_same_fingerprint() {
        let first = classify(shape::<v1::Label>());
        assert_eq!(first, classify(shape::<v1::Label>()));
        assert_eq!(first.len(), 16);
        // The methods' order does not matter.
        let both = |a, b| {
            fingerprint(vec![
                (a, vec![shape::<String>()]),
                (b, vec![shape::<u32>()]),
            ])
        };
        assert_eq!(both("a", "b"), both("a", "b"));
    }

    #[test]
    fn a_field_of_another_type_changes_it() {
        let shape1 = shape::<v1::Label>();
        let shape2 = shape::<v2::Label>();
        assert!(
            shape1.contains("score") && shape1.contains("F32"),
            "{shape1}"
        );
        assert_ne!(classify(shape1), classify(shape2));
    }

    #[test]
    fn variants_and_method_names_count() {
        let answer = shape::<Answer>();
        assert!(
            answer.contains("Label") && answer.contains("Nothing"),
            "{answer}"
        );
        let named = |name| fingerprint(vec![(name, vec![shape::<String>()])]);
        assert_ne!(named("classify"), named("classify2"));
    }

    #[test]
    fn a_value_serde_cannot_trace_is_known_by_its_type() {
        assert_eq!(
            shape::<serde_json::Value>(),
            "type serde_json::value::Value"
        );
    }
}
