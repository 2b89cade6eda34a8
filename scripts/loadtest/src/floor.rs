//! `floor`: the crypto floor of a distinct-token request on this machine, measured in the same
//! run as the load: one signature verification with a key parsed once by aws-lc-rs
//! (`ParsedPublicKey`, what jwtgate keeps per JWK), and, for comparison, with the key parsed on
//! every call (`UnparsedPublicKey`, what `jsonwebtoken::decode` makes aws-lc do). Prints
//! `floor alg=RS256 parsed_us=.. unparsed_us=..`: the median of 7 batches.

use std::time::Instant;

use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey, UnparsedPublicKey};
use base64::Engine as _;

/// Verifications per batch.
const BATCH: u32 = 2000;
/// Batches; the median is reported.
const BATCHES: usize = 7;

pub fn floor(keys_dir: &str, alg: &str) {
    let message = b"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiJ1c2VyLTAifQ";
    let (public_key, signature, algorithm): (
        Vec<u8>,
        Vec<u8>,
        &'static dyn signature::VerificationAlgorithm,
    ) = match alg {
        "RS256" => {
            let pair =
                signature::RsaKeyPair::from_pkcs8(&der(keys_dir, "rsa1.pem")).expect("RSA key");
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .expect("sign");
            (
                pair.public_key().as_ref().to_vec(),
                sig,
                &signature::RSA_PKCS1_2048_8192_SHA256,
            )
        }
        "ES256" => {
            let pair = signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der(keys_dir, "ec256.pem"),
            )
            .expect("EC key");
            let sig = pair
                .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                .expect("sign");
            (
                pair.public_key().as_ref().to_vec(),
                sig.as_ref().to_vec(),
                &signature::ECDSA_P256_SHA256_FIXED,
            )
        }
        "EdDSA" => {
            let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der(
                keys_dir,
                "ed25519.pem",
            ))
            .expect("Ed25519 key");
            let sig = pair.sign(message);
            (
                pair.public_key().as_ref().to_vec(),
                sig.as_ref().to_vec(),
                &signature::ED25519,
            )
        }
        other => panic!("loadtest: floor knows RS256, ES256 and EdDSA, not {other:?}"),
    };
    let parsed = ParsedPublicKey::new(algorithm, &public_key).expect("the public key parses");
    let unparsed = UnparsedPublicKey::new(algorithm, &public_key);
    let parsed_us = median_us(|| parsed.verify_sig(message, &signature).is_ok());
    let unparsed_us = median_us(|| unparsed.verify(message, &signature).is_ok());
    println!("floor alg={alg} parsed_us={parsed_us:.2} unparsed_us={unparsed_us:.2}");
}

/// Median microseconds per call of `verify` (which must succeed) over [`BATCHES`] batches.
fn median_us(verify: impl Fn() -> bool) -> f64 {
    assert!(verify(), "the signature verifies");
    let mut batches: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                assert!(std::hint::black_box(verify()));
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[BATCHES / 2]
}

/// The DER of a PEM private key file (PKCS#8) among the test keys.
fn der(dir: &str, file: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(format!("{dir}/{file}")).expect("read the test key");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64")
}
