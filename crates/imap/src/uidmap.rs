//! A session's map between message sequence numbers and UIDs (RFC 9051 §2.3.1), kept as
//! runs of consecutive UIDs: a folder of 10,000 messages with no gaps takes one run, so an
//! idle session costs bytes, not a vector per message.

/// Sorted, unique UIDs as runs `(first, count)`, with the index where each run starts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UidMap {
    runs: Vec<(u32, u32)>,
    starts: Vec<usize>,
    len: usize,
}

impl UidMap {
    pub fn from_sorted(uids: impl IntoIterator<Item = u32>) -> UidMap {
        let mut m = UidMap::default();
        for u in uids {
            m.push(u);
        }
        m
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn last(&self) -> Option<u32> {
        self.runs.last().map(|&(f, c)| f + c - 1)
    }

    /// Appends a UID above every other; others are ignored.
    pub fn push(&mut self, uid: u32) {
        match self.runs.last_mut() {
            Some((f, c)) if *f + *c == uid => *c += 1,
            Some((f, c)) if uid < *f + *c => return,
            _ => {
                self.starts.push(self.len);
                self.runs.push((uid, 1));
            }
        }
        self.len += 1;
    }

    /// The UID at an index (sequence number − 1).
    pub fn get(&self, index: usize) -> Option<u32> {
        if index >= self.len {
            return None;
        }
        let r = self.starts.partition_point(|&s| s <= index) - 1;
        Some(self.runs[r].0 + (index - self.starts[r]) as u32)
    }

    /// The index (sequence number − 1) of a UID.
    pub fn position(&self, uid: u32) -> Option<usize> {
        let r = self
            .runs
            .partition_point(|&(f, _)| f <= uid)
            .checked_sub(1)?;
        let (f, c) = self.runs[r];
        (uid < f + c).then(|| self.starts[r] + (uid - f) as usize)
    }

    /// Indexes of the UIDs in `lo..=hi`.
    pub fn index_range(&self, lo: u32, hi: u32) -> std::ops::Range<usize> {
        let first = self.first_index_at_or_above(lo);
        let end = match hi.checked_add(1) {
            Some(h) => self.first_index_at_or_above(h),
            None => self.len,
        };
        first..end.max(first)
    }

    fn first_index_at_or_above(&self, uid: u32) -> usize {
        let r = self.runs.partition_point(|&(f, c)| f + c <= uid);
        match self.runs.get(r) {
            None => self.len,
            Some(&(f, _)) if uid <= f => self.starts[r],
            Some(&(f, _)) => self.starts[r] + (uid - f) as usize,
        }
    }

    /// Removes the UID at an index, splitting its run.
    pub fn remove(&mut self, index: usize) {
        let Some(uid) = self.get(index) else {
            return;
        };
        let r = self.starts.partition_point(|&s| s <= index) - 1;
        let (f, c) = self.runs[r];
        let before = uid - f;
        let after = c - before - 1;
        let mut replacement = vec![];
        if before > 0 {
            replacement.push((f, before));
        }
        if after > 0 {
            replacement.push((uid + 1, after));
        }
        self.runs.splice(r..=r, replacement);
        self.len -= 1;
        self.reindex();
    }

    fn reindex(&mut self) {
        self.starts.clear();
        let mut n = 0;
        for &(_, c) in &self.runs {
            self.starts.push(n);
            n += c as usize;
        }
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.position(uid).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs.iter().flat_map(|&(f, c)| f..f + c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_behave_like_a_sorted_vector() {
        let uids = [1u32, 2, 3, 7, 8, 20, 21, 22, 23];
        let mut m = UidMap::from_sorted(uids);
        let mut v = uids.to_vec();
        assert_eq!(m.runs.len(), 3);
        for (i, &u) in v.iter().enumerate() {
            assert_eq!(m.get(i), Some(u));
            assert_eq!(m.position(u), Some(i));
        }
        assert_eq!(m.position(5), None);
        assert_eq!(m.index_range(2, 8), 1..5);
        assert_eq!(m.index_range(9, 19), 5..5);
        assert_eq!(m.index_range(0, u32::MAX), 0..9);
        for idx in [4, 0, 5, 2] {
            m.remove(idx);
            v.remove(idx);
            assert_eq!(m.iter().collect::<Vec<_>>(), v);
            for (i, &u) in v.iter().enumerate() {
                assert_eq!(m.get(i), Some(u));
                assert_eq!(m.position(u), Some(i));
            }
        }
        m.push(30);
        m.push(31);
        m.push(10); // below the last: ignored
        assert_eq!(m.last(), Some(31));
        assert_eq!(m.len(), 7);
    }
}
