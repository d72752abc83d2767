//! Pseudonymous client ids: a keyed HMAC of the visitor's IP address, so consent and rate limits can refer to
//! "the same client" without the collector ever storing an IP address (GDPR data minimisation).

use hmac::Mac;

/// `c_` + 32 hex characters of HMAC-SHA256(secret, ip). Without the secret the id cannot be linked back to
/// an address, not even by trying all 2^32 IPv4 addresses.
pub fn client_id(secret: &[u8], ip: &str) -> String {
    let mut mac = crate::rules::digest::mac(secret);
    mac.update(ip.trim().as_bytes());
    let digest = mac.finalize().into_bytes();
    ["c_", &crate::rules::digest::hex(digest.get(..16).unwrap_or_default())].concat()
}

/// The part of an address that names one client for the rate limit: an IPv4 address whole, an IPv6
/// address by its /64 network. One IPv6 subscriber usually holds a whole /64 (2^64 addresses), so keying
/// by the full address would give them an unlimited budget.
pub fn network(ip: &str) -> String {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        // Not an address: the header is the client's own word, taken as it is.
        Err(_) => ip.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_secret_and_never_the_address() {
        let a = client_id(b"k1", "203.0.113.7");
        assert_eq!(a, client_id(b"k1", " 203.0.113.7 "));
        assert_ne!(a, client_id(b"k2", "203.0.113.7"));
        assert_ne!(a, client_id(b"k1", "203.0.113.8"));
        assert!(!a.contains("203"));
        assert_eq!(a.len(), 34);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        assert_eq!(network("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(network("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_eq!(network("2001:db8:1:2::"), network("2001:db8:1:2:dead:beef:0:1"));
        assert_ne!(network("2001:db8:1:2::1"), network("2001:db8:1:3::1"));
        assert_eq!(network("::ffff:203.0.113.7"), "203.0.113.7", "an IPv4 address in IPv6 clothing is one client");
        assert_eq!(network(" 203.0.113.7 "), "203.0.113.7");
        assert_eq!(network("not an ip"), "not an ip");
    }
}
