//! [`DevIssuer`]: an OpenID Connect issuer on a real loopback socket, serving a discovery
//! document and a JWK set, minting tokens, and (for tests) misbehaving on request.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    CUSTOM_DISCOVERY_PATH, DEFAULT_AUDIENCE, DEFAULT_SUBJECT, DEFAULT_TTL_SECS, DISCOVERY_PATH,
    DevError, DevKey, JWKS_PATH, KEY_URL_PATH, MAX_TTL_SECS, MINT_PATH, PARTY_CONFIGURATION_PATH,
    lock,
};

/// Random bytes in a minted token's `jti` (96 bits: unique enough for any dev session).
const JTI_BYTES: usize = 12;

/// What a minted token says.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MintRequest {
    /// The `sub` claim.
    pub sub: String,
    /// The `aud` claim.
    pub aud: String,
    /// Seconds from now until `exp`.
    pub ttl: u64,
    /// An optional `scope` claim (space-separated).
    pub scope: Option<String>,
}

impl Default for MintRequest {
    fn default() -> Self {
        Self {
            sub: DEFAULT_SUBJECT.into(),
            aud: DEFAULT_AUDIENCE.into(),
            ttl: DEFAULT_TTL_SECS,
            scope: None,
        }
    }
}

/// How the issuer answers requests for its documents (not `/mint`). `jwtgate dev` keeps the
/// defaults; tests change them at any time (`DevIssuer::set`, feature `test-helpers`) to play a
/// slow, broken, redirecting or lying issuer.
#[derive(Debug, Clone)]
pub struct IssuerBehaviour {
    /// The discovery document; `None` serves `{"issuer": <iss>, "jwks_uri": <base>/jwks,
    /// "id_token_signing_alg_values_supported": [..]}` where `<iss>` is the base URL plus
    /// whatever path precedes the discovery path, and the algorithms are the `alg`s of the
    /// published keys.
    pub discovery: Option<Value>,
    /// The JWK set served at [`JWKS_PATH`].
    pub jwks: Value,
    /// Status of every answer (200 normally; a code that is not one answers 500).
    pub status: u16,
    /// Content type of every answer.
    pub content_type: String,
    /// Delay before answering [`JWKS_PATH`].
    pub jwks_delay: Duration,
    /// `Cache-Control` sent with the JWK set.
    pub cache_control: Option<String>,
    /// `ETag` sent with the JWK set; a request whose `If-None-Match` equals it gets `304`.
    pub etag: Option<String>,
    /// Raw body sent instead of the JSON documents (HTML error pages, truncated JSON, ...).
    pub raw_body: Option<String>,
    /// `Location` of a `302` answer to every request, when set.
    pub redirect_to: Option<String>,
    /// When set, documents are served only to requests with `Authorization: Bearer <this>`;
    /// others get `401` (counted as `401 <path>`), like a Kubernetes API server.
    pub required_bearer: Option<String>,
    /// PEM public keys by kid, served at [`KEY_URL_PATH`]`<kid>` (as AWS ALB's
    /// `public-keys.auth.elb` host serves them); a kid not here answers `404`.
    pub pem_keys: HashMap<String, String>,
}

impl IssuerBehaviour {
    /// A well-behaved issuer publishing `jwks`.
    fn publishing(jwks: Value) -> Self {
        Self {
            discovery: None,
            jwks,
            status: 200,
            content_type: "application/json".into(),
            jwks_delay: Duration::ZERO,
            cache_control: None,
            etag: None,
            raw_body: None,
            redirect_to: None,
            required_bearer: None,
            pem_keys: HashMap::new(),
        }
    }
}

struct Shared {
    /// `http://<loopback address>`: the issuer identifier and the base of every URL.
    issuer: String,
    /// Signs what `/mint` and [`DevIssuer::mint`] answer.
    key: DevKey,
    behaviour: Mutex<IssuerBehaviour>,
    /// Requests seen, by path (and `304 /jwks` for conditional requests answered `304`).
    hits: Mutex<HashMap<String, usize>>,
}

