//! Outbound requests to addresses a tenant chose (SMTP hosts today;
//! webhooks and provider base URLs use the same check): loopback, private,
//! link-local and other non-public addresses are refused unless the
//! configuration allows them (ARCHITECTURE.md, "Outbound requests").
//! Otherwise a tenant could point the server at its own admin ports, the
//! cloud metadata service (169.254.169.254) or the database.
//!
//! The check runs twice: when the address is saved, for a clear error on
//! the field, and when connecting, because a name's DNS answer can change
//! after it was saved. At connect time the name is resolved once, every
//! address it resolves to is checked, and the connection goes to a checked
//! address, never to the name resolved again (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why an address is refused, for the person who chose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// An HTTP client's resolver reports it as the cause of a failed connection.
impl std::error::Error for Refused {}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub(crate) fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared address space (CGNAT, 100.64.0.0/10)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let s = ip.segments();
    // Forms that carry an IPv4 address, which decides: mapped
    // (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d)
    // and 6to4 (2002:AABB:CCDD::).
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return non_public_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "unique local (private, fc00::/7)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// An IPv4 address in one of the legacy forms `inet_aton` (and so the
/// system resolver) accepts besides dotted decimal: `127.1`, `0x7f.1`,
/// `2130706433`, `0177.0.0.1`. A host written like this is an address,
/// not a name.
pub(crate) fn legacy_ipv4(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let lower = part.to_ascii_lowercase();
        let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
            (hex, 16)
        } else if lower.len() > 1 && lower.starts_with('0') {
            (&lower[1..], 8)
        } else {
            (lower.as_str(), 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let n = if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        };
        numbers.push(n);
    }
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if room < 32 && *last >= 1 << room {
        return None;
    }
    let mut value: u32 = 0;
    for (i, n) in leading.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(value | last))
}

/// The address a host literally is (an IP, bracketed IPv6, or a legacy
/// IPv4 form), if it is one.
fn literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>()
        .ok()
        .or_else(|| legacy_ipv4(bare).map(IpAddr::V4))
}

/// `localhost` and names under it always mean this machine (RFC 6761),
/// whatever a resolver says.
fn is_localhost(host: &str) -> bool {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn refusal(host: &str, ip: IpAddr, kind: &str) -> Refused {
    let why = format!(
        "{ip} is not a public address ({kind}); outbound connections go only to public addresses"
    );
    if literal(host).is_some() {
        Refused(why)
    } else {
        Refused(format!("{host} resolves to {why}"))
    }
}

/// How long a save-time or connect-time lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which addresses outbound connections may reach, and where some names
/// point (`Config::outbound_policy`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    /// Every address, public or not (development's default).
    pub allow_private: bool,
    /// Non-public ranges allowed all the same: a test server on loopback,
    /// a relay on the LAN. Everything else non-public stays refused, so a
    /// test can show that a redirect to 169.254.169.254 is refused while
    /// its own server on 127.0.0.1 is reached.
    pub allowed: Vec<ipnet::IpNet>,
    /// Fixed answers for names (curl's `--resolve`), checked like any DNS
    /// answer: fixture sites under made-up names in tests.
    pub pinned: Vec<crate::config::HostPin>,
}

impl Policy {
    /// Public addresses only, or every address.
    pub(crate) fn allowing_private(allow_private: bool) -> Self {
        Self {
            allow_private,
            ..Self::default()
        }
    }

    /// `None` when `ip` may be reached, else what kind of address it is.
    fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow_private || self.allowed.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        non_public(ip)
    }

    /// Refuses a literal address that may not be reached; a client that
    /// connects to literal addresses without a lookup checks them here.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match self.refuses(ip) {
            Some(kind) => Err(refusal(&ip.to_string(), ip, kind)),
            None => Ok(()),
        }
    }

    /// Resolves `host` once and checks every address: the addresses to
    /// connect to, all of them allowed. A pinned name answers with its
    /// pinned address (its port, unless that is 0, replacing `port`).
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let pinned = self
            .pinned
            .iter()
            .find(|pin| pin.name.eq_ignore_ascii_case(host.trim_end_matches('.')));
        let addrs: Vec<SocketAddr> = if let Some(pin) = pinned {
            let port = if pin.addr.port() == 0 {
                port
            } else {
                pin.addr.port()
            };
            vec![SocketAddr::new(pin.addr.ip(), port)]
        } else if is_localhost(host) && !self.allow_private {
            // RFC 6761: loopback, whatever a resolver says.
            let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
            if self.refuses(ip).is_some() {
                return Err(ResolveError::Refused(Refused(format!(
                    "{host} is this machine (loopback); outbound connections go only to public addresses"
                ))));
            }
            vec![SocketAddr::new(ip, port)]
        } else if let Some(ip) = literal(host) {
            vec![SocketAddr::new(ip, port)]
        } else {
            let lookup = tokio::net::lookup_host((host, port));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => return Err(ResolveError::Lookup(e.to_string())),
                Err(_) => return Err(ResolveError::Lookup("DNS lookup timed out".into())),
            }
        };
        if addrs.is_empty() {
            return Err(ResolveError::Lookup(format!("{host} has no address")));
        }
        // Every answer, not just the first: a name that answers with one
        // public and one private address must not reach the private one.
        for addr in &addrs {
            if let Some(kind) = self.refuses(addr.ip()) {
                return Err(ResolveError::Refused(refusal(host, addr.ip(), kind)));
            }
        }
        Ok(addrs)
    }
}

