//! `/readyz` with required and optional issuers: an optional issuer being down does not keep a
//! replica out of service, and the body says what each issuer's keys are doing.

use serde_json::json;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

#[actix_web::test]
async fn an_optional_issuer_being_down_does_not_keep_the_replica_unready() {
    let (k1, k2) = (DevKey::rs256(), DevKey::es256());
    let (up, down) = (
        DevIssuer::serving(&[&k1]).await,
        DevIssuer::serving(&[&k2]).await,
    );
    down.set(|b| b.status = 503);
    let mut settings = settings_for(&[&up, &down]);
    settings.issuers[1].required = false;
    let app = spawn_app(settings).await;

    let answer = app.get("/readyz").await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["status"], "ready");
    let mut expected = vec![
        json!({"issuer": up.issuer(), "required": true, "state": "ready"}),
        json!({"issuer": down.issuer(), "required": false, "state": "unavailable"}),
    ];
    expected.sort_by_key(|i| i["issuer"].as_str().unwrap().to_string());
    assert_eq!(answer.body["issuers"], json!(expected), "sorted by issuer");
    assert_eq!(
        app.verify(&k2.sign(&claims(down.issuer()))).await.reason(),
        "keys_unavailable",
        "the optional issuer's tokens still wait for its keys"
    );
}

#[actix_web::test]
async fn a_required_issuer_without_keys_keeps_the_replica_unready_and_is_named() {
    let (k1, k2) = (DevKey::rs256(), DevKey::es256());
    let (up, down) = (
        DevIssuer::serving(&[&k1]).await,
        DevIssuer::serving(&[&k2]).await,
    );
    down.set(|b| b.status = 503);
    let app = spawn_app(settings_for(&[&up, &down])).await;

    let answer = app.get("/readyz").await;

    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["status"], "loading");
    assert_eq!(answer.body["issuers_without_keys"], json!([down.issuer()]));
    let entry = answer.body["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["issuer"] == down.issuer())
        .unwrap();
    assert_eq!(entry["state"], "unavailable");
    assert_eq!(entry["required"], true);
    // The issuers' own URLs are left out first: a random port may contain "503".
    let text = answer
        .body
        .to_string()
        .replace(up.issuer(), "")
        .replace(down.issuer(), "");
    assert!(
        !text.contains("503"),
        "no fetch error text in a public answer: {}",
        answer.body
    );
}

#[actix_web::test]
async fn keys_past_their_ttl_served_while_refreshing_fails_are_reported_stale_and_ready() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.cache.stale_if_error_secs = 600;
    let ttl = settings.cache.ttl_secs;
    let app = spawn_app(settings).await;
    issuer.set(|b| b.status = 500);

    app.clock.advance(std::time::Duration::from_secs(ttl + 1));
    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    let answer = app.get("/readyz").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["issuers"][0]["state"], "stale");
}
