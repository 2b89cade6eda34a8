//! The token parser: header/payload decoding and claim extraction, on arbitrary input.
#![no_main]

use jwtgate::token::UnverifiedToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match UnverifiedToken::parse(text) {
        Ok(token) => {
            let _ = token.unverified_alg().parse::<jsonwebtoken::Algorithm>();
            let _ = (token.unverified_kid(), token.unverified_issuer(), token.signing_input());
            for value in token.unverified_claims().values() {
                let _ = jwtgate::http::header_value(value);
            }
        }
        Err(e) => {
            let _ = e.reason();
        }
    }
});
