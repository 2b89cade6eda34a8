//! The load-test harness behind `scripts/loadtest.sh`, which says what is measured and how.
//! Every server here binds loopback only and stops by itself.
//!
//! ```text
//! loadtest issuer --issuers N --keys DIR --port-file PATH
//!     N OpenID Connect issuers on one loopback port: http://127.0.0.1:PORT/i/0 .. /i/{N-1},
//!     each serving a discovery document and a JWK set with the fixed test keys (RSA, P-256,
//!     Ed25519). Writes the port to PATH. Stops after ISSUER_LIFETIME.
//! loadtest mint --issuer-base URL --issuers N --alg ALG --count C --invalid-percent P --keys DIR --out PATH [--shape small|realistic]
//!     C distinct tokens (a unique jti each), one per line, spread over the N issuers; P % of
//!     them invalid, evenly spread, cycling through INVALID_KINDS. `realistic` adds the claims
//!     Keycloak and Entra ID put in access tokens (`realm_access.roles`, `resource_access`,
//!     `groups`, `scp`, `azp`, `sid`, names...): about 1 KB per token instead of about 400 bytes.
//! loadtest noop --bind ADDR --workers W
//!     Reference 1: actix-web answering 200 with no work, for any path (both references also
//!     answer `/readyz` with 200).
//! loadtest decode --bind ADDR --workers W --alg ALG --keys DIR --issuer ISS
//!     Reference 2: actix-web doing only jsonwebtoken::decode of the bearer token with an
//!     in-memory key (built once from the key's JWK, as jwtgate builds its keys) and jwtgate's
//!     default checks (exp, nbf, iss, aud, 60 s leeway): 200 or 401, empty body.
//! loadtest grpc-noop --bind ADDR --workers W
//!     Reference 3 (gRPC): tonic serving Envoy's `envoy.service.auth.v3.Authorization/Check`
//!     (the types of `envoy-types`, as jwtgate's `[grpc]` listener), answering every call OK with
//!     an empty `OkHttpResponse` and no work, on a tokio runtime with W worker threads.
//! loadtest grpc-body --token-file PATH --out PATH
//!     h2load's request body (`-d`) for one `Check`: the gRPC message prefix (a zero compression
//!     flag and the 4-byte big-endian length) and the protobuf `CheckRequest` Envoy would send for
//!     `GET /app` with `authorization: Bearer TOKEN` (the first token of PATH).
//! loadtest wait-ready --url URL --start-ns NS
//!     Polls URL every READY_POLL until it answers 200 (`tcp://HOST:PORT`: until it accepts a
//!     connection); prints the milliseconds since NS (nanoseconds since the epoch, taken just
//!     before the server was started).
//! loadtest free-port
//!     Prints a free loopback port.
//! ```

mod floor;

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse,
};
use envoy_types::ext_authz::v3::{CheckResponseExt, OkHttpResponseBuilder};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, attribute_context};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

/// The audience every minted token carries and jwtgate's configuration requires.
const AUDIENCE: &str = "my-api";

/// Lifetime of minted tokens: longer than any run.
const TOKEN_TTL_SECS: u64 = 4 * 3600;

/// jwtgate's default `verify.leeway_secs`; the decode reference applies the same.
const LEEWAY_SECS: u64 = 60;

/// The issuer stops by itself after this long, even if the script was killed.
const ISSUER_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The reference servers stop by themselves after this long.
const REFERENCE_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How long `wait-ready` waits at most.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often `wait-ready` asks.
const READY_POLL: Duration = Duration::from_millis(1);

/// What an invalid token in a mix is wrong with, in turn; each is one of jwtgate's reasons.
const INVALID_KINDS: [&str; 6] = [
    "bad_signature",
    "expired",
    "wrong_audience",
    "untrusted_issuer",
    "unknown_kid",
    "malformed",
];

/// A token that is not a JWT: header `{"alg":"RS256"}`, payload `not json`, signature `sig`.
const MALFORMED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln";

