use serde_json::json;

use super::*;

const A: &str = "https://a.example";
const B: &str = "https://b.example";

fn config() -> PolicyConfig {
    PolicyConfig {
        policies: vec![
            NamedPolicyConfig {
                name: "admin".into(),
                issuers: vec![A.into()],
                audiences: vec!["admin-api".into()],
                scopes: vec!["admin".into(), "read".into()],
                claims: vec![("realm_access.roles".into(), vec!["admin".into()])],
                headers: vec![("realm_access.roles".into(), "X-Auth-Roles".into())],
                report_only: false,
            },
            NamedPolicyConfig {
                name: "public".into(),
                ..NamedPolicyConfig::default()
            },
        ],
        routes: vec![
            RouteConfig {
                paths: vec!["/admin/*".into()],
                methods: vec!["post".into(), "DELETE".into()],
                policy: "admin".into(),
                ..RouteConfig::default()
            },
            RouteConfig {
                paths: vec!["/admin/*".into(), "/internal/*".into()],
                hosts: vec!["*.corp.example".into()],
                policy: "admin".into(),
                ..RouteConfig::default()
            },
            RouteConfig {
                paths: vec!["/*".into()],
                policy: "public".into(),
                ..RouteConfig::default()
            },
        ],
        unmatched_routes: UnmatchedRoutes::Default,
    }
}

fn policies(config: PolicyConfig) -> Policies {
    Policies::new(config, |iss| iss == A || iss == B).unwrap()
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn admin_claims() -> Value {
    json!({"iss": A, "aud": ["my-api", "admin-api"], "scope": "read admin", "realm_access": {"roles": ["admin"]}})
}

fn reason(result: Result<(), Rejection>) -> &'static str {
    result.err().map_or("ok", |r| r.reason())
}

#[test]
fn a_named_policy_checks_issuer_audience_scopes_and_claims() {
    let admin = policies(config()).named("admin").unwrap();
    let check = |issuer: &str, claims_: Value| reason(admin.check(issuer, &claims(claims_)));

    assert_eq!(check(A, admin_claims()), "ok");
    assert_eq!(check(B, admin_claims()), "untrusted_issuer");
    let mut wrong_aud = admin_claims();
    wrong_aud["aud"] = json!("my-api");
    assert_eq!(check(A, wrong_aud), "wrong_audience");
    let mut no_role = admin_claims();
    no_role["realm_access"]["roles"] = json!(["user"]);
    assert_eq!(check(A, no_role), "claim_mismatch");
}

#[test]
fn a_missing_scope_is_insufficient_scope_listing_every_missing_one() {
    let admin = policies(config()).named("admin").unwrap();
    let mut token = admin_claims();
    token["scope"] = json!("openid");

    let rejection = admin.check(A, &claims(token)).unwrap_err();

    assert_eq!(
        rejection,
        Rejection::InsufficientScope {
            missing: vec!["admin".into(), "read".into()]
        }
    );
}

#[test]
fn query_requirements_add_to_the_policy_and_never_relax_it() {
    let admin = policies(config()).named("admin").unwrap();
    let mut requirements = admin.requirements.clone();
    requirements.extend(query::requirements("aud=other&scope=&claim.x=").unwrap());

    assert_eq!(
        reason(check_all(&requirements, A, &claims(admin_claims()))),
        "wrong_audience",
        "aud=other is one more requirement, not a replacement of admin-api"
    );
    let public = policies(config()).named("public").unwrap();
    let mut requirements = public.requirements.clone();
    requirements.extend(query::requirements("scope=write+read&scope=admin").unwrap());
    assert_eq!(
        check_all(&requirements, A, &claims(json!({"scope": "read"}))),
        Err(Rejection::InsufficientScope {
            missing: vec!["write".into(), "admin".into()]
        })
    );
}

#[test]
fn an_unknown_policy_name_is_unknown_policy_never_a_default() {
    let all = policies(config());

    for name in ["nope", "Admin", "admin ", "", "admin/x"] {
        assert_eq!(
            all.named(name).unwrap_err().reason(),
            "unknown_policy",
            "{name:?}"
        );
    }
}

