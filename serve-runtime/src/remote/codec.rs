//! How the values of one method cross a process: MessagePack through serde, checked at
//! compile time for deployments declared `remote = true` and absent for the others.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Encodes and decodes one type. A deployment's generated code holds one per argument
/// and result of each method, made once, so a type that cannot cross is one error there.
pub struct Codec<T> {
    encode: fn(&T, &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error>,
    decode: fn(&mut &[u8]) -> Result<T, rmp_serde::decode::Error>,
    shape: fn() -> String,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

impl<T> Codec<T> {
    pub(crate) fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        (self.encode)(value, out).map_err(|e| e.to_string())
    }

    pub(crate) fn decode(&self, input: &mut &[u8]) -> Result<T, String> {
        (self.decode)(input).map_err(|e| e.to_string())
    }

    /// What the value looks like on the wire, for the deployment's fingerprint.
    pub(crate) fn shape(&self) -> String {
        (self.shape)()
    }
}

/// What a value needs to cross a process for a deployment of mode `M`: nothing for one
/// that always runs where it is called ([`InProcess`]), serde for a `remote = true` one
/// ([`Apart`]). Implemented on the value's type, so that an error about it is reported
/// there.
#[diagnostic::on_unimplemented(
    message = "`{Self}` crosses a process when its deployment runs apart, so it must be serde-serialisable",
    label = "a method of a `remote = true` deployment takes or returns this",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or remove `remote = true` so that the deployment always runs in its callers' process"
)]
pub trait Wire<M>: Sized {
    /// The codec, for a deployment that can run apart.
    const CODEC: Option<Codec<Self>>;
}

/// The mode of a deployment that always runs in its callers' process.
#[derive(Debug)]
pub enum InProcess {}

/// The mode of a deployment declared `remote = true`: it can run in a process of its own.
#[derive(Debug)]
pub enum Apart {}

impl<T> Wire<InProcess> for T {
    const CODEC: Option<Codec<T>> = None;
}

// Not recommended: the error is then `Wire`'s own, in the words above.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Wire<Apart> for T {
    const CODEC: Option<Codec<T>> = Some(Codec {
        encode: encode::<T>,
        decode: decode::<T>,
        shape: super::interface::shape::<T>,
    });
}

/// Whether a deployment's mode lets it run apart.
pub trait WireMode {
    /// True for [`Apart`].
    const REMOTE: bool;
}

impl WireMode for InProcess {
    const REMOTE: bool = false;
}

impl WireMode for Apart {
    const REMOTE: bool = true;
}

fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
    // Structs as maps: a field that serde skips or flattens still decodes.
    value.serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())
}

fn decode<T: DeserializeOwned>(input: &mut &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_read(input)
}

/// A codec the generated code asked for, which a deployment in its callers' process never
/// has: reaching for it means a remote set was made for a deployment that cannot be one.
pub(crate) fn present<T>(codec: Option<Codec<T>>, deployment: &str) -> Result<Codec<T>, Error> {
    codec.ok_or_else(|| {
        Error::Config(format!(
            "internal: `{deployment}` is called across processes, but it is not `remote = true`"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Label {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        note: Option<String>,
        scores: Vec<f32>,
    }

    #[test]
    fn values_round_trip_one_after_another() {
        let codec = <Label as Wire<Apart>>::CODEC.unwrap();
        let text = <String as Wire<Apart>>::CODEC.unwrap();
        let label = Label {
            name: "cat".into(),
            note: None,
            scores: vec![0.5, 0.25],
        };
        let mut buf = Vec::new();
        codec.encode(&label, &mut buf).unwrap();
        text.encode(&"second".to_owned(), &mut buf).unwrap();
        let mut input = &buf[..];
        assert_eq!(codec.decode(&mut input).unwrap(), label);
        assert_eq!(text.decode(&mut input).unwrap(), "second");
        assert!(input.is_empty());
    }

    #[test]
    fn json_values_cross_too() {
        let codec = <serde_json::Value as Wire<Apart>>::CODEC.unwrap();
        let value = serde_json::json!({"a": [1, 2.5, "x"], "b": null});
        let mut buf = Vec::new();
        codec.encode(&value, &mut buf).unwrap();
        assert_eq!(codec.decode(&mut &buf[..]).unwrap(), value);
    }

    #[test]
    fn a_truncated_value_is_an_error() {
        let codec = <Label as Wire<Apart>>::CODEC.unwrap();
        let mut buf = Vec::new();
        let label = Label {
            name: "dog".into(),
            note: Some("n".into()),
            scores: vec![1.0],
        };
        codec.encode(&label, &mut buf).unwrap();
        buf.truncate(buf.len() - 2);
        assert!(codec.decode(&mut &buf[..]).is_err());
        assert!(<Label as Wire<InProcess>>::CODEC.is_none());
    }
}
