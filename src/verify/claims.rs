//! The claim checks of jsonwebtoken's `decode`, on claims jwtgate has already parsed.
//!
//! jsonwebtoken stays the judge of what a valid claim set is: this is its `validate` (version
//! 12) step by step, against the same [`Validation`] the issuer's policy builds, returning the
//! same [`ErrorKind`]s. It exists because jsonwebtoken checks claims only inside `decode`, which
//! also verifies the signature with a key it re-parses on every call; jwtgate verifies the
//! signature with a key parsed once, then calls this. A test runs every vector through both
//! paths and requires the same answer.

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};

/// What jsonwebtoken's `TryParse` makes of a claim.
enum Claim<T> {
    Parsed(T),
    FailedToParse,
    NotPresent,
}

impl<T> Claim<T> {
    fn parsed(&self) -> bool {
        matches!(self, Claim::Parsed(_))
    }
}

/// A NumericDate as jsonwebtoken reads it: a non-negative integer, or a finite non-negative
/// float below `u64::MAX`, rounded; anything else fails to parse; `null` is absent.
fn numeric(claims: &Map<String, Value>, name: &str) -> Claim<u64> {
    match claims.get(name) {
        None | Some(Value::Null) => Claim::NotPresent,
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(value), _) => Claim::Parsed(value),
            (None, Some(f)) if n.is_f64() && f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                Claim::Parsed(f.round() as u64)
            }
            _ => Claim::FailedToParse,
        },
        Some(_) => Claim::FailedToParse,
    }
}

/// A string, or an array of strings (jsonwebtoken's `Issuer` / `Audience`); `null` is absent.
fn strings<'c>(claims: &'c Map<String, Value>, name: &str) -> Claim<Vec<&'c str>> {
    match claims.get(name) {
        None | Some(Value::Null) => Claim::NotPresent,
        Some(Value::String(s)) => Claim::Parsed(vec![s.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .map_or(Claim::FailedToParse, Claim::Parsed),
        Some(_) => Claim::FailedToParse,
    }
}

/// jsonwebtoken 12's `validate(claims, options)`, with `now` in seconds since the epoch.
pub fn validate(
    claims: &Map<String, Value>,
    options: &Validation,
    now: u64,
) -> Result<(), ErrorKind> {
    let exp = numeric(claims, "exp");
    let nbf = numeric(claims, "nbf");
    let iss = strings(claims, "iss");
    let aud = strings(claims, "aud");
    let sub_parsed = match claims.get("sub") {
        None | Some(Value::Null) => Claim::NotPresent,
        Some(Value::String(s)) => Claim::Parsed(s.as_str()),
        Some(_) => Claim::FailedToParse,
    };
    for required in &options.required_spec_claims {
        let present = match required.as_str() {
            "exp" => exp.parsed(),
            "sub" => sub_parsed.parsed(),
            "iss" => iss.parsed(),
            "aud" => aud.parsed(),
            "nbf" => nbf.parsed(),
            _ => continue,
        };
        if !present {
            return Err(ErrorKind::MissingRequiredClaim(required.clone()));
        }
    }
    if options.validate_exp || options.validate_nbf {
        if options.validate_exp && matches!(exp, Claim::FailedToParse) {
            return Err(ErrorKind::InvalidClaimFormat("exp".into()));
        }
        if options.validate_nbf && matches!(nbf, Claim::FailedToParse) {
            return Err(ErrorKind::InvalidClaimFormat("nbf".into()));
        }
        let early = options.reject_tokens_expiring_in_less_than;
        if matches!(exp, Claim::Parsed(exp) if exp < early) {
            return Err(ErrorKind::InvalidToken);
        }
        if matches!(exp, Claim::Parsed(exp) if options.validate_exp
            && exp - early < now.saturating_sub(options.leeway))
        {
            return Err(ErrorKind::ExpiredSignature);
        }
        if matches!(nbf, Claim::Parsed(nbf) if options.validate_nbf
            && nbf > now.saturating_add(options.leeway))
        {
            return Err(ErrorKind::ImmatureSignature);
        }
    }
    match (sub_parsed, options.sub.as_deref()) {
        (Claim::FailedToParse, Some(_)) => return Err(ErrorKind::InvalidClaimFormat("sub".into())),
        (Claim::Parsed(sub), Some(expected)) if sub != expected => {
            return Err(ErrorKind::InvalidSubject);
        }
        _ => {}
    }
    match (&iss, options.iss.as_ref()) {
        (Claim::FailedToParse, Some(_)) => return Err(ErrorKind::InvalidClaimFormat("iss".into())),
        (Claim::Parsed(given), Some(expected)) if !given.iter().any(|i| expected.contains(*i)) => {
            return Err(ErrorKind::InvalidIssuer);
        }
        _ => {}
    }
    if !options.validate_aud {
        return Ok(());
    }
    match (&aud, options.aud.as_ref()) {
        (Claim::FailedToParse, _) => Err(ErrorKind::InvalidClaimFormat("aud".into())),
        (Claim::Parsed(_), None) => Err(ErrorKind::InvalidAudience),
        (Claim::Parsed(given), Some(expected)) if !given.iter().any(|a| expected.contains(*a)) => {
            Err(ErrorKind::InvalidAudience)
        }
        _ => Ok(()),
    }
}
