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
        let bins = Bins::of(self);
        move |x| bins.of_value(x) as usize
    }

    /// Counts the finite values of `xs` (`all_finite` says there is no other
    /// kind, which lets the fast loop skip the check).
    pub fn count(&mut self, xs: &[f32], all_finite: bool) {
        assert!(self.counts.len() <= COUNTER_SLOTS, "at most {COUNTER_SLOTS} bins");
        let bins = Bins::of(self);
        let mut counter = BinCounter::<COUNTER_SLOTS>::new();
        let (mut finite, mut index) = (Vec::with_capacity(BLOCK), [0u16; BLOCK]);
        for block in xs.chunks(BLOCK) {
            let block = if all_finite {
                block
            } else {
                finite.clear();
                finite.extend(block.iter().filter(|x| x.is_finite()));
                &finite
            };
            let index = &mut index[..block.len()];
            bins.fill(block, index);
            counter.add(index);
        }
        self.counts.iter_mut().zip(counter.totals()).for_each(|(c, t)| *c += t);
    }

    /// Adds counts made over the same bins elsewhere (another thread's share).
    pub fn add_counts(&mut self, counts: &[u64]) {
        debug_assert_eq!(counts.len(), self.counts.len());
        self.counts.iter_mut().zip(counts).for_each(|(total, c)| *total += c);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn max_count(&self) -> u64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }
}

const BLOCK: usize = 1024;
const COUNTER_SLOTS: usize = 256;

/// The arithmetic of a histogram's bins.
#[derive(Clone, Copy)]
struct Bins {
    lo: f32,
    factor: f32,
    last: f32,
}

impl Bins {
    fn of(h: &Histogram) -> Bins {
        let last = (h.counts.len() - 1) as f32;
        Bins { lo: h.lo, factor: h.counts.len() as f32 / (h.hi - h.lo), last }
    }

    #[inline(always)]
    fn of_value(self, x: f32) -> u32 {
        // NaN fails the first comparison and lands in bin 0 like values below the range.
        let t = (x - self.lo) * self.factor;
        let t = if t > 0.0 { t } else { 0.0 };
        let t = if t < self.last { t } else { self.last };
        // SAFETY: t is in [0, last], a small non-negative finite number
        // (i32, not u32: only the signed conversion is one instruction).
        unsafe { t.to_int_unchecked::<i32>() as u32 }
    }

    fn fill(self, xs: &[f32], out: &mut [u16]) {
        #[cfg(target_arch = "x86_64")]
        if super::has_avx2() {
            #[target_feature(enable = "avx2")]
            fn avx2(bins: Bins, xs: &[f32], out: &mut [u16]) {
                bins.fill_lanes(xs, out)
            }
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2(self, xs, out) };
        }
        self.fill_lanes(xs, out)
    }

    #[inline(always)]
    fn fill_lanes(self, xs: &[f32], out: &mut [u16]) {
        out.iter_mut().zip(xs).for_each(|(o, &x)| *o = self.of_value(x) as u16);
    }
}

/// Counts bin numbers below `N` (a power of two) into four interleaved
/// tables, so that a run of one bin does not wait on its own increments.
pub struct BinCounter<const N: usize> {
    tables: Box<[[u32; N]; 4]>,
}

impl<const N: usize> Default for BinCounter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> BinCounter<N> {
    pub fn new() -> Self {
        assert!(N.is_power_of_two());
        BinCounter { tables: Box::new([[0; N]; 4]) }
    }

    /// Counts each bin number (taken modulo `N`, which the caller keeps it below).
    #[inline]
    pub fn add(&mut self, bins: &[u16]) {
        let quads = bins.chunks_exact(4);
        let rest = quads.remainder();
        for q in quads {
            for (table, &bin) in self.tables.iter_mut().zip(q) {
                table[bin as usize & (N - 1)] += 1;
            }
        }
        for &bin in rest {
            self.tables[0][bin as usize & (N - 1)] += 1;
        }
    }

    /// The count of each bin number.
    pub fn totals(&self) -> Vec<u64> {
        (0..N).map(|b| self.tables.iter().map(|t| t[b] as u64).sum()).collect()
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

    #[test]
    fn counting_a_slice_equals_adding_one_by_one() {
        let xs: Vec<f32> = (0..5000).map(|i| ((i * 7919) % 1013) as f32 / 100.0 - 3.0).collect();
        let mut one_by_one = Histogram::new(-2.0, 6.0, 160);
        xs.iter().for_each(|&x| one_by_one.add(x));
        let mut counted = Histogram::new(-2.0, 6.0, 160);
        counted.count(&xs, true);
        assert_eq!(counted, one_by_one);
        assert_eq!(counted.total(), 5000);
    }

    #[test]
    fn counting_skips_non_finite_values() {
        let mut h = Histogram::new(0.0, 4.0, 4);
        h.count(&[0.5, f32::NAN, 3.5, f32::INFINITY, f32::NEG_INFINITY, 1.5], false);
        assert_eq!(h.counts, vec![1, 1, 0, 1]);
    }
}
