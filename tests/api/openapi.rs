//! `docs/openapi.yaml` is the truth about the HTTP API: a running jwtgate produces every status
//! and header it documents, and serves nothing it does not document.

use std::collections::{BTreeMap, BTreeSet};

use awc::http::Method;
use serde_json::Value;

use crate::helpers::{Answer, TestApp, settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

const OPENAPI: &str = "docs/openapi.yaml";

/// The admin token of the app under test.
const ADMIN_TOKEN: &str = "an-admin-token-for-the-openapi-test";

/// Every method an HTTP client might try.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
];

/// Paths no operation documents: each must answer 404 for every method.
const UNDOCUMENTED_PATHS: [&str; 8] = [
    "/",
    "/verify2",
    "/keys",
    "/healthz/x",
    "/metrics.json",
    "/admin",
    "/issuers/x",
    "/.well-known/openid-configuration",
];

/// The parts of the document the test needs: (path template, method) -> status -> headers.
struct Documented {
    operations: BTreeMap<(String, String), BTreeMap<u16, Vec<String>>>,
}

impl Documented {
    fn load() -> Self {
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(OPENAPI))
                .unwrap();
        let doc: Value = serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["info"]["version"],
            env!("CARGO_PKG_VERSION"),
            "the document describes this version"
        );
        let resolve = |value: &Value| -> Value {
            match value["$ref"].as_str() {
                Some(reference) => reference
                    .trim_start_matches("#/")
                    .split('/')
                    .fold(&doc, |node, part| &node[part])
                    .clone(),
                None => value.clone(),
            }
        };
        let mut operations = BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(operation) = item.get(method.to_ascii_lowercase()) else {
                    continue;
                };
                let mut statuses = BTreeMap::new();
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let response = resolve(response);
                    assert!(
                        response["description"].is_string(),
                        "{path} {method} {status}"
                    );
                    let headers = response["headers"]
                        .as_object()
                        .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
                        .unwrap_or_default();
                    statuses.insert(status.parse::<u16>().unwrap(), headers);
                }
                operations.insert((path.clone(), method.to_string()), statuses);
            }
        }
        Self { operations }
    }

    /// The documented path template a concrete path falls under (`{path}` takes the rest).
    fn template_of(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap();
        self.operations
            .keys()
            .map(|(template, _)| template)
            .find(|template| match template.split_once('{') {
                None => *template == path,
                Some((prefix, _)) => path.len() > prefix.len() && path.starts_with(prefix),
            })
            .cloned()
    }
}

/// One request of a scenario, and what it must answer.
struct Probe {
    method: &'static str,
    path: String,
    bearer: Option<String>,
    status: u16,
}

fn probe(method: &'static str, path: &str, bearer: Option<&str>, status: u16) -> Probe {
    Probe {
        method,
        path: path.to_string(),
        bearer: bearer.map(str::to_string),
        status,
    }
}

async fn send(app: &TestApp, probe: &Probe) -> Answer {
    let method = Method::from_bytes(probe.method.as_bytes()).unwrap();
    app.request(method, &probe.path, probe.bearer.as_deref())
        .await
}