fn main() {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let args = Args::parse(argv.collect());
    match command.as_str() {
        "issuer" => issuer(&args),
        "mint" => mint(&args),
        "noop" => reference(&args, Reference::Noop),
        "decode" => reference(&args, Reference::Decode),
        "grpc-noop" => grpc_noop(&args),
        "grpc-body" => grpc_body(&args),
        "wait-ready" => wait_ready(&args),
        "floor" => floor::floor(args.get("keys"), args.get("alg")),
        "free-port" => {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            println!("{}", listener.local_addr().expect("local address").port());
        }
        other => {
            eprintln!("loadtest: unknown command {other:?}; see scripts/loadtest/src/main.rs");
            std::process::exit(2);
        }
    }
}

/// `--name value` pairs.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(words: Vec<String>) -> Self {
        let mut map = HashMap::new();
        for pair in words.chunks(2) {
            let name = pair[0].strip_prefix("--").unwrap_or(&pair[0]).to_string();
            map.insert(name, pair.get(1).cloned().unwrap_or_default());
        }
        Self(map)
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("loadtest: --{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> T {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("loadtest: --{name} must be a number"))
    }
}

/// One of the fixed test keys (`tests/keys/`), under the kid jwtgate's tests use.
struct TestKey {
    alg: Algorithm,
    kid: &'static str,
    encoding: EncodingKey,
}

impl TestKey {
    fn load(dir: &str, alg: Algorithm) -> Self {
        let (file, kid) = match alg {
            Algorithm::RS256 => ("rsa1.pem", "rsa-1"),
            Algorithm::ES256 => ("ec256.pem", "ec-256"),
            Algorithm::EdDSA => ("ed25519.pem", "ed-1"),
            other => panic!("loadtest: {other:?} is not one of RS256, ES256, EdDSA"),
        };
        let pem = std::fs::read(format!("{dir}/{file}")).expect("read the test key");
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .expect("the test key parses");
        Self { alg, kid, encoding }
    }

    fn all(dir: &str) -> Vec<Self> {
        [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
            .into_iter()
            .map(|alg| Self::load(dir, alg))
            .collect()
    }

    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, self.alg).expect("a public JWK");
        jwk.common.key_id = Some(self.kid.to_string());
        jwk
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing works")
    }
}

