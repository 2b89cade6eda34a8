//! Policies: `/policy/NAME`, `[[routes]]` on `/verify` for each proxy's way of describing the
//! original request, query requirements, and the tricks that try to reach a weaker policy.

use awc::http::Method;
use serde_json::json;

use crate::helpers::{Answer, KeyedApp, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};
use jwtgate::settings::Settings;

/// Two policies, `admin` (scope admin, role admin) and `public` (nothing more), and routes that
/// send `/admin/*` to admin and everything else to public.
fn settings(issuer: &DevIssuer, unmatched: &str, catch_all: bool) -> Settings {
    let catch_all = if catch_all {
        "[[routes]]\npaths = [\"/*\"]\npolicy = \"public\"\n"
    } else {
        ""
    };
    Settings::from_toml(&format!(
        r#"
[server]
bind = "127.0.0.1:0"
workers = 1
[fetch]
https_only = false
allow_private_addresses = true
[verify]
unmatched_routes = "{unmatched}"
[[issuers]]
issuer = "{iss}"
audiences = ["my-api", "admin-api"]
[policies.admin]
issuers = ["{iss}"]
scopes = ["admin"]
claims = {{ "realm_access.roles" = ["admin"] }}
[policies.tenant]
claims = {{ tid = ["1234"] }}
headers = {{ tid = "X-Auth-Tenant", "org.unit" = "X-Auth-Unit" }}
[policies.public]
[[routes]]
paths = ["/admin/*"]
policy = "admin"
[[routes]]
paths = ["/billing/*"]
methods = ["POST"]
hosts = ["api.example.com"]
policy = "tenant"
{catch_all}"#,
        iss = issuer.issuer()
    ))
    .unwrap()
}

/// The app under test, its issuer and key.
type Fixture = KeyedApp;

async fn fixture(unmatched: &str, catch_all: bool) -> Fixture {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings(&issuer, unmatched, catch_all)).await;
    Fixture::new(issuer, key, app)
}

impl Fixture {
    fn admin(&self) -> String {
        self.token(json!({"scope": "admin", "realm_access": {"roles": ["admin"]}}))
    }

    fn user(&self) -> String {
        self.token(json!({"scope": "api:read", "realm_access": {"roles": ["user"]}}))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut all: Vec<(&str, String)> = vec![("Authorization", format!("Bearer {token}"))];
        all.extend(headers.iter().map(|(n, v)| (*n, v.to_string())));
        self.app.request_with_headers(method, path, &all).await
    }

