//! Which keys of a provider may hold changes the store has not been handed
//! yet, so that the write-behind visits those and not every key: with
//! thousands of keys, a walk over all of them took half a millisecond of
//! the pool's thread each tick, even with nothing to write.
//!
//! A key is marked whenever it is taken to be changed (see
//! `ProviderPool`); the write-behind clears the marks of the keys it
//! visits. A mark on a key with nothing to write costs one visit.

/// The marked keys, by position: one bit each.
#[derive(Debug, Default)]
pub struct Touched {
    words: Vec<u64>,
    /// Every key is marked, however many there are by the next visit
    /// (after changes to many keys at once, which may add keys).
    all: bool,
}

const BITS: usize = u64::BITS as usize;

// === impl Touched ===

impl Touched {
    /// Every key marked (a new provider: whatever was loaded is visited).
    pub fn all() -> Touched {
        Touched {
            words: Vec::new(),
            all: true,
        }
    }

    pub fn mark(&mut self, index: usize) {
        if self.all {
            return;
        }
        let word = index / BITS;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (index % BITS);
    }

    pub fn mark_all(&mut self) {
        self.all = true;
    }

    /// Clears and returns the first marked key at `from` or after it,
    /// going round to the start; `None` once no key of the `keys` there are
    /// is marked.
    pub fn take_from(&mut self, from: usize, keys: usize) -> Option<usize> {
        if std::mem::take(&mut self.all) {
            self.words = vec![u64::MAX; keys.div_ceil(BITS)];
        }
        // Marks past the last key (keys retired by a reload) are dropped.
        self.words.truncate(keys.div_ceil(BITS));
        if let (Some(last), rest @ 1..) = (self.words.last_mut(), keys % BITS) {
            *last &= (1 << rest) - 1;
        }
        let from = if from < keys { from } else { 0 };
        let index = self
            .first_in(from, keys)
            .or_else(|| self.first_in(0, from))?;
        self.words[index / BITS] &= !(1 << (index % BITS));
        Some(index)
    }

    /// The first marked key in `start..end`.
    fn first_in(&self, start: usize, end: usize) -> Option<usize> {
        let mut word = start / BITS;
        // Bits below `start` in its word are not looked at.
        let mut bits = self.words.get(word)? & (u64::MAX << (start % BITS));
        loop {
            if bits != 0 {
                let index = word * BITS + bits.trailing_zeros() as usize;
                return (index < end).then_some(index);
            }
            word += 1;
            if word * BITS >= end {
                return None;
            }
            bits = *self.words.get(word)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(touched: &mut Touched, from: usize, keys: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut at = from;
        while let Some(i) = touched.take_from(at, keys) {
            seen.push(i);
            at = i + 1;
        }
        seen
    }

    #[test]
    fn marked_keys_come_out_once_in_order_from_where_asked_round_to_the_start() {
        let mut touched = Touched::default();
        for i in [3, 64, 65, 130, 0] {
            touched.mark(i);
        }
        assert_eq!(drain(&mut touched, 65, 200), vec![65, 130, 0, 3, 64]);
        assert_eq!(touched.take_from(0, 200), None, "each mark is taken once");
    }

    #[test]
    fn all_marks_every_key_there_is_then() {
        let mut touched = Touched::all();
        touched.mark(5);
        assert_eq!(drain(&mut touched, 0, 70), (0..70).collect::<Vec<_>>());
        touched.mark_all();
        assert_eq!(
            drain(&mut touched, 69, 3),
            vec![0, 1, 2],
            "a start past the end wraps"
        );
    }

    #[test]
    fn marks_past_the_last_key_are_dropped() {
        let mut touched = Touched::default();
        touched.mark(2);
        touched.mark(9);
        touched.mark(200);
        assert_eq!(drain(&mut touched, 0, 5), vec![2]);
        assert_eq!(drain(&mut touched, 0, 300), Vec::<usize>::new());
    }
}
