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
        assert_eq!(bytes(100), "100 B");
        assert_eq!(shape(&[1000, 10]), "1000×10");
        assert_eq!((depth(0), depth(3)), ("∞".to_string(), "3".to_string()));
        assert_eq!(range(-1.0, 2.5), "[-1.000, 2.500]");
    }
}
