//! Turning a JWK set (RFC 7517) into [`VerifyingKey`]s, leniently per entry.
//!
//! An entry that cannot safely verify signatures is skipped with a [`SkipReason`] (counted in
//! metrics) instead of making the whole set unusable, as pyjwt-key-fetcher did. Keys are parsed
//! once per fetched set, never per request.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

mod weak;

use super::signature::SignatureKeys;

use crate::issuer::SUPPORTED_ALGORITHMS;

use super::json::{self, JsonError};

pub use weak::{MAX_RSA_BITS, MAX_RSA_EXPONENT, MIN_RSA_BITS};

/// Usable keys kept from one set at most; real sets hold 1-10. Entries beyond are skipped.
pub const MAX_KEYS_PER_SET: usize = 100;

/// JWK members that may be shown to clients (`/key`): public parameters and metadata only.
/// Private members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) are never copied.
const PUBLIC_MEMBERS: &[&str] = &[
    "kty", "use", "key_ops", "alg", "kid", "n", "e", "crv", "x", "y", "x5c", "x5t", "x5t#S256",
    "x5u",
];

/// RS256-RS512 and PS256-PS512: the first six of [`SUPPORTED_ALGORITHMS`].
const RSA_ALGORITHMS: &[Algorithm] = SUPPORTED_ALGORITHMS.split_at(6).0;

/// A public key ready to verify signatures, with the algorithms it may be used with.
pub struct VerifyingKey {
    /// The key id.
    pub kid: String,
    /// The JWK key type: `RSA`, `EC` or `OKP`.
    pub kty: &'static str,
    /// Algorithms this key verifies: what its `alg` (or, without one, its `kty`/`crv`) allows,
    /// intersected with the issuer's configured algorithms. Never empty.
    pub algorithms: Vec<Algorithm>,
    /// The parsed key, for jsonwebtoken (`jwtgate inspect`, and the reference path the
    /// verifier's equivalence test compares with).
    pub decoding_key: DecodingKey,
    /// The key parsed once by aws-lc-rs, per algorithm: what verification uses.
    pub signature_keys: SignatureKeys,
    /// The issuer's claim checks with `algorithms` narrowed to this key's, built once per set
    /// (jsonwebtoken requires every listed algorithm to fit the key's family).
    pub validation: Validation,
    /// The entry's public members, as published.
    pub jwk: Map<String, Value>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kty", &self.kty)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// Why a JWK set entry was not used. The label is the metrics `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The entry has no `kid` (or an empty one): tokens could not select it.
    MissingKid,
    /// `use` is not `sig`, or `key_ops` lacks `verify`.
    NotForSigning,
    /// `kty: oct`: a symmetric key in a public set would let anyone forge tokens.
    Symmetric,
    /// A key type, curve or algorithm jwtgate cannot verify (P-521, Ed448, RSA over 8192 bits, ...).
    Unsupported,
    /// A required member is missing, of the wrong type, or not valid base64url of the right size.
    Malformed,
    /// A key that makes forgery easy or cannot be a real key: an RSA key under
    /// [`MIN_RSA_BITS`], with an even modulus, or with an exponent that is even or under 3
    /// (`e = 1` makes the signature equal the padded message); an Ed25519 key of small order
    /// (`8·A` = identity, listed in `jwks/weak.rs`) or with a non-canonical `y >= p`.
    WeakKey,
    /// None of the key's algorithms is allowed for this issuer.
    NoAllowedAlgorithm,
    /// An earlier entry has the same `kid` (the first one wins).
    DuplicateKid,
    /// More than [`MAX_KEYS_PER_SET`] usable keys.
    TooManyKeys,
}

impl SkipReason {
    /// Every skip reason, for metrics created before the first skip.
    pub const ALL: [SkipReason; 9] = [
        SkipReason::MissingKid,
        SkipReason::NotForSigning,
        SkipReason::Symmetric,
        SkipReason::Unsupported,
        SkipReason::Malformed,
        SkipReason::WeakKey,
        SkipReason::NoAllowedAlgorithm,
        SkipReason::DuplicateKid,
        SkipReason::TooManyKeys,
    ];

