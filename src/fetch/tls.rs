//! Which certificate authorities outbound TLS trusts, and what a refused certificate means.
//!
//! By default the built-in Mozilla roots (webpki-roots), so the image needs no CA bundle.
//! `fetch.ca_file` adds a PEM bundle to them (a private PKI trusted for every issuer);
//! `fetch.native_roots` adds the operating system's store (which also honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`); an issuer's own `ca_file` *replaces* them for that issuer only, as curl's
//! `--cacert` and Go's `tls.Config.RootCAs` do, so a private CA never vouches for any other
//! issuer and a public CA never vouches for that one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// Largest CA bundle read (the whole Mozilla bundle is about 220 KiB).
pub const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Which roots a TLS connection trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TrustRoots {
    /// Extra PEM bundle added to the built-in roots (`fetch.ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Add the operating system's trust store (`fetch.native_roots`).
    pub native_roots: bool,
}

/// Why a CA file or the system store could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TlsConfigError {
    /// The file could not be read.
    #[error("could not read the CA file {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// It holds no usable certificate.
    #[error("the CA file {path} {problem}")]
    Certificates {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `fetch.native_roots` found no certificate at all.
    #[error("fetch.native_roots is true but the system trust store has no certificates: {0}")]
    NoNativeRoots(String),
}

/// The CA certificates of a PEM file: at least one `CERTIFICATE` block, every one of them
/// acceptable as a trust anchor. Other blocks (a private key pasted in by mistake) are refused.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    use std::io::Read as _;
    let read_error = |e: std::io::Error| TlsConfigError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let bad = |problem: String| TlsConfigError::Certificates {
        path: path.to_path_buf(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    if !file.metadata().map_err(read_error)?.is_file() {
        return Err(bad("is not a regular file".into()));
    }
    let mut text = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(bad(format!("is larger than {MAX_CA_FILE_BYTES} bytes")));
    }
    let blocks = pem::parse_many(&text).map_err(|e| bad(format!("is not PEM: {e}")))?;
    if blocks.is_empty() {
        return Err(bad("holds no PEM CERTIFICATE block".into()));
    }
    let mut certificates = Vec::with_capacity(blocks.len());
    for block in blocks {
        if block.tag() != "CERTIFICATE" {
            return Err(bad(format!(
                "holds a {:?} block; only CERTIFICATE blocks belong in a CA file",
                block.tag().chars().take(40).collect::<String>()
            )));
        }
        let der = CertificateDer::from(block.into_contents());
        // Parse as a trust anchor now, so a broken bundle fails at startup, not per fetch.
        let mut probe = RootCertStore::empty();
        probe
            .add(der.clone())
            .map_err(|e| bad(format!("holds a certificate that is not usable: {e}")))?;
        certificates.push(der);
    }
    Ok(certificates)
}

/// The rustls client configuration for `roots` (HTTP/1.1 only: discovery and JWK sets are
/// single small GETs).
pub fn client_config(roots: &TrustRoots) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut store = RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if roots.native_roots {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            let why = found
                .errors
                .first()
                .map_or_else(|| "none found".to_string(), ToString::to_string);
            return Err(TlsConfigError::NoNativeRoots(why));
        }
        // Individual unparsable system certificates are skipped, as every TLS client does.
        let _ = store.add_parsable_certificates(found.certs);
    }
    if let Some(path) = &roots.ca_file {
        add_all(&mut store, load_ca_file(path)?);
    }
    Ok(build(store))
}

/// The configuration for an issuer with its own `ca_file`: that file's CAs and nothing else.
pub fn issuer_client_config(ca_file: &Path) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut store = RootCertStore::empty();
    add_all(&mut store, load_ca_file(ca_file)?);
    Ok(build(store))
}

fn add_all(store: &mut RootCertStore, certificates: Vec<CertificateDer<'static>>) {
    for certificate in certificates {
        // Each one was added to a probe store by `load_ca_file` already.
        let _ = store.add(certificate);
    }
}

fn build(store: RootCertStore) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// What a certificate refusal means, in the words an operator needs: which check failed and
/// what to do about it.
pub fn describe_certificate_error(error: &rustls::Error) -> Option<String> {
    let rustls::Error::InvalidCertificate(error) = error else {
        return None;
    };
    let check = match error {
        CertificateError::UnknownIssuer => {
            "chain: the certificate is not signed by a trusted CA (unknown issuer; a private CA \
             needs fetch.ca_file, the issuer's ca_file or fetch.native_roots)"
                .to_string()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("name: the certificate is not valid for this host ({error})")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("validity: the certificate has expired ({error})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("validity: the certificate is not valid yet ({error})")
        }
        CertificateError::Revoked => "revocation: the certificate is revoked".to_string(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("purpose: the certificate is not for TLS servers ({error})")
        }
        CertificateError::BadSignature => {
            "signature: the certificate's signature does not verify".to_string()
        }
        other => format!("certificate: {other}"),
    };
    Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_only_certificates() {
        let dir = std::env::temp_dir().join(format!("jwtgate-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let key = write(
            "key.pem",
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/ec256.pem")),
        );
        let empty = write("empty.pem", "");
        let garbage = write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );

        for (path, expected) in [
            (&key, "only CERTIFICATE blocks"),
            (&empty, "no PEM CERTIFICATE"),
            (&garbage, "not usable"),
        ] {
            let error = load_ca_file(path).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("MIGHAgEA"), "never echoes a key: {error}");
        }
        assert!(matches!(
            load_ca_file(&dir.join("missing.pem")),
            Err(TlsConfigError::Read { .. })
        ));
        assert!(load_ca_file(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
