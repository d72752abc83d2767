//! A bounded memo: values computed from a key and kept for the isolate in a short list, for work that
//! depends only on its key and costs more than finding it again (a form's shard tag, a derived HMAC key).

use std::borrow::Borrow;
use std::cell::RefCell;

/// At most `bound` computed values with their keys. Past the bound the list starts over, so it cannot grow
/// with what requests name; a lookup is a linear search, which for the few dozen keys kept costs far less
/// than the SHA-256 blocks it saves. Meant for a `thread_local!` (a Worker's isolate is one thread).
pub struct Memo<K, V> {
    kept: RefCell<Vec<(K, V)>>,
    bound: usize,
}

impl<K, V: Clone> Memo<K, V> {
    /// An empty memo that keeps at most `bound` values.
    pub const fn new(bound: usize) -> Memo<K, V> {
        Memo { kept: RefCell::new(Vec::new()), bound }
    }

    /// The value for `key`: the kept one, else `make`'s, which is then kept. `make` runs with the list
    /// released, so it may use other memos.
    pub fn get_or<Q>(&self, key: &Q, make: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.kept.borrow().iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v.clone()) {
            return value;
        }
        let value = make();
        let mut kept = self.kept.borrow_mut();
        if kept.len() >= self.bound {
            kept.clear();
        }
        kept.push((key.to_owned(), value.clone()));
        value
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.kept.borrow().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Memo;
    use std::cell::Cell;

    #[test]
    fn a_kept_value_is_not_made_again_and_the_list_starts_over_at_its_bound() {
        let memo: Memo<String, usize> = Memo::new(3);
        let made = Cell::new(0);
        let make = |n: usize| {
            made.set(made.get() + 1);
            n
        };
        assert_eq!(memo.get_or("a", || make(1)), 1);
        assert_eq!(memo.get_or("a", || make(99)), 1, "the kept value, not a new one");
        assert_eq!(made.get(), 1);
        memo.get_or("b", || make(2));
        memo.get_or("c", || make(3));
        assert_eq!(memo.len(), 3);
        // Full: the fourth key starts the list over, and the first is made again when asked.
        assert_eq!(memo.get_or("d", || make(4)), 4);
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.get_or("a", || make(5)), 5);
        assert_eq!(made.get(), 5);
    }
}
