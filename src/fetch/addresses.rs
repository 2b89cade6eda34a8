//! The private-address guard: which destination addresses are never fetched from, with
//! IPv4-embedding IPv6 forms judged by the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 networks never fetched from unless `allow_private_addresses` is on or the address is in
/// `allowed_networks`: (network, prefix length, what it is). The README lists the same.
pub const FORBIDDEN_IPV4_NETWORKS: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "\"this network\", including the unspecified 0.0.0.0",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (RFC 1918)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local, including the cloud metadata service 169.254.169.254",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (RFC 1918)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (RFC 6890)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (TEST-NET-1)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (deprecated, RFC 7526)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (TEST-NET-2)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (TEST-NET-3)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved, including the broadcast 255.255.255.255",
    ),
];

/// IPv6 networks never fetched from (same exemptions as [`FORBIDDEN_IPV4_NETWORKS`]).
pub const FORBIDDEN_IPV6_NETWORKS: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64 (RFC 8215): refused whatever IPv4 it carries",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        "benchmarking (RFC 5180)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (RFC 9637)",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "SRv6 segment identifiers (RFC 9602)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique-local",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (deprecated, RFC 3879)",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// IPv6 forms that carry an IPv4 address, refused when that address is refused (a connection to
/// them reaches the IPv4 host through a translator or tunnel, or is that host):
/// (network, prefix length, where the IPv4 is).
pub const IPV4_EMBEDDING_IPV6_NETWORKS: &[(Ipv6Addr, u8, &str)] = &[
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
        96,
        "IPv4-mapped: the last 32 bits",
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0),
        96,
        "IPv4-translated (RFC 2765): the last 32 bits",
    ),
    (
        Ipv6Addr::UNSPECIFIED,
        96,
        "IPv4-compatible (deprecated): the last 32 bits",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        96,
        "NAT64 (RFC 6052): the last 32 bits",
    ),
    (
        Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),
        16,
        "6to4 (RFC 3056): bits 16-47",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        "Teredo (RFC 4380): the server in bits 32-63 and the client in the last 32 bits, inverted; refused if either is",
    ),
];

/// Addresses an issuer's documents must never be fetched from unless
/// `allow_private_addresses` is on: every network of [`FORBIDDEN_IPV4_NETWORKS`] and
/// [`FORBIDDEN_IPV6_NETWORKS`], and the IPv6 forms of [`IPV4_EMBEDDING_IPV6_NETWORKS`] whose
/// IPv4 address is refused.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => FORBIDDEN_IPV4_NETWORKS.iter().any(|(net, prefix, _)| {
            in_network(u32::from(v4).into(), u32::from(*net).into(), 32, *prefix)
        }),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            FORBIDDEN_IPV6_NETWORKS
                .iter()
                .any(|(net, prefix, _)| in_network(bits, u128::from(*net), 128, *prefix))
                || embedded_ipv4(v6)
                    .into_iter()
                    .flatten()
                    .any(|v4| is_forbidden_address(IpAddr::V4(v4)))
        }
    }
}

/// The IPv4 addresses an IPv6 address of [`IPV4_EMBEDDING_IPV6_NETWORKS`] carries (two for
/// Teredo), by the first of those networks it is in.
pub fn embedded_ipv4(v6: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let bits = u128::from(v6);
    let within = |index: usize| {
        let (net, prefix, _) = IPV4_EMBEDDING_IPV6_NETWORKS[index];
        in_network(bits, u128::from(net), 128, prefix)
    };
    // Truncating casts pick the embedded 32 bits.
    let last = Ipv4Addr::from(bits as u32);
    if (0..4).any(within) {
        [Some(last), None]
    } else if within(4) {
        [Some(Ipv4Addr::from((bits >> 80) as u32)), None]
    } else if within(5) {
        [
            Some(Ipv4Addr::from((bits >> 64) as u32)),
            Some(Ipv4Addr::from(!(bits as u32))),
        ]
    } else {
        [None, None]
    }
}

