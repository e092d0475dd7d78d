//! Mutual TLS between the processes of a split graph: certificates from one CA on both
//! sides; a caller whose certificate another CA signed, or that has none, is refused; a
//! certificate rewritten in place is served from the next handshake on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serve_runtime::{App, CallTls, Server};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::common::http;
use super::{config_with, scoring};

/// A CA, and the folder its files go in.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

impl Ca {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("serve-call-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            dir,
        }
    }

    /// A certificate for 127.0.0.1, good to serve and to call with, written as
    /// `NAME.pem` and `NAME.key`; its DER.
    fn leaf(&self, name: &str) -> (CallTls, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
        );
        // Written beside and renamed over, as a renewal does, so no handshake reads half.
        std::fs::write(self.path("next.pem"), cert.pem()).unwrap();
        std::fs::write(self.path("next.key"), key.serialize_pem()).unwrap();
        std::fs::rename(self.path("next.key"), &key_path).unwrap();
        std::fs::rename(self.path("next.pem"), &cert_path).unwrap();
        (
            CallTls::new(cert_path, key_path, self.path("ca.pem")),
            cert.der().clone(),
        )
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

async fn scorer(tls: CallTls) -> Server {
    App::new()
        .graph(scoring)
        .deployments(["Scorer"])
        .call_tls(tls)
        .bind("127.0.0.1:0")
        .await
        .expect("the scorer's process starts")
}

async fn caller(tls: CallTls, scorer: &Server) -> Server {
    let address = format!("https://{}", scorer.local_addr());
    App::new()
        .graph(scoring)
        .config(config_with(&address))
        .call_tls(tls)
        .bind("127.0.0.1:0")
        .await
        .expect("the caller starts")
}

#[tokio::test]
async fn processes_with_certificates_of_one_ca_call_each_other_and_no_other_does() {
    let ca = Ca::new("one");
    let scorer = scorer(ca.leaf("scorer").0).await;
    assert!(scorer.url().starts_with("https://"), "{}", scorer.url());
    let ingress = caller(ca.leaf("ingress").0, &scorer).await;
    let (status, body) = http(ingress.local_addr(), "POST", "/score", r#"{"text": "ab"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!("AB=4")));

    // Another CA's certificate: the handshake is refused, the caller says so.
    let other = Ca::new("other");
    let stranger = caller(other.leaf("stranger").0, &scorer).await;
    let (status, body) = http(stranger.local_addr(), "POST", "/score", r#"{"text": "ab"}"#).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["deployment"], "Scorer", "{body}");

    // No certificate at all: nothing is answered.
    let answer = tls_request(&ca, scorer.local_addr(), None).await;
    assert!(answer.is_err(), "{answer:?}");
    // With one, the same request is.
    let (cert, key) = (ca.path("ingress.pem"), ca.path("ingress.key"));
    let answer = tls_request(&ca, scorer.local_addr(), Some((&cert, &key))).await;
    assert!(answer.unwrap().0.starts_with("HTTP/1.1 200"));

    // An address that asks for TLS from a process without it, and the reverse.
    let Err(plain) = App::new()
        .graph(scoring)
        .config(config_with(&format!("https://{}", scorer.local_addr())))
        .bind("127.0.0.1:0")
        .await
    else {
        panic!("an https address without TLS was taken")
    };
    let error = plain.to_string();
    assert!(
        error.contains("asks for TLS: give this process its certificate"),
        "{error}"
    );
    let Err(wrong) = App::new()
        .graph(scoring)
        .config(config_with(&format!("http://{}", scorer.local_addr())))
        .call_tls(ca.leaf("wrong").0)
        .bind("127.0.0.1:0")
        .await
    else {
        panic!("an http address with TLS was taken")
    };
    let error = wrong.to_string();
    assert!(
        error.contains("its address must be `https://...`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_certificate_rewritten_in_place_is_served_from_the_next_handshake() {
    let ca = Ca::new("renewed");
    let (tls, first) = ca.leaf("scorer");
    let scorer = scorer(tls).await;
    let (cert, key) = (ca.path("client.pem"), ca.path("client.key"));
    ca.leaf("client");
    let served = tls_request(&ca, scorer.local_addr(), Some((&cert, &key))).await;
    assert_eq!(served.unwrap().1, first);

    let (_, renewed) = ca.leaf("scorer");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, now) = tls_request(&ca, scorer.local_addr(), Some((&cert, &key)))
            .await
            .unwrap();
        if now == renewed {
            break;
        }
        assert_eq!(now, first, "neither the old certificate nor the new one");
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /-/healthz` over TLS 1.3 (HTTP/1.1), checking the server against `ca`, with a
/// client certificate or none: the answer's first line and the server's certificate.
async fn tls_request(
    ca: &Ca,
    addr: std::net::SocketAddr,
    client: Option<(&Path, &Path)>,
) -> std::io::Result<(String, CertificateDer<'static>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = connector.connect(name, tcp).await?;
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    stream
        .write_all(b"GET /-/healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer or an error, not a hang")?;
    let first = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    if first.is_empty() {
        return Err(std::io::Error::other("no answer"));
    }
    Ok((first, served))
}
