//! [`Payload`]: a token's claims, checked as strictly as a full parse but turned into values only
//! when asked for.
//!
//! A full parse builds every claim (nested objects, arrays, every string allocated) although a
//! verification reads a handful: `iss`, `exp`, `aud`, `sub`, the scopes and what the issuer's
//! policy names. Here the payload is read once into an index of its top-level members (name and
//! the span of the raw JSON value), with the full parse's checks: well-formed JSON and UTF-8, a
//! JSON object, no duplicate member names (compared decoded, so `"iss"` and `"\u0069ss"` are the
//! same), and serde_json's nesting limit. A claim becomes a [`Value`] when it is read; all of them
//! only for what needs them all (`jwtgate inspect`, a policy's rules, gRPC metadata).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::TokenError;

/// A decoded payload and the index of its top-level members.
pub(super) struct Payload {
    json: Vec<u8>,
    members: Vec<Member>,
}

struct Member {
    name: Name,
    value: Range<usize>,
}

/// A member name: where it is in the JSON when written without escapes, else decoded.
enum Name {
    At(Range<usize>),
    Decoded(Box<str>),
}

impl Payload {
    /// Indexes `json`, refusing what a full strict parse refuses.
    pub(super) fn parse(json: Vec<u8>) -> Result<Self, TokenError> {
        let malformed = |e: &dyn fmt::Display| {
            TokenError::malformed(format!("the payload is not a JSON object: {e}"))
        };
        // First the full parse's checks by the same parser (strings, escapes, numbers, nesting
        // limit), building nothing; then the index, which skips over values (serde_json checks
        // less when it skips, hence the first pass).
        serde_json::from_slice::<Checked>(&json).map_err(|e| malformed(&e))?;
        let entries: Entries<'_> = serde_json::from_slice(&json).map_err(|e| malformed(&e))?;
        let mut names: Vec<&str> = entries.0.iter().map(|(name, _)| name.as_ref()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(malformed(&format_args!("duplicate member {:?}", pair[0])));
        }
        let start = json.as_ptr() as usize;
        let span = |text: &str| {
            let at = text.as_ptr() as usize - start;
            at..at + text.len()
        };
        let members = entries
            .0
            .iter()
            .map(|(name, value)| Member {
                name: match name {
                    Cow::Borrowed(name) => Name::At(span(name)),
                    Cow::Owned(name) => Name::Decoded(name.as_str().into()),
                },
                value: span(value.get()),
            })
            .collect();
        drop(names);
        drop(entries);
        Ok(Self { json, members })
    }

    fn name<'s>(&'s self, member: &'s Member) -> &'s str {
        match &member.name {
            Name::At(at) => std::str::from_utf8(&self.json[at.clone()]).unwrap_or_default(),
            Name::Decoded(name) => name,
        }
    }

    fn value(&self, member: &Member) -> Option<Value> {
        // Checked when indexed; cannot fail.
        serde_json::from_slice(&self.json[member.value.clone()]).ok()
    }

    /// The claim named `name`, if present.
    pub(super) fn get(&self, name: &str) -> Option<Value> {
        let member = self.members.iter().find(|m| self.name(m) == name)?;
        self.value(member)
    }

    /// Whether a claim named `name` is present (whatever its value).
    pub(super) fn contains(&self, name: &str) -> bool {
        self.members.iter().any(|m| self.name(m) == name)
    }

    /// The claims whose names `wanted` accepts.
    pub(super) fn named(&self, wanted: impl Fn(&str) -> bool) -> Map<String, Value> {
        self.members
            .iter()
            .filter(|m| wanted(self.name(m)))
            .filter_map(|m| Some((self.name(m).to_string(), self.value(m)?)))
            .collect()
    }

    /// Every claim.
    pub(super) fn all(&self) -> Map<String, Value> {
        self.named(|_| true)
    }

    /// The decoded JSON.
    pub(super) fn into_json(self) -> Vec<u8> {
        self.json
    }
}

/// A JSON object read to the end by serde_json exactly as a full parse reads it (every string,
/// escape and number checked, the nesting limit applied), with no value built.
struct Checked;

/// Any JSON value, checked and dropped.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckVisitor)
    }
}

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(CheckVisitor)
            .map(|Valid| Checked)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Valid;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Valid, A::Error> {
        while items.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Valid, A::Error> {
        while members.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(Valid)
    }
}

/// The top-level members as written, values not built.
struct Entries<'de>(Vec<(Cow<'de, str>, &'de RawValue)>);

/// A member name, borrowed from the JSON unless it has escapes.
struct MemberName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(name.to_string())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(16).min(64));
                while let Some((name, value)) =
                    access.next_entry::<MemberName<'de>, &'de RawValue>()?
                {
                    entries.push((name.0, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests;
