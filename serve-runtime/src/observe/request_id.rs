//! Request ids: the one a client sends in `x-request-id` when it is usable, else one made
//! here, so a request can be followed from the client through logs and spans to its answer.

use http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `x-request-id` taken from a client; a longer one is replaced.
pub(crate) const MAX_REQUEST_ID: usize = 128;

/// A request's id: visible ASCII, at most [`MAX_REQUEST_ID`] bytes.
#[derive(Debug)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// The client's `x-request-id` when it has one that is 1 to 128 visible ASCII
    /// characters; otherwise a new random one.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        match headers.get(X_REQUEST_ID) {
            Some(given) if usable(given.as_bytes()) => Self(given.clone()),
            _ => Self::generate(),
        }
    }

    /// 32 random hex digits.
    pub(crate) fn generate() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let random = fastrand::u128(..);
        let mut digits = [0u8; 32];
        for (i, d) in digits.iter_mut().enumerate() {
            *d = HEX[((random >> (i * 4)) & 0xf) as usize];
        }
        Self(HeaderValue::from_bytes(&digits).expect("hex digits are a valid header value"))
    }

    pub(crate) fn as_str(&self) -> &str {
        // Checked to be visible ASCII on the way in.
        self.0.to_str().unwrap_or_default()
    }

    pub(crate) fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn usable(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(value: &[u8]) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        RequestId::from_headers(&headers).to_string()
    }

    fn is_generated(id: &str) -> bool {
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
    }

    #[test]
    fn a_usable_client_id_is_kept() {
        assert_eq!(id_for(b"order-42/retry:1"), "order-42/retry:1");
        let longest = "a".repeat(MAX_REQUEST_ID);
        assert_eq!(id_for(longest.as_bytes()), longest);
    }

    #[test]
    fn an_unusable_client_id_is_replaced() {
        for bad in [
            "a".repeat(MAX_REQUEST_ID + 1).into_bytes(),
            b"has space".to_vec(),
            b"tab\there".to_vec(),
            "caf\u{e9}".as_bytes().to_vec(),
            b"".to_vec(),
        ] {
            let id = id_for(&bad);
            assert!(is_generated(&id), "{bad:?} gave {id}");
        }
    }

    #[test]
    fn generated_ids_differ() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert!(is_generated(a.as_str()) && is_generated(b.as_str()));
        assert_ne!(a.as_str(), b.as_str());
    }
}