/// Whether `address` is in `network/prefix`, both `width`-bit numbers.
fn in_network(address: u128, network: u128, width: u32, prefix: u8) -> bool {
    let shift = width - u32::from(prefix).min(width);
    address.checked_shr(shift).unwrap_or(0) == network.checked_shr(shift).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchLimits;
    fn forbidden(ip: &str) -> bool {
        is_forbidden_address(ip.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "142.250.74.14",
            "198.20.0.1",
            "2a00:1450:4001::200e",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn every_listed_network_is_refused_from_its_first_to_its_last_address() {
        for (net, prefix, what) in FORBIDDEN_IPV4_NETWORKS {
            let first = u32::from(*net);
            let last = first | u32::MAX.checked_shr(u32::from(*prefix)).unwrap_or(0);
            for ip in [first, last] {
                assert!(is_forbidden_address(Ipv4Addr::from(ip).into()), "{what}");
            }
        }
        for (net, prefix, what) in FORBIDDEN_IPV6_NETWORKS {
            let first = u128::from(*net);
            let last = first | u128::MAX.checked_shr(u32::from(*prefix)).unwrap_or(0);
            for ip in [first, last] {
                assert!(is_forbidden_address(Ipv6Addr::from(ip).into()), "{what}");
            }
        }
    }

    #[test]
    fn nat64_addresses_are_judged_by_the_ipv4_they_carry() {
        assert!(forbidden("64:ff9b::127.0.0.1"));
        assert!(forbidden("64:ff9b::a9fe:a9fe"), "169.254.169.254");
        assert!(forbidden("64:ff9b::10.0.0.1"));
        assert!(!forbidden("64:ff9b::8.8.8.8"));
        assert!(forbidden("64:ff9b:1::8.8.8.8"), "local-use NAT64: always");
        assert!(forbidden("64:ff9b:1:ffff::1"));
        assert!(!forbidden("64:ff9b:2::1"), "outside both NAT64 prefixes");
    }

    #[test]
    fn ipv4_compatible_mapped_and_translated_addresses_are_judged_by_their_ipv4() {
        for (internal, public) in [
            ("::127.0.0.1", "::8.8.8.8"),
            ("::ffff:169.254.169.254", "::ffff:1.1.1.1"),
            ("::ffff:0:10.1.2.3", "::ffff:0:8.8.4.4"),
        ] {
            assert!(forbidden(internal), "{internal}");
            assert!(!forbidden(public), "{public}");
        }
    }

    #[test]
    fn sixtofour_addresses_are_judged_by_the_ipv4_in_bits_16_to_48() {
        assert!(forbidden("2002:7f00:1::1"), "127.0.0.1");
        assert!(forbidden("2002:a9fe:a9fe::"), "169.254.169.254");
        assert!(forbidden("2002:c0a8:101:1::1"), "192.168.1.1");
        assert!(!forbidden("2002:808:808::1"), "8.8.8.8");
    }

    #[test]
    fn teredo_addresses_are_refused_if_the_server_or_the_client_ipv4_is_internal() {
        let teredo = |server: [u8; 4], client: [u8; 4]| {
            let client = !u32::from(Ipv4Addr::from(client));
            let bits = (0x2001_0000u128 << 96)
                | (u128::from(u32::from(Ipv4Addr::from(server))) << 64)
                | u128::from(client);
            is_forbidden_address(Ipv6Addr::from(bits).into())
        };
        assert!(teredo([8, 8, 8, 8], [127, 0, 0, 1]), "internal client");
        assert!(
            teredo([8, 8, 8, 8], [169, 254, 169, 254]),
            "metadata client"
        );
        assert!(teredo([10, 0, 0, 1], [8, 8, 4, 4]), "internal server");
        assert!(!teredo([8, 8, 8, 8], [1, 1, 1, 1]));
        // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (documentation).
        assert!(forbidden("2001:0:4136:e378:8000:63bf:3fff:fdd2"));
    }

    #[test]
    fn site_local_and_other_non_global_ipv6_ranges_are_refused() {
        for ip in [
            "fec0::1",
            "feff::1",
            "100::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "ff02::1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn the_readme_lists_every_refused_range() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let missing: Vec<String> = FORBIDDEN_IPV4_NETWORKS
            .iter()
            .map(|(net, prefix, _)| format!("`{net}/{prefix}`"))
            .chain(
                FORBIDDEN_IPV6_NETWORKS
                    .iter()
                    .chain(IPV4_EMBEDDING_IPV6_NETWORKS)
                    .map(|(net, prefix, _)| format!("`{net}/{prefix}`")),
            )
            .filter(|range| !readme.contains(range.as_str()))
            .collect();
        assert!(missing.is_empty(), "README.md does not list {missing:?}");
    }

    #[test]
    fn allowed_networks_exempt_only_their_addresses() {
        let limits = FetchLimits {
            allowed_networks: vec![
                "10.20.0.0/16".parse().unwrap(),
                "fd00::1/128".parse().unwrap(),
            ],
            ..FetchLimits::default()
        };
        let allowed = |ip: &str| limits.address_allowed(ip.parse().unwrap());
        assert!(allowed("10.20.5.6") && allowed("fd00::1") && allowed("8.8.8.8"));
        assert!(!allowed("10.21.0.1") && !allowed("fd00::2") && !allowed("169.254.169.254"));
        assert!(
            allowed("::ffff:10.20.5.6"),
            "the IPv4-mapped form is the same host"
        );
        assert!(
            !allowed("64:ff9b::10.20.5.6") && !allowed("2002:a14:506::1"),
            "translated forms must be listed as IPv6"
        );
        assert!(
            !allowed("::ffff:10.21.0.1"),
            "a mapped address outside the network is not exempt"
        );
    }
}