fn parse_alg(name: &str) -> Algorithm {
    name.parse()
        .unwrap_or_else(|_| panic!("loadtest: unknown algorithm {name}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs()
}

fn issuer(args: &Args) {
    let count: usize = args.number("issuers");
    let keys = TestKey::all(args.get("keys"));
    let jwks = json!({ "keys": keys.iter().map(TestKey::jwk).collect::<Vec<_>>() }).to_string();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    std::fs::write(args.get("port-file"), format!("{port}\n")).expect("write the port file");
    let base = Arc::new(format!("http://127.0.0.1:{port}"));
    let jwks = Arc::new(jwks);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let (base, jwks) = (base.clone(), jwks.clone());
            App::new().route(
                "/i/{n}/{rest:.*}",
                web::get().to(move |path: web::Path<(usize, String)>| {
                    let (base, jwks) = (base.clone(), jwks.clone());
                    async move {
                        let (n, rest) = path.into_inner();
                        let iss = format!("{base}/i/{n}");
                        match rest.as_str() {
                            _ if n >= count => HttpResponse::NotFound().finish(),
                            ".well-known/openid-configuration" => HttpResponse::Ok()
                                .json(json!({ "issuer": iss, "jwks_uri": format!("{iss}/jwks") })),
                            "jwks" => HttpResponse::Ok()
                                .content_type("application/json")
                                .body(jwks.to_string()),
                            _ => HttpResponse::NotFound().finish(),
                        }
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .expect("serve")
        .run();
        stop_after(server.handle(), ISSUER_LIFETIME);
        server.await.expect("the issuer ran");
    });
}

fn stop_after(handle: actix_web::dev::ServerHandle, lifetime: Duration) {
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(lifetime).await;
        handle.stop(false).await;
    });
}

fn mint(args: &Args) {
    let base = args.get("issuer-base").to_string();
    let issuers: usize = args.number("issuers");
    let count: usize = args.number("count");
    let invalid_percent: usize = args.number("invalid-percent");
    let key = TestKey::load(args.get("keys"), parse_alg(args.get("alg")));
    let now = unix_now();
    // Distinct across runs too, so no run meets a token a cache kept from an earlier one.
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_nanos();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let realistic = args
        .0
        .get("shape")
        .is_some_and(|shape| shape == "realistic");
    let mint_one = |i: usize| -> String {
        let invalid = (i + 1) * invalid_percent / 100 > i * invalid_percent / 100;
        let kind = if invalid {
            INVALID_KINDS[(i * invalid_percent / 100) % INVALID_KINDS.len()]
        } else {
            "valid"
        };
        let mut claims = json!({
            "iss": format!("{base}/i/{}", i % issuers),
            "sub": format!("user-{i}"),
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_TTL_SECS,
            "jti": format!("{nonce:x}-{i}"),
            "email": format!("user-{i}@example.com"),
            "roles": ["reader", "writer"],
            "scope": "api:read api:write",
        });
        if realistic {
            add_realistic_claims(&mut claims, i);
        }
        let mut kid = key.kid;
        match kind {
            "malformed" => return MALFORMED_TOKEN.to_string(),
            "expired" => {
                claims["iat"] = json!(now - 2 * TOKEN_TTL_SECS);
                claims["nbf"] = json!(now - 2 * TOKEN_TTL_SECS);
                claims["exp"] = json!(now - TOKEN_TTL_SECS);
            }
            "wrong_audience" => claims["aud"] = json!("someone-else"),
            "untrusted_issuer" => claims["iss"] = json!("http://untrusted.loadtest.invalid"),
            "unknown_kid" => kid = "no-such-kid",
            _ => {}
        }
        let mut token = key.sign(kid, &claims);
        if kind == "bad_signature" {
            // One character well inside the signature: still base64url, no longer valid.
            let at = token.len() - 10;
            let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
            token.replace_range(at..=at, flipped);
        }
        token
    };
    let started = Instant::now();
    let chunk = count.div_ceil(threads).max(1);
    let parts: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|from| {
                let mint_one = &mint_one;
                scope.spawn(move || {
                    let mut out = String::new();
                    for i in from..(from + chunk).min(count) {
                        out.push_str(&mint_one(i));
                        out.push('\n');
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a minting thread"))
            .collect()
    });
    std::fs::write(args.get("out"), parts.concat()).expect("write the tokens");
    eprintln!(
        "minted {count} {:?} tokens ({invalid_percent}% invalid) in {:.1} s",
        key.alg,
        started.elapsed().as_secs_f64()
    );
}

/// The claims a Keycloak or Entra ID access token carries beside the registered ones (shapes
/// from their documentation; values made up), so the load test also measures tokens of real size.
fn add_realistic_claims(claims: &mut Value, i: usize) {
    let extra = json!({
        "typ": "Bearer",
        "azp": "frontend-app",
        "sid": format!("5f2c9e1a-7d4b-4c61-9a8e-{i:012x}"),
        "acr": "1",
        "allowed-origins": ["https://app.example.com"],
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-example", "reader", "writer"]},
        "resource_access": {
            "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
            "my-api": {"roles": ["invoices:read", "invoices:write"]}
        },
        "groups": ["/engineering", "/engineering/platform", "/oncall"],
        "scp": "api.read api.write",
        "name": format!("User Number {i}"),
        "preferred_username": format!("user{i}"),
        "given_name": "User",
        "family_name": format!("Number {i}"),
        "email_verified": true,
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "oid": format!("00000000-0000-0000-66f3-{i:012x}"),
        "ver": "2.0",
    });
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
}

#[derive(Clone, Copy)]
enum Reference {
    Noop,
    Decode,
}

/// What the decode reference needs: built once, shared by its workers.
struct DecodeState {
    key: DecodingKey,
    validation: Validation,
}

/// The reference server's listener on `--bind`, which must be a loopback address.
fn bind_loopback(args: &Args) -> TcpListener {
    let listener = TcpListener::bind(args.get("bind")).expect("bind the reference server");
    assert!(
        listener
            .local_addr()
            .expect("local address")
            .ip()
            .is_loopback(),
        "loadtest: the reference servers bind loopback only"
    );
    listener
}

fn reference(args: &Args, kind: Reference) {
    let workers: usize = args.number("workers");
    let listener = bind_loopback(args);
    let state = match kind {
        Reference::Noop => None,
        Reference::Decode => {
            let key = TestKey::load(args.get("keys"), parse_alg(args.get("alg")));
            let mut validation = Validation::new(key.alg);
            validation.leeway = LEEWAY_SECS;
            validation.validate_nbf = true;
            validation.set_issuer(&[args.get("issuer")]);
            validation.set_audience(&[AUDIENCE]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            let key = DecodingKey::from_jwk(&key.jwk()).expect("a decoding key from the JWK");
            Some(web::Data::new(DecodeState { key, validation }))
        }
    };
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            // `/readyz` answers 200 so the script can time and await a reference like jwtgate.
            let app = App::new().route(
                "/readyz",
                web::get().to(|| async { HttpResponse::Ok().finish() }),
            );
            match &state {
                None => app.default_service(web::to(|| async { HttpResponse::Ok().finish() })),
                Some(state) => app.app_data(state.clone()).default_service(web::to(decode)),
            }
        })
        .workers(workers)
        .listen(listener)
        .expect("serve")
        .run();
        stop_after(server.handle(), REFERENCE_LIFETIME);
        server.await.expect("the reference server ran");
    });
}

async fn decode(request: HttpRequest, state: web::Data<DecodeState>) -> HttpResponse {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match token.map(|token| jsonwebtoken::decode::<Value>(token, &state.key, &state.validation)) {
        Some(Ok(_)) => HttpResponse::Ok().finish(),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

fn wait_ready(args: &Args) {
    let url = args.get("url");
    let start_ns: u128 = args.number("start-ns");
    let (tcp_only, rest) = match url.strip_prefix("tcp://") {
        Some(rest) => (true, rest),
        None => (
            false,
            url.strip_prefix("http://")
                .expect("loadtest: wait-ready takes an http:// or tcp:// URL"),
        ),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(authority) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut answer = [0u8; 12];
            if tcp_only
                || (stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && answer.ends_with(b" 200"))
            {
                let now_ns = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("the clock is past 1970")
                    .as_nanos();
                println!("{:.1}", (now_ns.saturating_sub(start_ns)) as f64 / 1e6);
                return;
            }
        }
        std::thread::sleep(READY_POLL);
    }
    eprintln!("loadtest: {url} did not answer 200 within {READY_TIMEOUT:?}");
    std::process::exit(1);
}

/// The gRPC no-op reference: every `Check` is allowed, with no work.
struct NoopCheck;

#[tonic::async_trait]
impl Authorization for NoopCheck {
    async fn check(
        &self,
        _: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let mut response = CheckResponse::with_status(tonic::Status::ok("allowed"));
        response.set_http_response(OkHttpResponseBuilder::new().build());
        Ok(tonic::Response::new(response))
    }
}

fn grpc_noop(args: &Args) {
    let workers: usize = args.number("workers");
    let listener = bind_loopback(args);
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let lifetime = tokio::time::sleep(REFERENCE_LIFETIME);
        tonic::transport::Server::builder()
            .add_service(AuthorizationServer::new(NoopCheck))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                lifetime,
            )
            .await
            .expect("the gRPC reference ran");
    });
}

fn grpc_body(args: &Args) {
    let tokens = std::fs::read_to_string(args.get("token-file")).expect("read the token file");
    let token = tokens.lines().next().expect("a token in the file");
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    method: "GET".into(),
                    path: "/app".into(),
                    host: "app.example.com".into(),
                    scheme: "http".into(),
                    protocol: "HTTP/1.1".into(),
                    headers: [
                        (":authority".to_string(), "app.example.com".to_string()),
                        ("authorization".to_string(), format!("Bearer {token}")),
                        ("user-agent".to_string(), "h2load".to_string()),
                    ]
                    .into_iter()
                    .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let message = prost::Message::encode_to_vec(&request);
    let length = u32::try_from(message.len()).expect("a message under 4 GiB");
    let mut body = vec![0u8];
    body.extend_from_slice(&length.to_be_bytes());
    body.extend_from_slice(&message);
    std::fs::write(args.get("out"), body).expect("write the body");
}
