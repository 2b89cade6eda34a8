//! Real key material for tests: fixed keys generated with the openssl CLI (`tests/keys/*.pem`),
//! their public JWKs, and token minting relative to now.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A signing key with its kid and algorithm.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pem: &'static str,
}

const RSA1: &str = include_str!("../keys/rsa1.pem");
const RSA2: &str = include_str!("../keys/rsa2.pem");
const EC256: &str = include_str!("../keys/ec256.pem");
const EC384: &str = include_str!("../keys/ec384.pem");
const ED25519: &str = include_str!("../keys/ed25519.pem");

impl TestKey {
    fn new(pem: &'static str, kid: &str, alg: Algorithm) -> Self {
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("test key parses");
        Self {
            kid: kid.to_string(),
            alg,
            encoding,
            pem,
        }
    }

    pub fn rs256() -> Self {
        Self::new(RSA1, "rsa-1", Algorithm::RS256)
    }
    /// A second RSA key, for rotation tests.
    pub fn rs256_rotated() -> Self {
        Self::new(RSA2, "rsa-2", Algorithm::RS256)
    }
    pub fn ps256() -> Self {
        Self::new(RSA1, "rsa-1", Algorithm::PS256)
    }
    pub fn es256() -> Self {
        Self::new(EC256, "ec-256", Algorithm::ES256)
    }
    pub fn es384() -> Self {
        Self::new(EC384, "ec-384", Algorithm::ES384)
    }
    pub fn eddsa() -> Self {
        Self::new(ED25519, "ed-1", Algorithm::EdDSA)
    }

    /// The same key under another kid.
    pub fn with_kid(&self, kid: &str) -> Self {
        Self {
            kid: kid.into(),
            ..self.clone()
        }
    }

    /// The same key used with another algorithm of its family.
    pub fn with_alg(&self, alg: Algorithm) -> Self {
        Self::new(self.pem, &self.kid, alg)
    }

    /// The public JWK, with `kid`, `use: sig` and `alg`.
    pub fn jwk(&self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.encoding, self.alg).expect("public jwk");
        let mut value = serde_json::to_value(jwk).expect("jwk serializes");
        value["kid"] = json!(self.kid);
        value["use"] = json!("sig");
        value
    }

    /// The public JWK without `alg` (the key's type decides its algorithms).
    pub fn jwk_without_alg(&self) -> Value {
        let mut jwk = self.jwk();
        jwk.as_object_mut().unwrap().remove("alg");
        jwk
    }

    /// Signs `claims` with a standard header (`alg`, `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing works")
    }

    /// The RSA public key in PKCS#1 DER, as an attacker would use it for an HS256 "signature".
    pub fn public_key_bytes(&self) -> Vec<u8> {
        let jwk = self.jwk();
        let n = jwk["n"].as_str().unwrap();
        URL_SAFE_NO_PAD.decode(n).unwrap()
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Standard claims for `iss`, valid for an hour, audience `my-api`.
pub fn claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": "alice",
        "aud": "my-api",
        "iat": now(),
        "exp": now() + 3600,
        "email": "alice@example.com",
        "roles": ["admin", "dev"],
        "scope": "api:read api:write",
    })
}

/// A token with a hand-made header and payload and an arbitrary signature part.
pub fn unsigned_token(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An HS256 token whose "secret" is `secret`: the classic algorithm-confusion forgery.
pub fn hs256_token(secret: &[u8], kid: &str, payload: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, payload, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}
