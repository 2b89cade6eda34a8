//! [`DevKey`]: a signing key pair with its public JWK, generated fresh (`jwtgate dev`) or, with
//! the `test-helpers` feature, one of the fixed test keys in `tests/keys/` (generated once with
//! the openssl CLI, so tests and the load test see the same `kid`s and bytes every run).

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

use super::DevError;

/// Characters of the key's RFC 7638 thumbprint used in a generated key's `kid` (48 bits:
/// distinct per run).
const KID_THUMBPRINT_CHARS: usize = 8;

/// A signing key pair with its `kid`, its algorithm and its public JWK. Cloning is cheap-ish
/// (the parsed key is cloned, the PEM is shared).
#[derive(Clone)]
pub struct DevKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    /// PKCS#8 PEM of the private key: kept so the key can be re-read for another algorithm of
    /// its family (`with_alg`).
    #[cfg(any(test, feature = "test-helpers"))]
    pem: Arc<str>,
}

impl std::fmt::Debug for DevKey {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// Generates a fresh key pair for `alg`: RSA 2048 for RS*/PS*, P-256 for ES256, P-384 for
    /// ES384, Ed25519 for EdDSA. Its `kid` is `dev-` and the start of its RFC 7638 thumbprint.
    ///
    /// # Errors
    /// `alg` is symmetric or unknown, or the crypto library fails.
    pub fn generate(alg: Algorithm) -> Result<Self, DevError> {
        let failed = |_| DevError::KeyGeneration(alg);
        let pkcs8: Vec<u8> = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(failed)?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(failed)?;
                der.as_ref().to_vec()
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let curve = if alg == Algorithm::ES256 {
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(curve).map_err(failed)?;
                pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
            }
            Algorithm::EdDSA => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(failed)?;
                pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
            }
            other => return Err(DevError::UnsupportedAlgorithm(other)),
        };
        // jsonwebtoken reads PKCS#8 through PEM for every family (its RSA DER path wants PKCS#1).
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&pkcs8)
        );
        let mut key = Self::from_pem(pem.into(), String::new(), alg)?;
        let public = Jwk::from_encoding_key(&key.encoding, alg).map_err(DevError::Sign)?;
        let thumbprint = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(DevError::Sign)?;
        key.set_kid(format!("dev-{}", &thumbprint[..KID_THUMBPRINT_CHARS]));
        Ok(key)
    }

    /// Reads a PKCS#8 PEM private key of `alg`'s family and derives its public JWK.
    fn from_pem(pem: Arc<str>, kid: String, alg: Algorithm) -> Result<Self, DevError> {
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                return Err(DevError::UnsupportedAlgorithm(alg));
            }
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(DevError::Sign)?;
        let public = Jwk::from_encoding_key(&encoding, alg).map_err(DevError::Sign)?;
        let jwk = serde_json::to_value(&public).map_err(|e| DevError::Sign(e.into()))?;
        let mut key = Self {
            alg,
            kid: String::new(),
            encoding,
            jwk,
            #[cfg(any(test, feature = "test-helpers"))]
            pem,
        };
        key.set_kid(kid);
        Ok(key)
    }

    fn set_kid(&mut self, kid: String) {
        self.jwk["kid"] = json!(kid);
        self.jwk["use"] = json!("sig");
        self.kid = kid;
    }

    /// The algorithm tokens are signed with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id in every token's header and in the JWK set.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (with `kid`, `use: sig` and `alg`), never a private member.
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// Signs `claims` with a header carrying `alg`, `typ: JWT` and the `kid`.
    ///
    /// # Errors
    /// The claims do not serialize to a JSON object, or the signature could not be made.
    pub fn try_sign<T: Serialize>(&self, claims: &T) -> Result<String, DevError> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(DevError::Sign)
    }
}

/// The fixed test keys and what tests do with them.
#[cfg(any(test, feature = "test-helpers"))]
mod fixed {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::Algorithm;
    use serde::Serialize;
    use serde_json::Value;

    use super::DevKey;

    const RSA1: &str = include_str!("../../tests/keys/rsa1.pem");
    const RSA2: &str = include_str!("../../tests/keys/rsa2.pem");
    const EC256: &str = include_str!("../../tests/keys/ec256.pem");
    const EC384: &str = include_str!("../../tests/keys/ec384.pem");
    const ED25519: &str = include_str!("../../tests/keys/ed25519.pem");

    impl DevKey {
        fn fixed(pem: &str, kid: &str, alg: Algorithm) -> Self {
            Self::from_pem(pem.into(), kid.into(), alg).expect("a test key parses")
        }

        /// RSA 2048 (`tests/keys/rsa1.pem`), kid `rsa-1`, RS256.
        pub fn rs256() -> Self {
            Self::fixed(RSA1, "rsa-1", Algorithm::RS256)
        }

        /// A second RSA 2048 key (`rsa2.pem`), kid `rsa-2`, RS256: for rotation tests.
        pub fn rs256_rotated() -> Self {
            Self::fixed(RSA2, "rsa-2", Algorithm::RS256)
        }

        /// The [`DevKey::rs256`] key pair used with PS256, under the same kid `rsa-1`.
        pub fn ps256() -> Self {
            Self::fixed(RSA1, "rsa-1", Algorithm::PS256)
        }

        /// P-256 (`ec256.pem`), kid `ec-256`, ES256.
        pub fn es256() -> Self {
            Self::fixed(EC256, "ec-256", Algorithm::ES256)
        }

        /// P-384 (`ec384.pem`), kid `ec-384`, ES384.
        pub fn es384() -> Self {
            Self::fixed(EC384, "ec-384", Algorithm::ES384)
        }

