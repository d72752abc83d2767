//! Hashes, MACs and their comparison, in one place for every rule that signs or fingerprints: SHA-256 as
//! lowercase hex, HMAC-SHA256 keyed for one use of a secret, and comparison in constant time.

use crate::rules::memo::Memo;
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
///
/// A derived key depends only on the secret and the label, and deriving it costs seven SHA-256 blocks
/// (two keyed HMACs and one finalisation) before a byte is signed; a submission signs with several. So
/// the keys derived so far are kept for the thread (a Worker's isolate): each later use clones the keyed
/// state instead. The entry is the secret's length, the secret and the label, so no two pairs share one.
pub fn derived_key(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    /// More pairs than the product uses (a handful of labels under one or two secrets); past it, the
    /// cache starts over, so it cannot grow with what a request names.
    const KEPT: usize = 64;
    std::thread_local! {
        static DERIVED: Memo<Vec<u8>, Hmac<Sha256>> = const { Memo::new(KEPT) };
    }
    let mut entry = Vec::with_capacity(8 + secret.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    entry.extend_from_slice(&(secret.len() as u64).to_le_bytes());
    entry.extend_from_slice(secret);
    for part in parts {
        entry.extend_from_slice(part);
    }
    DERIVED.with(|d| {
        d.get_or(entry.as_slice(), || {
            let mut derive = mac(secret);
            for part in parts {
                derive.update(part);
            }
            mac(&derive.finalize().into_bytes())
        })
    })
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
    fn a_kept_derived_key_signs_as_a_fresh_one_and_pairs_do_not_share_entries() {
        let sign = |key: Hmac<Sha256>| {
            let mut key = key;
            key.update(b"message");
            hex(&key.finalize().into_bytes())
        };
        let fresh = |secret: &[u8], label: &[u8]| {
            let mut derive = mac(secret);
            derive.update(label);
            sign(mac(&derive.finalize().into_bytes()))
        };
        // HMAC(HMAC("key", "label"), "message"), computed independently of the cache.
        let expected = fresh(b"key", b"label");
        assert_eq!(sign(derived_key(b"key", &[b"la", b"bel"])), expected, "first use");
        assert_eq!(sign(derived_key(b"key", &[b"label"])), expected, "kept: the same label in other parts");
        // The same bytes split differently between secret and label are another pair.
        assert_eq!(sign(derived_key(b"keyl", &[b"abel"])), fresh(b"keyl", b"abel"));
        assert_ne!(sign(derived_key(b"keyl", &[b"abel"])), expected);
        // Past the bound the cache starts over and still answers rightly.
        for i in 0..100u32 {
            assert_eq!(sign(derived_key(&i.to_le_bytes(), &[b"x"])), fresh(&i.to_le_bytes(), b"x"));
        }
        assert_eq!(sign(derived_key(b"key", &[b"label"])), expected);
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3cre") && !same(b"s3cre", b"s3cret") && !same(b"s3cret", b"s3creT"));
        assert!(same(b"", b""));
    }
}
