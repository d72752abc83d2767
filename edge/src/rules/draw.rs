//! Giveaway draws that anyone can re-check: winners are picked uniformly at random from the eligible entries,
//! and the record keeps everything needed to repeat the pick.
//!
//! The rule: draw 32 random bytes (the seed); for each eligible lead id compute HMAC-SHA256(key = seed,
//! message = id); sort the ids by that value (hex, ascending); the first N win. With a secret, random seed
//! the HMAC values are independent and uniform, so every N-subset is equally likely; with the recorded seed
//! and eligible list, anyone can recompute the same winners with any HMAC implementation.

use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A draw as recorded, and as the admin API returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// The draw's id.
    pub id: String,
    /// The giveaway form.
    pub form: String,
    /// When it was drawn (RFC 3339).
    pub drawn_at: String,
    /// Whether entries were still open at the time (drawing early leaves out later entrants).
    pub entries_open: bool,
    /// The random seed, hex.
    pub seed: String,
    /// How many entries were eligible.
    pub eligible_count: usize,
    /// SHA-256 (hex) of the eligible lead ids, sorted and joined by `\n`: a short fingerprint of the list.
    pub eligible_sha256: String,
    /// The eligible lead ids, sorted.
    pub eligible: Vec<String>,
    /// The winners' lead ids, in draw order.
    pub winners: Vec<String>,
}

/// Why a draw cannot be made.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Fewer eligible entries than winners asked for (or zero winners asked for).
    Count {
        /// How many entries are eligible.
        eligible: usize,
    },
}

/// Picks `n` distinct winners from `eligible` (any order; duplicates are ignored) with `seed`.
pub fn pick(seed: &[u8; 32], eligible: &[String], n: usize) -> Result<Vec<String>, Refusal> {
    let mut ids: Vec<&String> = eligible.iter().collect();
    ids.sort();
    ids.dedup();
    if n == 0 || n > ids.len() {
        return Err(Refusal::Count { eligible: ids.len() });
    }
    let mut ranked: Vec<(String, &String)> = ids
        .into_iter()
        .map(|id| {
            let mut mac = crate::rules::digest::mac(seed);
            mac.update(id.as_bytes());
            (crate::rules::digest::hex(&mac.finalize().into_bytes()), id)
        })
        .collect();
    ranked.sort();
    Ok(ranked.into_iter().take(n).map(|(_, id)| id.clone()).collect())
}

/// Makes and records a draw.
pub fn make(id: String, form: &str, drawn_at: String, entries_open: bool, seed: [u8; 32], eligible: Vec<String>, n: usize) -> Result<Draw, Refusal> {
    let winners = pick(&seed, &eligible, n)?;
    let mut eligible = eligible;
    eligible.sort();
    eligible.dedup();
    Ok(Draw {
        id,
        form: form.to_owned(),
        drawn_at,
        entries_open,
        seed: crate::rules::digest::hex(&seed),
        eligible_count: eligible.len(),
        eligible_sha256: crate::rules::digest::hex(&Sha256::digest(eligible.join("\n").as_bytes())),
        eligible,
        winners,
    })
}

/// Repeats a recorded draw from its seed and list; true when it yields the recorded winners.
pub fn reproduces(draw: &Draw) -> bool {
    let Some(seed) = unhex(&draw.seed) else { return false };
    let fingerprint = crate::rules::digest::hex(&Sha256::digest(draw.eligible.join("\n").as_bytes()));
    fingerprint == draw.eligible_sha256 && pick(&seed, &draw.eligible, draw.winners.len()).as_ref() == Ok(&draw.winners)
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("ld_{i:04}")).collect()
    }

    #[test]
    fn winners_are_distinct_eligible_and_reproducible() {
        let draw = make("dr_1".into(), "win", "2026-12-25T00:00:00.000Z".into(), false, [7; 32], ids(50), 5).unwrap();
        assert_eq!(draw.winners.len(), 5);
        let mut unique = draw.winners.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        assert!(draw.winners.iter().all(|w| draw.eligible.contains(w)));
        assert!(reproduces(&draw));
        let mut tampered = draw.clone();
        tampered.winners[0] = "ld_9999".into();
        assert!(!reproduces(&tampered), "a changed winner is caught");
        let mut shrunk = draw.clone();
        shrunk.eligible.pop();
        assert!(!reproduces(&shrunk), "a changed list is caught by its fingerprint");
    }

    #[test]
    fn the_order_of_entries_does_not_matter_and_the_seed_does() {
        let mut shuffled = ids(30);
        shuffled.reverse();
        assert_eq!(pick(&[1; 32], &ids(30), 3), pick(&[1; 32], &shuffled, 3));
        assert_ne!(pick(&[1; 32], &ids(30), 3), pick(&[2; 32], &ids(30), 3));
    }

    #[test]
    fn every_entry_has_the_same_chance() {
        // 4,000 draws of 1 winner among 8 entries with different seeds: each entry should win about 500
        // times. A bias of the ranking would show as a count far outside the binomial spread (sd ~ 21).
        let mut wins = std::collections::BTreeMap::new();
        for i in 0u32..4000 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            *wins.entry(pick(&seed, &ids(8), 1).unwrap()[0].clone()).or_insert(0) += 1;
        }
        assert_eq!(wins.len(), 8);
        assert!(wins.values().all(|&w| (400..600).contains(&w)), "{wins:?}");
    }

    #[test]
    fn asking_for_more_winners_than_entries_is_refused() {
        assert_eq!(pick(&[0; 32], &ids(3), 4), Err(Refusal::Count { eligible: 3 }));
        assert_eq!(pick(&[0; 32], &ids(3), 0), Err(Refusal::Count { eligible: 3 }));
        assert_eq!(pick(&[0; 32], &[ids(1), ids(1)].concat(), 2), Err(Refusal::Count { eligible: 1 }), "duplicates count once");
    }
}
