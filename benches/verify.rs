//! Criterion benches of the verification core, as specifications of what a token costs:
//! - `verify/<alg>`: one [`Verifier::verify`] of a valid token with the issuer's keys already
//!   cached and the verified-token cache off (parse, issuer policy, key lookup, signature,
//!   claims), for every algorithm jwtgate verifies;
//! - `decode_reference/<alg>`: jsonwebtoken's own `decode` on the same token and key (the key
//!   re-parsed by aws-lc on every call), the floor `verify/<alg>` is compared with;
//! - `reject/<reason>`: what refusing a token costs, cheapest check first;
//! - `key_cache/first_token_of_an_issuer_fetches_its_keys`: an empty key cache, so the
//!   discovery document and JWK set come through the fetcher and are parsed before the verify;
//! - `token_cache/<case>`: the verified-token cache (`[cache] verified_tokens`): a hit, and a
//!   miss that falls through to the key lookup and the signature check;
//! - `policy/<case>`: what choosing and applying a policy adds to a request: the `[[routes]]`
//!   rule of 20 that matches last (path normalisation included), the query requirements of an
//!   auth URL parsed, and a policy's requirements checked on verified claims.
//!
//! - `token_parse/<size>`: reading an unverified token as the verifier does (split, header,
//!   payload checked in full with only the registered claims built, then taken), for a small test token and
//!   a ~1 KB one shaped like Keycloak's and Entra ID's; `token_parse/full_map_reference/<size>`
//!   builds every claim of the same payload (what reading a token cost before).
//!
//! Run them all (about two minutes on the project's 2-core machine):
//!
//! ```sh
//! cargo bench --bench verify                  # all groups
//! cargo bench --bench verify -- token_cache   # one group (a criterion filter)
//! ```
//!
//! Results land in `target/criterion/`. `cargo test --all-targets` runs every bench once as a
//! smoke test, without timing. Everything is in memory: the test kit's [`InMemoryFetcher`] serves
//! the issuer, so no socket is opened and nothing here measures HTTP (`scripts/loadtest.sh` does).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use serde_json::json;

use jwtgate::clock::SystemClock;
use jwtgate::core::Core;
use jwtgate::dev::{DevKey, InMemoryFetcher, claims, unsigned_token};
use jwtgate::settings::{CacheSettings, Settings};
use jwtgate::verify::{AttributedRejection, TokenCache, Verified, Verifier};

/// The one trusted issuer. Never contacted: an [`InMemoryFetcher`] answers for it.
const ISSUER: &str = "https://issuer.bench.example";

/// The audience the issuer's tokens carry and jwtgate requires.
const AUDIENCE: &str = "my-api";

/// Warm-up before each bench's samples.
const WARM_UP: Duration = Duration::from_secs(2);

/// Sampling time per bench.
const MEASUREMENT: Duration = Duration::from_secs(4);

/// The issuer's signing keys: one per algorithm, each under its own kid.
fn signing_keys() -> Vec<DevKey> {
    vec![
        DevKey::rs256(),
        DevKey::ps256().with_kid("rsa-1-pss"),
        DevKey::es256(),
        DevKey::es384(),
        DevKey::eddsa(),
    ]
}

/// Settings trusting [`ISSUER`] for [`AUDIENCE`], with `verified_tokens` cached tokens
/// (0: the verified-token cache is off).
fn settings(verified_tokens: u64) -> Settings {
    Settings::from_toml(&format!(
        r#"
[cache]
verified_tokens = {verified_tokens}

[[issuers]]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
"#
    ))
    .expect("the bench settings are valid")
}

/// The verification core as `serve` builds it ([`Core::build`]), over the in-memory issuer,
/// with an empty key cache (its preload starts with the runtime). Must run inside a runtime.
fn core(settings: &Settings) -> Core {
    Core::build(
        settings.core_config(),
        Some(Arc::new(InMemoryFetcher::serving(
            ISSUER,
            &signing_keys().iter().collect::<Vec<_>>(),
        ))),
        Arc::new(SystemClock),
    )
    .expect("the bench core builds")
}

/// A valid token signed with `key`, valid for an hour.
fn token(key: &DevKey) -> String {
    key.sign(&claims(ISSUER))
}

/// A current-thread runtime: the key cache may spawn background refreshes.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// A core whose key cache already holds the issuer's keys (fetched by one verify).
fn warm_core(rt: &tokio::runtime::Runtime, settings: &Settings) -> Core {
    let core = core(settings);
    rt.block_on(core.verifier.verify(&token(&DevKey::rs256())))
        .expect("the first token fetches the keys and verifies");
    core
}