    async fn get(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> Answer {
        self.call(Method::GET, path, token, headers).await
    }
}

fn outcome(answer: &Answer) -> String {
    if answer.status == 200 {
        "200".into()
    } else {
        format!("{} {}", answer.status, answer.reason())
    }
}

#[actix_web::test]
async fn a_named_policy_admits_a_token_that_meets_it_and_refuses_a_failed_claim_rule_with_403() {
    let f = fixture("default", true).await;
    let no_role = f.token(json!({"scope": "admin", "realm_access": {"roles": ["user"]}}));

    let admitted = f.get("/policy/admin", &f.admin(), &[]).await;
    let refused = f.get("/policy/admin", &no_role, &[]).await;

    assert_eq!(outcome(&admitted), "200", "{:?}", admitted.body);
    assert_eq!(outcome(&refused), "403 claim_mismatch");
    assert_eq!(refused.body["error"], "insufficient_scope");
    assert!(
        refused
            .header("www-authenticate")
            .is_some_and(|c| c.contains("error=\"insufficient_scope\"")),
        "{:?}",
        refused.headers
    );
}

#[actix_web::test]
async fn a_missing_policy_scope_is_403_insufficient_scope_listing_what_is_missing() {
    let f = fixture("default", true).await;

    let answer = f.get("/policy/admin?scope=audit", &f.user(), &[]).await;

    assert_eq!(outcome(&answer), "403 insufficient_scope");
    let challenge = answer.header("www-authenticate").unwrap();
    assert!(challenge.contains("scope=\"admin audit\""), "{challenge}");
}

#[actix_web::test]
async fn an_unknown_policy_is_404_unknown_policy_and_never_the_default() {
    let f = fixture("default", true).await;

    for path in [
        "/policy/nope",
        "/policy/Admin",
        "/policy/ad%6Din",
        "/policy/nope/admin",
    ] {
        let answer = f.get(path, &f.admin(), &[]).await;
        assert_eq!(outcome(&answer), "404 unknown_policy", "{path}");
    }
    assert_eq!(f.get("/policy/", &f.admin(), &[]).await.status, 404);
    assert_eq!(
        outcome(&f.get("/policy/admin/any/suffix", &f.admin(), &[]).await),
        "200"
    );
}

#[actix_web::test]
async fn routes_choose_the_policy_from_each_proxys_description_of_the_original_request() {
    let f = fixture("default", true).await;
    let user = f.user();

    let envoy = f.get("/verify/admin/users?page=2", &user, &[]).await;
    let nginx = f
        .get(
            "/verify",
            &user,
            &[
                ("X-Original-URI", "/admin/users"),
                ("X-Original-Method", "GET"),
            ],
        )
        .await;
    let traefik = f
        .get(
            "/verify",
            &user,
            &[
                ("X-Forwarded-Uri", "/admin/users"),
                ("X-Forwarded-Method", "GET"),
            ],
        )
        .await;
    let public = f.get("/verify/public/page", &user, &[]).await;

    for answer in [&envoy, &nginx, &traefik] {
        assert_eq!(outcome(answer), "403 insufficient_scope");
    }
    assert_eq!(outcome(&public), "200");
    assert_eq!(
        outcome(&f.get("/verify/admin/users", &f.admin(), &[]).await),
        "200"
    );
}

#[actix_web::test]
async fn a_route_rule_matches_on_host_and_method_too() {
    let f = fixture("default", true).await;
    let other_tenant = f.token(json!({"tid": "9999"}));
    let billing = |method: &'static str, host: &'static str| {
        [
            ("X-Forwarded-Uri", "/billing/invoices"),
            ("X-Forwarded-Method", method),
            ("X-Forwarded-Host", host),
        ]
    };

    let guarded = f
        .get(
            "/verify",
            &other_tenant,
            &billing("POST", "API.example.com:443"),
        )
        .await;
    let other_method = f
        .get("/verify", &other_tenant, &billing("GET", "api.example.com"))
        .await;
    let other_host = f
        .get(
            "/verify",
            &other_tenant,
            &billing("POST", "www.example.com"),
        )
        .await;

    assert_eq!(outcome(&guarded), "403 claim_mismatch");
    assert_eq!(outcome(&other_method), "200");
    assert_eq!(outcome(&other_host), "200");
}

#[actix_web::test]
async fn path_tricks_are_400_invalid_path_whichever_proxy_carries_them() {
    let f = fixture("default", true).await;
    let user = f.user();

    for trick in [
        "/public/../admin/users",
        "/public/%2e%2e/admin/users",
        "/public/%2E%2E%2Fadmin",
        "/public%2fadmin",
        "/public/..%5cadmin",
        "/admin;x=1/users",
    ] {
        let envoy = f.get(&format!("/verify{trick}"), &user, &[]).await;
        let nginx = f.get("/verify", &user, &[("X-Original-URI", trick)]).await;
        let traefik = f.get("/verify", &user, &[("X-Forwarded-Uri", trick)]).await;
        for answer in [envoy, nginx, traefik] {
            assert_eq!(outcome(&answer), "400 invalid_path", "{trick}");
        }
    }
    for disguise in ["/ADMIN/users", "//admin/users", "/%61dmin/users", "/admin"] {
        let answer = f
            .get("/verify", &user, &[("X-Original-URI", disguise)])
            .await;
        assert_eq!(outcome(&answer), "403 insufficient_scope", "{disguise}");
    }
}

#[actix_web::test]
async fn a_client_added_or_repeated_description_is_400_ambiguous_request() {
    let f = fixture("default", true).await;
    let user = f.user();

    let added_to_traefik = f
        .get(
            "/verify",
            &user,
            &[
                ("X-Forwarded-Uri", "/admin/users"),
                ("X-Original-URI", "/public"),
            ],
        )
        .await;
    let added_to_envoy = f
        .get(
            "/verify/admin/users",
            &user,
            &[("X-Forwarded-Uri", "/public")],
        )
        .await;
    let single = f
        .app
        .request_with_headers(
            Method::GET,
            "/verify",
            &[
                ("Authorization", format!("Bearer {user}")),
                ("X-Original-URI", "/public".into()),
            ],
        )
        .await;
    assert_eq!(outcome(&single), "200", "one description is fine");
    let mut request = awc::Client::default()
        .get(format!("{}/verify", f.app.address))
        .insert_header(("Authorization", format!("Bearer {user}")));
    request = request
        .append_header(("X-Original-URI", "/admin/users"))
        .append_header(("X-Original-URI", "/public"));
    let twice = request.send().await.unwrap();

    assert_eq!(outcome(&added_to_traefik), "400 ambiguous_request");
    assert_eq!(outcome(&added_to_envoy), "400 ambiguous_request");
    assert_eq!(twice.status().as_u16(), 400);
}

#[actix_web::test]
async fn with_unmatched_routes_deny_a_request_no_rule_matches_is_403() {
    let f = fixture("deny", false).await;

    let unmatched = f.get("/verify/elsewhere", &f.admin(), &[]).await;
    let undescribed = f.get("/verify", &f.admin(), &[]).await;
    let matched = f.get("/verify/admin", &f.admin(), &[]).await;

    assert_eq!(outcome(&unmatched), "403 unmatched_route");
    assert_eq!(outcome(&undescribed), "403 unmatched_route");
    assert_eq!(outcome(&matched), "200");
}

#[actix_web::test]
async fn query_requirements_narrow_and_an_appended_query_never_relaxes() {
    let f = fixture("default", true).await;
    let tenant = f.token(json!({"tid": "1234", "aud": ["my-api", "billing"]}));

    let cases = [
        ("/policy/public?aud=billing", "200"),
        ("/policy/public?aud=other,billing", "200"),
        ("/policy/public?aud=other", "401 wrong_audience"),
        ("/policy/public?claim.tid=1234", "200"),
        ("/policy/public?claim.tid=1%2C234", "403 claim_mismatch"),
        ("/policy/public?claim.tid=", "200"),
        ("/policy/public?claim.nope=", "403 claim_mismatch"),
        ("/policy/public?scope=api:read+api:write", "200"),
        (
            "/policy/public?scope=api:read&scope=admin",
            "403 insufficient_scope",
        ),
        (
            "/policy/public?iss=https%3A%2F%2Fother.example",
            "401 untrusted_issuer",
        ),
        ("/policy/tenant?claim.tid=9999", "403 claim_mismatch"),
        ("/policy/public?claim.a..b=x", "400 invalid_requirement"),
        ("/policy/public?page=2&sort=asc", "200"),
        // Envoy appends the client's query: it can add requirements, never remove the route's.
        (
            "/verify/admin/users?scope=&claim.realm_access.roles=",
            "403 insufficient_scope",
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(
            outcome(&f.get(path, &tenant, &[]).await),
            expected,
            "{path}"
        );
    }
    let iss = urlencode(&f.iss);
    assert_eq!(
        outcome(
            &f.get(&format!("/policy/public?iss={iss}"), &tenant, &[])
                .await
        ),
        "200"
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn without_routes_verify_keeps_its_meaning_and_ignores_the_path() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(crate::helpers::settings_for(&[&issuer])).await;
    let token = key.sign(&claims(issuer.issuer()));

    for path in ["/verify", "/verify/a/../b", "/verify/x%2fy"] {
        assert_eq!(
            app.request(Method::GET, path, Some(&token)).await.status,
            200,
            "{path}"
        );
    }
}

#[actix_web::test]
async fn a_policys_headers_carry_its_claims_and_are_on_every_200_empty_elsewhere() {
    let f = fixture("default", true).await;
    let tenant = f.token(json!({"tid": "1234", "org": {"unit": "billing"}}));

    let under_tenant = f.get("/policy/tenant", &tenant, &[]).await;
    let under_public = f.get("/policy/public", &tenant, &[]).await;

    assert_eq!(outcome(&under_tenant), "200");
    assert_eq!(under_tenant.header("x-auth-tenant"), Some("1234"));
    assert_eq!(under_tenant.header("x-auth-unit"), Some("billing"));
    assert_eq!(outcome(&under_public), "200");
    assert_eq!(
        under_public.header("x-auth-tenant"),
        Some(""),
        "sent empty under another policy, so a proxy overwrites a client's copy"
    );
    assert_eq!(under_public.header("x-auth-unit"), Some(""));
}