    /// The stable label used in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::MissingKid => "missing_kid",
            SkipReason::NotForSigning => "not_for_signing",
            SkipReason::Symmetric => "symmetric",
            SkipReason::Unsupported => "unsupported",
            SkipReason::Malformed => "malformed",
            SkipReason::WeakKey => "weak_key",
            SkipReason::NoAllowedAlgorithm => "no_allowed_algorithm",
            SkipReason::DuplicateKid => "duplicate_kid",
            SkipReason::TooManyKeys => "too_many_keys",
        }
    }
}

/// A parsed set: usable keys by kid, and what was skipped.
#[derive(Debug, Default)]
pub struct ParsedJwkSet {
    /// Usable keys by `kid`.
    pub keys: HashMap<String, Arc<VerifyingKey>>,
    /// One reason per skipped entry.
    pub skipped: Vec<SkipReason>,
}

/// Why a whole document is not a JWK set.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    /// Not JSON, or nested too deep.
    #[error("not a JWK set: {0}")]
    NotJson(#[source] JsonError),
    /// JSON, but not an object with a `keys` member.
    #[error("not a JWK set: expected an object with a \"keys\" member")]
    NoKeys,
    /// `keys` is not an array.
    #[error("not a JWK set: \"keys\" is not an array")]
    KeysNotAnArray,
}

/// Parses a JWK set document (its nesting bounded first, see [`super::check_json_depth`]).
/// `template` holds the issuer's claim checks; its `algorithms` are the algorithms allowed for
/// the issuer.
pub fn parse_jwk_set(body: &[u8], template: &Validation) -> Result<ParsedJwkSet, JwksError> {
    let document = json::parse(body).map_err(JwksError::NotJson)?;
    let Some(entries) = document.as_object().and_then(|o| o.get("keys")) else {
        return Err(JwksError::NoKeys);
    };
    let Some(entries) = entries.as_array() else {
        return Err(JwksError::KeysNotAnArray);
    };
    let mut set = ParsedJwkSet::default();
    for entry in entries {
        match parse_key(entry, template) {
            Ok(_) if set.keys.len() >= MAX_KEYS_PER_SET => {
                set.skipped.push(SkipReason::TooManyKeys)
            }
            Ok(key) if set.keys.contains_key(&key.kid) => {
                set.skipped.push(SkipReason::DuplicateKid)
            }
            Ok(key) => {
                set.keys.insert(key.kid.clone(), Arc::new(key));
            }
            Err(reason) => set.skipped.push(reason),
        }
    }
    Ok(set)
}