/// Resolves `host` once and checks every address: the addresses to connect
/// to, all of them allowed. With `allow_private` nothing is refused.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    Policy::allowing_private(allow_private)
        .resolve(host, port)
        .await
}

/// Why [`resolve`] gave no address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// The host is, or resolves to, an address that is not allowed.
    Refused(Refused),
    /// The name did not resolve (now).
    Lookup(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(r) => r.fmt(f),
            Self::Lookup(e) => write!(f, "cannot resolve the host: {e}"),
        }
    }
}

/// The save-time check: refuses a host that is, or now resolves to, a
/// non-public address. A name that does not resolve now is accepted (it
/// may be set up later); the connect-time check still applies to it.
pub(crate) async fn check_host(host: &str, allow_private: bool) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    match resolve(host, 0, false).await {
        Err(ResolveError::Refused(refused)) => Err(refused),
        Ok(_) | Err(ResolveError::Lookup(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_named() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "\"this network\" (0.0.0.0/8)"),
            ("100.64.0.1", "shared address space (CGNAT, 100.64.0.0/10)"),
            (
                "100.127.255.254",
                "shared address space (CGNAT, 100.64.0.0/10)",
            ),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved or broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local (private, fc00::/7)"),
            ("fd12:3456::1", "unique local (private, fc00::/7)"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("ff02::1", "multicast"),
            // IPv4 inside IPv6: the IPv4 address decides.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::192.168.0.1", "private"),
            ("2002:7f00:1::", "loopback"),
        ] {
            assert_eq!(non_public(ip(addr)), Some(kind), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.0.2.1",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert_eq!(non_public(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn legacy_ipv4_forms_are_addresses() {
        for (raw, addr) in [
            ("127.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("10.0x10.1", "10.16.0.1"),
            ("1.2.3.4", "1.2.3.4"),
        ] {
            assert_eq!(legacy_ipv4(raw), Some(addr.parse().unwrap()), "{raw}");
        }
        for name in [
            "mail.example.com",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.65536",
            "09.1",
            "x1",
        ] {
            assert_eq!(legacy_ipv4(name), None, "{name}");
        }
    }

    #[tokio::test]
    async fn save_time_check_refuses_literals_and_localhost() {
        for host in [
            "127.0.0.1",
            "[::1]",
            "::ffff:127.0.0.1",
            "0x7f000001",
            "0x7f.1",
            "localhost",
            "LOCALHOST.",
            "smtp.localhost",
            "169.254.169.254",
            "10.0.0.5",
            "100.64.1.1",
            "0.0.0.0",
            "fe80::1",
        ] {
            assert!(check_host(host, false).await.is_err(), "{host}");
            assert!(check_host(host, true).await.is_ok(), "{host}");
        }
        assert!(check_host("203.0.113.7", false).await.is_ok());
        assert!(check_host("2001:4860:4860::8888", false).await.is_ok());
    }

    #[tokio::test]
    async fn connect_time_resolution_returns_only_checked_addresses() {
        let refused = resolve("localhost", 25, false).await;
        assert!(
            matches!(refused, Err(ResolveError::Refused(_))),
            "{refused:?}"
        );
        let addrs = resolve("127.0.0.1", 2525, true).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:2525".parse().unwrap()]);
        let addrs = resolve("203.0.113.7", 25, false).await.unwrap();
        assert_eq!(addrs, vec!["203.0.113.7:25".parse().unwrap()]);
    }

    #[tokio::test]
    async fn allowed_ranges_open_only_themselves_and_pins_answer_for_names() {
        let policy = Policy {
            allow_private: false,
            allowed: vec!["127.0.0.0/8".parse().unwrap()],
            pinned: vec![
                crate::config::HostPin {
                    name: "shop.test".into(),
                    addr: "127.0.0.1:8081".parse().unwrap(),
                },
                crate::config::HostPin {
                    name: "metadata.test".into(),
                    addr: "169.254.169.254:0".parse().unwrap(),
                },
            ],
        };
        assert!(policy.check_ip(ip("127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("10.0.0.1")).is_err());
        assert!(policy.check_ip(ip("169.254.169.254")).is_err());
        assert!(policy.check_ip(ip("8.8.8.8")).is_ok());
        assert_eq!(
            policy.resolve("Shop.Test.", 80).await.unwrap(),
            vec!["127.0.0.1:8081".parse().unwrap()]
        );
        assert_eq!(
            policy.resolve("localhost", 80).await.unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert!(matches!(
            policy.resolve("metadata.test", 80).await,
            Err(ResolveError::Refused(_))
        ));
        assert!(matches!(
            policy.resolve("10.1.2.3", 80).await,
            Err(ResolveError::Refused(_))
        ));
    }
}
