//! Egress through an HTTP proxy: which URLs go through which proxy, as curl decides it.
//!
//! `fetch.proxy` is used for every URL; without it, `HTTPS_PROXY` (or `https_proxy`) for
//! `https://` URLs and `http_proxy` for `http://` ones (lower case only, as curl: a CGI
//! environment can set `HTTP_PROXY` from a request header). `fetch.no_proxy`, else `NO_PROXY`
//! (or `no_proxy`), lists destinations reached directly: `*`, host names (`example.com` and
//! `.example.com` both match the domain and its subdomains), IP addresses and CIDR networks.
//!
//! The tunnel is always HTTP `CONNECT`, for `http://` destinations too. The destination is
//! resolved by jwtgate, checked by the private-address guard, and the `CONNECT` names the checked
//! address (with TLS still verifying the host name), so a proxy can never be steered to an
//! internal host; the proxy's own address is exempt from the guard.

use std::net::IpAddr;

use ipnet::IpNet;
use url::Url;

/// A proxy to tunnel through: `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyAddress {
    /// The proxy's host name or IP address.
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl ProxyAddress {
    /// Parses `http://host[:port][/]`. The one parser of proxy URLs.
    ///
    /// # Errors
    /// Another scheme (a TLS proxy is not supported), credentials, a path, query or fragment,
    /// or no host.
    pub fn parse(text: &str) -> Result<Self, String> {
        // curl takes a bare `host:port` as an http proxy.
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "{text:?}: only http:// proxies are supported (HTTPS is tunnelled with CONNECT)"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{:?}: proxy credentials are not supported",
                url.host_str().unwrap_or_default()
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{text:?}: a proxy URL has no path, query or fragment"
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(format!("{text:?} has no host")),
        };
        Ok(Self {
            host,
            port: url.port_or_known_default().unwrap_or(80),
        })
    }
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoProxyRule {
    /// `*`: every destination.
    All,
    /// A domain and its subdomains (lower case, without a leading dot).
    Domain(String),
    /// An address or network.
    Network(IpNet),
}

impl NoProxyRule {
    /// Parses a comma-separated `NO_PROXY` list; empty entries are skipped, a `:port` suffix is
    /// ignored (as curl does).
    pub fn parse_list<'a>(entries: impl IntoIterator<Item = &'a str>) -> Vec<Self> {
        entries
            .into_iter()
            .flat_map(|entry| entry.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                if entry == "*" {
                    return NoProxyRule::All;
                }
                if let Ok(net) = entry.parse::<IpNet>() {
                    return NoProxyRule::Network(net);
                }
                let unbracketed = entry
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("");
                if let Ok(ip) = unbracketed.parse::<IpAddr>() {
                    return NoProxyRule::Network(IpNet::from(ip));
                }
                let host = entry.rsplit_once(':').map_or(entry, |(host, _)| host);
                NoProxyRule::Domain(host.trim_start_matches('.').to_ascii_lowercase())
            })
            .collect()
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            NoProxyRule::All => true,
            NoProxyRule::Network(net) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
            NoProxyRule::Domain(domain) => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
        }
    }
}

/// Which proxy each fetch goes through: built once, from `[fetch]` or the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// For `https://` destinations.
    pub https: Option<ProxyRoute>,
    /// For `http://` destinations.
    pub http: Option<ProxyRoute>,
    /// Destinations reached directly.
    pub no_proxy: Vec<NoProxyRule>,
}

/// A proxy, or a proxy setting that could not be used (every fetch it would carry fails with
/// this message instead of silently going direct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProxyRoute {
    /// Tunnel through this proxy.
    Via(ProxyAddress),
    /// The variable (or key) and why it is unusable.
    Invalid(String),
}

