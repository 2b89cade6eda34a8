//! The pieces every end-to-end test starts: test issuers, the real jwtgate binary, an echoing
//! upstream, and a proxy process built from a `deploy/` file.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use jwtgate::dev::{DevIssuer, DevKey, claims};

/// How long a process may take to start answering as expected.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// Interval between two polls of a process that is starting.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The audience every e2e token is minted for and jwtgate requires.
pub const AUDIENCE: &str = "my-api";

/// The scope jwtgate requires of the trusted issuer's tokens.
pub const REQUIRED_SCOPE: &str = "api:read";

/// A port that was free a moment ago (the kernel picks it; the listener is closed at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A scratch directory for one test's config files and logs, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "jwtgate-e2e-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self { dir }
    }

    /// Writes `contents` to `name` in the scratch directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads `deploy/<file>` and rewrites each `(from, to)`; `from` must occur exactly once, so a
/// change to the example that the test would no longer cover fails loudly.
pub fn deploy_file(file: &str, rewrites: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    for (from, to) in rewrites {
        let count = text.matches(from).count();
        assert_eq!(
            count, 1,
            "deploy/{file} should contain {from:?} exactly once (found {count})"
        );
        text = text.replace(from, to);
    }
    text
}

/// Finds a proxy's executable on PATH (or in `extra_dirs`), or fails the test with how to get it.
pub fn executable(name: &str, extra_dirs: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run scripts/install-test-deps.sh (scripts/test.sh does)"
            )
        })
}

/// A child process killed when dropped, its output in a log file.
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with stdout and stderr going to `<scratch>/<name>.log`.
    pub fn spawn(name: &str, mut command: Command, scratch: &Scratch) -> Self {
        let log = scratch.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// The process's output so far (for failure messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}) while starting:\n{}",
                self.name,
                self.output()
            );
        }
    }
}

impl Process {
    /// Kills the process and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, or `Null`.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A plain HTTP client for the tests.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .disable_redirects()
        .finish()
}

/// Sends a GET with extra headers and reads the whole answer.
pub async fn get(client: &awc::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = response.body().limit(1 << 20).await.expect("body");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends `GET <path>` to `127.0.0.1:<port>` over a plain socket, header names written exactly as
/// given (an HTTP client library would normalise their case), and reads the whole answer.
pub async fn get_verbatim(port: u16, path: &str, headers: &[(&str, &str)]) -> Answer {
    use awc::http::header::{HeaderMap, HeaderName, HeaderValue};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        std::io::Result::Ok(raw)
    };
    let raw = actix_web::rt::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path} on port {port}: no answer within 10 s"))
        .unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"));
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: not an HTTP answer: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: no status line: {raw:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.trim()),
                HeaderValue::from_str(value.trim()),
            )
        {
            headers.append(name, value);
        }
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The payload of a chunked body (extensions and trailers ignored).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = size.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `probe` until it returns true, failing with `process`'s output after
/// [`STARTUP_DEADLINE`]. Polls real state: a port that answers, a route that works.
pub async fn wait_until<F, Fut>(process: &mut Process, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < STARTUP_DEADLINE {
        process.assert_running();
        if probe().await {
            return;
        }
        actix_web::rt::time::sleep(POLL_INTERVAL).await;
    }
    panic!(
        "{} never got to {what} within {STARTUP_DEADLINE:?}:\n{}",
        process.name,
        process.output()
    );
}

/// Asks `url` and reports whether it answered at all (any status).
pub async fn answers(client: &awc::Client, url: &str, headers: &[(&str, &str)]) -> Option<u16> {
    let mut request = client.get(url).timeout(Duration::from_secs(2));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    request.send().await.ok().map(|r| r.status().as_u16())
}

/// The upstream application: answers every request with the method, URI and headers it got.
pub struct Echo {
    pub port: u16,
    hits: Arc<AtomicUsize>,
}

impl Echo {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("echo listener");
        let port = listener.local_addr().expect("echo port").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = web::Data::new(hits.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(counter.clone())
                .default_service(web::to(echo))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("echo listens")
        .run();
        actix_web::rt::spawn(server);
        Self { port, hits }
    }

    /// Requests that reached the upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn echo(req: HttpRequest, hits: web::Data<Arc<AtomicUsize>>) -> HttpResponse {
    hits.fetch_add(1, Ordering::SeqCst);
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    HttpResponse::Ok().json(json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
    }))
}

/// The issuers of a test and the tokens they mint.
pub struct Issuers {
    /// Trusted by jwtgate, serving its keys.
    pub trusted: DevIssuer,
    /// Trusted by jwtgate, but its discovery and keys answer 503 (an outage).
    pub down: DevIssuer,
    /// Serving keys, but not configured in jwtgate.
    pub untrusted: DevIssuer,
    key: DevKey,
}

impl Issuers {
    pub async fn start() -> Self {
        let key = DevKey::rs256();
        let trusted = DevIssuer::serving(&[&key]).await;
        let down = DevIssuer::serving(&[&key]).await;
        down.set(|b| b.status = 503);
        let untrusted = DevIssuer::serving(&[&key]).await;
        Self {
            trusted,
            down,
            untrusted,
            key,
        }
    }

