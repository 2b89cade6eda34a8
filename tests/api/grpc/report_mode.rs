//! Report mode over gRPC (`[verify] mode`, a policy's `mode`): a would-be refusal is let
//! through without an identity and counted, while forged identity headers are still refused.

use super::*;

#[actix_web::test]
async fn in_report_mode_a_would_be_denial_is_allowed_without_an_identity_and_counted_as_would_deny()
{
    let f = fixture_with(true, |s| s.verify.mode = VerifyMode::Report).await;
    let expired = format!("Bearer {}", f.token(json!({"exp": now() - 3600})));

    let response = f.check("/app", &[("Authorization", &expired)], &[]).await;

    assert_eq!(response.status.as_ref().map(|s| s.code), Some(0), "OK");
    let headers = set_headers(&response);
    assert_eq!(headers.get("x-auth-subject").map(String::as_str), Some(""));
    assert_eq!(headers.get("x-auth-issuer").map(String::as_str), Some(""));
    let metadata = response.dynamic_metadata.expect("dynamic metadata");
    assert_eq!(
        metadata.fields["reason"].kind,
        Some(Kind::StringValue("expired".into()))
    );
    assert_eq!(
        metadata.fields["would_deny"].kind,
        Some(Kind::BoolValue(true))
    );
    assert!(!metadata.fields.contains_key("claims"), "no identity");
    let metric = "jwtgate_verifications_total";
    let would_deny = [
        ("result", "would_deny"),
        ("reason", "expired"),
        ("transport", "grpc"),
    ];
    assert_eq!(f.app.metric(metric, &would_deny).await, 1.0);
    assert_eq!(
        f.app.metric(metric, &[("result", "invalid")]).await,
        0.0,
        "not counted as a refusal"
    );
}

#[actix_web::test]
async fn in_report_mode_a_forged_identity_header_is_still_refused_or_removed() {
    let refusing = fixture_with(true, |s| s.verify.mode = VerifyMode::Report).await;
    let response = refusing.check_with_a_forged_header().await;
    assert_eq!(denial(&response), (403, "forged_identity_header".into()));

    let removing = fixture_with(false, |s| s.verify.mode = VerifyMode::Report).await;
    let response = removing
        .check("/app", &[("x_auth_sub", "mallory")], &[])
        .await;
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!(
            "a missing token is let through: {:?}",
            response.http_response
        );
    };
    assert_eq!(
        ok.headers_to_remove,
        ["x_auth_sub"],
        "the forged header is removed"
    );
    assert_eq!(
        set_headers(&response)
            .get("x-auth-subject")
            .map(String::as_str),
        Some("")
    );
}

#[actix_web::test]
async fn a_policy_in_report_mode_reports_over_grpc_while_other_policies_enforce() {
    let f = fixture_with(true, |s| {
        s.policies.insert(
            "trial".into(),
            PolicySettings {
                scopes: vec!["admin".into()],
                mode: VerifyMode::Report,
                ..PolicySettings::default()
            },
        );
    })
    .await;
    let user = format!("Bearer {}", f.token(json!({})));
    let user_h = [("Authorization", user.as_str())];

    let reported = f.check("/app", &user_h, &[("policy", "trial")]).await;
    let enforced = f.check("/app", &user_h, &[("policy", "admin")]).await;

    assert_eq!(denial(&reported), (200, String::new()));
    assert_eq!(
        set_headers(&reported)
            .get("x-auth-subject")
            .map(String::as_str),
        Some(""),
        "no identity for a would-be refusal"
    );
    assert_eq!(denial(&enforced), (403, "insufficient_scope".into()));
    let metric = "jwtgate_verifications_total";
    let counted = |result| {
        [
            ("result", result),
            ("reason", "insufficient_scope"),
            ("transport", "grpc"),
        ]
    };
    assert_eq!(f.app.metric(metric, &counted("would_deny")).await, 1.0);
    assert_eq!(f.app.metric(metric, &counted("invalid")).await, 1.0);
}

#[actix_web::test]
async fn report_mode_grpc_series_exist_from_the_first_scrape() {
    let f = fixture_with(true, |s| s.verify.mode = VerifyMode::Report).await;

    let scrape = f.app.get("/metrics").await.body;

    let series = format!(
        r#"jwtgate_verifications_total{{issuer="{}",reason="bad_signature",result="would_deny",transport="grpc"}} 0"#,
        f.iss
    );
    assert!(scrape.as_str().unwrap().contains(&series), "{series}");
}