/// Parses one entry into a key, or says why it is not usable.
fn parse_key(entry: &Value, template: &Validation) -> Result<VerifyingKey, SkipReason> {
    let allowed = &template.algorithms;
    let obj = entry.as_object().ok_or(SkipReason::Malformed)?;
    let kid = match obj.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        Some(Value::String(_)) | None => return Err(SkipReason::MissingKid),
        Some(_) => return Err(SkipReason::Malformed),
    };
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(_)) => return Err(SkipReason::NotForSigning),
        Some(_) => return Err(SkipReason::Malformed),
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::Malformed)?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SkipReason::NotForSigning);
        }
    }
    let declared_alg = match obj.get("alg") {
        None => None,
        Some(Value::String(alg)) => {
            Some(Algorithm::from_str(alg).map_err(|_| SkipReason::Unsupported)?)
        }
        Some(_) => return Err(SkipReason::Malformed),
    };
    let text = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .ok_or(SkipReason::Malformed)
    };
    let kty = text("kty")?;
    let (kty, family, decoding_key, public): (_, Vec<Algorithm>, DecodingKey, PublicBytes) =
        match kty {
            "RSA" => {
                let (n, e) = (text("n")?, text("e")?);
                let (n_bytes, e_bytes) = (decode_b64(n)?, decode_b64(e)?);
                weak::check_rsa_modulus(&n_bytes)?;
                weak::check_rsa_exponent(&e_bytes)?;
                let key =
                    DecodingKey::from_rsa_components(n, e).map_err(|_| SkipReason::Malformed)?;
                (
                    "RSA",
                    RSA_ALGORITHMS.to_vec(),
                    key,
                    PublicBytes::Rsa(n_bytes, e_bytes),
                )
            }
            "EC" => {
                let (alg, size) = match text("crv")? {
                    "P-256" => (Algorithm::ES256, 32),
                    "P-384" => (Algorithm::ES384, 48),
                    _ => return Err(SkipReason::Unsupported),
                };
                let (x, y) = (text("x")?, text("y")?);
                let (x_bytes, y_bytes) = (decode_b64(x)?, decode_b64(y)?);
                if x_bytes.len() != size || y_bytes.len() != size {
                    return Err(SkipReason::Malformed);
                }
                // aws-lc checks the point is on the curve (coordinates below p, not the point at
                // infinity), so a broken key is counted once here instead of failing every token.
                let point = [&[0x04][..], &x_bytes, &y_bytes].concat();
                let curve = if alg == Algorithm::ES256 {
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED
                };
                aws_lc_rs::signature::ParsedPublicKey::new(curve, &point)
                    .map_err(|_| SkipReason::Malformed)?;
                let key =
                    DecodingKey::from_ec_components(x, y).map_err(|_| SkipReason::Malformed)?;
                ("EC", vec![alg], key, PublicBytes::Point(point.to_vec()))
            }
            "OKP" => {
                if text("crv")? != "Ed25519" {
                    return Err(SkipReason::Unsupported);
                }
                let x = text("x")?;
                let point: [u8; 32] = decode_b64(x)?
                    .try_into()
                    .map_err(|_| SkipReason::Malformed)?;
                if weak::is_weak_ed25519_point(&point) {
                    return Err(SkipReason::WeakKey);
                }
                let key = DecodingKey::from_ed_components(x).map_err(|_| SkipReason::Malformed)?;
                (
                    "OKP",
                    vec![Algorithm::EdDSA],
                    key,
                    PublicBytes::Point(point.to_vec()),
                )
            }
            "oct" => return Err(SkipReason::Symmetric),
            _ => return Err(SkipReason::Unsupported),
        };
    let key_algorithms = match declared_alg {
        // A declared alg must belong to the key's family: `alg: HS256` on an RSA key is refused.
        Some(alg) if family.contains(&alg) => vec![alg],
        Some(_) => return Err(SkipReason::Unsupported),
        None => family,
    };
    let algorithms: Vec<Algorithm> = key_algorithms
        .into_iter()
        .filter(|a| allowed.contains(a))
        .collect();
    if algorithms.is_empty() {
        return Err(SkipReason::NoAllowedAlgorithm);
    }
    let jwk = obj
        .iter()
        .filter(|(k, _)| PUBLIC_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let signature_keys = match &public {
        PublicBytes::Rsa(n, e) => SignatureKeys::rsa(n, e, &algorithms),
        PublicBytes::Point(bytes) => SignatureKeys::point(bytes, algorithms[0]),
    }
    .map_err(|_| SkipReason::Malformed)?;
    let mut validation = template.clone();
    validation.algorithms = algorithms.clone();
    Ok(VerifyingKey {
        kid,
        kty,
        algorithms,
        decoding_key,
        signature_keys,
        validation,
        jwk,
    })
}

/// The public key material, decoded once for both parsers.
enum PublicBytes {
    /// RSA modulus and exponent, big-endian.
    Rsa(Vec<u8>, Vec<u8>),
    /// An EC point (`04 || x || y`) or an Ed25519 public key.
    Point(Vec<u8>),
}

