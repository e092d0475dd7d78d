//! The secret every process of a split graph shares: a call carries it, and the serving
//! process checks it before reading the call's body. It comes from a file or the
//! environment (in Kubernetes, a Secret the manifests reference by name), never from the
//! config, which ends up in a ConfigMap.

use std::path::Path;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// Shorter secrets are refused: guessable ones protect nothing.
const MIN_LEN: usize = 16;

/// The secret that proves a call comes from another process of the same graph.
///
/// Give every process the same one: `serve --call-secret-file FILE` (or
/// `SERVE_CALL_SECRET`), [`App::call_secret`](crate::App::call_secret), or
/// [`StartOptions::call_secret`](crate::StartOptions::call_secret). `openssl rand -hex 32`
/// makes a good one.
#[derive(Clone)]
pub struct CallSecret {
    /// `Bearer <secret>`, as the header carries it.
    bearer: Arc<HeaderValue>,
}

impl CallSecret {
    /// The secret itself; at least 16 characters, printable ASCII.
    pub fn new(secret: impl AsRef<str>) -> Result<Self, Error> {
        let secret = secret.as_ref();
        if secret.len() < MIN_LEN {
            return Err(Error::Config(format!(
                "a call secret must be at least {MIN_LEN} characters (it has {}); `openssl rand -hex 32` makes one",
                secret.len()
            )));
        }
        let mut bearer = HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
            Error::Config("a call secret must be printable ASCII without line breaks".into())
        })?;
        bearer.set_sensitive(true);
        Ok(Self {
            bearer: Arc::new(bearer),
        })
    }

    /// The secret in `path`, without its trailing line break.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the call secret from {}: {e}",
                path.display()
            ))
        })?;
        Self::new(text.trim_end_matches(['\n', '\r']))
    }

    /// The `authorization` header a call carries.
    pub(crate) fn header(&self) -> HeaderValue {
        (*self.bearer).clone()
    }

    /// Whether `headers` carry this secret; the comparison takes the same time wherever
    /// a wrong one differs.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let given = headers.get(AUTHORIZATION).map_or(&[][..], |v| v.as_bytes());
        bool::from(given.ct_eq(self.bearer.as_bytes()))
    }
}

impl std::fmt::Debug for CallSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_admits_itself_only_and_never_prints() {
        let secret = CallSecret::new("0123456789abcdef0123").unwrap();
        let mut headers = HeaderMap::new();
        assert!(!secret.admits(&headers));
        headers.insert(AUTHORIZATION, secret.header());
        assert!(secret.admits(&headers));
        let other = CallSecret::new("0123456789abcdef0124").unwrap();
        assert!(!other.admits(&headers));
        assert_eq!(format!("{secret:?}"), "CallSecret(..)");
        assert!(secret.header().is_sensitive());
    }

    #[test]
    fn short_or_unprintable_secrets_are_refused() {
        let short = CallSecret::new("abc").unwrap_err().to_string();
        assert!(
            short.contains("at least 16 characters (it has 3)"),
            "{short}"
        );
        let broken = CallSecret::new("0123456789abcdef\n0123").unwrap_err();
        assert!(broken.to_string().contains("printable ASCII"), "{broken}");
    }

    #[test]
    fn a_secret_file_loses_its_line_break() {
        let path = std::env::temp_dir().join(format!("serve-secret-{}", std::process::id()));
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        let from_file = CallSecret::from_file(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            CallSecret::new("0123456789abcdef0123").unwrap().header(),
        );
        assert!(from_file.admits(&headers));
        let missing = CallSecret::from_file(&path).unwrap_err().to_string();
        assert!(
            missing.contains("cannot read the call secret from"),
            "{missing}"
        );
    }
}
