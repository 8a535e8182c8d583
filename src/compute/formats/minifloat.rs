//! Small floating-point element types (OCP FP8 E4M3/E5M2, FP4 E2M1): one
//! cast from float32, bit-exact with `ml_dtypes`' `astype` for finite
//! values in range, saturating at ±max where `ml_dtypes` gives NaN or Inf.

/// A sign bit, `exponent_bits`, `mantissa_bits`, with subnormals and no
/// infinities used: every value above `max` saturates to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minifloat {
    pub exponent_bits: u32,
    pub mantissa_bits: u32,
    pub bias: i32,
    /// The largest finite value (E4M3FN keeps exponent 15 but for its NaN).
    pub max: f32,
}

/// `torch.float8_e4m3fn`.
pub const E4M3: Minifloat = Minifloat { exponent_bits: 4, mantissa_bits: 3, bias: 7, max: 448.0 };
/// `torch.float8_e5m2` (its Inf and NaN codes never produced).
pub const E5M2: Minifloat = Minifloat { exponent_bits: 5, mantissa_bits: 2, bias: 15, max: 57344.0 };
/// `torch.float4_e2m1fn_x2`'s element: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
pub const E2M1: Minifloat = Minifloat { exponent_bits: 2, mantissa_bits: 1, bias: 1, max: 6.0 };

/// Which neighbour a value halfway between two wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// IEEE round-to-nearest-even: `ml_dtypes`, torch, ModelOpt.
    Even,
    /// The smaller magnitude: gguf-py's MXFP4, whose argmin takes the first
    /// of its kvalues, ordered by magnitude.
    TowardZero,
}

/// One value cast: the value, its bit pattern, and whether it was beyond ±max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cast {
    pub value: f32,
    pub code: u16,
    pub clipped: bool,
}

/// 2^n for n within float32's normal exponents.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// `t` rounded to an integer, for 0 <= t < 2^22: the float addition
/// rounds to nearest even (so ties go to the even one), and a tie that went
/// up is taken back down for `TowardZero` (`r - t` is exact there).
#[inline(always)]
fn round_small(t: f32, ties: Ties) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: its float neighbours are 1 apart
    let r = (t + MAGIC) - MAGIC;
    match ties {
        Ties::Even => r,
        Ties::TowardZero => r - if r - t == 0.5 { 1.0 } else { 0.0 },
    }
}

impl Minifloat {
    fn min_exponent(&self) -> i32 {
        1 - self.bias
    }

    /// Bits of one code, sign included.
    pub fn bits(&self) -> u32 {
        1 + self.exponent_bits + self.mantissa_bits
    }

    /// `x` (not NaN) to the nearest value, saturating at ±max; the sign of
    /// zero kept, as `ml_dtypes`. Bit arithmetic with selects, no branch, so
    /// a loop of casts vectorizes (`reference_cast` in the tests is the
    /// formula it replaced, compared on every float32 of the element's range).
    #[inline(always)]
    pub fn cast(&self, x: f32, ties: Ties) -> Cast {
        let m = self.mantissa_bits;
        let emin = self.min_exponent();
        let sign = ((x.to_bits() >> 31) as u16) << (self.exponent_bits + m);
        let a = x.abs();
        // From 2^emin up the element's binades are float32's: its mantissa
        // rounded to m bits in place (a carry moves to the next binade) is the
        // value, and the bits less the difference of the biases the code.
        let shift = 23 - m;
        let odd = match ties {
            Ties::Even => (a.to_bits() >> shift) & 1,
            Ties::TowardZero => 0,
        };
        let rounded = (a.to_bits() + ((1 << (shift - 1)) - 1) + odd) >> shift;
        let normal = (rounded.wrapping_sub(((127 - self.bias) as u32) << m), f32::from_bits(rounded << shift));
        // Below, the subnormal steps 2^(emin - m): n steps, n in [0, 2^m],
        // is the code (2^m is the least normal's). Scaling by powers of two
        // is exact; for larger a this side is unused, and `trunc_small` keeps
        // its overflow harmless.
        let n = round_small(a * pow2(m as i32 - emin), ties);
        let subnormal = (super::trunc_small(n) as u32, n * pow2(emin - m as i32));
        let (code, magnitude) = if a < pow2(emin) { subnormal } else { normal };
        let (code, magnitude) = if a >= self.max { (self.max_code(), self.max) } else { (code, magnitude) };
        Cast { value: magnitude.copysign(x), code: sign | code as u16, clipped: a > self.max }
    }

