//! Requirements in the query of the URL a proxy calls (`/verify?…`, `/policy/NAME?…`), as
//! OIDC-Guard and nginx-subrequest-auth-jwt offer them.
//!
//! `aud=a,b` (the token's `aud` holds one of them), `scope=a b` (every one granted),
//! `iss=URL` (only that issuer), `claim.<path>=v1,v2` (one of the values; empty: present).
//! Every parameter adds one requirement, combined with AND with the policy's and with each other;
//! alternatives live inside one value, split on a literal `,` before percent-decoding (so a
//! value holding a comma is written `%2C`). A query appended by the client (Envoy's HTTP mode)
//! can therefore only narrow what the proxy asked for. Other parameters are ignored: they may be
//! the client's own.

use super::claims::{ClaimPath, ClaimRule};
use super::{PolicyError, Requirement};

/// The requirements a query adds, in the order given.
///
/// # Errors
/// [`PolicyError::InvalidRequirement`] for a bad percent-encoding or non-UTF-8 text in one of
/// these parameters, or a `claim.` parameter whose path is not a claim path.
pub fn requirements(query: &str) -> Result<Vec<Requirement>, PolicyError> {
    let mut found = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(key) = decode(raw_key) else {
            // Not a name of ours in any encoding we accept: the client's own parameter.
            continue;
        };
        let values = || -> Result<Vec<String>, PolicyError> {
            raw_value
                .split(',')
                .map(|v| {
                    decode(v).ok_or_else(|| {
                        PolicyError::InvalidRequirement(format!("{key}: bad percent-encoding"))
                    })
                })
                .collect()
        };
        let requirement = match key.as_str() {
            "aud" => {
                Requirement::Audience(values()?.into_iter().filter(|v| !v.is_empty()).collect())
            }
            "iss" => Requirement::Issuer(vec![decode(raw_value).ok_or_else(|| {
                PolicyError::InvalidRequirement("iss: bad percent-encoding".into())
            })?]),
            "scope" => Requirement::Scopes(
                decode(raw_value)
                    .ok_or_else(|| {
                        PolicyError::InvalidRequirement("scope: bad percent-encoding".into())
                    })?
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            other => match other.strip_prefix("claim.") {
                Some(path) => {
                    let path = ClaimPath::parse(path).map_err(PolicyError::InvalidRequirement)?;
                    let values = if raw_value.is_empty() {
                        Vec::new()
                    } else {
                        values()?
                    };
                    Requirement::Claim(ClaimRule { path, values })
                }
                None => continue,
            },
        };
        found.push(requirement);
    }
    Ok(found)
}

/// The requirements of plain `(key, value)` pairs, such as Envoy's gRPC `context_extensions`: the
/// same keys as the query, values taken as they are (no percent-decoding; `,` separates
/// alternatives). Other keys are ignored.
///
/// # Errors
/// [`PolicyError::InvalidRequirement`] for a `claim.` key whose path is not a claim path.
pub fn from_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<Requirement>, PolicyError> {
    let split = |value: &str| value.split(',').map(str::to_string).collect::<Vec<_>>();
    let mut found = Vec::new();
    for (key, value) in pairs {
        found.push(match key {
            "aud" => {
                Requirement::Audience(split(value).into_iter().filter(|v| !v.is_empty()).collect())
            }
            "iss" => Requirement::Issuer(vec![value.to_string()]),
            "scope" => Requirement::Scopes(
                value
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            other => match other.strip_prefix("claim.") {
                Some(path) => Requirement::Claim(ClaimRule {
                    path: ClaimPath::parse(path).map_err(PolicyError::InvalidRequirement)?,
                    values: if value.is_empty() {
                        Vec::new()
                    } else {
                        split(value)
                    },
                }),
                None => continue,
            },
        });
    }
    Ok(found)
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space); `None` for a bad escape or
/// text that is not UTF-8.
fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Vec<Requirement> {
        requirements(query).unwrap()
    }

    #[test]
    fn each_parameter_of_ours_is_one_requirement() {
        let found = parse(
            "aud=a,b&scope=read+write&iss=https%3A%2F%2Fi.example&claim.realm_access.roles=admin,ops&claim.tid=",
        );

        assert_eq!(
            found,
            vec![
                Requirement::Audience(vec!["a".into(), "b".into()]),
                Requirement::Scopes(vec!["read".into(), "write".into()]),
                Requirement::Issuer(vec!["https://i.example".into()]),
                Requirement::Claim(ClaimRule {
                    path: ClaimPath::parse("realm_access.roles").unwrap(),
                    values: vec!["admin".into(), "ops".into()],
                }),
                Requirement::Claim(ClaimRule {
                    path: ClaimPath::parse("tid").unwrap(),
                    values: vec![],
                }),
            ]
        );
    }

    #[test]
    fn an_encoded_comma_is_part_of_a_value() {
        assert_eq!(
            parse("claim.name=Doe%2C%20John,x"),
            vec![Requirement::Claim(ClaimRule {
                path: ClaimPath::parse("name").unwrap(),
                values: vec!["Doe, John".into(), "x".into()],
            })]
        );
    }

    #[test]
    fn other_parameters_are_ignored_and_repeats_add_up() {
        assert_eq!(parse("page=2&x&=y&audience=z"), vec![]);
        assert_eq!(parse("scope=a&scope=b").len(), 2);
        assert_eq!(
            parse("%61ud=x"),
            vec![Requirement::Audience(vec!["x".into()])]
        );
    }

    #[test]
    fn an_empty_audience_or_issuer_can_never_be_met() {
        assert_eq!(parse("aud="), vec![Requirement::Audience(vec![])]);
        assert_eq!(
            parse("iss="),
            vec![Requirement::Issuer(vec![String::new()])]
        );
    }

    #[test]
    fn unreadable_requirements_are_refused() {
        for query in ["aud=%zz", "claim.a..b=x", "claim.=x", "scope=%ff", "iss=%4"] {
            assert!(
                matches!(requirements(query), Err(PolicyError::InvalidRequirement(_))),
                "{query}"
            );
        }
    }
}
