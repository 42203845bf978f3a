//! Counting: order/duplicate tracking, latency histograms, small tallies by name.

pub mod latency;
pub mod order;

use std::collections::BTreeMap;

/// Counts by name (error codes, frame types) kept in a socket. A handful of
/// distinct names at most, so a vector with a linear search beats a map and
/// allocates a name only the first time it is seen.
#[derive(Debug, Default, Clone)]
pub struct Tally(Vec<(String, u64)>);

impl Tally {
    pub fn bump(&mut self, name: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, c)) => *c += 1,
            None => self.0.push((name.to_owned(), 1)),
        }
    }

    pub fn merge_into(&self, out: &mut BTreeMap<String, u64>) {
        for (n, c) in &self.0 {
            *out.entry(n.clone()).or_default() += c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_and_merges() {
        let mut a = Tally::default();
        a.bump("x");
        a.bump("y");
        a.bump("x");
        let mut b = Tally::default();
        b.bump("x");
        let mut out = BTreeMap::new();
        a.merge_into(&mut out);
        b.merge_into(&mut out);
        assert_eq!(out.get("x"), Some(&3));
        assert_eq!(out.get("y"), Some(&1));
    }
}