    /// The code of `max` (its sign bit clear).
    #[inline(always)]
    fn max_code(&self) -> u32 {
        let (_, biased, mantissa) = self.max_parts();
        biased << self.mantissa_bits | mantissa
    }

    /// The magnitude, biased exponent and mantissa of `max`.
    #[inline(always)]
    fn max_parts(&self) -> (f32, u32, u32) {
        let m = self.mantissa_bits;
        let e = (self.max.to_bits() >> 23) as i32 - 127;
        let mantissa = (self.max.to_bits() >> (23 - m)) & ((1 << m) - 1);
        (self.max, (e + self.bias) as u32, mantissa)
    }

    /// The value of a code without its sign bit (`code < 2^(bits-1)`).
    fn magnitude(&self, code: u32) -> f32 {
        let m = self.mantissa_bits;
        let (biased, mantissa) = ((code >> m) as i32, code & ((1 << m) - 1));
        if biased == 0 {
            mantissa as f32 * pow2(self.min_exponent() - m as i32)
        } else {
            ((1 << m) + mantissa) as f32 * pow2(biased - self.bias - m as i32)
        }
    }

    /// Every finite non-negative value, ascending.
    pub fn magnitudes(&self) -> impl Iterator<Item = f32> + '_ {
        let codes = 1u32 << (self.bits() - 1);
        (0..codes).map(|c| self.magnitude(c)).filter(move |&v| v <= self.max)
    }

    /// Every finite value through `dequantize` (increasing), ascending, ±0 once.
    pub fn levels(&self, dequantize: impl Fn(f32) -> f32) -> Vec<f32> {
        let positive: Vec<f32> = self.magnitudes().map(dequantize).collect();
        let negative = positive.iter().rev().filter(|v| **v > 0.0).map(|v| -v);
        let mut levels: Vec<f32> = negative.chain(positive.iter().copied()).collect();
        levels.dedup();
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round half to even without the library call (`quant::round_half_even`).
    fn nearest_even(t: f32) -> f32 {
        crate::compute::quant::round_half_even(t)
    }

    /// `t.ceil()` for |t| < 2^22, but -0.0 for 0 > t > -1 may come out as 0.0.
    fn ceil_small(t: f32) -> f32 {
        let r = nearest_even(t);
        if r < t { r + 1.0 } else { r }
    }

    /// The cast as it was first written, value by value with a branch per
    /// binade: what `Minifloat::cast` must give, bit for bit.
    fn reference_cast(f: &Minifloat, x: f32, ties: Ties) -> Cast {
        let m = f.mantissa_bits;
        let sign = (x.is_sign_negative() as u16) << (f.exponent_bits + m);
        let a = x.abs();
        let clipped = a > f.max;
        let (magnitude, biased, mantissa) = if a >= f.max {
            f.max_parts()
        } else {
            // The value's binade (the subnormal one below the normals); the
            // steps there are 2^(e - m), so a scaled by 2^(m - e) rounds to an
            // integer n in [0, 2^(m+1)]: multiplying by powers of two is exact.
            let e = ((a.to_bits() >> 23) as i32 - 127).max(f.min_exponent());
            let t = a * pow2(m as i32 - e);
            // n is in [0, 2^(m+1)]: `trunc_small` is `as u32` there.
            let n = super::super::trunc_small(match ties {
                Ties::Even => nearest_even(t),
                // t - 0.5 is exact for t >= 0.25, and below that both give 0.
                Ties::TowardZero => ceil_small(t - 0.5).max(0.0),
            }) as u32;
            // n = 2^(m+1) carries into the next binade: the formula covers it,
            // and the subnormal binade (e = 1 - bias) as well.
            let biased = (e + f.bias - 1) as u32 + (n >> m);
            (n as f32 * pow2(e - m as i32), biased, n & ((1 << m) - 1))
        };
        Cast { value: magnitude.copysign(x), code: sign | (biased << m | mantissa) as u16, clipped }
    }

    const ELEMENTS: [Minifloat; 3] = [E4M3, E5M2, E2M1];
    const TIES: [Ties; 2] = [Ties::Even, Ties::TowardZero];

    fn assert_same(f: &Minifloat, ties: Ties, x: f32) {
        let (new, old) = (f.cast(x, ties), reference_cast(f, x, ties));
        assert!(
            new.value.to_bits() == old.value.to_bits() && new.code == old.code && new.clipped == old.clipped,
            "{f:?} {ties:?} {x:e} ({:#010x}): {new:?}, the reference {old:?}",
            x.to_bits()
        );
    }

    /// The float32 bit patterns from a quarter of the least subnormal step
    /// (everything below rounds to 0) to twice `max` (everything above
    /// saturates): where the roundings happen.
    fn rounding_range(f: &Minifloat) -> std::ops::Range<u32> {
        let least_step = pow2(f.min_exponent() - f.mantissa_bits as i32);
        (least_step / 4.0).to_bits()..(2.0 * f.max).to_bits()
    }

    /// Every float32 within 256 steps of a value where the cast changes:
    /// each element value, each midpoint of two neighbours, max and the
    /// float32 powers of two of the rounding range.
    fn near_boundaries(f: &Minifloat) -> Vec<f32> {
        let values: Vec<f32> = f.magnitudes().collect();
        let midpoints = values.windows(2).map(|p| (p[0] + p[1]) / 2.0);
        let range = rounding_range(f);
        let powers = (range.start >> 23..=range.end >> 23).map(|e| f32::from_bits(e << 23));
        let centres: Vec<f32> = values.iter().copied().chain(midpoints).chain(powers).collect();
        centres.iter().flat_map(|c| (c.to_bits().saturating_sub(256)..=c.to_bits() + 256).map(f32::from_bits)).collect()
    }

    #[test]
    fn the_cast_is_the_reference_near_every_rounding_boundary_and_on_a_stride() {
        for f in ELEMENTS {
            let stride = rounding_range(&f).step_by(257).map(f32::from_bits);
            for x in near_boundaries(&f).into_iter().chain(stride) {
                for ties in TIES {
                    assert_same(&f, ties, x);
                    assert_same(&f, ties, -x);
                }
            }
        }
    }

    #[test]
    fn the_cast_is_the_reference_outside_its_rounding_range_and_at_the_edges() {
        // A stride through all 2^32 patterns (NaN is never cast: values are
        // finite, and x / scale with a finite non-zero scale is not NaN).
        let stride = (0..=u32::MAX).step_by(4099).map(f32::from_bits);
        let edges = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45, -1e-45];
        for x in stride.chain(edges).filter(|x| !x.is_nan()) {
            for f in ELEMENTS {
                for ties in TIES {
                    assert_same(&f, ties, x);
                }
            }
        }
    }

    /// All 2^32 patterns, for each element and tie rule (`cargo test --lib
    /// every_float32 -- --ignored`: 2.6 · 10^10 casts, 5.4 CPU-minutes in
    /// the debug build).
    #[test]
    #[ignore]
    fn the_cast_is_the_reference_on_every_float32() {
        for f in ELEMENTS {
            for ties in TIES {
                for x in (0..=u32::MAX).map(f32::from_bits).filter(|x| !x.is_nan()) {
                    assert_same(&f, ties, x);
                }
            }
        }
    }

    #[test]
    fn every_code_casts_to_itself() {
        for f in [E4M3, E5M2, E2M1] {
            for code in 0..1u32 << (f.bits() - 1) {
                let v = f.magnitude(code);
                if v <= f.max {
                    for (x, c) in [(v, code), (-v, code | 1 << (f.bits() - 1))] {
                        let cast = f.cast(x, Ties::Even);
                        assert_eq!((cast.value.to_bits(), cast.code as u32), (x.to_bits(), c), "{f:?} {x}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_inline_roundings_are_the_library_ones() {
        // A fine grid of [-4, 64), and each half with its float neighbours.
        let grid = (0..1 << 20).map(|i| -4.0 + i as f32 / 16384.0);
        let near_halves = (-8..128).flat_map(|k| {
            let h = k as f32 / 2.0;
            [h, h.next_up(), h.next_down()]
        });
        for t in grid.chain(near_halves) {
            // The casts round only t >= 0, where the sign of zero agrees too.
            if t >= 0.0 {
                assert_eq!(nearest_even(t).to_bits(), t.round_ties_even().to_bits(), "{t}");
            }
            assert_eq!(ceil_small(t), t.ceil(), "{t}");
            if t >= 0.0 {
                assert_eq!(round_small(t, Ties::Even).to_bits(), t.round_ties_even().to_bits(), "{t}");
                assert_eq!(round_small(t, Ties::TowardZero), (t - 0.5).ceil().max(0.0), "{t}");
            }
        }
    }

    #[test]
    fn the_value_counts_are_the_formats() {
        assert_eq!(E4M3.magnitudes().count(), 127);
        assert_eq!(E5M2.magnitudes().count(), 124);
        assert_eq!(E2M1.magnitudes().collect::<Vec<_>>(), [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
        assert_eq!(E2M1.levels(|v| v).len(), 15);
    }
}