fn decode_b64(text: &str) -> Result<Vec<u8>, SkipReason> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| SkipReason::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(super) fn rsa(kid: &str, bits: usize) -> Value {
        let mut n = vec![0xC5u8; bits / 8];
        n[0] = 0xC5;
        json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB"})
    }

    /// A real P-256 public point (04 || x || y), generated once.
    fn p256_point() -> &'static [u8] {
        static POINT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        POINT.get_or_init(|| {
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            pair.public_key().as_ref().to_vec()
        })
    }

    fn ec(kid: &str) -> Value {
        let point = p256_point();
        json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    pub(super) fn ed25519(x: &[u8]) -> Value {
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(x)})
    }

    fn allowing(algorithms: &[Algorithm]) -> Validation {
        let mut template = Validation::new(algorithms[0]);
        template.algorithms = algorithms.to_vec();
        template
    }

    pub(super) fn all() -> Validation {
        allowing(&SUPPORTED_ALGORITHMS)
    }

    fn parse(entries: Vec<Value>) -> ParsedJwkSet {
        parse_jwk_set(json!({ "keys": entries }).to_string().as_bytes(), &all()).unwrap()
    }

    #[test]
    fn a_key_without_alg_gets_every_algorithm_its_type_allows() {
        let set = parse(vec![rsa("r", 2048), ec("e")]);
        assert_eq!(set.keys["r"].algorithms, RSA_ALGORITHMS.to_vec());
        assert_eq!(set.keys["e"].algorithms, vec![Algorithm::ES256]);
    }

    #[test]
    fn key_algorithms_are_intersected_with_the_allowed_ones() {
        let key = parse_key(
            &rsa("r", 2048),
            &allowing(&[Algorithm::PS256, Algorithm::ES256]),
        )
        .unwrap();
        assert_eq!(key.algorithms, vec![Algorithm::PS256]);
        assert_eq!(
            parse_key(&ec("e"), &allowing(&[Algorithm::RS256])).unwrap_err(),
            SkipReason::NoAllowedAlgorithm
        );
    }

    #[test]
    fn a_declared_alg_narrows_the_key_and_must_fit_its_type() {
        let mut entry = rsa("r", 2048);
        entry["alg"] = json!("RS384");
        assert_eq!(
            parse_key(&entry, &all()).unwrap().algorithms,
            vec![Algorithm::RS384]
        );
        entry["alg"] = json!("ES256");
        assert_eq!(
            parse_key(&entry, &all()).unwrap_err(),
            SkipReason::Unsupported
        );
        entry["alg"] = json!("HS256");
        assert_eq!(
            parse_key(&entry, &all()).unwrap_err(),
            SkipReason::Unsupported
        );
    }

    #[test]
    fn unusable_entries_are_skipped_with_a_reason_and_the_rest_still_work() {
        let mut enc = rsa("enc", 2048);
        enc["use"] = json!("enc");
        let mut wrapping = rsa("wrap", 2048);
        wrapping["key_ops"] = json!(["wrapKey"]);
        let set = parse(vec![
            rsa("good", 2048),
            json!("not an object"),
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            enc,
            wrapping,
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}),
            json!({"kty": "EC", "kid": "short", "crv": "P-256", "x": "AA", "y": "AA"}),
            rsa("weak", 1024),
            rsa("good", 4096),
        ]);
        assert_eq!(set.keys.keys().collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(
            set.skipped,
            vec![
                SkipReason::Malformed,
                SkipReason::MissingKid,
                SkipReason::NotForSigning,
                SkipReason::NotForSigning,
                SkipReason::Symmetric,
                SkipReason::Unsupported,
                SkipReason::Malformed,
                SkipReason::WeakKey,
                SkipReason::DuplicateKid,
            ]
        );
    }

    #[test]
    fn private_members_are_never_kept() {
        let mut entry = rsa("r", 2048);
        entry["d"] = json!("secret");
        entry["p"] = json!("secret");
        let key = parse_key(&entry, &all()).unwrap();
        assert!(
            key.jwk.contains_key("n") && !key.jwk.contains_key("d") && !key.jwk.contains_key("p")
        );
    }

    #[test]
    fn a_document_without_a_keys_array_is_not_a_jwk_set() {
        for body in ["[]", "{}", "{\"keys\": {}}", "<html>", ""] {
            assert!(parse_jwk_set(body.as_bytes(), &all()).is_err(), "{body}");
        }
        assert!(
            parse_jwk_set(b"{\"keys\": []}", &all())
                .unwrap()
                .keys
                .is_empty()
        );
    }

    #[test]
    fn the_number_of_keys_kept_is_bounded() {
        let set = parse(
            (0..MAX_KEYS_PER_SET + 5)
                .map(|i| ec(&format!("k{i}")))
                .collect(),
        );
        assert_eq!(set.keys.len(), MAX_KEYS_PER_SET);
        assert_eq!(set.skipped, vec![SkipReason::TooManyKeys; 5]);
    }

    #[test]
    fn an_ec_point_off_its_curve_is_malformed() {
        let off_curve = json!({"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
        assert_eq!(
            parse_key(&off_curve, &all()).unwrap_err(),
            SkipReason::Malformed
        );
        let mut beyond_p = ec("e");
        beyond_p["y"] = json!(b64(&[0xff; 32]));
        assert_eq!(
            parse_key(&beyond_p, &all()).unwrap_err(),
            SkipReason::Malformed
        );
    }
}
