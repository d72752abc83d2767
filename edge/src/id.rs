//! Ids: time-ordered, so KV lists leads oldest first, and random enough that nobody can guess one.

/// Crockford's base32 alphabet (no I, L, O, U): readable and sorts like the numbers it encodes.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `prefix` + 10 characters of milliseconds + 16 characters of randomness (80 bits), like a ULID.
pub fn new(prefix: &str, now_ms: u64, random: [u8; 10]) -> String {
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    for i in (0..10).rev() {
        out.push(ALPHABET[((now_ms >> (i * 5)) & 31) as usize] as char);
    }
    let bits = random.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    for i in (0..16).rev() {
        out.push(ALPHABET[((bits >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// Whether `s` looks like an id made by [`new`] with `prefix` (checked before using it in a storage key).
pub fn is_valid(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| rest.len() == 26 && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_validate() {
        let a = new("ld_", 1_700_000_000_000, [255; 10]);
        let b = new("ld_", 1_700_000_000_001, [0; 10]);
        assert!(a < b);
        assert_eq!(a.len(), 29);
        assert!(is_valid("ld_", &a));
        assert!(!is_valid("ld_", "ld_../../etc"));
        assert!(!is_valid("msg_", &a));
    }
}
