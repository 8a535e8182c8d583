//! Fixed-range histograms for the pictures.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// An empty histogram of `bins` equal bins over `[lo, hi]`; a zero-width
    /// range is widened so every value still lands in a bin.
    pub fn new(lo: f32, hi: f32, bins: usize) -> Self {
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        Histogram { lo, hi, counts: vec![0; bins.max(1)] }
    }

    pub fn bin_width(&self) -> f32 {
        (self.hi - self.lo) / self.counts.len() as f32
    }

    /// The centre of bin `i`, where a chart plots its count.
    pub fn center(&self, i: usize) -> f32 {
        self.lo + (i as f32 + 0.5) * self.bin_width()
    }

    /// Counts `x`; values outside the range go to the first or last bin.
    #[inline]
    pub fn add(&mut self, x: f32) {
        let bin = self.binner()(x);
        self.counts[bin] += 1;
    }

    /// The bin of a value, as a function that does no division: for hot loops.
    pub fn binner(&self) -> impl Fn(f32) -> usize + use<> {
        let lo = self.lo;
        let last = (self.counts.len() - 1) as f32;
        let factor = self.counts.len() as f32 / (self.hi - self.lo);
        move |x| {
            // NaN fails the first comparison and lands in bin 0 like values below the range.
            let t = (x - lo) * factor;
            let t = if t > 0.0 { t } else { 0.0 };
            let t = if t < last { t } else { last };
            // SAFETY: t is in [0, last], a small non-negative finite number.
            unsafe { t.to_int_unchecked::<u32>() as usize }
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn max_count(&self) -> u64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_bins() {
        let mut h = Histogram::new(0.0, 4.0, 4);
        for x in [0.0, 0.5, 1.0, 2.9, 3.99, 4.0, -1.0, 9.0] {
            h.add(x);
        }
        assert_eq!(h.counts, vec![3, 1, 1, 3]);
        assert_eq!(h.total(), 8);
        assert_eq!(h.center(1), 1.5);
        assert_eq!(h.max_count(), 3);
    }

    #[test]
    fn zero_width_range_is_widened() {
        let mut h = Histogram::new(2.0, 2.0, 10);
        h.add(2.0);
        assert_eq!(h.total(), 1);
        assert!(h.hi > h.lo);
    }
}
