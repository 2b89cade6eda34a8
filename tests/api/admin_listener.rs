//! `[admin] bind`: the operations endpoints on their own listener, the data plane on
//! `server.bind` with `/verify` and `/key` only.

use awc::http::Method;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

const ADMIN_TOKEN: &str = "an-admin-token-for-the-listener-test";

const OPERATIONS: [(&str, &str); 5] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/issuers"),
    ("POST", "/issuers/refresh"),
];

#[actix_web::test]
async fn with_an_admin_bind_the_data_plane_serves_only_verify_and_key() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.admin.bind = Some("127.0.0.1:0".parse().unwrap());
    settings.admin.token = ADMIN_TOKEN.into();
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));

    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(
        app.request(Method::GET, "/key", Some(&token)).await.status,
        200
    );
    for (method, path) in OPERATIONS {
        let answer = app
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                path,
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(answer.status, 404, "{method} {path} on the data plane");
    }
}

#[actix_web::test]
async fn the_admin_listener_serves_the_operations_endpoints_and_not_the_data_plane() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.admin.bind = Some("127.0.0.1:0".parse().unwrap());
    settings.admin.token = ADMIN_TOKEN.into();
    let app = spawn_app(settings).await;
    let admin = app.admin();
    let token = key.sign(&claims(issuer.issuer()));
    app.verify(&token).await;

    for (method, path) in OPERATIONS {
        let answer = admin
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                path,
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(answer.status, 200, "{method} {path} on the admin listener");
    }
    assert_eq!(
        admin
            .metric("jwtgate_verifications_total", &[("result", "valid")])
            .await,
        1.0,
        "the admin listener reports the data plane's metrics"
    );
    assert_eq!(admin.verify(&token).await.status, 404);
    assert_eq!(
        admin
            .request(Method::GET, "/key", Some(&token))
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn without_an_admin_bind_everything_stays_on_one_listener() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    assert!(app.admin_address.is_none());
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
}
