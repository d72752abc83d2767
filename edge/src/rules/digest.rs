//! Hashes, MACs and their comparison, in one place for every rule that signs or fingerprints: SHA-256 as
//! lowercase hex, HMAC-SHA256 keyed for one use of a secret, and comparison in constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(DIGITS.get(usize::from(nibble)).map_or('0', |d| char::from(*d)));
        }
    }
    out
}

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A MAC keyed for one use of the collector's signing secret: HMAC-SHA256 under HMAC(secret, label), the
/// label being the concatenated `parts`. Receipts and each kind of token use their own label, so nothing
/// signed for one use verifies for another.
pub fn derived_key(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut derive = mac(secret);
    for part in parts {
        derive.update(part);
    }
    mac(&derive.finalize().into_bytes())
}

/// HMAC-SHA256 under `key`. HMAC takes keys of any length, so the constructor cannot fail; the fallback
/// only exists so that no code path can panic.
pub fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()))
}

/// Compares without an early exit, so response timing does not reveal how much of a guess was right.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_sha256_matches_the_standard_vector() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3cre") && !same(b"s3cre", b"s3cret") && !same(b"s3cret", b"s3creT"));
        assert!(same(b"", b""));
    }
}
