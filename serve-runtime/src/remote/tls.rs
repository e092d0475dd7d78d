//! Mutual TLS between the processes of a split graph: each process has a certificate
//! (and key) signed by one CA that every process trusts. A process serving calls asks the
//! caller for its certificate and refuses a handshake without one the CA signed; a caller
//! checks the serving process's certificate against the same CA, for the host name its
//! `address` gives (so a headless Service's pods, reached by IP, are checked under the
//! Service's name). A certificate and key rewritten in place (cert-manager renews them so)
//! are read again at the next handshake, at most once a second; the CA is read at start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio_rustls::rustls::client::ResolvesClientCert;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::Error;

/// How often a handshake may look at the certificate files' times.
const RECHECK: Duration = Duration::from_secs(1);

/// The files of mutual TLS between processes: what `--call-tls-cert`, `--call-tls-key`
/// and `--call-tls-ca` give, [`App::call_tls`](crate::App::call_tls) and
/// [`StartOptions::call_tls`](crate::StartOptions::call_tls) take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTls {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl CallTls {
    /// This process's certificate chain (PEM, its own first) and key (PEM), and the CA
    /// certificates (PEM) that sign every process's.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>, ca: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
        }
    }

    /// Reads the files and makes both sides' configs; every error names the file at fault.
    pub(crate) fn load(&self) -> Result<Arc<TlsConfigs>, Error> {
        let provider = Arc::new(ring::default_provider());
        let leaf = Arc::new(Leaf::load(&self.cert, &self.key, &provider)?);
        let mut roots = RootCertStore::empty();
        for cert in read_pem_certs(&self.ca, "CA certificate")? {
            roots
                .add(cert)
                .map_err(|e| Error::Config(format!("CA certificate {}: {e}", self.ca.display())))?;
        }
        let roots = Arc::new(roots);
        let problem = |e: &dyn std::fmt::Display| Error::Config(format!("call TLS: {e}"));
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .map_err(|e| problem(&e))?;
        let mut server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| problem(&e))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::clone(&leaf) as Arc<dyn ResolvesServerCert>);
        server.alpn_protocols = vec![b"h2".to_vec()];
        // The connector offers h2 by ALPN itself (`enable_http2`).
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| problem(&e))?
            .with_root_certificates(roots)
            .with_client_cert_resolver(leaf);
        Ok(Arc::new(TlsConfigs {
            server: Arc::new(server),
            client,
        }))
    }
}

/// Both sides of a process's mutual TLS.
#[derive(Debug)]
pub(crate) struct TlsConfigs {
    /// For its listener, when it serves calls.
    pub(crate) server: Arc<ServerConfig>,
    /// For its calls.
    pub(crate) client: ClientConfig,
}

/// This process's certificate and key, read again when their files change.
#[derive(Debug)]
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// When the files were last looked at, and their times then.
    checked: Mutex<(Instant, Option<SystemTime>)>,
}

impl Leaf {
    fn load(cert: &Path, key: &Path, provider: &Arc<CryptoProvider>) -> Result<Self, Error> {
        let current = read_leaf(cert, key, provider)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider: Arc::clone(provider),
            current: ArcSwap::from_pointee(current),
            checked: Mutex::new((Instant::now(), modified(cert, key))),
        })
    }

    /// The certificate to present, read again first if its files changed.
    fn certified(&self) -> Arc<CertifiedKey> {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.0.elapsed() >= RECHECK {
            let now = modified(&self.cert, &self.key);
            if now != checked.1 {
                match read_leaf(&self.cert, &self.key, &self.provider) {
                    Ok(leaf) => {
                        tracing::info!(cert = %self.cert.display(), "call TLS certificate read again");
                        self.current.store(Arc::new(leaf));
                        checked.1 = now;
                    }
                    // Half written, perhaps: the old one serves until the next look.
                    Err(e) => tracing::warn!(error = %e, "call TLS certificate not reloaded"),
                }
            }
            checked.0 = Instant::now();
        }
        self.current.load_full()
    }
}

impl ResolvesServerCert for Leaf {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.certified())
    }
}

impl ResolvesClientCert for Leaf {
    fn resolve(
        &self,
        _issuers: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.certified())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The later of the two files' modification times.
fn modified(cert: &Path, key: &Path) -> Option<SystemTime> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    time(cert).max(time(key))
}

fn read_leaf(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let chain = read_pem_certs(cert, "certificate")?;
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Config(format!("call TLS key {}: {e}", key.display())))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| Error::Config(format!("call TLS key {}: {e}", key.display())))?;
    let leaf = CertifiedKey::new(chain, signing);
    leaf.keys_match().map_err(|e| {
        Error::Config(format!(
            "call TLS certificate {} and key {} do not go together: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(leaf)
}

fn read_pem_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let problem = |why: String| Error::Config(format!("call TLS {what} {}: {why}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| problem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(e.to_string()))?;
    if certs.is_empty() {
        return Err(problem("no `BEGIN CERTIFICATE` section in it".to_owned()));
    }
    Ok(certs)
}