/// Verifies without an executor: with the keys cached nothing waits, and the bench would
/// otherwise time the executor too.
fn verify_now(verifier: &Verifier, raw: &str) -> Result<Verified, AttributedRejection> {
    verifier
        .verify(raw)
        .now_or_never()
        .expect("with the keys cached, verify completes without waiting")
}

fn verify_each_algorithm_with_cached_keys(c: &mut Criterion) {
    let rt = runtime();
    let _context = rt.enter();
    let core = warm_core(&rt, &settings(0));
    let verifier = &*core.verifier;
    let mut group = c.benchmark_group("verify");
    for key in signing_keys() {
        let token = token(&key);
        verify_now(verifier, &token).expect("the token is valid");
        group.bench_function(format!("{:?}", key.alg()), |b| {
            b.iter(|| verify_now(verifier, black_box(&token)))
        });
    }
    group.finish();
}

fn decode_with_jsonwebtoken_for_reference(c: &mut Criterion) {
    let rt = runtime();
    let _context = rt.enter();
    let core = warm_core(&rt, &settings(0));
    let mut group = c.benchmark_group("decode_reference");
    for key in signing_keys() {
        let token = token(&key);
        let verifying = rt
            .block_on(core.verifier.key_for_token(&token))
            .expect("the key is cached")
            .key;
        group.bench_function(format!("{:?}", key.alg()), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde::de::IgnoredAny>(
                    black_box(&token),
                    &verifying.decoding_key,
                    &verifying.validation,
                )
                .expect("the token is valid")
            })
        });
    }
    group.finish();
}

fn reject_invalid_tokens(c: &mut Criterion) {
    let rt = runtime();
    let _context = rt.enter();
    let core = warm_core(&rt, &settings(0));
    let verifier = &*core.verifier;
    let rs256 = DevKey::rs256();
    let valid = token(&rs256);
    let mut bad_signature = valid.clone();
    // Change one signature character well inside the signature (the last one may hold only
    // padding bits): still valid base64url, no longer the signature.
    let at = bad_signature.len() - 10;
    let flipped = if &bad_signature[at..=at] == "A" {
        "B"
    } else {
        "A"
    };
    bad_signature.replace_range(at..=at, flipped);
    let cases = [
        (
            "malformed",
            unsigned_token(
                &json!({"alg": "RS256", "kid": "rsa-1"}),
                &json!("a payload that is not a JSON object"),
                b"signature",
            ),
        ),
        (
            "untrusted_issuer",
            rs256.sign(&claims("https://unknown.bench.example")),
        ),
        // Inside the refetch window, an unknown kid fails fast without a fetch.
        ("unknown_kid", token(&rs256.with_kid("not-in-the-jwk-set"))),
        ("bad_signature", bad_signature),
    ];
    let mut group = c.benchmark_group("reject");
    for (reason, token) in cases {
        let rejected = verify_now(verifier, &token).expect_err("the token is refused");
        assert_eq!(rejected.rejection.reason(), reason);
        group.bench_function(reason, |b| {
            b.iter(|| verify_now(verifier, black_box(&token)))
        });
    }
    group.finish();
}

