//! Fault injection: the issuer is down, slow, broken or hostile. Each case checks what jwtgate
//! answers, how many requests the issuer saw, and that cached keys keep serving where they should.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jwtgate::settings::{IpNetwork, Settings};

use crate::helpers::{Answer, TestApp, settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, IssuerBehaviour, claims};

const TTL: Duration = Duration::from_secs(3600);

/// An app whose only issuer misbehaves from the start: nothing is cached.
async fn cold(fault: impl FnOnce(&mut IssuerBehaviour)) -> (DevIssuer, TestApp, Answer) {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(fault);
    let app = spawn_app(settings_for(&[&issuer])).await;
    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;
    (issuer, app, answer)
}

/// An app that loaded keys, then its issuer starts misbehaving and the keys pass their TTL.
async fn warm_then(fault: impl FnOnce(&mut IssuerBehaviour)) -> (DevIssuer, Answer) {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let token = key.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&token).await.status, 200);
    issuer.set(fault);
    app.clock.advance(TTL + Duration::from_secs(1));
    let answer = app.verify(&token).await;
    (issuer, answer)
}

/// A 503 `keys_unavailable` whose client message is the fixed one, while the cause (which
/// `message_part` names) is kept where an operator sees it, never in the answer.
fn assert_unavailable(app: &TestApp, answer: &Answer, message_part: &str) {
    assert_eq!(
        (answer.status, answer.reason()),
        (503, "keys_unavailable"),
        "{:?}",
        answer.body
    );
    assert!(answer.header("retry-after").is_some());
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert_eq!(message, "the issuer's keys are unavailable; retry later");
    let cause = app.fetch_errors();
    assert!(
        cause.contains(message_part),
        "{cause:?} should mention {message_part:?}"
    );
}

#[actix_web::test]
async fn an_issuer_that_refuses_connections_gives_503() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let mut settings = settings_for(&[]);
    settings.allow_any_issuer = false;
    settings.issuers = Settings::from_toml(&format!(
        "[fetch]\nhttps_only = false\n[[issuers]]\nissuer = \"{base}\"\naudiences = [\"a\"]"
    ))
    .unwrap()
    .issuers;
    let app = spawn_app(settings).await;

    let answer = app.verify(&DevKey::rs256().sign(&claims(&base))).await;

    assert_unavailable(&app, &answer, "could not fetch");
}

#[actix_web::test]
async fn a_slow_issuer_is_cut_off_at_the_fetch_timeout() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.jwks_delay = Duration::from_secs(5));
    let mut settings = settings_for(&[&issuer]);
    settings.fetch.timeout_secs = 1;
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_unavailable(&app, &answer, "timed out");
    assert_eq!(issuer.jwks_hits(), 1);
}

#[actix_web::test]
async fn error_statuses_give_503_and_one_request() {
    for status in [404, 500, 503] {
        let (issuer, app, answer) = cold(|b| b.status = status).await;
        assert_unavailable(&app, &answer, &format!("HTTP {status}"));
        assert_eq!(
            (issuer.discovery_hits(), issuer.jwks_hits()),
            (1, 0),
            "status {status}"
        );
    }
}

#[actix_web::test]
async fn html_instead_of_json_is_refused() {
    let (issuer, app, answer) = cold(|b| {
        b.content_type = "text/html".into();
        b.raw_body = Some("<html><body>Login</body></html>".into());
    })
    .await;
    assert_unavailable(&app, &answer, "text/html");
    assert_eq!(issuer.total_hits(), 1);

    let (_issuer, app, answer) = cold(|b| b.raw_body = Some("<html>not json</html>".into())).await;
    assert_unavailable(&app, &answer, "discovery document is not a JSON object");
}