        /// Ed25519 (`ed25519.pem`), kid `ed-1`, EdDSA.
        pub fn eddsa() -> Self {
            Self::fixed(ED25519, "ed-1", Algorithm::EdDSA)
        }

        /// The same key under another kid.
        pub fn with_kid(&self, kid: &str) -> Self {
            let mut key = self.clone();
            key.set_kid(kid.into());
            key
        }

        /// The same key used with another algorithm of its family.
        ///
        /// # Panics
        /// `alg` is not of the key's family.
        pub fn with_alg(&self, alg: Algorithm) -> Self {
            Self::from_pem(self.pem.clone(), self.kid.clone(), alg)
                .expect("the algorithm fits the key's family")
        }

        /// The public JWK without `alg` (the key's type decides its algorithms).
        pub fn jwk_without_alg(&self) -> Value {
            let mut jwk = self.jwk();
            if let Some(members) = jwk.as_object_mut() {
                members.remove("alg");
            }
            jwk
        }

        /// Signs `claims` with a standard header (`alg`, `typ`, `kid`).
        ///
        /// # Panics
        /// Signing fails (claims that are not a JSON object).
        pub fn sign<T: Serialize>(&self, claims: &T) -> String {
            self.try_sign(claims).expect("signing works")
        }

        /// The public key as an X.509 SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`),
        /// as an operator would configure it in `public_key_files`.
        ///
        /// # Panics
        /// The crypto library cannot re-read the key (it just wrote it).
        pub fn public_key_pem(&self) -> String {
            use aws_lc_rs::encoding::PublicKeyX509Der;
            use aws_lc_rs::signature::KeyPair as _;
            let body: String = self
                .pem
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .collect();
            let pkcs8 = STANDARD.decode(body).expect("the PEM is base64");
            let der: PublicKeyX509Der<'static> = match self.jwk["kty"].as_str() {
                Some("RSA") => aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
                    .expect("a PKCS#8 RSA key")
                    .public_key()
                    .as_der(),
                Some("EC") => {
                    let curve = if self.jwk["crv"] == "P-256" {
                        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING
                    } else {
                        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING
                    };
                    aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(curve, &pkcs8)
                        .expect("a PKCS#8 EC key")
                        .public_key()
                        .as_der()
                }
                _ => aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
                    .expect("a PKCS#8 Ed25519 key")
                    .public_key()
                    .as_der(),
            }
            .expect("a public key encodes");
            let lines: Vec<String> = STANDARD
                .encode(der.as_ref())
                .as_bytes()
                .chunks(64)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect();
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                lines.join("\n")
            )
        }

        /// Signs `claims` with a header whose `typ` is `typ` (`at+jwt` for an RFC 9068 access
        /// token), or without `typ` when `None`.
        ///
        /// # Panics
        /// Signing fails (claims that are not a JSON object).
        pub fn sign_with_typ<T: Serialize>(&self, typ: Option<&str>, claims: &T) -> String {
            let mut header = jsonwebtoken::Header::new(self.alg);
            header.kid = Some(self.kid.clone());
            header.typ = typ.map(str::to_string);
            jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing works")
        }

        /// Signs `claims` under `header` (this key's `alg` and `kid` added unless `header`
        /// names its own), every part unpadded base64url: a token whose header carries members
        /// jsonwebtoken's `Header` has no field for, or values of unexpected types.
        ///
        /// # Panics
        /// `header` is not a JSON object, or signing fails.
        pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
            self.sign_parts(header, claims, &URL_SAFE_NO_PAD)
        }

        /// Signs `claims` under `header` (this key's `alg` and `kid` added) the way AWS ALB
        /// writes `x-amzn-oidc-data`: every part base64url WITH `=` padding, the signature
        /// computed over the padded header and payload.
        ///
        /// # Panics
        /// `header` is not a JSON object, or signing fails.
        pub fn sign_padded(&self, header: &Value, claims: &Value) -> String {
            let mut header = header.as_object().expect("a header object").clone();
            header.insert("alg".into(), format!("{:?}", self.alg).into());
            header.insert("kid".into(), self.kid.clone().into());
            self.sign_parts(
                &Value::Object(header),
                claims,
                &base64::engine::general_purpose::URL_SAFE,
            )
        }

        /// `header` (with this key's `alg` and `kid` unless it names them) and `claims`, each
        /// encoded by `engine`, and the signature over them.
        fn sign_parts(
            &self,
            header: &Value,
            claims: &Value,
            engine: &base64::engine::GeneralPurpose,
        ) -> String {
            let mut header = header.as_object().expect("a header object").clone();
            header
                .entry("alg")
                .or_insert_with(|| format!("{:?}", self.alg).into());
            header
                .entry("kid")
                .or_insert_with(|| self.kid.clone().into());
            let signing_input = format!(
                "{}.{}",
                engine.encode(Value::Object(header).to_string()),
                engine.encode(claims.to_string())
            );
            let signature =
                jsonwebtoken::crypto::sign(signing_input.as_bytes(), &self.encoding, self.alg)
                    .expect("signing works");
            let signature = URL_SAFE_NO_PAD
                .decode(signature)
                .expect("jsonwebtoken answers base64url");
            format!("{signing_input}.{}", engine.encode(signature))
        }

        /// The RSA modulus (the JWK's `n`) as bytes: public material an attacker could use as
        /// an HS256 "secret".
        ///
        /// # Panics
        /// The key is not an RSA key.
        pub fn public_key_bytes(&self) -> Vec<u8> {
            let n = self.jwk["n"].as_str().expect("an RSA key");
            URL_SAFE_NO_PAD.decode(n).expect("n is base64url")
        }
    }
}