fn fetch_keys_for_the_first_token_of_an_issuer(c: &mut Criterion) {
    let rt = runtime();
    let settings = settings(0);
    let token = token(&DevKey::rs256());
    let mut group = c.benchmark_group("key_cache");
    group.bench_function("first_token_of_an_issuer_fetches_its_keys", |b| {
        b.iter_batched(
            || {
                let _context = rt.enter();
                core(&settings)
            },
            |core| {
                rt.block_on(core.verifier.verify(black_box(&token)))
                    .expect("the token is valid")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The verified-token cache (`[cache] verified_tokens`). Add a case here as the cache grows
// (another algorithm, a full cache, many issuers): build the verifier with
// `settings(capacity)` and time `verify_now` on a token in the state the case is about.
// ---------------------------------------------------------------------------------------------
fn verified_token_cache(c: &mut Criterion) {
    let rt = runtime();
    let _context = rt.enter();
    let capacity = CacheSettings::default().verified_tokens;
    let core = warm_core(&rt, &settings(capacity));
    let verifier = &*core.verifier;
    let cache = verifier
        .token_cache()
        .expect("the verified-token cache is on");
    let token = token(&DevKey::rs256());
    let digest = TokenCache::digest(&token);
    let mut group = c.benchmark_group("token_cache");

    // A repeated token: hashed, found, its key checked as still current, claims re-read.
    cache.invalidate(&digest);
    assert!(!verify_now(verifier, &token).expect("valid").from_cache);
    assert!(verify_now(verifier, &token).expect("valid").from_cache);
    group.bench_function("hit/RS256", |b| {
        b.iter(|| verify_now(verifier, black_box(&token)))
    });

    // A token not in the cache: hashed, looked up, then the full verify, then remembered.
    group.bench_function("miss_then_key_lookup/RS256", |b| {
        b.iter_batched(
            || cache.invalidate(&digest),
            |()| verify_now(verifier, black_box(&token)),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn policy_selection_and_checks(c: &mut Criterion) {
    use jwtgate::policy::{
        NamedPolicyConfig, OriginalRequest, Policies, PolicyConfig, RouteConfig, check_all, query,
    };
    let mut routes: Vec<RouteConfig> = (0..19)
        .map(|i| RouteConfig {
            paths: vec![format!("/service-{i}/*"), format!("/api/v{i}/*/items")],
            methods: vec!["GET".into(), "POST".into()],
            policy: "admin".into(),
            ..RouteConfig::default()
        })
        .collect();
    routes.push(RouteConfig {
        paths: vec!["/admin/*".into()],
        hosts: vec!["*.example.com".into()],
        policy: "admin".into(),
        ..RouteConfig::default()
    });
    let policies = Policies::new(
        PolicyConfig {
            policies: vec![NamedPolicyConfig {
                name: "admin".into(),
                issuers: vec![ISSUER.into()],
                audiences: vec![AUDIENCE.into()],
                scopes: vec!["api:read".into()],
                claims: vec![("realm_access.roles".into(), vec!["admin".into()])],
                headers: Vec::new(),
                report_only: false,
            }],
            routes,
            ..PolicyConfig::default()
        },
        |iss| iss == ISSUER,
    )
    .expect("bench policies are valid");
    let request = OriginalRequest {
        uri: Some("/admin/users/42/settings?tab=profile"),
        host: Some("api.example.com:443"),
        method: Some("GET"),
    };
    let mut token = claims(ISSUER);
    token["realm_access"] = json!({"roles": ["user", "admin"]});
    let token = token.as_object().cloned().expect("claims are an object");
    let admin = policies.named("admin").expect("the admin policy");
    let mut group = c.benchmark_group("policy");
    group.bench_function("route_matching_last_of_20", |b| {
        b.iter(|| policies.for_request(black_box(&request)))
    });
    group.bench_function("query_requirements_parsed", |b| {
        b.iter(|| {
            query::requirements(black_box(
                "aud=my-api,other&scope=api:read+api:write&claim.realm_access.roles=admin&page=2",
            ))
        })
    });
    group.bench_function("policy_checked_on_verified_claims", |b| {
        b.iter(|| check_all(black_box(&admin.requirements), ISSUER, black_box(&token)))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
}

/// Claims shaped like a Keycloak / Entra ID access token's (about 1 KB once signed).
fn realistic_claims(iss: &str) -> serde_json::Value {
    let mut claims = claims(iss);
    let extra = json!({
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-example", "reader", "writer"]},
        "resource_access": {
            "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
            "my-api": {"roles": ["invoices:read", "invoices:write"]}
        },
        "groups": ["/engineering", "/engineering/platform", "/oncall"],
        "scp": "api.read api.write",
        "name": "User Number 17",
        "preferred_username": "user17",
        "given_name": "User",
        "family_name": "Number 17",
        "email_verified": true,
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "oid": "00000000-0000-0000-0000-000000000017",
        "sid": "a2b4c6d8-e0f2-4a6c-8e0a-2c4e6a8c0e2a",
        "azp": "my-frontend",
        "acr": "1",
        "allowed-origins": ["https://app.example.com"],
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

fn parse_tokens(c: &mut Criterion) {
    use base64::Engine as _;
    let key = DevKey::rs256();
    let mut group = c.benchmark_group("token_parse");
    let iss = "https://issuer.example";
    for (size, token) in [
        ("small", key.sign(&claims(iss))),
        ("realistic", key.sign(&realistic_claims(iss))),
    ] {
        group.bench_function(size, |b| {
            b.iter(|| {
                let token = jwtgate::token::UnverifiedToken::parse(black_box(&token)).unwrap();
                let registered = |n: &str| jwtgate::token::REGISTERED_CLAIMS.contains(&n);
                black_box(token.into_claims_named(registered))
            })
        });
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        group.bench_function(format!("full_map_reference/{size}"), |b| {
            b.iter(|| {
                black_box(serde_json::from_slice::<
                    serde_json::Map<String, serde_json::Value>,
                >(black_box(&payload)))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse_tokens,
        verify_each_algorithm_with_cached_keys,
        decode_with_jsonwebtoken_for_reference,
        reject_invalid_tokens,
        fetch_keys_for_the_first_token_of_an_issuer,
        verified_token_cache,
        policy_selection_and_checks
}
criterion_main!(benches);
