//! TLS on a stratum port (xmrig's `"tls": true`): the certificate and key a port's
//! `tls` config names, loaded and checked at start, and the handshake every
//! connection does in its own task.
//!
//! The handshake never runs in the accept loop, and it has a deadline, so a client
//! that stalls or speaks plain text costs one session slot for at most 10 s and
//! nothing else. rustls runs on the `ring` provider.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, crypto::ring, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::{PortContext, PortWork, SessionSlot};
use crate::config::PortTlsConfig;

/// Longest a client may take to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the closing close_notify may take to leave; the miner may be gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Which file of a port's `tls` config a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFile {
    Cert,
    Key,
}

impl TlsFile {
    /// The config key naming the file (`cert` or `key`).
    pub fn key(self) -> &'static str {
        match self {
            TlsFile::Cert => "cert",
            TlsFile::Key => "key",
        }
    }
}

/// Why a port's certificate and key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        file: TlsFile,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no PEM certificate (\"-----BEGIN CERTIFICATE-----\")", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} has no PEM private key (\"-----BEGIN PRIVATE KEY-----\", RSA or EC)", path.display())]
    NoKey { path: PathBuf },
    #[error("{} is not valid PEM: {message}", path.display())]
    Pem {
        file: TlsFile,
        path: PathBuf,
        message: String,
    },
    #[error("{} is not a usable certificate: {source}", path.display())]
    Certificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("{} is not a usable private key (RSA, ECDSA or Ed25519): {source}", path.display())]
    Key {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("the key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
}

impl TlsSetupError {
    /// The file the problem is in, to name its config key.
    pub fn file(&self) -> TlsFile {
        match self {
            TlsSetupError::Read { file, .. } | TlsSetupError::Pem { file, .. } => *file,
            TlsSetupError::NoCertificate { .. } | TlsSetupError::Certificate { .. } => {
                TlsFile::Cert
            }
            TlsSetupError::NoKey { .. }
            | TlsSetupError::Key { .. }
            | TlsSetupError::Mismatch { .. } => TlsFile::Key,
        }
    }
}

/// A port's TLS server side, ready to accept.
#[derive(Clone)]
pub struct PortTls {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the certificate (DER) in hex: what xmrig's `tls-fingerprint` takes.
    pub fingerprint: String,
}

/// Loads the certificate chain and key of `config` and checks that they belong
/// together.
pub fn load(config: &PortTlsConfig) -> Result<PortTls, TlsSetupError> {
    let cert_pem = read(TlsFile::Cert, &config.cert)?;
    let key_pem = read(TlsFile::Key, &config.key)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(TlsFile::Cert, &config.cert, e))?;
    let Some(leaf) = certs.first() else {
        return Err(TlsSetupError::NoCertificate {
            path: config.cert.clone(),
        });
    };
    let fingerprint = hex::encode(Sha256::digest(leaf));
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsSetupError::NoKey {
                path: config.key.clone(),
            })
        }
        Err(e) => return Err(pem_error(TlsFile::Key, &config.key, e)),
    };

    let provider = Arc::new(ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|source| TlsSetupError::Key {
            path: config.key.clone(),
            source,
        })?;
    match CertifiedKey::new(certs.clone(), signing_key).keys_match() {
        // The provider cannot tell for this key type; the handshake will.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsSetupError::Mismatch {
                cert: config.cert.clone(),
                key: config.key.clone(),
            })
        }
        Err(source) => {
            return Err(TlsSetupError::Certificate {
                path: config.cert.clone(),
                source,
            })
        }
    }
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| TlsSetupError::Certificate {
            path: config.cert.clone(),
            source,
        })?;
    Ok(PortTls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        fingerprint,
    })
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        file,
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(file: TlsFile, path: &Path, e: rustls::pki_types::pem::Error) -> TlsSetupError {
    TlsSetupError::Pem {
        file,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Completes the handshake with a miner that connected to a TLS port, then serves its
/// session. A failed or slow handshake ends the connection and is counted.
pub async fn serve_connection<P: PortWork>(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<PortContext<P>>,
    stop: watch::Receiver<bool>,
    slot: SessionSlot,
) {
    let failure = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => {
            let (reader, writer) = tokio::io::split(stream);
            let mut writer = P::run_session(reader, writer, peer, ctx, stop).await;
            // close_notify, so the miner's TLS sees an orderly end, not a cut.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer.shutdown()).await;
            drop(slot);
            return;
        }
        Ok(Err(e)) => describe(&e),
        Err(_) => format!(
            "no handshake within {}",
            humantime::format_duration(HANDSHAKE_TIMEOUT)
        ),
    };
    ctx.shared
        .tls_handshake_failures
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(%peer, port = %ctx.port.listen, error = %failure, "TLS handshake failed");
    drop(slot);
}

/// The handshake error for the log, saying so when the client does not speak TLS at
/// all (a miner set up for plain TCP).
fn describe(e: &std::io::Error) -> String {
    let plain = matches!(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    );
    if plain {
        format!("{e} (not TLS: is the miner set to \"tls\": true?)")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        _dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        other_key: PathBuf,
        der: Vec<u8>,
    }

    fn files() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let other_key = dir.path().join("other.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        std::fs::write(&other_key, other.serialize_pem()).unwrap();
        Files {
            der: made.cert.der().to_vec(),
            _dir: dir,
            cert,
            key,
            other_key,
        }
    }

    fn config(cert: &Path, key: &Path) -> PortTlsConfig {
        PortTlsConfig {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }
    }

    #[test]
    fn loads_a_matching_pair_and_fingerprints_the_certificate() {
        let f = files();
        let tls = load(&config(&f.cert, &f.key)).unwrap();
        assert_eq!(tls.fingerprint, hex::encode(Sha256::digest(&f.der)));
        // One file holding both works too.
        let both = f.cert.with_file_name("both.pem");
        let text =
            std::fs::read_to_string(&f.cert).unwrap() + &std::fs::read_to_string(&f.key).unwrap();
        std::fs::write(&both, text).unwrap();
        load(&config(&both, &both)).unwrap();
    }

    #[test]
    fn names_the_file_of_each_problem() {
        let f = files();
        let missing = f.cert.with_file_name("missing.pem");
        let cases = [
            (config(&missing, &f.key), TlsFile::Cert, "cannot read"),
            (config(&f.cert, &missing), TlsFile::Key, "cannot read"),
            (config(&f.key, &f.key), TlsFile::Cert, "no PEM certificate"),
            (config(&f.cert, &f.cert), TlsFile::Key, "no PEM private key"),
            (
                config(&f.cert, &f.other_key),
                TlsFile::Key,
                "does not belong",
            ),
        ];
        for (cfg, file, text) in cases {
            let err = load(&cfg).err().expect("an error");
            assert_eq!(err.file(), file, "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
    }
}
