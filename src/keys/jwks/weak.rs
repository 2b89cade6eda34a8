//! Keys that make forgery easy or cannot be real keys, refused as [`SkipReason::WeakKey`]:
//! short or even RSA moduli, trivial RSA exponents, Ed25519 points of small order or with a
//! non-canonical encoding. Also aws-lc's size limits ([`SkipReason::Unsupported`]).

use super::SkipReason;

/// Smallest RSA modulus accepted, in bits (NIST SP 800-131A; aws-lc refuses smaller ones).
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA modulus accepted, in bits (aws-lc's limit for verification).
pub const MAX_RSA_BITS: usize = 8192;

/// Largest RSA public exponent accepted: 2^33 - 1, aws-lc's limit (real keys use 65537).
pub const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// The y coordinates (little-endian, sign bit cleared) of the Ed25519 points of small order:
/// the eight points `A` with `8·A` = identity, which lie on these seven y values (the order-4
/// points share y = 0). With such a key `[S]B = R + [k]A` has solutions found without any private
/// key (for the identity, `R` = identity and `S` = 0 verify every message), so they are refused.
/// Computed as the y of the 8-torsion subgroup; the same list as libsodium's
/// `has_small_order`. With the sign bit either way these are 14 encodings; two of them
/// (`p` and `p + 1`) are also refused as non-canonical.
pub(super) const ED25519_SMALL_ORDER_Y: [[u8; 32]; 7] = [
    // 0: the two points of order 4.
    [0; 32],
    // 1: the identity (order 1).
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // Points of order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // p - 1 = -1: the point of order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p (= 0) and p + 1 (= 1): non-canonical spellings of the first two.
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Checks an RSA modulus (big-endian): [`SkipReason::WeakKey`] under [`MIN_RSA_BITS`] or even,
/// [`SkipReason::Unsupported`] over [`MAX_RSA_BITS`].
pub(super) fn check_rsa_modulus(modulus: &[u8]) -> Result<(), SkipReason> {
    let bits = rsa_modulus_bits(modulus);
    if bits < MIN_RSA_BITS || modulus.last().is_some_and(|b| b % 2 == 0) {
        return Err(SkipReason::WeakKey);
    }
    if bits > MAX_RSA_BITS {
        return Err(SkipReason::Unsupported);
    }
    Ok(())
}

/// Checks an RSA public exponent (big-endian): [`SkipReason::WeakKey`] when even or under 3
/// (`e = 1` makes the signature equal the padded message), [`SkipReason::Unsupported`] over
/// [`MAX_RSA_EXPONENT`].
pub(super) fn check_rsa_exponent(exponent: &[u8]) -> Result<(), SkipReason> {
    if exponent.is_empty() || exponent.len() > 8 {
        return Err(SkipReason::Malformed);
    }
    let exponent = exponent.iter().fold(0u64, |e, b| e << 8 | u64::from(*b));
    if exponent < 3 || exponent % 2 == 0 {
        return Err(SkipReason::WeakKey);
    }
    if exponent > MAX_RSA_EXPONENT {
        return Err(SkipReason::Unsupported);
    }
    Ok(())
}

/// Whether an Ed25519 public key encoding is one forgery-friendly keys use: a point of small
/// order (any of the 14 encodings, sign bit ignored), or a non-canonical `y >= p` (which some
/// implementations reduce to a small-order point and others refuse).
pub(super) fn is_weak_ed25519_point(encoded: &[u8; 32]) -> bool {
    let mut y = *encoded;
    y[31] &= 0x7f;
    // p = 2^255 - 19 is ed ff .. ff 7f little-endian: y >= p iff the top 31 bytes are those of
    // p and the lowest byte is at least 0xed.
    let non_canonical = y[0] >= 0xed && y[1..31].iter().all(|b| *b == 0xff) && y[31] == 0x7f;
    non_canonical || ED25519_SMALL_ORDER_Y.contains(&y)
}

fn rsa_modulus_bits(modulus: &[u8]) -> usize {
    let leading_zeros = modulus.iter().take_while(|b| **b == 0).count();
    let significant = &modulus[leading_zeros..];
    match significant.first() {
        None => 0,
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;
    use serde_json::json;

    use super::super::parse_key;
    use super::super::tests::{all, b64, ed25519, rsa};
    use super::*;

    /// The 14 encodings of the Ed25519 points of small order: each y of the list with the sign
    /// bit clear and set.
    fn small_order_encodings() -> Vec<[u8; 32]> {
        ED25519_SMALL_ORDER_Y
            .iter()
            .flat_map(|y| {
                let mut negative = *y;
                negative[31] |= 0x80;
                [*y, negative]
            })
            .collect()
    }

    #[test]
    fn a_small_order_ed25519_key_accepts_a_signature_made_without_any_private_key() {
        // Why such keys are refused: against the identity point, R = identity and S = 0 satisfy
        // [S]B = R + [k]A for every message, and the crypto backend does not object.
        use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
        let identity = ED25519_SMALL_ORDER_Y[1];
        let forged = [&identity[..], &[0u8; 32]].concat();
        let key = UnparsedPublicKey::new(&ED25519, identity);
        assert!(
            key.verify(b"header.payload with sub=admin", &forged)
                .is_ok()
        );
    }

    #[test]
    fn ed25519_keys_of_small_order_or_non_canonical_are_refused_as_weak() {
        let encodings = small_order_encodings();
        assert_eq!(encodings.len(), 14);
        let mut non_canonical = Vec::new();
        for low in 0xed..=0xffu8 {
            let mut y = [0xff; 32];
            y[0] = low;
            y[31] = 0x7f;
            non_canonical.push(y);
            y[31] = 0xff;
            non_canonical.push(y);
        }
        for x in encodings.iter().chain(&non_canonical) {
            assert_eq!(
                parse_key(&ed25519(x), &all()).unwrap_err(),
                SkipReason::WeakKey,
                "{x:02x?}"
            );
        }
        let real = {
            use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
            Ed25519KeyPair::generate()
                .unwrap()
                .public_key()
                .as_ref()
                .to_vec()
        };
        let key = parse_key(&ed25519(&real), &all()).unwrap();
        assert_eq!(key.algorithms, vec![Algorithm::EdDSA]);
        let mut almost_p = [0xff; 32];
        almost_p[0] = 0xeb;
        almost_p[31] = 0x7f;
        assert!(!is_weak_ed25519_point(&almost_p), "p - 2 is canonical");
    }

    #[test]
    fn rsa_keys_with_a_trivial_exponent_or_an_even_modulus_are_refused_as_weak() {
        for e in [&[1u8][..], &[0], &[2], &[1, 0, 0], &[0, 1]] {
            let mut entry = rsa("r", 2048);
            entry["e"] = json!(b64(e));
            assert_eq!(
                parse_key(&entry, &all()).unwrap_err(),
                SkipReason::WeakKey,
                "e = {e:?}"
            );
        }
        let mut entry = rsa("r", 2048);
        entry["e"] = json!(b64(&[3]));
        assert!(parse_key(&entry, &all()).is_ok(), "e = 3 is allowed");
        entry["e"] = json!(b64(&[4, 0, 0, 0, 1]));
        assert_eq!(
            parse_key(&entry, &all()).unwrap_err(),
            SkipReason::Unsupported,
            "e over 2^33"
        );
        let mut even = vec![0xC5u8; 256];
        even[255] = 0xC4;
        let entry = json!({"kty": "RSA", "kid": "even", "n": b64(&even), "e": "AQAB"});
        assert_eq!(parse_key(&entry, &all()).unwrap_err(), SkipReason::WeakKey);
    }
}
