//! Keys without discovery: a local JWK set file and PEM public keys, re-read when they change,
//! with the network unreachable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, spawn_app_with_fetcher};
use jwtgate::dev::{DevKey, claims};
use jwtgate::fetch::{FetchError, FetchFuture, FetchRequest, JsonFetcher};
use jwtgate::settings::Settings;

const ISSUER: &str = "https://files.example";

/// A network that is unreachable, and counts every attempt to use it.
#[derive(Default)]
pub struct Unreachable {
    pub attempts: AtomicUsize,
}

impl JsonFetcher for Unreachable {
    fn get_json<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Err(FetchError::Transport {
                url: request.url.to_string(),
                message: "network unreachable".into(),
            })
        })
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let unique = format!(
            "jwtgate-{name}-{}-{}",
            std::process::id(),
            jwtgate::dev::now()
        );
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `name` atomically (write, then rename), as config management and Kubernetes do.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        let staging = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&staging, contents).unwrap();
        std::fs::rename(&staging, &path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn settings_with(issuer_keys: &str) -> Settings {
    Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"my-api\"]\n{issuer_keys}"
    ))
    .unwrap()
}

fn jwks_file_settings(path: &Path) -> Settings {
    settings_with(&format!("jwks_file = {:?}\n", path.display().to_string()))
}

#[actix_web::test]
async fn a_jwks_file_issuer_verifies_with_the_network_unreachable_and_follows_the_file() {
    let dir = TempDir::new("jwks-file");
    let (old, new) = (DevKey::es256(), DevKey::rs256());
    let file = dir.write(
        "keys.json",
        json!({"keys": [old.jwk()]}).to_string().as_bytes(),
    );
    let network = Arc::new(Unreachable::default());
    let app = spawn_app_with_fetcher(jwks_file_settings(&file), network.clone()).await;

    let answer = app.verify(&old.sign(&claims(ISSUER))).await;
    assert_eq!(
        answer.status,
        200,
        "{:?} {}",
        answer.body,
        app.fetch_errors()
    );

    // Rotation: the file now holds only the new key.
    dir.write(
        "keys.json",
        json!({"keys": [new.jwk()]}).to_string().as_bytes(),
    );
    app.clock.advance(Duration::from_secs(3));
    eventually(|| async { app.verify(&new.sign(&claims(ISSUER))).await.status == 200 }).await;
    assert_eq!(
        app.verify(&old.sign(&claims(ISSUER))).await.reason(),
        "unknown_kid",
        "a key removed from the file stops verifying"
    );

    // A broken write keeps the last good keys (like an issuer that is down), and says why.
    dir.write("keys.json", b"{\"keys\": [");
    app.clock.advance(Duration::from_secs(3));
    eventually(|| async { app.fetch_errors().contains("keys.json") }).await;
    assert_eq!(app.verify(&new.sign(&claims(ISSUER))).await.status, 200);

    assert_eq!(
        network.attempts.load(Ordering::SeqCst),
        0,
        "no network for an issuer with local keys"
    );
}

#[actix_web::test]
async fn pem_public_keys_verify_under_their_configured_kids_only() {
    let dir = TempDir::new("pem");
    let (rsa, ed) = (DevKey::rs256(), DevKey::eddsa());
    let rsa_file = dir.write("rsa.pem", rsa.public_key_pem().as_bytes());
    let ed_file = dir.write("ed.pem", ed.public_key_pem().as_bytes());
    let settings = settings_with(&format!(
        "public_key_files = {{ {:?} = {:?}, {:?} = {:?} }}\n",
        rsa.kid(),
        rsa_file.display().to_string(),
        ed.kid(),
        ed_file.display().to_string()
    ));
    let network = Arc::new(Unreachable::default());
    let app = spawn_app_with_fetcher(settings, network.clone()).await;

    for key in [&rsa, &ed] {
        let answer = app.verify(&key.sign(&claims(ISSUER))).await;
        assert_eq!(
            answer.status,
            200,
            "{:?} {}",
            answer.body,
            app.fetch_errors()
        );
    }
    let renamed = rsa.with_kid("not-configured");
    assert_eq!(
        app.verify(&renamed.sign(&claims(ISSUER))).await.reason(),
        "unknown_kid"
    );
    let key = app
        .get(&format!(
            "/key?iss={}&kid={}",
            "https%3A%2F%2Ffiles.example",
            rsa.kid()
        ))
        .await;
    assert_eq!(key.body["jwk"]["n"], rsa.jwk()["n"]);
    assert_eq!(network.attempts.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn a_private_key_in_a_pem_file_is_refused_without_echoing_it() {
    let dir = TempDir::new("private");
    let private = include_str!("../keys/ec256.pem");
    let file = dir.write("key.pem", private.as_bytes());
    let settings = settings_with(&format!(
        "public_key_files = {{ ec-1 = {:?} }}\n",
        file.display().to_string()
    ));
    let app = spawn_app_with_fetcher(settings, Arc::new(Unreachable::default())).await;

    let answer = app.verify(&DevKey::es256().sign(&claims(ISSUER))).await;

    assert_eq!(answer.reason(), "keys_unavailable");
    let errors = app.fetch_errors();
    assert!(errors.contains("private key"), "{errors}");
    let secret_line = private.lines().nth(1).unwrap();
    assert!(!errors.contains(secret_line), "{errors}");
}