/// A running issuer on a loopback socket. Clones share the server; dropping them does not stop
/// it (it ends with its actix system, or call [`DevIssuer::stop`]).
///
/// It serves, on any path, counting every request by path:
/// - `<prefix>`[`DISCOVERY_PATH`], `<prefix>`[`CUSTOM_DISCOVERY_PATH`] and
///   `<prefix>`[`PARTY_CONFIGURATION_PATH`]: the discovery
///   document of issuer `<base><prefix>` (so one server plays many issuers);
/// - [`JWKS_PATH`]: the JWK set;
/// - [`KEY_URL_PATH`]`<kid>`: the PEM public key of `kid`, if it publishes one (key URL
///   issuers, AWS ALB);
/// - [`MINT_PATH`]: a fresh token (see [`DevIssuer::mint_url`]);
/// - anything else: `404`.
///
/// The documents follow the issuer's [`IssuerBehaviour`]; `/mint` always answers.
#[derive(Clone)]
pub struct DevIssuer {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.shared.issuer)
            .field("key", &self.shared.key)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Generates a key for `alg` and starts serving it on `addr` (port 0 picks a free port) on
    /// one worker of the current actix system. The issuer identifier is `http://<addr>`.
    /// Signals are left to the caller's server.
    ///
    /// # Errors
    /// `addr` is not loopback, the key cannot be generated, or the port cannot be bound.
    pub fn start(addr: SocketAddr, alg: jsonwebtoken::Algorithm) -> Result<Self, DevError> {
        if !addr.ip().is_loopback() {
            return Err(DevError::NotLoopback(addr));
        }
        let key = DevKey::generate(alg)?;
        let jwks = json!({ "keys": [key.jwk()] });
        Self::listen(addr, key, jwks)
    }

    /// Serves `jwks` on `addr`, minting with `key`.
    fn listen(addr: SocketAddr, key: DevKey, jwks: Value) -> Result<Self, DevError> {
        let bind = |source| DevError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let shared = Arc::new(Shared {
            issuer: format!("http://{local}"),
            key,
            behaviour: Mutex::new(IssuerBehaviour::publishing(jwks)),
            hits: Mutex::new(HashMap::new()),
        });
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(serve))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(bind)?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Self { shared, handle })
    }

    /// The issuer identifier (`iss`): `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The URL of the discovery document.
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.shared.issuer)
    }

    /// The URL of the JWK set.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.shared.issuer)
    }

    /// The URL that mints a token for `request` over HTTP.
    pub fn mint_url(&self, request: &MintRequest) -> String {
        let mut url = url::Url::parse(&format!("{}{MINT_PATH}", self.shared.issuer))
            .expect("the issuer is a valid URL");
        url.query_pairs_mut()
            .append_pair("sub", &request.sub)
            .append_pair("aud", &request.aud)
            .append_pair("ttl", &request.ttl.to_string());
        if let Some(scope) = &request.scope {
            url.query_pairs_mut().append_pair("scope", scope);
        }
        url.into()
    }

    /// The key minted tokens are signed with.
    pub fn key(&self) -> &DevKey {
        &self.shared.key
    }

    /// Mints a token: `iss`, `sub`, `aud`, `iat`, `nbf`, `exp` (now + ttl), a random `jti`,
    /// and `scope` when asked for.
    ///
    /// # Errors
    /// The ttl is out of range, or signing fails.
    pub fn mint(&self, request: &MintRequest) -> Result<String, DevError> {
        self.shared.mint(request)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The test kit's side of the issuer: fixed keys, behaviour knobs, request counters.
#[cfg(any(test, feature = "test-helpers"))]
impl DevIssuer {
    /// Starts an issuer on `127.0.0.1` (a free port) publishing `keys` (their full JWKs, with
    /// `alg`); it mints with the first of them. Needs a running actix system.
    ///
    /// # Panics
    /// The socket cannot be bound.
    pub async fn serving(keys: &[&DevKey]) -> Self {
        let jwks = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
        let minting = match keys.first() {
            Some(key) => (*key).clone(),
            None => DevKey::generate(jsonwebtoken::Algorithm::EdDSA).expect("an Ed25519 key"),
        };
        Self::listen(loopback(), minting, jwks).expect("a loopback port is free")
    }

    /// Starts an issuer on `127.0.0.1` (a free port) publishing exactly this JWK set document;
    /// it mints with a fresh Ed25519 key of its own, which the set does not contain. Needs a
    /// running actix system.
    ///
    /// # Panics
    /// The socket cannot be bound.
    pub async fn serving_jwks(jwks: Value) -> Self {
        let minting = DevKey::generate(jsonwebtoken::Algorithm::EdDSA).expect("an Ed25519 key");
        Self::listen(loopback(), minting, jwks).expect("a loopback port is free")
    }

    /// Changes how the issuer answers, from its next request on.
    pub fn set(&self, change: impl FnOnce(&mut IssuerBehaviour)) {
        change(&mut lock(&self.shared.behaviour));
    }

    /// Publishes these keys (replacing the set).
    pub fn publish(&self, keys: &[&DevKey]) {
        self.set(|b| b.jwks = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }));
    }

    /// Requests seen for `path` (without its query); `"304 /jwks"` counts the conditional JWK
    /// set requests answered `304 Not Modified` (also counted under `/jwks`).
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.hits).get(path).copied().unwrap_or(0)
    }

    /// Requests for the discovery document at the root ([`DISCOVERY_PATH`]).
    pub fn discovery_hits(&self) -> usize {
        self.hits(DISCOVERY_PATH)
    }

    /// Requests for the JWK set.
    pub fn jwks_hits(&self) -> usize {
        self.hits(JWKS_PATH)
    }

    /// Publishes `key`'s public key as PEM at [`KEY_URL_PATH`]`<its kid>` (adding to those
    /// published), as AWS ALB's key host does.
    pub fn publish_pem(&self, key: &DevKey) {
        let pem = key.public_key_pem();
        self.set(|b| {
            b.pem_keys.insert(key.kid().to_string(), pem);
        });
    }

    /// The key URL template of the PEM keys: `<base>`[`KEY_URL_PATH`]`{kid}`.
    pub fn key_url(&self) -> String {
        format!("{}{KEY_URL_PATH}{{kid}}", self.shared.issuer)
    }

    /// Requests for any PEM key (any kid, published or not).
    pub fn key_url_hits(&self) -> usize {
        lock(&self.shared.hits)
            .iter()
            .filter(|(path, _)| path.starts_with(KEY_URL_PATH))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every request seen, plus the `"304 /jwks"` tally.
    pub fn total_hits(&self) -> usize {
        lock(&self.shared.hits).values().sum()
    }
}

