//! [`Payload`]: a token's claims, checked exactly as a full parse checks them, but built only when
//! read.
//!
//! A full parse builds every claim (nested objects, arrays, every string allocated) although a
//! verification reads a handful. Here one pass of the same parser over the payload checks all of
//! it as a full parse does (well-formed JSON, UTF-8, escapes, number ranges, the nesting limit, a
//! JSON object with no duplicate member names, compared decoded so `"iss"` and `"\u0069ss"` are
//! the same) and builds only the registered claims ([`REGISTERED_CLAIMS`]); the rest stay JSON. Any
//! other claim is built when asked for, by another pass that builds just the claims asked for.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::TokenError;

/// The claims built while the payload is read: the ones jsonwebtoken's checks read, and the
/// scopes.
pub const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "scope", "scp"];

fn registered(name: &str) -> bool {
    REGISTERED_CLAIMS.contains(&name)
}

/// A decoded payload: its JSON, its member names, and its registered claims.
pub(super) struct Payload {
    json: Vec<u8>,
    names: Vec<Name>,
    registered: Map<String, Value>,
}

/// A member name: where it is in the JSON when written without escapes, else decoded.
enum Name {
    At(Range<usize>),
    Decoded(Box<str>),
}

impl Payload {
    /// Reads `json`, refusing what a full strict parse refuses.
    pub(super) fn parse(json: Vec<u8>) -> Result<Self, TokenError> {
        let malformed = |e: &dyn fmt::Display| {
            TokenError::malformed(format!("the payload is not a JSON object: {e}"))
        };
        let read = read(&json, registered, true).map_err(|e| malformed(&e))?;
        let (names, registered) = (read.names, read.built);
        let payload = Self {
            json,
            names,
            registered,
        };
        if let Some(name) = payload.duplicate_name() {
            return Err(malformed(&format_args!("duplicate member {name:?}")));
        }
        Ok(payload)
    }

    /// A member name written twice (compared decoded), if any.
    fn duplicate_name(&self) -> Option<&str> {
        let names: Vec<&str> = self.names().collect();
        if names.len() <= 32 {
            // Few names (every real token): compared pairwise, nothing allocated but the list.
            return names
                .iter()
                .enumerate()
                .find(|(i, name)| names[..*i].contains(name))
                .map(|(_, name)| *name);
        }
        let mut sorted = names;
        sorted.sort_unstable();
        sorted
            .windows(2)
            .find(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
    }

    /// The registered claims present, built while reading.
    pub(super) fn registered(&self) -> &Map<String, Value> {
        &self.registered
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|name| match name {
            Name::At(at) => std::str::from_utf8(&self.json[at.clone()]).unwrap_or_default(),
            Name::Decoded(name) => name,
        })
    }

    /// Builds the claims `wanted` accepts by another pass (read once already: cannot fail).
    fn build(&self, wanted: impl Fn(&str) -> bool) -> Map<String, Value> {
        read(&self.json, wanted, false).map_or_else(|_| Map::new(), |read| read.built)
    }

    /// The claim named `name`, if present.
    #[cfg(test)]
    pub(super) fn get(&self, name: &str) -> Option<Value> {
        if registered(name) {
            return self.registered.get(name).cloned();
        }
        if !self.contains(name) {
            return None;
        }
        self.build(|n| n == name).remove(name)
    }

    /// Whether a claim named `name` is present (whatever its value).
    pub(super) fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// The claims whose names `wanted` accepts.
    pub(super) fn named(&self, wanted: impl Fn(&str) -> bool) -> Map<String, Value> {
        if self.names().any(|n| wanted(n) && !registered(n)) {
            return self.build(wanted);
        }
        self.registered
            .iter()
            .filter(|(name, _)| wanted(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// Every claim.
    pub(super) fn all(&self) -> Map<String, Value> {
        self.build(|_| true)
    }

    /// The claims whose names `wanted` accepts (the registered ones moved, not copied), and the
    /// JSON.
    pub(super) fn into_named(
        mut self,
        wanted: impl Fn(&str) -> bool,
    ) -> (Map<String, Value>, Vec<u8>) {
        let claims = if self.names().any(|n| wanted(n) && !registered(n)) {
            self.build(wanted)
        } else {
            let mut claims = std::mem::take(&mut self.registered);
            claims.retain(|name, _| wanted(name));
            claims
        };
        (claims, self.json)
    }
}

/// What one pass over a payload found.
struct Read {
    /// Every member name, in order (when asked for).
    names: Vec<Name>,
    /// The members `wanted` accepted, built.
    built: Map<String, Value>,
}

/// One pass of serde_json over `json`: a JSON object, every member checked as a full parse
/// checks it; the members `wanted` accepts built, the others dropped as they are read.
fn read(json: &[u8], wanted: impl Fn(&str) -> bool, names: bool) -> serde_json::Result<Read> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let seed = ObjectSeed {
        wanted,
        names: names.then_some(json.as_ptr() as usize),
    };
    let read = seed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(read)
}

struct ObjectSeed<F> {
    wanted: F,
    /// Where the JSON starts, when names are to be kept.
    names: Option<usize>,
}

impl<'de, F: Fn(&str) -> bool> DeserializeSeed<'de> for ObjectSeed<F> {
    type Value = Read;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Read, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: Fn(&str) -> bool> Visitor<'de> for ObjectSeed<F> {
    type Value = Read;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Read, A::Error> {
        let mut read = Read {
            names: Vec::new(),
            built: Map::new(),
        };
        while let Some(MemberName(name)) = members.next_key::<MemberName<'de>>()? {
            if (self.wanted)(&name) {
                let value = members.next_value::<Value>()?;
                read.built.insert(name.to_string(), value);
            } else {
                members.next_value::<Valid>()?;
            }
            if let Some(start) = self.names {
                read.names.push(match name {
                    Cow::Borrowed(name) => {
                        let at = name.as_ptr() as usize - start;
                        Name::At(at..at + name.len())
                    }
                    Cow::Owned(name) => Name::Decoded(name.into()),
                });
            }
        }
        Ok(read)
    }
}

/// Any JSON value, checked and dropped.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Valid;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
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

#[cfg(test)]
mod tests;
