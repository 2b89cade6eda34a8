//! A PEM public key (an operator's file, for an issuer without a JWK set) as a JWK, so it goes
//! through exactly the checks a published key does ([`super::parse_jwk_set`]: weak RSA keys,
//! points off their curve, small-order Ed25519 keys, the issuer's algorithms).
//!
//! Accepted: one `PUBLIC KEY` block (X.509 SubjectPublicKeyInfo: RSA, EC P-256 or P-384,
//! Ed25519) or one `RSA PUBLIC KEY` block (PKCS #1). The DER is read by a small strict reader
//! (definite lengths in minimal form, no trailing bytes, no recursion), so a hostile file can
//! neither exhaust the stack nor smuggle in a second key. A private key is refused by its tag
//! and never echoed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Largest PEM file read (a 16384-bit RSA public key is about 3 KiB of PEM).
pub const MAX_PEM_BYTES: usize = 16 * 1024;

/// Why a PEM file holds no usable public key.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PemError {
    /// Not PEM, or more or fewer than one block.
    #[error("not one PEM block")]
    NotOnePem,
    /// A private key: refused (and its contents never shown).
    #[error("holds a private key; give the public key only")]
    PrivateKey,
    /// Another PEM type (a certificate, ...).
    #[error("holds a {0:?} block, not a PUBLIC KEY or RSA PUBLIC KEY")]
    UnexpectedTag(String),
    /// The DER inside is not a public key structure jwtgate reads.
    #[error("the public key is malformed: {0}")]
    Malformed(&'static str),
    /// A well-formed key of a type or curve jwtgate does not verify with.
    #[error("the public key type is not supported (RSA, EC P-256, EC P-384 or Ed25519)")]
    Unsupported,
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;

/// The JWK (`kty`, `kid` and the public members) of the one public key in `text`.
pub fn jwk_from_pem(kid: &str, text: &[u8]) -> Result<Value, PemError> {
    let blocks = pem::parse_many(text).map_err(|_| PemError::NotOnePem)?;
    let [block] = blocks.as_slice() else {
        return Err(PemError::NotOnePem);
    };
    let mut jwk = match block.tag() {
        "PUBLIC KEY" => spki(block.contents())?,
        "RSA PUBLIC KEY" => {
            let mut outer = Der::new(block.contents());
            let key = outer.read(SEQUENCE)?;
            outer.finish()?;
            rsa(key)?
        }
        tag if tag.contains("PRIVATE") => return Err(PemError::PrivateKey),
        tag => return Err(PemError::UnexpectedTag(tag.chars().take(40).collect())),
    };
    jwk["kid"] = json!(kid);
    Ok(jwk)
}

/// A SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
fn spki(der: &[u8]) -> Result<Value, PemError> {
    let mut outer = Der::new(der);
    let mut info = Der::new(outer.read(SEQUENCE)?);
    outer.finish()?;
    let mut algorithm = Der::new(info.read(SEQUENCE)?);
    let bits = info.read(BIT_STRING)?;
    info.finish()?;
    let oid = algorithm.read(OID)?;
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(PemError::Malformed("the key bit string has unused bits")),
    };
    match oid {
        OID_RSA => {
            if !algorithm.is_empty() {
                algorithm.read(NULL)?;
            }
            algorithm.finish()?;
            let mut outer = Der::new(key);
            let key = outer.read(SEQUENCE)?;
            outer.finish()?;
            rsa(key)
        }
        OID_EC => {
            let curve = algorithm.read(OID)?;
            algorithm.finish()?;
            let (crv, size) = match curve {
                OID_P256 => ("P-256", 32),
                OID_P384 => ("P-384", 48),
                _ => return Err(PemError::Unsupported),
            };
            // Uncompressed point only (SEC 1 §2.3.3): 0x04 || x || y.
            match key.split_first() {
                Some((4, point)) if point.len() == 2 * size => {
                    let (x, y) = point.split_at(size);
                    Ok(json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)}))
                }
                _ => Err(PemError::Malformed(
                    "not an uncompressed EC point of its curve",
                )),
            }
        }
        OID_ED25519 => {
            algorithm.finish()?;
            if key.len() != 32 {
                return Err(PemError::Malformed("an Ed25519 key is 32 bytes"));
            }
            Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key)}))
        }
        _ => Err(PemError::Unsupported),
    }
}

/// An RSAPublicKey's contents (RFC 8017 §A.1.1): modulus and exponent, positive.
fn rsa(der: &[u8]) -> Result<Value, PemError> {
    let mut key = Der::new(der);
    let n = unsigned(key.read(INTEGER)?)?;
    let e = unsigned(key.read(INTEGER)?)?;
    key.finish()?;
    Ok(json!({"kty": "RSA", "n": b64(n), "e": b64(e)}))
}