#[cfg(any(test, feature = "test-helpers"))]
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Shared {
    fn mint(&self, request: &MintRequest) -> Result<String, DevError> {
        if request.ttl == 0 || request.ttl > MAX_TTL_SECS {
            return Err(DevError::Ttl(request.ttl));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; JTI_BYTES];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| DevError::KeyGeneration(self.key.alg()))?;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(request.sub));
        claims.insert("aud".into(), json!(request.aud));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + request.ttl));
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        if let Some(scope) = &request.scope {
            claims.insert("scope".into(), json!(scope));
        }
        self.key.try_sign(&claims)
    }

    fn count(&self, path: &str) {
        *lock(&self.hits).entry(path.to_string()).or_default() += 1;
    }

    /// The discovery document of issuer `<base><prefix>`.
    fn default_discovery(&self, prefix: &str, jwks: &Value) -> Value {
        let mut algs: Vec<&Value> = Vec::new();
        for alg in jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.get("alg"))
        {
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        json!({
            "issuer": format!("{}{prefix}", self.issuer),
            "jwks_uri": format!("{}{JWKS_PATH}", self.issuer),
            "id_token_signing_alg_values_supported": algs,
        })
    }
}

async fn serve(req: HttpRequest, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let path = req.path();
    shared.count(path);
    if path == MINT_PATH {
        return mint(&shared, &req);
    }
    let behaviour = lock(&shared.behaviour).clone();
    if let Some(token) = &behaviour.required_bearer {
        let sent = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if sent != Some(format!("Bearer {token}").as_str()) {
            shared.count(&format!("401 {path}"));
            return HttpResponse::Unauthorized().finish();
        }
    }
    if let Some(location) = behaviour.redirect_to {
        return HttpResponse::Found()
            .insert_header(("location", location))
            .finish();
    }
    let mut response = HttpResponse::build(
        StatusCode::from_u16(behaviour.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    if let Some(kid) = path.strip_prefix(KEY_URL_PATH) {
        let Some(pem) = behaviour.pem_keys.get(kid) else {
            return HttpResponse::NotFound().finish();
        };
        return response
            .content_type("application/octet-stream")
            .body(behaviour.raw_body.unwrap_or_else(|| pem.clone()));
    }
    let body = if path == JWKS_PATH {
        if !behaviour.jwks_delay.is_zero() {
            tokio::time::sleep(behaviour.jwks_delay).await;
        }
        if let Some(cache_control) = behaviour.cache_control {
            response.insert_header(("cache-control", cache_control));
        }
        if let Some(etag) = behaviour.etag {
            let if_none_match = req
                .headers()
                .get("if-none-match")
                .and_then(|v| v.to_str().ok());
            if if_none_match == Some(etag.as_str()) {
                shared.count(&format!("304 {JWKS_PATH}"));
                return response
                    .status(StatusCode::NOT_MODIFIED)
                    .insert_header(("etag", etag))
                    .finish();
            }
            response.insert_header(("etag", etag));
        }
        behaviour.jwks
    } else if let Some(prefix) = path
        .strip_suffix(DISCOVERY_PATH)
        .or_else(|| path.strip_suffix(CUSTOM_DISCOVERY_PATH))
        .or_else(|| path.strip_suffix(PARTY_CONFIGURATION_PATH))
    {
        match behaviour.discovery {
            Some(document) => document,
            None => shared.default_discovery(prefix, &behaviour.jwks),
        }
    } else {
        return HttpResponse::NotFound().finish();
    };
    response
        .content_type(behaviour.content_type)
        .body(behaviour.raw_body.unwrap_or_else(|| body.to_string()))
}

fn mint(shared: &Shared, req: &HttpRequest) -> HttpResponse {
    let answer = web::Query::<MintRequest>::from_query(req.query_string())
        .map_err(|e| e.to_string())
        .and_then(|request| shared.mint(&request).map_err(|e| e.to_string()));
    match answer {
        Ok(token) => HttpResponse::Ok()
            .content_type("text/plain")
            .body(token + "\n"),
        Err(e) => HttpResponse::BadRequest()
            .content_type("text/plain")
            .body(format!("{e}\n")),
    }
}