fn route(all: &Policies, uri: &str, host: Option<&str>, method: Option<&str>) -> String {
    match all.for_request(&OriginalRequest {
        uri: Some(uri),
        host,
        method,
    }) {
        Ok(Some(policy)) => policy.name.to_string(),
        Ok(None) => "default".into(),
        Err(e) => e.reason().into(),
    }
}

#[test]
fn the_first_matching_route_wins_on_path_host_and_method() {
    let all = policies(config());

    assert_eq!(route(&all, "/admin/users", None, Some("POST")), "admin");
    assert_eq!(route(&all, "/admin/users", None, Some("delete")), "admin");
    assert_eq!(route(&all, "/admin/users", None, Some("GET")), "public");
    assert_eq!(
        route(
            &all,
            "/admin/users",
            Some("x.CORP.example:443"),
            Some("GET")
        ),
        "admin"
    );
    assert_eq!(
        route(&all, "/internal", Some("corp.example"), Some("GET")),
        "public"
    );
    assert_eq!(route(&all, "/anything", None, Some("GET")), "public");
}

#[test]
fn path_tricks_never_reach_a_weaker_route() {
    let all = policies(config());

    for uri in [
        "/public/../admin/users",
        "/public/%2e%2e/admin/users",
        "/public%2f..%2fadmin",
        "/public\\..\\admin",
        "/admin;/users",
    ] {
        assert_eq!(
            route(&all, uri, None, Some("POST")),
            "invalid_path",
            "{uri}"
        );
    }
    for uri in ["/ADMIN/users", "//admin//users", "/%61dmin/users", "/admin"] {
        assert_eq!(route(&all, uri, None, Some("POST")), "admin", "{uri}");
    }
}

#[test]
fn a_rule_that_needs_the_method_refuses_a_request_without_one() {
    let all = policies(config());

    assert_eq!(route(&all, "/admin/x", None, None), "ambiguous_request");
}

#[test]
fn unmatched_requests_get_the_default_or_a_denial() {
    let mut cfg = config();
    cfg.routes.pop();
    let default = policies(cfg.clone());
    cfg.unmatched_routes = UnmatchedRoutes::Deny;
    let deny = policies(cfg);

    assert_eq!(route(&default, "/other", None, Some("GET")), "default");
    assert_eq!(route(&deny, "/other", None, Some("GET")), "unmatched_route");
    assert_eq!(
        deny.for_request(&OriginalRequest::default()).unwrap_err(),
        PolicyError::UnmatchedRoute,
        "no original request at all is unmatched"
    );
}

/// A change to the test configuration.
type Change = Box<dyn Fn(&mut PolicyConfig)>;

#[test]
fn bad_configurations_name_their_key() {
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|c| c.policies[0].name = "a/b".into()),
            "policies.a/b",
        ),
        (
            Box::new(|c| c.policies[0].issuers = vec!["https://evil.example".into()]),
            "policies.admin.issuers",
        ),
        (
            Box::new(|c| c.policies[0].claims = vec![("a..b".into(), vec![])]),
            "policies.admin.claims",
        ),
        (
            Box::new(|c| c.policies[0].scopes = vec!["a b".into()]),
            "policies.admin.scopes",
        ),
        (
            Box::new(|c| c.policies[0].audiences = vec![String::new()]),
            "policies.admin.audiences",
        ),
        (
            Box::new(|c| c.routes[0].policy = "nope".into()),
            "routes[0].policy",
        ),
        (
            Box::new(|c| c.routes[1].paths = vec!["/a/../b".into()]),
            "routes[1].paths",
        ),
        (Box::new(|c| c.routes[1].paths = vec![]), "routes[1].paths"),
        (
            Box::new(|c| c.routes[1].hosts = vec!["a:80".into()]),
            "routes[1].hosts",
        ),
        (
            Box::new(|c| c.routes[0].methods = vec!["GET POST".into()]),
            "routes[0].methods",
        ),
    ];
    for (change, key) in cases {
        let mut cfg = config();
        change(&mut cfg);
        let error = Policies::new(cfg, |iss| iss == A).unwrap_err();
        assert_eq!(error.key, key, "{error}");
    }
}
