//! `[verify] mode = "report"`: would-be refusals pass without an identity and are counted as
//! `would_deny`; valid tokens keep their identity; forged identity headers are still refused.

use jwtgate::settings::VerifyMode;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

#[actix_web::test]
async fn in_report_mode_a_refusal_is_answered_200_without_an_identity_and_counted_as_would_deny() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.verify.mode = VerifyMode::Report;
    let app = spawn_app(settings).await;
    let mut expired = claims(issuer.issuer());
    expired["exp"] = (jwtgate::dev::now() - 3600).into();

    let answer = app.verify(&key.sign(&expired)).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["active"], false);
    assert_eq!(answer.body["would_deny"], true);
    assert_eq!(answer.body["reason"], "expired");
    assert_eq!(answer.header("x-auth-issuer"), Some(""));
    assert_eq!(answer.header("x-auth-subject"), Some(""));
    let label = issuer.issuer();
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[
                ("issuer", label),
                ("result", "would_deny"),
                ("reason", "expired")
            ]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("result", "invalid"), ("reason", "expired")]
        )
        .await,
        0.0,
        "not counted as a refusal"
    );
}

#[actix_web::test]
async fn in_report_mode_a_valid_token_keeps_its_identity_and_no_token_is_a_would_deny() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.verify.mode = VerifyMode::Report;
    let app = spawn_app(settings).await;

    let valid = app.verify(&key.sign(&claims(issuer.issuer()))).await;
    let missing = app.get("/verify").await;

    assert_eq!(valid.status, 200);
    assert_eq!(valid.body, "", "a success, not a would-deny body");
    assert_eq!(valid.header("x-auth-subject"), Some("alice"));
    assert_eq!(missing.status, 200);
    assert_eq!(missing.body["reason"], "missing_token");
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("result", "would_deny"), ("reason", "missing_token")]
        )
        .await,
        1.0
    );
}

#[actix_web::test]
async fn in_report_mode_a_forged_identity_header_is_still_refused() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.verify.mode = VerifyMode::Report;
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));

    for forged in ["X-Auth-Subject", "X_Auth_Subject", "x.auth.admin"] {
        let answer = app
            .request_with_headers(
                awc::http::Method::GET,
                "/verify",
                &[
                    ("Authorization", format!("Bearer {token}")),
                    (forged, "admin".into()),
                ],
            )
            .await;
        assert_eq!(answer.status, 403, "{forged}");
        assert_eq!(answer.reason(), "forged_identity_header");
    }
}

#[actix_web::test]
async fn report_mode_series_exist_from_the_first_scrape() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.verify.mode = VerifyMode::Report;
    let app = spawn_app(settings).await;

    let scrape = app.get("/metrics").await.body;

    let series = format!(
        r#"jwtgate_verifications_total{{issuer="{}",reason="bad_signature",result="would_deny",transport="http"}} 0"#,
        issuer.issuer()
    );
    assert!(scrape.as_str().unwrap().contains(&series), "{series}");
}

#[actix_web::test]
async fn a_policy_in_report_mode_reports_its_refusals_while_other_routes_enforce() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    for (name, mode) in [
        ("trial", VerifyMode::Report),
        ("strict", VerifyMode::Enforce),
    ] {
        settings.policies.insert(
            name.into(),
            jwtgate::settings::PolicySettings {
                scopes: vec!["admin".into()],
                mode,
                ..Default::default()
            },
        );
    }
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));

    let reported = app
        .request(awc::http::Method::GET, "/policy/trial", Some(&token))
        .await;
    let enforced = app
        .request(awc::http::Method::GET, "/policy/strict", Some(&token))
        .await;
    let forged = app
        .request_with_headers(
            awc::http::Method::GET,
            "/policy/trial",
            &[
                ("Authorization", format!("Bearer {token}")),
                ("X-Auth-Subject", "admin".into()),
            ],
        )
        .await;

    assert_eq!(reported.status, 200);
    assert_eq!(reported.body["would_deny"], true);
    assert_eq!(reported.body["reason"], "insufficient_scope");
    assert_eq!(reported.header("x-auth-subject"), Some(""));
    assert_eq!(
        (enforced.status, enforced.reason()),
        (403, "insufficient_scope")
    );
    assert_eq!(
        (forged.status, forged.reason()),
        (403, "forged_identity_header")
    );
}
