//! How numbers are written, on screen and in the text report alike, so a
//! script can check every figure the panes show.

/// Four significant digits; scientific notation when very small or large.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.decimals$}")
    }
}

/// Cosine similarity lives just below 1: six decimals show the difference.
pub fn cosine(v: f64) -> String {
    format!("{v:.6}")
}

pub fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// A percentage in at most `width` characters: fewer decimals, then no `%`
/// sign, rather than cut (86.67% -> 86.7% -> 87% -> 87; 100% -> 100).
pub fn pct_within(v: f64, width: usize) -> String {
    (0..=2)
        .rev()
        .map(|decimals| format!("{:.decimals$}%", 100.0 * v))
        .chain([format!("{:.0}", 100.0 * v)])
        .find(|s| s.chars().count() <= width)
        .unwrap_or_else(|| format!("{:.0}", 100.0 * v))
}

pub fn db(v: f64) -> String {
    if v.is_infinite() { "inf dB".into() } else { format!("{v:.2} dB") }
}

pub fn range(lo: f32, hi: f32) -> String {
    format!("[{}, {}]", num(lo as f64), num(hi as f64))
}

/// Bytes in binary units: 1 KiB = 1024 bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// Bytes in decimal megabytes (10^6 bytes), the unit `--budget-mb` takes.
/// Four significant digits below 10^4 MB (0.006554 MB, 12.35 MB), whole MB above.
pub fn megabytes(n: u64) -> String {
    let mb = n as f64 / 1e6;
    if mb >= 1e4 { format!("{mb:.0} MB") } else { format!("{} MB", num(mb)) }
}

/// `v` in at most `width` characters: as `num` writes it when that fits,
/// else with fewer significant digits (`0.0062`, `6.2e-3`), never cut; `None`
/// when not even one digit fits.
pub fn fit(v: f64, width: usize) -> Option<String> {
    shortest(num(v), v, width)
}

/// A count in at most `width` characters: exact when it fits, else rounded
/// like `fit` (`1.6e3`).
pub fn fit_count(n: u64, width: usize) -> Option<String> {
    shortest(n.to_string(), n as f64, width)
}

/// `full` if it fits, else the writing of `v` with the most significant
/// digits (three down to one) that fits, a plain decimal before an exponent.
fn shortest(full: String, v: f64, width: usize) -> Option<String> {
    if full.chars().count() <= width {
        return Some(full);
    }
    if !v.is_finite() || v == 0.0 {
        return None;
    }
    let magnitude = v.abs().log10().floor() as i32;
    (1..=3).rev().find_map(|digits: i32| {
        let decimals = (digits - 1 - magnitude).max(0) as usize;
        let plain = format!("{v:.decimals$}");
        let scientific = format!("{v:.*e}", (digits - 1) as usize);
        [plain, scientific].into_iter().find(|s| s.chars().count() <= width)
    })
}

/// "1 level", "2 levels".
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("{n} {noun}") } else { format!("{n} {noun}s") }
}

/// A tree depth limit; 0 means none: ∞, as the members table and `report` write it.
pub fn depth(max_depth: usize) -> String {
    if max_depth == 0 { "∞".into() } else { max_depth.to_string() }
}

pub fn shape(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(-12.3456), "-12.35");
        assert_eq!(num(0.0123456), "0.01235");
        assert_eq!(num(1.5e-5), "1.500e-5");
        assert_eq!(num(123456.0), "1.235e5");
        assert_eq!(num(f64::INFINITY), "inf");
        assert_eq!(pct(0.01234), "1.23%");
        let within: Vec<String> = (2..=6).map(|w| pct_within(0.8667, w)).collect();
        assert_eq!(within, ["87", "87%", "87%", "86.7%", "86.67%"]);
        assert_eq!(pct_within(1.0, 3), "100");
        assert_eq!(cosine(0.9999612), "0.999961");
        assert_eq!(db(f64::INFINITY), "inf dB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(megabytes(12_345_678), "12.35 MB");
        assert_eq!(megabytes(6_554), "0.006554 MB");
        assert_eq!(megabytes(123_456_789_012), "123457 MB");
        assert_eq!(bytes(100), "100 B");
        assert_eq!(shape(&[1000, 10]), "1000×10");
        assert_eq!((depth(0), depth(3)), ("∞".to_string(), "3".to_string()));
        assert_eq!(range(-1.0, 2.5), "[-1.000, 2.500]");
    }

    #[test]
    fn a_number_too_wide_loses_digits_not_its_end() {
        assert_eq!(fit(0.006153, 8).as_deref(), Some("0.006153"));
        assert_eq!(fit(0.006153, 6).as_deref(), Some("0.0062"));
        assert_eq!(fit(6.153e-4, 7).as_deref(), Some("6.15e-4"));
        assert_eq!(fit(6.153e-4, 6).as_deref(), Some("6.2e-4"));
        assert_eq!(fit(-0.01467, 7).as_deref(), Some("-0.0147"));
        assert_eq!(fit(-0.01467, 5).as_deref(), Some("-0.01"));
        assert_eq!(fit(-0.01467, 4), None, "no digit of it fits: nothing, rather than a cut");
        assert_eq!(fit(123456.0, 5).as_deref(), Some("1.2e5"));
        assert_eq!(fit(3.692, 3).as_deref(), Some("3.7"));
        assert_eq!(fit(0.0, 1).as_deref(), Some("0"));
        assert_eq!(fit(f64::INFINITY, 2), None);
        assert_eq!(fit_count(1580, 4).as_deref(), Some("1580"));
        assert_eq!(fit_count(1580, 3).as_deref(), Some("2e3"));
        assert_eq!(fit_count(1_234_567, 5).as_deref(), Some("1.2e6"));
    }

    #[test]
    fn a_fitted_number_reads_as_the_same_value() {
        for v in [-0.01467, 6.153e-4, 3.692, -3.792, 1234.5, 1.5e-9, 99.99, 0.0995] {
            for width in 1..12 {
                let Some(s) = fit(v, width) else { continue };
                assert!(s.chars().count() <= width, "{s} wider than {width}");
                let back: f64 = s.parse().unwrap();
                assert!((back - v).abs() <= 0.5001 * last_digit(&s), "{v} written {s} in {width}");
            }
        }
    }

    /// The value of one unit in the last digit written: 0.01 for "-0.01", 1e-4 for "6.2e-3".
    fn last_digit(s: &str) -> f64 {
        let (mantissa, exponent) = s.split_once('e').map_or((s, 0), |(m, e)| (m, e.parse().unwrap()));
        let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len() as i32);
        10f64.powi(exponent - decimals)
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(plural(1, "level"), "1 level");
        assert_eq!(plural(9, "level"), "9 levels");
        assert_eq!(plural(0, "level"), "0 levels");
    }
}
