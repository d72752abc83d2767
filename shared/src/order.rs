//! Sorting and ordered collections for code that ships in the collector: one copy of the standard
//! library's sort for every element type.
//!
//! `[T]::sort_by` is generic over the element and the comparison, so each call site links its own copy of
//! the standard library's stable sort (about 3.5 KB of wasm each); `BTreeMap`'s `FromIterator` sorts too.
//! The collector had nine of them, about 33 KB of its bundle for lists of a handful of entries. Here the
//! standard sort runs once, non-generically, on positions, with the comparison behind a `dyn` reference;
//! the elements are then moved into that order. It is the same stable O(n log n) sort, plus one list of
//! positions, so it suits lists of any length.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// Sorts `items` stably by `compare` (as `[T]::sort_by` does).
pub fn sort_by<T>(items: &mut Vec<T>, mut compare: impl FnMut(&T, &T) -> Ordering) {
    let order = {
        let seen: &[T] = items;
        positions(seen.len(), &mut |a, b| compare(&seen[a], &seen[b]))
    };
    let mut taken: Vec<Option<T>> = core::mem::take(items).into_iter().map(Some).collect();
    // Every position occurs once in `order`, so each element is taken exactly once.
    items.extend(order.into_iter().filter_map(|i| taken.get_mut(i).and_then(Option::take)));
}

/// Sorts `items` stably by the key `key` gives (as `[T]::sort_by_key` does).
pub fn sort_by_key<T, K: Ord>(items: &mut Vec<T>, mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `items` stably in their natural order (as `[T]::sort` does).
pub fn sort<T: Ord>(items: &mut Vec<T>) {
    sort_by(items, T::cmp);
}

/// A map of `pairs`, a later pair's value replacing an earlier one's for the same key, as `collect` into
/// a `BTreeMap` makes it, by inserting one by one instead of sorting first (see the module's docs).
pub fn map<K: Ord, V>(pairs: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        out.insert(k, v);
    }
    out
}

/// The positions `0..n` sorted stably by `compare`: the one place the standard sort is instantiated.
#[inline(never)]
fn positions(n: usize, compare: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| compare(*a, *b));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec;

    /// A small deterministic generator, so the cases are the same on every run.
    fn numbers(seed: u64, n: usize, modulo: u64) -> Vec<u64> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 33) % modulo
            })
            .collect()
    }

    #[test]
    fn sorts_as_the_standard_stable_sort_does_including_the_order_of_equal_keys() {
        for (seed, n) in [(1, 0), (2, 1), (3, 2), (4, 7), (5, 20), (6, 33), (7, 500), (8, 4_000)] {
            // Pairs of (key, original position): many equal keys, so stability shows in the positions.
            let items: Vec<(u64, usize)> = numbers(seed, n, 10).into_iter().enumerate().map(|(i, k)| (k, i)).collect();
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut std_sorted = items.clone();
            std_sorted.sort_by_key(|a| a.0);
            assert_eq!(ours, std_sorted, "n = {n}");
            let mut by_key = items.clone();
            sort_by_key(&mut by_key, |p| core::cmp::Reverse(p.0));
            let mut std_by_key = items;
            std_by_key.sort_by_key(|p| core::cmp::Reverse(p.0));
            assert_eq!(by_key, std_by_key, "n = {n}, reversed");
        }
    }

    #[test]
    fn moves_owned_elements_without_losing_or_doubling_any() {
        let mut words: Vec<String> = ["pear", "apple", "fig", "apple", "kiwi"].iter().map(|w| w.to_string()).collect();
        sort(&mut words);
        assert_eq!(words, vec!["apple", "apple", "fig", "kiwi", "pear"]);
    }

    #[test]
    fn a_map_keeps_the_last_value_of_a_repeated_key_as_collect_does() {
        let pairs = vec![("b", 1), ("a", 2), ("b", 3)];
        let ours = map(pairs.clone());
        let collected: BTreeMap<&str, i32> = pairs.into_iter().collect();
        assert_eq!(ours, collected);
        assert_eq!(ours.get("b"), Some(&3));
    }
}