impl ProxyConfig {
    /// `fetch.proxy` and `fetch.no_proxy` if set, else the environment as curl reads it
    /// (`env` looks a variable up).
    pub fn from_settings_or_env(
        proxy: Option<&str>,
        no_proxy: Option<&[String]>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let route = |name: &str, value: &str| match ProxyAddress::parse(value) {
            Ok(address) => ProxyRoute::Via(address),
            Err(problem) => ProxyRoute::Invalid(format!("{name}: {problem}")),
        };
        let from_env = |names: &[&str]| {
            names.iter().find_map(|name| {
                env(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|value| route(name, value.trim()))
            })
        };
        let (https, http) = match proxy.filter(|p| !p.is_empty()) {
            Some(proxy) => {
                let route = route("fetch.proxy", proxy);
                (Some(route.clone()), Some(route))
            }
            None => (
                from_env(&["HTTPS_PROXY", "https_proxy"]),
                from_env(&["http_proxy"]),
            ),
        };
        let no_proxy = match no_proxy {
            Some(list) => NoProxyRule::parse_list(list.iter().map(String::as_str)),
            None => {
                let value = env("NO_PROXY")
                    .or_else(|| env("no_proxy"))
                    .unwrap_or_default();
                NoProxyRule::parse_list([value.as_str()])
            }
        };
        Self {
            https,
            http,
            no_proxy,
        }
    }

    /// The proxy for a destination (`scheme` `http` or `https`), or `None` to connect directly.
    pub fn route(&self, scheme: &str, host: &str) -> Option<&ProxyRoute> {
        let route = match scheme {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        (!self.no_proxy.iter().any(|rule| rule.matches(host))).then_some(route)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn via(host: &str, port: u16) -> ProxyRoute {
        ProxyRoute::Via(ProxyAddress {
            host: host.into(),
            port,
        })
    }

    #[test]
    fn proxy_urls_are_plain_http_without_credentials() {
        assert_eq!(
            ProxyAddress::parse("http://proxy.corp:3128").unwrap(),
            ProxyAddress {
                host: "proxy.corp".into(),
                port: 3128
            }
        );
        assert_eq!(ProxyAddress::parse("proxy.corp:8080").unwrap().port, 8080);
        assert_eq!(
            ProxyAddress::parse("http://[::1]:3128").unwrap().host,
            "::1"
        );
        for bad in [
            "https://proxy:3128",
            "socks5://proxy:1080",
            "http://user:secret@proxy:3128",
            "http://proxy:3128/path",
            "http://",
        ] {
            let problem = ProxyAddress::parse(bad).unwrap_err();
            assert!(!problem.contains("secret"), "{problem}");
        }
    }

    #[test]
    fn the_environment_is_read_as_curl_reads_it() {
        let config = ProxyConfig::from_settings_or_env(
            None,
            None,
            env(&[
                ("HTTPS_PROXY", "http://secure:3128"),
                ("HTTP_PROXY", "http://from-a-request-header:80"),
                (
                    "NO_PROXY",
                    "internal.corp, .svc.cluster.local,10.0.0.0/8,192.168.1.7:443",
                ),
            ]),
        );
        assert_eq!(
            config.route("https", "idp.example"),
            Some(&via("secure", 3128))
        );
        assert_eq!(
            config.route("http", "idp.example"),
            None,
            "HTTP_PROXY is ignored"
        );
        for direct in [
            "internal.corp",
            "a.internal.corp",
            "kubernetes.default.svc.cluster.local",
            "10.1.2.3",
            "192.168.1.7",
        ] {
            assert_eq!(config.route("https", direct), None, "{direct}");
        }
        assert!(config.route("https", "notinternal.corp").is_some());
        let lower = ProxyConfig::from_settings_or_env(
            None,
            None,
            env(&[
                ("https_proxy", "p:1"),
                ("http_proxy", "p:2"),
                ("no_proxy", "*"),
            ]),
        );
        assert_eq!(lower.route("https", "x"), None, "* means everything direct");
    }

    #[test]
    fn the_setting_wins_over_the_environment_and_a_bad_value_fails_closed() {
        let config = ProxyConfig::from_settings_or_env(
            Some("http://egress:3128"),
            Some(&["localhost".to_string()]),
            env(&[("HTTPS_PROXY", "http://other:1"), ("NO_PROXY", "*")]),
        );
        assert_eq!(
            config.route("https", "idp.example"),
            Some(&via("egress", 3128))
        );
        assert_eq!(
            config.route("http", "idp.example"),
            Some(&via("egress", 3128))
        );
        assert_eq!(config.route("https", "localhost"), None);
        let bad = ProxyConfig::from_settings_or_env(None, None, env(&[("HTTPS_PROXY", "ftp://x")]));
        assert!(
            matches!(bad.route("https", "a"), Some(ProxyRoute::Invalid(m)) if m.contains("HTTPS_PROXY"))
        );
    }
}
