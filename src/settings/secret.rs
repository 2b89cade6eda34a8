//! [`Secret`]: a credential read from the configuration, masked by its type.
//!
//! Anything that prints settings (`check-config`, `Debug`, serialization) shows `"********"` for
//! a set secret and `""` for an unset one, whatever the field is called; the value itself is only
//! reachable through [`Secret::expose`], and is zeroed when dropped (`secrecy`).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a set secret shows as wherever settings are printed.
pub const MASK: &str = "********";

/// A credential from the configuration (for example `admin.token`). Empty means unset.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    /// The value, for the one place that compares or sends it. Empty when unset.
    pub fn expose(&self) -> &str {
        self.0.as_ref().map_or("", ExposeSecret::expose_secret)
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.is_empty() { "" } else { MASK }
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self((!value.is_empty()).then(|| SecretString::from(value)))
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::from(value.as_str())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_secret_never_prints_and_an_unset_one_shows_as_unset() {
        let secret = Secret::from("an-admin-token-value");
        assert_eq!(format!("{secret:?}"), "\"********\"");
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            "\"********\"".to_string()
        );
        assert_eq!(secret.expose(), "an-admin-token-value");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        assert!(Secret::from("").is_empty());
    }
}
