//! [`SignatureKeys`]: a JWK's public key parsed once by aws-lc-rs, per algorithm it may verify.
//!
//! jsonwebtoken hands aws-lc the key bytes on every call, which parses the key (and, for RSA,
//! rebuilds its Montgomery context) each time. A key parsed once ([`ParsedPublicKey`]) skips
//! that: the same checks with the same aws-lc algorithms as jsonwebtoken's `aws_lc_rs` backend
//! (`RSA_PKCS1_2048_8192_*`, `RSA_PSS_2048_8192_*`, `ECDSA_P*_FIXED`, `ED25519`), so the
//! answers are the same (a test in `verify` runs every vector through both).

use aws_lc_rs::signature::{
    self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
};
use jsonwebtoken::Algorithm;

/// A key's parsed forms, one per algorithm it may verify (RSA: up to six; EC and Ed25519: one).
pub struct SignatureKeys(Vec<(Algorithm, ParsedPublicKey)>);

/// The key could not be parsed for one of its algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparsable;

impl SignatureKeys {
    /// An RSA key from its big-endian modulus and exponent.
    pub(super) fn rsa(n: &[u8], e: &[u8], algorithms: &[Algorithm]) -> Result<Self, Unparsable> {
        let components = RsaPublicKeyComponents { n, e };
        algorithms
            .iter()
            .map(|alg| {
                let params = rsa_parameters(*alg).ok_or(Unparsable)?;
                let key = components
                    .to_parsed_public_key(params)
                    .map_err(|_| Unparsable)?;
                Ok((*alg, key))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// An EC or Ed25519 key from its public bytes (`04 || x || y`, or Ed25519's `x`).
    pub(super) fn point(bytes: &[u8], alg: Algorithm) -> Result<Self, Unparsable> {
        let algorithm: &'static dyn VerificationAlgorithm = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            _ => return Err(Unparsable),
        };
        let key = ParsedPublicKey::new(algorithm, bytes).map_err(|_| Unparsable)?;
        Ok(Self(vec![(alg, key)]))
    }

    /// Whether `signature` is `alg`'s signature of `message` under this key. `false` for an
    /// algorithm the key was not parsed for.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.0
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}
