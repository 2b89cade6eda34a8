//! JWK set and discovery document parsing (and caching headers), on arbitrary input.
#![no_main]

use jsonwebtoken::{Algorithm, Validation};
use jwtgate::fetch::CacheHeaders;
use jwtgate::keys::{IssuerMember, check_json_depth, jwks_uri_from_discovery, parse_jwk_set};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut template = Validation::new(Algorithm::RS256);
    template.algorithms = jwtgate::issuer::SUPPORTED_ALGORITHMS.to_vec();
    if check_json_depth(data).is_ok() {
        if let Ok(set) = parse_jwk_set(data, &template) {
            for key in set.keys.values() {
                assert!(!key.algorithms.is_empty());
                assert!(!key.jwk.contains_key("d"));
            }
        }
        for member in [IssuerMember::Required, IssuerMember::CheckedIfPresent] {
            let _ = jwks_uri_from_discovery(data, "https://issuer.example", member);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = CacheHeaders::parse(Some(text), Some(text));
    }
});
