//! [`IpNetwork`]: a network in CIDR notation, or one address, in `fetch.allowed_networks`.

use ipnet::IpNet;
use serde::{Deserialize, Serialize, Serializer};

/// An IP network (`10.0.0.0/8`, `fd00::/8`), or one address (`10.1.2.3`, a /32 or /128), parsed
/// by `ipnet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpNetwork(pub IpNet);

impl TryFrom<String> for IpNetwork {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            .map(|net| Self(net.trunc()))
            .map_err(|_| format!("{text:?} is not an IP network such as 10.0.0.0/8"))
    }
}

impl Serialize for IpNetwork {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_single_addresses_parse_and_nonsense_does_not() {
        let net = |t: &str| IpNetwork::try_from(t.to_string()).map(|n| n.0.to_string());
        assert_eq!(net("10.20.0.0/16").unwrap(), "10.20.0.0/16");
        assert_eq!(net("10.20.1.2/16").unwrap(), "10.20.0.0/16");
        assert_eq!(net("fd00::1").unwrap(), "fd00::1/128");
        assert_eq!(net("10.1.2.3").unwrap(), "10.1.2.3/32");
        for bad in ["10.0.0.0/33", "nope/8", "", "10.0.0.0/", "::/129"] {
            assert!(net(bad).is_err(), "{bad}");
        }
    }
}
