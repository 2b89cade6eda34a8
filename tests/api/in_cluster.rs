//! In-cluster issuers: an issuer on an internal address allowed for itself alone, and a bearer
//! token for its discovery and JWK set requests, read from a file that rotates (a Kubernetes
//! API server with a projected service-account token).

use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, spawn_app};
use crate::local_keys::TempDir;
use crate::tls::{PrivateCa, tls_issuer};
use jwtgate::dev::{DevIssuer, DevKey, claims};
use jwtgate::settings::Settings;

fn path(p: &std::path::Path) -> String {
    format!("{:?}", p.display().to_string())
}

#[actix_web::test]
async fn an_issuer_demanding_a_bearer_token_gets_the_current_one_from_its_file() {
    let (key, ca) = (DevKey::es256(), PrivateCa::new("cluster"));
    let (iss, backend) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    backend.set(|b| b.required_bearer = Some("token-v1".into()));
    let dir = TempDir::new("fetch-token");
    let ca_file = dir.write("ca.pem", ca.pem.as_bytes());
    let token_file = dir.write("token", b"token-v1\n");
    let settings = Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[fetch]\ntimeout_secs = 2\n\
         [[issuers]]\nissuer = \"{iss}\"\naudiences = [\"my-api\"]\nca_file = {}\n\
         allow_private_addresses = true\nfetch_token_file = {}\n",
        path(&ca_file),
        path(&token_file)
    ))
    .unwrap();
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(&iss))).await;
    assert_eq!(
        answer.status,
        200,
        "{:?} {}",
        answer.body,
        app.fetch_errors()
    );
    assert_eq!(
        (backend.discovery_hits(), backend.jwks_hits()),
        (1, 1),
        "both requests carried the token"
    );

    // The token rotates; the issuer now wants the new one, and a new key is published.
    let rotated = DevKey::rs256();
    backend.set(|b| b.required_bearer = Some("token-v2".into()));
    backend.publish(&[&key, &rotated]);
    dir.write("token", b"token-v2\n");
    app.clock.advance(Duration::from_secs(400));
    eventually(|| async { app.verify(&rotated.sign(&claims(&iss))).await.status == 200 }).await;
    assert_eq!(backend.hits("401 /jwks"), 0, "the rotated token was read");
    assert!(
        !app.fetch_errors().contains("token-v"),
        "the token is never shown"
    );
}

#[actix_web::test]
async fn without_its_token_the_issuer_refuses_and_the_token_never_leaves_for_another_host() {
    let key = DevKey::es256();
    let ca = PrivateCa::new("cluster");
    let (iss, backend) = tls_issuer(&key, &ca, &["127.0.0.1", "localhost"]).await;
    backend.set(|b| b.required_bearer = Some("secret-token".into()));
    // The discovery document sends the keys to another host (localhost, not 127.0.0.1).
    let elsewhere = iss.replace("127.0.0.1", "localhost");
    backend.set(|b| {
        b.discovery = Some(json!({"issuer": iss, "jwks_uri": format!("{elsewhere}/jwks")}))
    });
    let dir = TempDir::new("fetch-token-host");
    let ca_file = dir.write("ca.pem", ca.pem.as_bytes());
    let token_file = dir.write("token", b"secret-token");
    let settings = Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[fetch]\ntimeout_secs = 2\n\
         [[issuers]]\nissuer = \"{iss}\"\naudiences = [\"my-api\"]\nca_file = {}\n\
         allow_private_addresses = true\nfetch_token_file = {}\n",
        path(&ca_file),
        path(&token_file)
    ))
    .unwrap();
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(&iss))).await;

    assert_eq!(answer.reason(), "keys_unavailable");
    assert_eq!(
        backend.discovery_hits(),
        1,
        "discovery on the issuer's host had the token"
    );
    assert_eq!(
        backend.hits("401 /jwks"),
        1,
        "the key URL on another host got no token: {}",
        app.fetch_errors()
    );
}

#[actix_web::test]
async fn a_per_issuer_private_address_exemption_opens_nothing_for_other_issuers() {
    let (k1, k2) = (DevKey::es256(), DevKey::rs256());
    let (inside, other) = (
        DevIssuer::serving(&[&k1]).await,
        DevIssuer::serving(&[&k2]).await,
    );
    let settings = Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[fetch]\nhttps_only = false\ntimeout_secs = 2\n\
         [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\nallow_private_addresses = true\n\
         [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
        inside.issuer(),
        other.issuer()
    ))
    .unwrap();
    let app = spawn_app(settings).await;

    assert_eq!(
        app.verify(&k1.sign(&claims(inside.issuer()))).await.status,
        200
    );
    assert_eq!(
        app.verify(&k2.sign(&claims(other.issuer()))).await.reason(),
        "keys_unavailable"
    );
    assert!(
        app.fetch_errors().contains("internal address"),
        "{}",
        app.fetch_errors()
    );
    assert_eq!(other.total_hits(), 0);
}