    /// The claims of a valid token of the trusted issuer (sub alice, email, roles, scopes).
    pub fn valid_claims(&self) -> Value {
        claims(self.trusted.issuer())
    }

    /// A valid token of the trusted issuer.
    pub fn valid(&self) -> String {
        self.key.sign(&self.valid_claims())
    }

    /// A token of the trusted issuer with these claims changed (`null` removes a claim).
    pub fn valid_except(&self, changes: Value) -> String {
        let mut claims = self.valid_claims();
        for (name, value) in changes.as_object().expect("an object of changes") {
            if value.is_null() {
                claims.as_object_mut().expect("claims").remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        self.key.sign(&claims)
    }

    /// A token of the trusted issuer signed by another key under the trusted key's kid.
    pub fn badly_signed(&self) -> String {
        DevKey::rs256_rotated()
            .with_kid(self.key.kid())
            .sign(&self.valid_claims())
    }

    /// A well-formed token of an issuer jwtgate does not trust.
    pub fn untrusted(&self) -> String {
        self.key.sign(&claims(self.untrusted.issuer()))
    }

    /// A token of the trusted-but-down issuer.
    pub fn of_the_down_issuer(&self) -> String {
        self.key.sign(&claims(self.down.issuer()))
    }
}

/// The real jwtgate binary, configured for these issuers.
pub struct Jwtgate {
    pub port: u16,
    /// The gRPC `ext_authz` listener (`[grpc] bind`).
    pub grpc_port: u16,
    process: Process,
}

impl Jwtgate {
    /// Starts `target/.../jwtgate` trusting `trusted` (audience, required scope, email and roles
    /// claim headers) and `down`, with the three token sources and the payload header on,
    /// `refuse_identity_headers` as given and `[verify] mode` as given (`enforce` or `report`),
    /// and waits until it verifies a token of the trusted issuer.
    pub async fn start(
        issuers: &Issuers,
        scratch: &Scratch,
        refuse_identity_headers: bool,
        mode: &str,
    ) -> Self {
        let port = free_port();
        let grpc_port = free_port();
        let config = scratch.write(
            "jwtgate.toml",
            &(format!(
                r#"[server]
bind = "127.0.0.1:{port}"
workers = 1
[log]
format = "json"
level = "warn"
[fetch]
https_only = false
allow_private_addresses = true
timeout_secs = 2
[verify]
token_sources = ["header:Authorization:Bearer", "cookie:access_token", "query:access_token"]
payload_header = "X-Auth-Payload"
refuse_identity_headers = {refuse_identity_headers}
mode = "{mode}"
[grpc]
bind = "127.0.0.1:{grpc_port}"
[[issuers]]
issuer = "{trusted}"
audiences = ["{AUDIENCE}"]
required_scopes = ["{REQUIRED_SCOPE}"]
headers = {{ email = "X-Auth-Email", roles = "X-Auth-Roles" }}
[[issuers]]
issuer = "{down}"
audiences = ["{AUDIENCE}"]
"#,
                trusted = issuers.trusted.issuer(),
                down = issuers.down.issuer(),
            ) + &deploy_file("jwtgate-policies.toml", &[])),
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_jwtgate"));
        command.arg("--config").arg(config).env_remove("RUST_LOG");
        let mut process = Process::spawn("jwtgate", command, scratch);
        let client = client();
        let url = format!("http://127.0.0.1:{port}/verify");
        let bearer = format!("Bearer {}", issuers.valid());
        wait_until(&mut process, "verify a token", || async {
            answers(&client, &url, &[("Authorization", &bearer)]).await == Some(200)
        })
        .await;
        Self {
            port,
            grpc_port,
            process,
        }
    }
}

impl Jwtgate {
    /// Stops the process (an outage of jwtgate itself).
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

/// Everything behind the proxy: issuers, jwtgate and the upstream.
pub struct Backends {
    pub issuers: Issuers,
    pub jwtgate: Jwtgate,
    pub echo: Echo,
}

impl Backends {
    /// Starts them, jwtgate with `[verify] refuse_identity_headers` as given.
    pub async fn start(scratch: &Scratch, refuse_identity_headers: bool) -> Self {
        Self::start_in_mode(scratch, refuse_identity_headers, "enforce").await
    }

    /// [`Backends::start`] with jwtgate's `[verify] mode` as given (`enforce` or `report`).
    pub async fn start_in_mode(
        scratch: &Scratch,
        refuse_identity_headers: bool,
        mode: &str,
    ) -> Self {
        let issuers = Issuers::start().await;
        let jwtgate = Jwtgate::start(&issuers, scratch, refuse_identity_headers, mode).await;
        let echo = Echo::start();
        Self {
            issuers,
            jwtgate,
            echo,
        }
    }

    /// Waits until `proxy` routes a valid token to the upstream.
    pub async fn wait_for_proxy(&self, proxy: &mut Process, url: &str) {
        let client = client();
        let bearer = format!("Bearer {}", self.issuers.valid());
        wait_until(proxy, "pass a valid token to the upstream", || async {
            answers(&client, url, &[("Authorization", &bearer)]).await == Some(200)
        })
        .await;
    }
}
