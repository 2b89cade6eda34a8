//! The operator's view: the Grafana dashboard (`deploy/grafana/jwtgate.json`) and the alerting
//! rules (`deploy/prometheus/alerts.yaml`) name only metrics a running jwtgate exports, and
//! promtool accepts the rules, their unit tests, the dashboard's queries and a live scrape.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

const DASHBOARD: &str = "deploy/grafana/jwtgate.json";
const ALERTS: &str = "deploy/prometheus/alerts.yaml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yaml";

/// Grafana's interval and our issuer variable, as a Prometheus server would see them.
const GRAFANA_VARIABLES: [(&str, &str); 2] = [("$__rate_interval", "5m"), ("$issuer", ".*")];

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every `jwtgate_*` metric name mentioned in `text`.
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("jwtgate_") {
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[start + name.len()..];
        names.insert(name);
    }
    names
}

/// The sample names of a Prometheus text exposition (`_bucket`, `_sum`, `_count` included).
fn sample_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every query of the dashboard's panels.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("every target has an expr")
                .to_string()
        })
        .collect()
}

/// Runs promtool; panics with a hint when it is missing.
fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed ({e}): run scripts/install-promtool.sh (scripts/test.sh does)"
            )
        });
    let mut input = child.stdin.take().unwrap();
    if let Some(stdin) = stdin {
        std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A jwtgate that has verified good and forged tokens, skipped a JWK, failed to refresh and
/// served stale keys, so that every metric has samples; returns its `/metrics` text.
async fn scrape_of_a_busy_instance() -> String {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving_jwks(json!({"keys": [
        key.jwk(),
        {"kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0"},
    ]}))
    .await;
    let mut settings = settings_for(&[&issuer]);
    settings.cache.stale_if_error_secs = 600;
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));
    let forged = DevKey::rs256_rotated()
        .with_kid(key.kid())
        .sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(app.verify(&forged).await.reason(), "bad_signature");

    issuer.set(|b| b.status = 500);
    app.clock.advance(Duration::from_secs(settings_ttl() + 1));
    assert_eq!(app.verify(&token).await.status, 200, "stale keys serve");

    let scrape = app.get("/metrics").await.body;
    scrape.as_str().expect("text exposition").to_string()
}

fn settings_ttl() -> u64 {
    jwtgate::settings::CacheSettings::default().ttl_secs
}

#[actix_web::test]
async fn every_metric_the_dashboard_and_the_alerts_use_exists_from_the_first_scrape_of_a_quiet_instance()
 {
    let dashboard = std::fs::read_to_string(repo_file(DASHBOARD)).unwrap();
    let alerts = std::fs::read_to_string(repo_file(ALERTS)).unwrap();
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    let scrape = app.get("/metrics").await.body;
    let scrape = scrape.as_str().expect("text exposition");

    let exported = sample_names(scrape);
    let labelled_by_issuer = [
        "jwtgate_verifications_total",
        "jwtgate_fetches_total",
        "jwtgate_jwks_keys_skipped_total",
        "jwtgate_stale_keys_served_total",
    ];
    for name in labelled_by_issuer {
        assert!(exported.contains(name), "{name} missing before any traffic");
    }
    let used: BTreeSet<String> = metric_names_in(&dashboard)
        .into_iter()
        .chain(metric_names_in(&alerts))
        .filter(|name| labelled_by_issuer.contains(&name.as_str()))
        .collect();
    assert!(
        !used.is_empty(),
        "the dashboard and alerts use issuer series"
    );
    let issuer_label = format!("issuer=\"{}\"", issuer.issuer());
    for series in [
        "jwtgate_jwks_keys_skipped_total{",
        "jwtgate_stale_keys_served_total{",
        "jwtgate_verifications_total{",
    ] {
        assert!(
            scrape
                .lines()
                .any(|l| l.starts_with(series) && l.contains(&issuer_label) && l.ends_with(" 0")),
            "no zero {series}..}} series for the configured issuer in\n{scrape}"
        );
    }
    assert!(scrape.contains("reason=\"weak_key\""), "{scrape}");
    assert!(scrape.contains("reason=\"keys_unavailable\""), "{scrape}");
}

