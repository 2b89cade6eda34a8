//! Test harness: a real jwtgate server on a real socket, with its manual clock. The issuers it
//! trusts, the keys and the tokens come from the test kit (`jwtgate::dev`, feature
//! `test-helpers`).

use std::sync::Arc;
use std::time::Duration;

use jwtgate::clock::ManualClock;
use jwtgate::dev::{DevIssuer, DevKey};
use jwtgate::settings::Settings;
use jwtgate::startup::{Application, Dependencies};
use serde_json::Value;

/// A jwtgate server under test, with its manual clock.
pub struct TestApp {
    pub address: String,
    /// The admin listener's address, when `[admin] bind` is set.
    pub admin_address: Option<String>,
    pub clock: Arc<ManualClock>,
    pub shutdown: jwtgate::startup::ShutdownHandle,
    pub verifier: Arc<jwtgate::verify::Verifier>,
    /// The gRPC `ext_authz` port, when `[grpc] bind` is set.
    pub grpc_port: Option<u16>,
    client: awc::Client,
}

/// One answer from jwtgate.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The stable reason code of an error body.
    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or("<none>")
    }
}

/// A jwtgate under test trusting one issuer, with the key that issuer signs with.
pub struct KeyedApp {
    /// Kept serving for as long as the app is tested.
    _issuer: DevIssuer,
    pub app: TestApp,
    pub key: DevKey,
    /// The issuer's URL, the `iss` of its tokens.
    pub iss: String,
}

impl KeyedApp {
    pub fn new(issuer: DevIssuer, key: DevKey, app: TestApp) -> Self {
        let iss = issuer.issuer().to_string();
        Self {
            _issuer: issuer,
            app,
            key,
            iss,
        }
    }

    /// A token with the test kit's usual claims, each member of `extra` set over them.
    pub fn token(&self, extra: Value) -> String {
        let mut claims = jwtgate::dev::claims(&self.iss);
        for (name, value) in extra.as_object().expect("extra claims are an object") {
            claims[name] = value.clone();
        }
        self.key.sign(&claims)
    }
}

pub fn settings_for(issuers: &[&DevIssuer]) -> Settings {
    let mut toml = String::from(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[fetch]\nhttps_only = false\nallow_private_addresses = true\ntimeout_secs = 2\n",
    );
    for issuer in issuers {
        toml.push_str(&format!(
            "[[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        ));
    }
    if issuers.is_empty() {
        toml.insert_str(0, "allow_any_issuer = true\n");
    }
    Settings::from_toml(&toml).unwrap()
}

/// Starts jwtgate with these settings and waits until the startup preload of every configured
/// issuer has completed (successfully or not), so tests start from a known state.
pub async fn spawn_app(settings: Settings) -> TestApp {
    let issuers: Vec<String> = settings.issuers.iter().map(|i| i.issuer.clone()).collect();
    let (app, verifier) = spawn_app_cold(settings).await;
    wait_for_preload(&verifier, &issuers).await;
    app
}

/// Waits until every one of `issuers` has had its first fetch attempt (successful or not).
async fn wait_for_preload(verifier: &jwtgate::verify::Verifier, issuers: &[String]) {
    for issuer in issuers {
        wait_for(|| {
            verifier
                .keys()
                .issuer_status(issuer)
                .is_some_and(|s| s.fetch_attempts > 0)
        })
        .await;
    }
}

/// Polls an asynchronous condition on real state (not a timer) until it holds; panics after 10 s.
pub async fn eventually<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..2000 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition never became true");
}

/// Polls a condition on real state (not a timer) until it holds; panics after 10 s.
pub async fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..2000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition never became true");
}

/// Starts jwtgate from a configuration file, reloadable from it (`[reload]` watching as the file
/// says), and waits for the startup preload like [`spawn_app`].
pub async fn spawn_app_from_file(
    path: &std::path::Path,
) -> (TestApp, Arc<jwtgate::reload::Reloader>) {
    let settings = Settings::load(path).expect("the test file is valid");
    let issuers: Vec<String> = settings.issuers.iter().map(|i| i.issuer.clone()).collect();
    let (app, verifier, reloader) = start(settings, Some(path), None).await;
    wait_for_preload(&verifier, &issuers).await;
    (app, reloader)
}

/// Starts jwtgate without waiting for anything (its preload runs concurrently with the test).
pub async fn spawn_app_cold(settings: Settings) -> (TestApp, Arc<jwtgate::verify::Verifier>) {
    let (app, verifier, _) = start(settings, None, None).await;
    (app, verifier)
}

