//! The peer of `scripts/loadtest.sh`: jwt-authorizer behind axum.
//!
//! ```text
//! peer --bind ADDR --workers W --issuer ISS
//! ```
//!
//! Discovers ISS's keys by OpenID Connect (as jwtgate does), then answers any path with 200 for
//! a valid bearer token and 401 otherwise, with jwtgate's default checks (exp, nbf, iss, aud
//! `my-api`, 60 s leeway). `/readyz` answers 200 once the keys are loaded. Binds loopback only and
//! stops by itself after `LIFETIME`.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, RegisteredClaims, Validation};

/// The audience every minted token carries.
const AUDIENCE: &str = "my-api";

/// jwtgate's default `verify.leeway_secs`.
const LEEWAY_SECS: u64 = 60;

/// The server stops by itself after this long, even if the script was killed.
const LIFETIME: Duration = Duration::from_secs(10 * 60);

fn main() {
    let args: HashMap<String, String> = std::env::args()
        .skip(1)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| {
            let name = pair[0].trim_start_matches("--").to_string();
            (name, pair.get(1).cloned().unwrap_or_default())
        })
        .collect();
    let arg = |name: &str| {
        args.get(name)
            .cloned()
            .unwrap_or_else(|| panic!("peer: --{name} is required"))
    };
    let workers: usize = arg("workers").parse().expect("peer: --workers is a number");
    let (bind, issuer) = (arg("bind"), arg("issuer"));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(serve(bind, issuer));
}

async fn serve(bind: String, issuer: String) {
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    assert!(
        listener.local_addr().expect("local address").ip().is_loopback(),
        "peer: binds loopback only"
    );
    let validation = Validation::new()
        .iss(&[issuer.as_str()])
        .aud(&[AUDIENCE])
        .nbf(true)
        .leeway(LEEWAY_SECS);
    let auth: Authorizer<RegisteredClaims> = JwtAuthorizer::from_oidc(&issuer)
        .validation(validation)
        .build()
        .await
        .expect("peer: discovery of the issuer's keys");
    let protected = Router::new()
        .fallback(|_: JwtClaims<RegisteredClaims>| async { StatusCode::OK })
        .layer(auth.into_layer());
    let app = Router::new()
        .route("/readyz", get(|| async { StatusCode::OK }))
        .merge(protected);
    tokio::select! {
        served = axum::serve(listener, app) => served.expect("serve"),
        () = tokio::time::sleep(LIFETIME) => {}
    }
}