#[actix_web::test]
async fn every_metric_the_dashboard_and_the_alerts_use_is_exported_by_a_running_instance() {
    let dashboard = std::fs::read_to_string(repo_file(DASHBOARD)).unwrap();
    let alerts = std::fs::read_to_string(repo_file(ALERTS)).unwrap();
    let used: BTreeSet<String> = metric_names_in(&dashboard)
        .into_iter()
        .chain(metric_names_in(&alerts))
        .collect();

    let exported = sample_names(&scrape_of_a_busy_instance().await);

    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "not exported: {unknown:?}\nexported: {exported:?}"
    );
    for needed in [
        "jwtgate_verifications_total",
        "jwtgate_verification_duration_seconds_bucket",
        "jwtgate_key_cache_lookups_total",
        "jwtgate_fetches_total",
        "jwtgate_fetch_duration_seconds_bucket",
        "jwtgate_issuer_keys",
        "jwtgate_issuer_keys_age_seconds",
        "jwtgate_stale_keys_served_total",
        "jwtgate_verified_token_cache_lookups_total",
        "jwtgate_config_reloads_total",
        "jwtgate_config_last_reload_successful",
    ] {
        assert!(
            metric_names_in(&dashboard).contains(needed),
            "the dashboard shows {needed}"
        );
    }
    let queries = dashboard_queries(&serde_json::from_str(&dashboard).unwrap());
    for wanted in ["result=\"would_deny\"", "sum by (issuer, result)"] {
        assert!(
            queries.iter().any(|q| q.contains(wanted)),
            "a dashboard panel shows {wanted}"
        );
    }
}

#[actix_web::test]
async fn promtool_accepts_a_live_scrape_of_metrics() {
    let scrape = scrape_of_a_busy_instance().await;

    let output = promtool(&["check", "metrics"], Some(&scrape));

    assert_success("promtool check metrics", &output);
}

#[test]
fn promtool_accepts_the_alerting_rules_and_their_unit_tests_pass() {
    assert_success(
        "promtool check rules",
        &promtool(
            &["check", "rules", repo_file(ALERTS).to_str().unwrap()],
            None,
        ),
    );
    assert_success(
        "promtool test rules",
        &promtool(
            &["test", "rules", repo_file(ALERT_TESTS).to_str().unwrap()],
            None,
        ),
    );
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(DASHBOARD)).unwrap()).unwrap();
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    // promtool parses PromQL when checking rules: wrap each query in a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, query) in queries.iter().enumerate() {
        let mut query = query.clone();
        for (variable, value) in GRAFANA_VARIABLES {
            query = query.replace(variable, value);
        }
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&query).unwrap()
        ));
    }
    let path = std::env::temp_dir().join(format!(
        "jwtgate-dashboard-rules-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&path, rules).unwrap();

    let output = promtool(&["check", "rules", path.to_str().unwrap()], None);

    assert_success("promtool check rules (dashboard queries)", &output);
}

#[test]
fn promtool_accepts_the_prometheus_scrape_config_and_the_rules_it_loads() {
    let config = repo_file("deploy/prometheus/prometheus.yaml");
    let output = promtool(&["check", "config", config.to_str().unwrap()], None);
    assert_success("promtool check config", &output);
    let text = std::fs::read_to_string(&config).unwrap();
    let service =
        std::fs::read_to_string(repo_file("deploy/kubernetes/admin-service.yaml")).unwrap();
    assert!(
        text.contains("_admin._tcp.jwtgate-admin.") && service.contains("name: jwtgate-admin"),
        "Prometheus scrapes the admin listener through the headless admin Service"
    );
}