/// A DER INTEGER's magnitude without its sign byte; negative or non-minimal ones are refused.
fn unsigned(integer: &[u8]) -> Result<&[u8], PemError> {
    match integer {
        [] => Err(PemError::Malformed("an empty integer")),
        [first, ..] if first & 0x80 != 0 => Err(PemError::Malformed("a negative integer")),
        [0, next, ..] if next & 0x80 == 0 => Err(PemError::Malformed("a non-minimal integer")),
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        _ => Ok(integer),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A cursor over DER: reads one element of an expected tag at a time.
struct Der<'a> {
    input: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Nothing may follow the last element.
    fn finish(&self) -> Result<(), PemError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(PemError::Malformed("trailing bytes"))
        }
    }

    /// The contents of the next element, which must have tag `tag`.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], PemError> {
        let [found, first, rest @ ..] = self.input else {
            return Err(PemError::Malformed("truncated"));
        };
        if *found != tag {
            return Err(PemError::Malformed("an unexpected element"));
        }
        let (length, rest) = match *first {
            short @ 0..=0x7f => (usize::from(short), rest),
            long @ 0x81..=0x84 => {
                let count = usize::from(long & 0x7f);
                if rest.len() < count {
                    return Err(PemError::Malformed("truncated"));
                }
                let (bytes, rest) = rest.split_at(count);
                if bytes[0] == 0 {
                    return Err(PemError::Malformed("a non-minimal length"));
                }
                let length = bytes
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                if length < 0x80 {
                    return Err(PemError::Malformed("a non-minimal length"));
                }
                (length, rest)
            }
            _ => return Err(PemError::Malformed("an indefinite or oversized length")),
        };
        if rest.len() < length {
            return Err(PemError::Malformed("truncated"));
        }
        let (contents, rest) = rest.split_at(length);
        self.input = rest;
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::DevKey;

    fn pem_of(tag: &str, der: &[u8]) -> String {
        pem::encode(&pem::Pem::new(tag, der.to_vec()))
    }

    #[test]
    fn the_test_keys_pem_files_become_the_same_jwks_their_issuers_publish() {
        for (file, key) in [
            ("rsa1.pem", DevKey::rs256()),
            ("ec256.pem", DevKey::es256()),
            ("ec384.pem", DevKey::es384()),
            ("ed25519.pem", DevKey::eddsa()),
        ] {
            let text = std::fs::read(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR")));
            let Ok(text) = text else { continue };
            // The files hold private keys: refused as such.
            assert_eq!(
                jwk_from_pem("k", &text),
                Err(PemError::PrivateKey),
                "{file}"
            );
            let public = key.public_key_pem();
            let jwk = jwk_from_pem(key.kid(), public.as_bytes()).unwrap();
            let published = key.jwk();
            for member in ["kty", "kid", "n", "e", "crv", "x", "y"] {
                assert_eq!(jwk.get(member), published.get(member), "{file} {member}");
            }
        }
    }

    #[test]
    fn hostile_or_foreign_pem_files_are_refused() {
        let der = |bytes: &[u8]| pem_of("PUBLIC KEY", bytes);
        assert_eq!(jwk_from_pem("k", b"not pem"), Err(PemError::NotOnePem));
        let two = format!("{}{}", der(&[0x30, 0]), der(&[0x30, 0]));
        assert_eq!(jwk_from_pem("k", two.as_bytes()), Err(PemError::NotOnePem));
        assert!(matches!(
            jwk_from_pem("k", pem_of("CERTIFICATE", &[0x30, 0]).as_bytes()),
            Err(PemError::UnexpectedTag(_))
        ));
        for hostile in [
            &[][..],
            &[0x30][..],
            &[0x30, 0x80, 0, 0][..],                   // indefinite length
            &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0][..],    // non-minimal length
            &[0x30, 0x85, 1, 1, 1, 1, 1][..],          // oversized length
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..], // truncated
            &[0x30, 0x00, 0x00][..],                   // trailing bytes
            &[0x30; 4096][..],                         // deep nesting
        ] {
            assert!(
                matches!(
                    jwk_from_pem("k", der(hostile).as_bytes()),
                    Err(PemError::Malformed(_))
                ),
                "{hostile:?}"
            );
        }
        // An RSA key whose modulus is negative.
        let negative = [0x30, 0x08, 0x02, 0x02, 0x80, 0x01, 0x02, 0x02, 0x01, 0x01];
        assert!(matches!(
            jwk_from_pem("k", pem_of("RSA PUBLIC KEY", &negative).as_bytes()),
            Err(PemError::Malformed("a negative integer"))
        ));
    }
}
