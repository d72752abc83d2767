//! Pseudonymous client ids: a keyed HMAC of the visitor's IP address, so consent and rate limits can refer to
//! "the same client" without the collector ever storing an IP address (GDPR data minimisation).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `c_` + 32 hex characters of HMAC-SHA256(secret, ip). Without the secret the id cannot be linked back to
/// an address, not even by trying all 2^32 IPv4 addresses.
pub fn client_id(secret: &[u8], ip: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(ip.trim().as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(34);
    out.push_str("c_");
    for b in &digest[..16] {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap());
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap());
    }
    out
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
}