#[actix_web::test]
async fn a_truncated_jwk_set_is_refused_and_cached_keys_keep_serving() {
    let (issuer, answer) =
        warm_then(|b| b.raw_body = Some(r#"{"keys": [{"kty": "RSA", "kid": "#.into())).await;
    assert_eq!(answer.status, 200, "stale keys serve through the outage");
    assert_eq!(
        issuer.discovery_hits(),
        2,
        "one refresh attempt, then backoff"
    );
}

#[actix_web::test]
async fn cached_keys_keep_serving_through_every_kind_of_outage() {
    type Fault = fn(&mut IssuerBehaviour);
    let faults: [(&str, Fault); 4] = [
        ("500", |b| b.status = 500),
        ("404", |b| b.status = 404),
        ("html", |b| {
            b.content_type = "text/html".into();
            b.raw_body = Some("<html></html>".into());
        }),
        ("redirect", |b| {
            b.redirect_to = Some("http://169.254.169.254/".into())
        }),
    ];
    for (name, fault) in faults {
        let (issuer, answer) = warm_then(fault).await;
        assert_eq!(answer.status, 200, "{name}: stale keys serve");
        assert_eq!(
            issuer.discovery_hits(),
            2,
            "{name}: one refresh attempt, then backoff"
        );
    }
}

#[actix_web::test]
async fn a_connection_closed_mid_body_is_refused() {
    let server = RawServer::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"issuer\":");
    });
    let app = spawn_app(raw_issuer_settings(&server.base)).await;

    let answer = app
        .verify(&DevKey::rs256().sign(&claims(&server.base)))
        .await;

    assert_unavailable(&app, &answer, "truncated");
    assert_eq!(server.connections(), 1);
}

#[actix_web::test]
async fn a_50_mb_body_is_refused_without_reading_it() {
    let (issuer, app, answer) = cold(|b| b.raw_body = Some("x".repeat(50 << 20))).await;
    assert_unavailable(&app, &answer, "more than 1048576 bytes");
    assert_eq!(issuer.total_hits(), 1);

    let chunked = RawServer::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("{:x}\r\n{}\r\n", 65536, " ".repeat(65536));
        for _ in 0..800 {
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
    });
    let app = spawn_app(raw_issuer_settings(&chunked.base)).await;
    let answer = app
        .verify(&DevKey::rs256().sign(&claims(&chunked.base)))
        .await;
    assert_unavailable(&app, &answer, "more than 1048576 bytes");
}

#[actix_web::test]
async fn redirects_are_not_followed_by_default() {
    let (issuer, app, answer) =
        cold(|b| b.redirect_to = Some("https://elsewhere.example/keys".into())).await;
    assert_unavailable(&app, &answer, "fetch.max_redirects is 0");
    assert_eq!(issuer.total_hits(), 1);
}

#[actix_web::test]
async fn a_redirect_to_an_internal_address_is_refused_even_when_redirects_are_allowed() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.redirect_to = Some("http://169.254.169.254/latest/meta-data/".into()));
    let mut settings = settings_for(&[&issuer]);
    settings.fetch.allow_private_addresses = false;
    settings.fetch.allowed_networks =
        vec![IpNetwork::try_from("127.0.0.1/32".to_string()).unwrap()];
    settings.fetch.max_redirects = 2;
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_unavailable(&app, &answer, "169.254.169.254");
    assert!(app.fetch_errors().contains("internal address"));
    assert_eq!(issuer.total_hits(), 1);
}

#[actix_web::test]
async fn a_loopback_issuer_is_never_contacted_unless_private_addresses_are_allowed() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.fetch.allow_private_addresses = false;
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_unavailable(&app, &answer, "internal address");
    assert_eq!(issuer.total_hits(), 0);
}

#[actix_web::test]
async fn jwks_hosts_pins_where_keys_may_come_from() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].jwks_hosts = Some(vec!["keys.example.com".into()]);
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_unavailable(&app, &answer, "jwks_hosts");
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 0));
}

/// Settings trusting a raw server at `base`.
fn raw_issuer_settings(base: &str) -> Settings {
    let mut settings = settings_for(&[]);
    settings.allow_any_issuer = false;
    settings.issuers = Settings::from_toml(&format!(
        "[fetch]\nhttps_only = false\n[[issuers]]\nissuer = \"{base}\"\naudiences = [\"a\"]"
    ))
    .unwrap()
    .issuers;
    settings
}

/// A TCP server that answers every connection with a hand-written (broken) response.
struct RawServer {
    base: String,
    connections: Arc<AtomicUsize>,
}

impl RawServer {
    fn start(answer: fn(&mut std::net::TcpStream)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                answer(&mut stream);
            }
        });
        Self { base, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