/// Like [`spawn_app`], with this fetcher instead of the real one.
pub async fn spawn_app_with_fetcher(
    settings: Settings,
    fetcher: Arc<dyn jwtgate::fetch::JsonFetcher>,
) -> TestApp {
    let issuers: Vec<String> = settings.issuers.iter().map(|i| i.issuer.clone()).collect();
    let (app, verifier, _) = start(settings, None, Some(fetcher)).await;
    wait_for_preload(&verifier, &issuers).await;
    app
}

async fn start(
    settings: Settings,
    file: Option<&std::path::Path>,
    fetcher: Option<Arc<dyn jwtgate::fetch::JsonFetcher>>,
) -> (
    TestApp,
    Arc<jwtgate::verify::Verifier>,
    Arc<jwtgate::reload::Reloader>,
) {
    settings.validate().expect("test settings are valid");
    let clock = Arc::new(ManualClock::new());
    let deps = Dependencies {
        clock: clock.clone(),
        fetcher,
    };
    let mut app = Application::build_with(settings, deps).expect("jwtgate starts");
    if let Some(path) = file {
        app = app.with_config_file(path);
    }
    let reloader = app.reloader().clone();
    let address = format!("http://127.0.0.1:{}", app.port());
    let grpc_port = app.grpc_port();
    let admin_address = app
        .admin_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let verifier = app.verifier().clone();
    let shutdown = app.shutdown_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    (
        TestApp {
            address,
            admin_address,
            clock,
            shutdown,
            verifier: verifier.clone(),
            grpc_port,
            client,
        },
        verifier,
        reloader,
    )
}

impl TestApp {
    /// Every issuer's last fetch error, one per line: what an operator sees in the log and in
    /// `GET /issuers`, and a client never does.
    pub fn fetch_errors(&self) -> String {
        self.verifier
            .keys()
            .statuses()
            .into_iter()
            .filter_map(|(_, status)| status.last_error.map(|e| e.to_string()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Asserts that `answer` is a 200, showing its body and every issuer's fetch error if not.
    #[track_caller]
    pub fn assert_allowed(&self, answer: &Answer) {
        assert_eq!(
            answer.status,
            200,
            "{:?} {}",
            answer.body,
            self.fetch_errors()
        );
    }

    /// Sends `method path` with optional bearer token.
    pub async fn request(
        &self,
        method: awc::http::Method,
        path: &str,
        token: Option<&str>,
    ) -> Answer {
        let authorization = token.map(|t| ("Authorization", format!("Bearer {t}")));
        self.request_with_headers(method, path, authorization.as_slice())
            .await
    }

    /// Sends `method path` with these request headers.
    pub async fn request_with_headers(
        &self,
        method: awc::http::Method,
        path: &str,
        headers: &[(&str, String)],
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.address, path));
        for (name, value) in headers {
            request = request.insert_header((*name, value.as_str()));
        }
        let mut response = request.send().await.expect("jwtgate answers");
        let bytes = response.body().limit(1 << 20).await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body,
        }
    }

    /// The same server seen through its admin listener (`[admin] bind` must be set).
    pub fn admin(&self) -> TestApp {
        TestApp {
            address: self.admin_address.clone().expect("[admin] bind is set"),
            admin_address: None,
            clock: self.clock.clone(),
            shutdown: self.shutdown.clone(),
            verifier: self.verifier.clone(),
            grpc_port: None,
            client: self.client.clone(),
        }
    }

    /// `GET /verify` with a bearer token.
    pub async fn verify(&self, token: &str) -> Answer {
        self.request(awc::http::Method::GET, "/verify", Some(token))
            .await
    }

    /// `GET path` without a token.
    pub async fn get(&self, path: &str) -> Answer {
        self.request(awc::http::Method::GET, path, None).await
    }

    /// Polls `/readyz` (a real server state, not a timer) until it answers 200.
    pub async fn wait_until_ready(&self) {
        for _ in 0..200 {
            if self.get("/readyz").await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("jwtgate never became ready");
    }

    /// The value of one Prometheus sample, e.g. `jwtgate_fetches_total{issuer="x",kind="jwks",result="ok"}`
    /// given as the metric name and its labels in any order.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self
            .get("/metrics")
            .await
            .body
            .as_str()
            .unwrap_or_default()
            .to_string();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
