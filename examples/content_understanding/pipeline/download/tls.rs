//! Whom `https://` downloads trust: the Mozilla root certificates (`webpki-roots`, built
//! in, so the example needs no system store), and the certificates of the PEM file
//! `CONTENT_CA_FILE` names, for a private certificate authority (or a test's).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::error::SettingsError;

/// The environment variable naming a PEM file of further certificates to trust.
pub const CA_FILE_VAR: &str = "CONTENT_CA_FILE";

/// The public roots, and those of [`CA_FILE_VAR`]'s file when it is set.
pub fn from_env() -> Result<TlsConnector, SettingsError> {
    match std::env::var_os(CA_FILE_VAR) {
        Some(path) if !path.is_empty() => connector(Some(Path::new(&path))),
        _ => connector(None),
    }
}

/// The public roots, and every certificate in the PEM file `extra` when given. A file that
/// cannot be read or holds no certificate stops the start, naming it.
pub fn connector(extra: Option<&Path>) -> Result<TlsConnector, SettingsError> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra {
        let unusable = |reason: String| SettingsError::CaFile {
            var: CA_FILE_VAR,
            path: path.display().to_string(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect)
            .map_err(|e| unusable(e.to_string()))?;
        if certs.is_empty() {
            return Err(unusable("it holds no PEM certificate".to_owned()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| unusable(e.to_string()))?;
        }
    }
    // Only HTTP/1.1 is spoken to image servers: one GET a connection.
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}
