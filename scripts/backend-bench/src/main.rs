//! Times `jsonwebtoken::decode` (signature + claims) per algorithm with each crypto backend.
//! Usage: backend-bench aws|rc   (one backend per process: the provider is process-global)

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

const ROUNDS: usize = 20;
const PER_ROUND: usize = 1000;

fn main() {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "aws".into());
    match backend.as_str() {
        "aws" => jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default().unwrap(),
        "rc" => jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default().unwrap(),
        other => panic!("unknown backend {other}"),
    }
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys/");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"iss": "https://issuer.example", "sub": "alice", "aud": "my-api",
        "exp": now + 3600, "iat": now, "scope": "api:read api:write", "email": "alice@example.com"});
    for (alg, file) in [
        (Algorithm::RS256, "rsa1.pem"),
        (Algorithm::PS256, "rsa1.pem"),
        (Algorithm::ES256, "ec256.pem"),
        (Algorithm::ES384, "ec384.pem"),
        (Algorithm::EdDSA, "ed25519.pem"),
    ] {
        let pem = std::fs::read(format!("{keys}{file}")).unwrap();
        let enc = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .unwrap();
        let dec = DecodingKey::from_jwk(&Jwk::from_encoding_key(&enc, alg).unwrap()).unwrap();
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &enc).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_audience(&["my-api"]);
        validation.set_issuer(&["https://issuer.example"]);
        let mut rounds: Vec<f64> = (0..ROUNDS + 2)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..PER_ROUND {
                    jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &validation).unwrap();
                }
                start.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64
            })
            .skip(2)
            .collect();
        rounds.sort_by(f64::total_cmp);
        println!("{backend}\t{alg:?}\tmedian {:.1} us\tbest {:.1} us", rounds[ROUNDS / 2], rounds[0]);
    }
}
