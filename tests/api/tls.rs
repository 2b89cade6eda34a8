//! Private PKI: an issuer behind TLS whose certificate comes from a CA made in the test, trusted
//! only through `fetch.ca_file` or the issuer's own `ca_file`.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use serde_json::json;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::helpers::spawn_app;
use crate::local_keys::TempDir;
use jwtgate::dev::{DevIssuer, DevKey, claims};
use jwtgate::settings::Settings;

/// A certificate authority made for one test.
pub struct PrivateCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM: what an operator puts in a `ca_file`.
    pub pem: String,
}

impl PrivateCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses) and its key.
    pub fn server_certificate(
        &self,
        names: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        for name in names {
            params.subject_alt_names.push(match name.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into().unwrap()),
            });
        }
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (
            certificate.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// Puts TLS (a certificate of `ca` for `names`) in front of `backend`, on loopback; returns the
/// `https://127.0.0.1:<port>` address. Handshakes that fail are simply dropped.
pub async fn tls_front(backend: &DevIssuer, ca: &PrivateCa, names: &[&str]) -> String {
    let (certificate, key) = ca.server_certificate(names);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certificate], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let backend: SocketAddr = backend
        .issuer()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    actix_web::rt::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            actix_web::rt::spawn(async move {
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                }
            });
        }
    });
    format!("https://{address}")
}