#[actix_web::test]
async fn the_server_produces_every_documented_status_and_header_and_nothing_undocumented() {
    let documented = Documented::load();
    let (key, scoped_key) = (DevKey::rs256(), DevKey::es256());
    let (issuer, scoped, down) = (
        DevIssuer::serving(&[&key]).await,
        DevIssuer::serving(&[&scoped_key]).await,
        DevIssuer::serving(&[&DevKey::eddsa()]).await,
    );
    down.set(|b| b.status = 500);
    let mut settings = settings_for(&[&issuer, &scoped]);
    settings.issuers[1].required_scopes = vec!["api:admin".into()];
    settings.admin.token = ADMIN_TOKEN.into();
    settings
        .policies
        .insert("open".into(), jwtgate::settings::PolicySettings::default());
    settings.routes.push(jwtgate::settings::RouteSettings {
        paths: vec!["/app/*".into()],
        policy: "open".into(),
        ..Default::default()
    });
    settings.resource_metadata.resource = Some("https://api.example.com".parse().unwrap());
    let app = spawn_app(settings).await;
    let mut outage_settings = settings_for(&[&down]);
    outage_settings
        .policies
        .insert("open".into(), jwtgate::settings::PolicySettings::default());
    let outage = spawn_app(outage_settings).await;

    let good = key.sign(&claims(issuer.issuer()));
    let expired = {
        let mut c = claims(issuer.issuer());
        c["exp"] = (jwtgate::dev::now() - 3600).into();
        key.sign(&c)
    };
    let unscoped = scoped_key.sign(&claims(scoped.issuer()));
    let unavailable = DevKey::eddsa().sign(&claims(down.issuer()));
    let untrusted = key.sign(&claims("https://not-configured.example"));
    let unknown_kid = key.with_kid("nope").sign(&claims(issuer.issuer()));
    let admin = Some(ADMIN_TOKEN);
    let iss = urlencode(issuer.issuer());

    let mut on_app = vec![
        probe("GET", "/healthz", None, 200),
        probe("GET", "/readyz", None, 200),
        probe("GET", "/metrics", None, 200),
        probe("GET", "/.well-known/oauth-protected-resource", None, 200),
        probe("GET", "/key", Some(&good), 200),
        probe("GET", &format!("/key?iss={iss}&kid=rsa-1"), None, 200),
        probe("GET", "/key", None, 400),
        probe("GET", &format!("/key?iss={iss}"), None, 400),
        probe("GET", "/key", Some(&untrusted), 403),
        probe("GET", "/key", Some(&unknown_kid), 404),
        probe("GET", "/issuers", admin, 200),
        probe("GET", "/issuers", None, 401),
        probe("POST", "/issuers/refresh", admin, 200),
        probe("POST", "/issuers/refresh?bogus=1", admin, 400),
        probe("POST", "/issuers/refresh", Some("wrong"), 401),
        probe(
            "POST",
            "/issuers/refresh?issuer=https%3A%2F%2Fnobody.example",
            admin,
            404,
        ),
    ];
    for path in [
        "/verify",
        "/verify/app/page",
        "/policy/open",
        "/policy/open/app",
    ] {
        on_app.extend([
            probe("GET", path, Some(&good), 200),
            probe("HEAD", path, Some(&good), 200),
            probe("POST", path, Some(&good), 200),
            probe("PATCH", path, None, 401),
            probe("DELETE", path, Some(&expired), 401),
            probe("PUT", path, Some(&unscoped), 403),
            probe("GET", &format!("{path}?claim.a..b=x"), Some(&good), 400),
        ]);
    }
    on_app.extend([
        probe("GET", "/verify/app/../admin", Some(&good), 400),
        probe("GET", "/policy/nope", Some(&good), 404),
    ]);
    let mut on_outage = vec![
        probe("GET", "/readyz", None, 503),
        probe("GET", "/key", Some(&unavailable), 503),
        probe("GET", "/issuers", None, 404),
        probe("GET", "/.well-known/oauth-protected-resource", None, 404),
    ];
    for path in ["/verify", "/verify/app/page", "/policy/open"] {
        on_outage.push(probe("OPTIONS", path, Some(&unavailable), 503));
    }

    // (template, status) -> headers seen in any answer.
    let mut seen: BTreeMap<(String, u16), BTreeSet<String>> = BTreeMap::new();
    for (target, probes) in [(&app, &on_app), (&outage, &on_outage)] {
        for probe in probes {
            let answer = send(target, probe).await;
            let what = format!("{} {}", probe.method, probe.path);
            assert_eq!(answer.status, probe.status, "{what}: {:?}", answer.body);
            let template = documented
                .template_of(&probe.path)
                .unwrap_or_else(|| panic!("{what} is not documented"));
            let statuses = documented
                .operations
                .get(&(template.clone(), probe.method.to_string()))
                .unwrap_or_else(|| panic!("{what}: {} is not documented", probe.method));
            let headers = statuses
                .get(&answer.status)
                .unwrap_or_else(|| panic!("{what}: status {} is not documented", answer.status));
            for header in headers {
                let required = !matches!(header.as_str(), "x-auth-subject");
                if required {
                    assert!(
                        answer.header(header).is_some(),
                        "{what}: documented header {header} missing"
                    );
                }
            }
            seen.entry((template, answer.status))
                .or_default()
                .extend(answer.headers.keys().map(|h| h.as_str().to_string()));
        }
    }

    for ((template, method), statuses) in &documented.operations {
        for (status, headers) in statuses {
            let Some(observed) = seen.get(&(template.clone(), *status)) else {
                panic!("{method} {template} never answered its documented {status}");
            };
            for header in headers {
                assert!(
                    observed.contains(header),
                    "{template} {status}: documented header {header} never sent"
                );
            }
        }
    }

    for path in documented
        .operations
        .keys()
        .map(|(template, _)| template.replace("{path}", "x"))
        .chain(UNDOCUMENTED_PATHS.map(str::to_string))
        .collect::<BTreeSet<_>>()
    {
        for method in METHODS {
            let template = documented.template_of(&path);
            let is_documented = template.as_ref().is_some_and(|t| {
                documented
                    .operations
                    .contains_key(&(t.clone(), method.to_string()))
            });
            if is_documented {
                continue;
            }
            let answer = send(&app, &probe(method, &path, admin, 0)).await;
            assert!(
                matches!(answer.status, 404 | 405),
                "{method} {path} is served ({}) but not documented",
                answer.status
            );
        }
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
