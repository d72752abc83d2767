//! Ids: time-ordered, so ordering by id is ordering by creation (lists are newest first by id), and random enough that nobody can guess one.

/// Crockford's base32 alphabet (no I, L, O, U): readable and sorts like the numbers it encodes.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `prefix` + 10 characters of milliseconds + 16 characters of randomness (80 bits), like a ULID.
pub fn new(prefix: &str, now_ms: u64, random: [u8; 10]) -> String {
    let digit = |v: u128| ALPHABET.get((v & 31) as usize).map_or('0', |&b| char::from(b));
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    for i in (0..10).rev() {
        out.push(digit(u128::from(now_ms >> (i * 5))));
    }
    let bits = random.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    for i in (0..16).rev() {
        out.push(digit(bits >> (i * 5)));
    }
    out
}

/// An id made like [`new`], with its random part derived from `seed` (SHA-256): the same seed gives the same
/// id. Used where two racing requests must produce one record, not two (the `lead.confirmed` deliveries
/// of one lead, so receivers see one `webhook-id` however often the button is pressed).
pub fn derived(prefix: &str, now_ms: u64, seed: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in seed {
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut random = [0u8; 10];
    random.iter_mut().zip(digest.iter()).for_each(|(r, d)| *r = *d);
    new(prefix, now_ms, random)
}

/// Whether `s` looks like an id made by [`new`] with `prefix` (checked before using it in a storage key),
/// optionally followed by `_` and 6 or 7 more characters of the alphabet: the ledger object that holds a
/// lead (its form's tag and its shard, see `shard::Home::suffix`).
pub fn is_valid(prefix: &str, s: &str) -> bool {
    let ours = |part: &str| part.bytes().all(|b| ALPHABET.contains(&b));
    s.strip_prefix(prefix).is_some_and(|rest| match rest.split_once('_') {
        None => rest.len() == 26 && ours(rest),
        Some((id, home)) => id.len() == 26 && ours(id) && (6..=7).contains(&home.len()) && ours(home),
    })
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
        assert!(is_valid("ld_", &format!("{a}_K3ZQ90")) && is_valid("ld_", &format!("{a}_K3ZQ91Z")), "with the object that holds it");
        assert!(!is_valid("ld_", &format!("{a}_K3")) && !is_valid("ld_", &format!("{a}_../x")) && !is_valid("ld_", &format!("{a}_K3ZQ9_0")));
        assert!(!is_valid("msg_", &a));
        let d = derived("msg_", 5, &[b"ld_1", b"/crm"]);
        assert_eq!(d, derived("msg_", 5, &[b"ld_1", b"/crm"]));
        assert_ne!(d, derived("msg_", 5, &[b"ld_1", b"/crm2"]));
        assert!(is_valid("msg_", &d));
    }
}