/// A TLS issuer signed by `ca` (certificate for 127.0.0.1), serving `key`: its `iss` and server.
pub async fn tls_issuer(key: &DevKey, ca: &PrivateCa, names: &[&str]) -> (String, DevIssuer) {
    let backend = DevIssuer::serving(&[key]).await;
    let iss = tls_front(&backend, ca, names).await;
    backend.set(|b| b.discovery = Some(json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")})));
    (iss, backend)
}

/// Settings trusting `issuers` (with their extra lines), https only, loopback allowed.
fn settings(fetch: &str, issuers: &[(&str, String)]) -> Settings {
    let mut toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
         [fetch]\nallow_private_addresses = true\ntimeout_secs = 2\n{fetch}\n"
    );
    for (iss, extra) in issuers {
        toml.push_str(&format!(
            "[[issuers]]\nissuer = \"{iss}\"\naudiences = [\"my-api\"]\n{extra}\n"
        ));
    }
    Settings::from_toml(&toml).unwrap()
}

fn path_line(key: &str, path: &std::path::Path) -> String {
    format!("{key} = {:?}", path.display().to_string())
}

#[actix_web::test]
async fn a_private_ca_issuer_is_refused_with_the_issuer_and_the_failing_check_named() {
    let (key, ca) = (DevKey::es256(), PrivateCa::new("private"));
    let (iss, backend) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let app = spawn_app(settings("", &[(&iss, String::new())])).await;

    let answer = app.verify(&key.sign(&claims(&iss))).await;

    assert_eq!(answer.reason(), "keys_unavailable");
    let errors = app.fetch_errors();
    assert!(errors.contains(&format!("issuer {iss}")), "{errors}");
    assert!(errors.contains("not signed by a trusted CA"), "{errors}");
    assert_eq!(
        backend.total_hits(),
        0,
        "nothing was sent over the refused connection"
    );
}

#[actix_web::test]
async fn a_private_ca_issuer_verifies_through_its_own_ca_file_or_fetch_ca_file() {
    let (key, ca) = (DevKey::rs256(), PrivateCa::new("private"));
    let (iss, _backend) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let dir = TempDir::new("ca");
    let ca_file = dir.write("ca.pem", ca.pem.as_bytes());

    for settings in [
        settings("", &[(&iss, path_line("ca_file", &ca_file))]),
        settings(&path_line("ca_file", &ca_file), &[(&iss, String::new())]),
    ] {
        let app = spawn_app(settings).await;
        let answer = app.verify(&key.sign(&claims(&iss))).await;
        assert_eq!(
            answer.status,
            200,
            "{:?} {}",
            answer.body,
            app.fetch_errors()
        );
    }
}

#[actix_web::test]
async fn an_issuers_ca_file_is_trusted_for_that_issuer_only_and_replaces_the_other_roots() {
    let key = DevKey::es256();
    let (ca, other_ca) = (PrivateCa::new("private"), PrivateCa::new("other"));
    let (trusting, _b1) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let (bystander, _b2) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let (pinned_elsewhere, _b3) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let dir = TempDir::new("ca-scope");
    let ca_file = dir.write("ca.pem", ca.pem.as_bytes());
    let other_file = dir.write("other.pem", other_ca.pem.as_bytes());
    let app = spawn_app(settings(
        "",
        &[
            (&trusting, path_line("ca_file", &ca_file)),
            (&bystander, String::new()),
            (&pinned_elsewhere, path_line("ca_file", &other_file)),
        ],
    ))
    .await;

    assert_eq!(app.verify(&key.sign(&claims(&trusting))).await.status, 200);
    for iss in [&bystander, &pinned_elsewhere] {
        assert_eq!(
            app.verify(&key.sign(&claims(iss))).await.reason(),
            "keys_unavailable",
            "{iss}"
        );
    }
}

#[actix_web::test]
async fn a_certificate_for_another_name_is_refused_as_a_name_mismatch() {
    let (key, ca) = (DevKey::es256(), PrivateCa::new("private"));
    let (iss, _backend) = tls_issuer(&key, &ca, &["other.example"]).await;
    let dir = TempDir::new("ca-name");
    let ca_file = dir.write("ca.pem", ca.pem.as_bytes());
    let app = spawn_app(settings("", &[(&iss, path_line("ca_file", &ca_file))])).await;

    assert_eq!(
        app.verify(&key.sign(&claims(&iss))).await.reason(),
        "keys_unavailable"
    );
    let errors = app.fetch_errors();
    assert!(
        errors.contains("name: the certificate is not valid for this host"),
        "{errors}"
    );
}

#[test]
fn a_ca_file_that_is_not_a_ca_bundle_stops_startup_naming_the_key() {
    let dir = TempDir::new("ca-bad");
    let not_a_ca = dir.write("key.pem", include_bytes!("../keys/ec256.pem"));
    let toml = format!(
        "[fetch]\n{}\n[[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\n{}\n",
        path_line("ca_file", &not_a_ca),
        path_line("ca_file", &dir.0.join("missing.pem")),
    );
    let error = Settings::from_toml(&toml).unwrap_err().to_string();
    assert!(error.contains("`fetch.ca_file`"), "{error}");
    let toml = format!(
        "[[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\n{}\n",
        path_line("ca_file", &dir.0.join("missing.pem")),
    );
    let error = Settings::from_toml(&toml).unwrap_err().to_string();
    assert!(error.contains("`issuers[0].ca_file`"), "{error}");
}

/// `jwtgate check-config --probe` as a process with these environment variables; its exit code
/// and output.
async fn probe(config: std::path::PathBuf, env: Vec<(&'static str, String)>) -> (i32, String) {
    actix_web::rt::task::spawn_blocking(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .args(["check-config", "--probe", "--config"])
            .arg(&config)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .envs(env)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn native_roots_trust_the_system_store_and_ssl_cert_file() {
    let (key, ca) = (DevKey::es256(), PrivateCa::new("system"));
    let (iss, _backend) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let dir = TempDir::new("native");
    let bundle = dir.write("bundle.pem", ca.pem.as_bytes());
    let config = dir.write(
        "jwtgate.toml",
        format!(
            "[fetch]\nallow_private_addresses = true\ntimeout_secs = 2\n\
             [[issuers]]\nissuer = \"{iss}\"\naudiences = [\"my-api\"]\n"
        )
        .as_bytes(),
    );
    let ssl_cert_file = ("SSL_CERT_FILE", bundle.display().to_string());

    let (code, text) = probe(config.clone(), vec![ssl_cert_file.clone()]).await;
    assert_eq!(code, 1, "SSL_CERT_FILE alone changes nothing: {text}");
    assert!(text.contains("not signed by a trusted CA"), "{text}");

    let native = ("JWTGATE__FETCH__NATIVE_ROOTS", "true".to_string());
    let (code, text) = probe(config, vec![ssl_cert_file, native]).await;
    assert_eq!(code, 0, "{text}");
}
