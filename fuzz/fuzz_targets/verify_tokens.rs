//! The whole verifier (`Core::build`, as `serve` builds it) on arbitrary tokens, against an
//! in-memory issuer holding real keys of every algorithm (the test kit): never a panic, and
//! nothing but a token signed by one of those keys verifies.
#![no_main]

use std::sync::{Arc, OnceLock};

use jwtgate::clock::SystemClock;
use jwtgate::core::{Core, CoreConfig};
use jwtgate::dev::{DevKey, InMemoryFetcher};
use jwtgate::issuer::{IssuerConfig, SUPPORTED_ALGORITHMS, TrustConfig};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://issuer.fuzz.example";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    core: Core,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let keys = [DevKey::rs256(), DevKey::es256(), DevKey::eddsa()];
        let fetcher = InMemoryFetcher::serving(ISSUER, &keys.iter().collect::<Vec<_>>());
        let config = CoreConfig {
            trust: TrustConfig {
                issuers: vec![IssuerConfig {
                    issuer: ISSUER.into(),
                    audiences: vec!["my-api".into()],
                    ..IssuerConfig::default()
                }],
                allow_any_issuer: false,
                https_only: true,
                algorithms: SUPPORTED_ALGORITHMS.to_vec(),
                leeway_secs: 60,
                config_path: None,
                max_admitted: 32,
            },
            cache: Default::default(),
            max_issuers: 32,
            fetch: Default::default(),
            token_cache: None,
        };
        let core = {
            let _context = runtime.enter();
            Core::build(config, Some(Arc::new(fetcher)), Arc::new(SystemClock)).expect("builds")
        };
        Fixture { runtime, core }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let fixture = fixture();
    if let Ok(verified) = fixture.runtime.block_on(fixture.core.verifier.verify(raw)) {
        assert_eq!(&*verified.policy.issuer, ISSUER, "only the configured issuer verifies");
    }
});
