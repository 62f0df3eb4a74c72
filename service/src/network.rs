//! The address a request comes from, for per-address limits (`crate::limits`). It is the socket's peer
//! address, unless that peer is a trusted proxy (`trusted_proxies`): then it is the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
//! its left were written by the client and prove nothing). Without trusted proxies
//! the header is ignored, so a client cannot pick its own address.

use std::net::IpAddr;

use crate::error::Error;

/// An address or a CIDR block (`10.0.0.0/8`, `::1/128`, `127.0.0.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; the message names the bad entry.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::Config(format!(
                "trusted_proxies: {text:?} {why}: use an address (10.0.0.1) or a CIDR block (10.0.0.0/8)"
            ))
        };
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| bad("is not an IP address"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| bad("has a bad prefix length"))?,
            None => bits,
        };
        // `::ffff:10.0.0.1` is 10.0.0.1 (RFC 4291 §2.5.5.2): stored as IPv4, so it
        // matches the canonical addresses compared with it.
        if let IpAddr::V6(v6) = address
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Ok(Self {
                address: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { address, prefix })
    }

    /// Whether `address` is inside this network (IPv4-mapped IPv6 counts as IPv4;
    /// an IPv6 network holds the IPv4 addresses its mapped range covers).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match (self.address, canonical(address)) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (_, address) => address,
        };
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// `address` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) written as the
/// IPv4 address it is, so the two spellings compare equal everywhere.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The configured trusted proxies.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// Parses every entry, naming the first bad one.
    pub fn parse(entries: &[String]) -> Result<Self, Error> {
        entries
            .iter()
            .map(|entry| Network::parse(entry))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client's address: `peer`, or behind trusted proxies the right-most
    /// untrusted `X-Forwarded-For` entry (`forwarded_for`: every header value, in
    /// order). A malformed entry stops the walk at the last address that was proven.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>() else {
                break;
            };
            client = canonical(address);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        let block = Network::parse("10.0.0.0/8").unwrap();
        assert!(block.contains(ip("10.1.2.3")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!(Network::parse("::1").unwrap().contains(ip("::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        // A proxy written in its IPv4-mapped IPv6 form is that IPv4 proxy.
        let mapped = Network::parse("::ffff:10.0.0.1").unwrap();
        assert!(mapped.contains(ip("10.0.0.1")));
        assert!(mapped.contains(ip("::ffff:10.0.0.1")));
        assert!(!mapped.contains(ip("10.0.0.2")));
        let mapped_block = Network::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped_block.contains(ip("10.200.0.1")));
        assert!(!mapped_block.contains(ip("11.0.0.1")));
        assert!(Network::parse("::/0").unwrap().contains(ip("192.0.2.1")));
        let proxies = TrustedProxies::parse(&["::ffff:10.0.0.1".to_owned()]).unwrap();
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), ["203.0.113.9"].into_iter()),
            ip("203.0.113.9"),
            "the mapped spelling trusts the proxy"
        );
        for bad in ["10.0.0.0/33", "nowhere", "10.0.0.0/x"] {
            let error = Network::parse(bad).unwrap_err().to_string();
            assert!(error.contains("trusted_proxies"), "{error}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("127.0.0.1"), ["203.0.113.9"].into_iter()),
            ip("127.0.0.1"),
            "without trusted proxies the header is ignored"
        );
        let proxies =
            TrustedProxies::parse(&["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()]).unwrap();
        // The client wrote "1.1.1.1"; the proxies appended the real address.
        assert_eq!(
            proxies.client_address(
                ip("127.0.0.1"),
                ["1.1.1.1, 203.0.113.9", "10.0.0.7"].into_iter()
            ),
            ip("203.0.113.9")
        );
        // A request straight from the internet cannot pick its address.
        assert_eq!(
            proxies.client_address(ip("198.51.100.1"), ["1.1.1.1"].into_iter()),
            ip("198.51.100.1")
        );
        // Garbage stops the walk at the last proven hop.
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), ["junk, 10.0.0.8"].into_iter()),
            ip("10.0.0.8")
        );
    }
}
