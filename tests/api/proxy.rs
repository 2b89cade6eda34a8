//! Egress through an HTTP proxy: a CONNECT proxy in the test sees each tunnel it carries.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::spawn_app;
use crate::local_keys::TempDir;
use crate::tls::{PrivateCa, tls_issuer};
use jwtgate::dev::{DevIssuer, DevKey, claims};
use jwtgate::settings::Settings;

/// A CONNECT proxy on loopback that records every request line it gets.
struct ConnectProxy {
    address: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        actix_web::rt::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let log = log.clone();
                actix_web::rt::spawn(async move {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        let Ok(byte) = client.read_u8().await else {
                            return;
                        };
                        head.push(byte);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    log.lock().unwrap().push(line.clone());
                    let target = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    let Some(("CONNECT", _)) = line.split_once(' ') else {
                        let _ = client
                            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                            .await;
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        Self { address, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[actix_web::test]
async fn an_https_issuer_is_fetched_through_the_configured_proxy_with_connect() {
    let (key, ca) = (DevKey::es256(), PrivateCa::new("behind-proxy"));
    let (iss, _backend) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    let proxy = ConnectProxy::start().await;
    let dir = TempDir::new("proxy");
    let ca_file = dir.write("ca.pem", ca.pem.as_bytes());
    let settings = Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
         [fetch]\ntimeout_secs = 2\nproxy = \"http://{}\"\nca_file = {:?}\n\
         [[issuers]]\nissuer = \"{iss}\"\naudiences = [\"my-api\"]\nallow_private_addresses = true\n",
        proxy.address,
        ca_file.display().to_string()
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
    let authority = iss.trim_start_matches("https://");
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|line| *line == format!("CONNECT {authority} HTTP/1.1")),
        "every request tunnelled to the checked address: {seen:?}"
    );
}

#[actix_web::test]
async fn the_private_address_guard_applies_to_the_destination_not_to_the_proxy() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let proxy = ConnectProxy::start().await;
    let settings = Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
         [fetch]\nhttps_only = false\ntimeout_secs = 2\nproxy = \"http://{}\"\n\
         [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
        proxy.address,
        issuer.issuer()
    ))
    .unwrap();
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.reason(), "keys_unavailable");
    assert!(
        app.fetch_errors().contains("internal address"),
        "{}",
        app.fetch_errors()
    );
    assert!(
        proxy.seen().is_empty(),
        "the proxy was never asked for an internal host"
    );
    assert_eq!(issuer.total_hits(), 0);
}

#[actix_web::test]
async fn no_proxy_destinations_are_reached_directly_and_a_refusing_proxy_is_named() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let proxy = ConnectProxy::start().await;
    let toml = |no_proxy: &str| {
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\ntimeout_secs = 2\n\
             proxy = \"http://{}\"\n{no_proxy}\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            proxy.address,
            issuer.issuer()
        )
    };
    let direct =
        spawn_app(Settings::from_toml(&toml("no_proxy = [\"127.0.0.0/8\"]")).unwrap()).await;
    assert_eq!(
        direct
            .verify(&key.sign(&claims(issuer.issuer())))
            .await
            .status,
        200
    );
    assert!(proxy.seen().is_empty());

    // Through a proxy that has no route to the destination (port 1 on loopback refuses).
    let dead = "http://127.0.0.1:1";
    let app =
        spawn_app(Settings::from_toml(&toml("").replace(issuer.issuer(), dead)).unwrap()).await;
    assert_eq!(
        app.verify(&key.sign(&claims(dead))).await.reason(),
        "keys_unavailable"
    );
    let errors = app.fetch_errors();
    assert!(
        errors.contains(&format!("the proxy {} refused the tunnel", proxy.address))
            && errors.contains("HTTP 502"),
        "{errors}"
    );
}

#[test]
fn a_proxy_with_credentials_or_another_scheme_stops_startup() {
    for proxy in ["https://proxy:3128", "http://user:pw@proxy:3128"] {
        let error = Settings::from_toml(&format!(
            "[fetch]\nproxy = \"{proxy}\"\n[[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`fetch.proxy`") && !error.contains("pw"),
            "{error}"
        );
    }
}
