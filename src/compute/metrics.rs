//! The error figures of a quantized tensor, and the one table of them that
//! the Quantize pane, the text and JSON `report` and an export all read, so
//! a figure is named, ordered and formatted in one place.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::format;
use super::kernel::Sums;

/// The error figures of a set of values (a channel or the whole tensor).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub count: u64,
    pub mse: f64,
    pub rmse: f64,
    pub mae: f64,
    pub max_abs_error: f64,
    /// 10 log10(sum x^2 / sum e^2); infinite when the error is zero.
    pub sqnr_db: f64,
    pub cosine: f64,
    pub clip_rate: f64,
    pub clipped: u64,
    /// Distinct integer codes that occur.
    pub levels_used: u64,
    pub levels_available: u64,
    /// Mean of x - x_hat.
    pub bias: f64,
    /// Fraction of values whose x_hat is exactly 0.
    pub zero_rate: f64,
}

/// The metrics behind a set of running sums.
pub(crate) fn metrics_of(s: &Sums, levels_used: u64, levels_available: u64) -> Metrics {
    let n = s.n.max(1) as f64;
    let mse = s.sq / n;
    let cosine = match (s.x2 > 0.0, s.xh2 > 0.0) {
        // Sums in f32 blocks can push a perfect match a hair past 1.
        (true, true) => (s.xxh / (s.x2.sqrt() * s.xh2.sqrt())).clamp(-1.0, 1.0),
        (false, false) => 1.0,
        _ => 0.0,
    };
    Metrics {
        count: s.n,
        mse,
        rmse: mse.sqrt(),
        mae: s.abs / n,
        max_abs_error: s.max_abs,
        sqnr_db: if s.sq > 0.0 { 10.0 * (s.x2 / s.sq).log10() } else { f64::INFINITY },
        cosine,
        clip_rate: s.clipped as f64 / n,
        clipped: s.clipped,
        levels_used,
        levels_available,
        bias: s.err / n,
        zero_rate: s.zeros as f64 / n,
    }
}

/// A figure's value: a real number or a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    Real(f64),
    Count(u64),
}

/// One figure of [`Metrics`].
pub struct MetricRow {
    /// Its key in `report`'s `quant.metrics` and an export's `[metrics]`.
    pub key: &'static str,
    /// Its label in the text report.
    pub label: &'static str,
    /// Its short name beside another figure on a line of the pane.
    pub short: &'static str,
    pub value: fn(&Metrics) -> Figure,
    /// The text shown for it; `None` for a count another row's text shows.
    pub text: Option<fn(&Metrics) -> String>,
    /// A shorter text for the pane's narrow lines, where it differs.
    pub terse: Option<fn(&Metrics) -> String>,
}

impl MetricRow {
    /// The text of `m`'s figure on the pane: the terse one where there is one.
    pub fn pane_text(&self, m: &Metrics) -> String {
        self.terse.or(self.text).map_or_else(String::new, |t| t(m))
    }
}

const fn row(
    key: &'static str,
    label: &'static str,
    short: &'static str,
    value: fn(&Metrics) -> Figure,
    text: Option<fn(&Metrics) -> String>,
) -> MetricRow {
    MetricRow { key, label, short, value, text, terse: None }
}

/// A row whose pane text is shorter than its report text.
const fn with_terse(r: MetricRow, terse: fn(&Metrics) -> String) -> MetricRow {
    MetricRow { terse: Some(terse), ..r }
}

/// Every figure, in the order the report lists them.
pub const METRICS: &[MetricRow] = &[
    row("mse", "mse", "mse", |m| Figure::Real(m.mse), Some(|m| format::num(m.mse))),
    row("rmse", "rmse", "rmse", |m| Figure::Real(m.rmse), Some(|m| format::num(m.rmse))),
    row("mae", "mae", "mae", |m| Figure::Real(m.mae), Some(|m| format::num(m.mae))),
    row(
        "max_abs_error",
        "max abs error",
        "max|e|",
        |m| Figure::Real(m.max_abs_error),
        Some(|m| format::num(m.max_abs_error)),
    ),
    row("sqnr_db", "sqnr", "sqnr", |m| Figure::Real(m.sqnr_db), Some(|m| format::db(m.sqnr_db))),
    row("cosine", "cosine", "cosine", |m| Figure::Real(m.cosine), Some(|m| format::cosine(m.cosine))),
    with_terse(
        row(
            "clip_rate",
            "clip rate",
            "clipped",
            |m| Figure::Real(m.clip_rate),
            Some(|m| format!("{} ({} values)", format::pct(m.clip_rate), m.clipped)),
        ),
        |m| format!("{} ({})", format::pct(m.clip_rate), m.clipped),
    ),
    row("clipped", "clipped", "clipped", |m| Figure::Count(m.clipped), None),
    with_terse(
        row(
            "levels_used",
            "levels used",
            "levels",
            |m| Figure::Count(m.levels_used),
            Some(|m| format!("{} of {}", m.levels_used, m.levels_available)),
        ),
        |m| format!("{} of {} used", m.levels_used, m.levels_available),
    ),
    row("levels_available", "levels available", "levels", |m| Figure::Count(m.levels_available), None),
    row("bias", "bias", "bias", |m| Figure::Real(m.bias), Some(|m| format::num(m.bias))),
    row("zero_rate", "zero rate", "zero", |m| Figure::Real(m.zero_rate), Some(|m| format::pct(m.zero_rate))),
];

/// The row called `key`.
pub fn metric(key: &str) -> &'static MetricRow {
    METRICS.iter().find(|r| r.key == key).unwrap_or_else(|| panic!("no metric {key:?} in METRICS"))
}

/// [`Metrics`] as `report`'s JSON writes them: every row of [`METRICS`] by
/// its key; an infinite figure (the SQNR of an exact match) is null, as JSON
/// has no infinity.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsJson(pub Metrics);

impl Serialize for MetricsJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(METRICS.len()))?;
        for r in METRICS {
            match (r.value)(&self.0) {
                Figure::Real(v) if v.is_finite() => map.serialize_entry(r.key, &v)?,
                Figure::Real(_) => map.serialize_entry(r.key, &None::<f64>)?,
                Figure::Count(n) => map.serialize_entry(r.key, &n)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metrics {
        Metrics {
            count: 8,
            mse: 0.25,
            rmse: 0.5,
            mae: 0.375,
            max_abs_error: 1.5,
            sqnr_db: f64::INFINITY,
            cosine: 0.99,
            clip_rate: 0.125,
            clipped: 1,
            levels_used: 3,
            levels_available: 16,
            bias: -0.0625,
            zero_rate: 0.5,
        }
    }

    #[test]
    fn json_has_every_row_in_order_with_an_infinite_figure_as_null() {
        let text = serde_json::to_string(&MetricsJson(sample())).unwrap();
        let at: Vec<usize> = METRICS.iter().map(|r| text.find(&format!("\"{}\":", r.key)).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json.as_object().unwrap().len(), METRICS.len());
        assert_eq!(json["sqnr_db"], serde_json::Value::Null);
        assert_eq!(json["mae"], serde_json::json!(0.375));
        assert_eq!(json["levels_available"], serde_json::json!(16));
    }

    #[test]
    fn every_field_but_the_count_has_a_row_and_keys_are_unique() {
        let fields = serde_json::to_value(sample()).unwrap();
        let mut fields: Vec<String> = fields.as_object().unwrap().keys().filter(|k| *k != "count").cloned().collect();
        let mut keys: Vec<String> = METRICS.iter().map(|r| r.key.to_string()).collect();
        fields.sort();
        keys.sort();
        assert_eq!(fields, keys);
    }

    #[test]
    fn texts_fold_their_counts_in() {
        let m = sample();
        assert_eq!((metric("clip_rate").text.unwrap())(&m), format!("{} (1 values)", format::pct(0.125)));
        assert_eq!((metric("levels_used").text.unwrap())(&m), "3 of 16");
        assert_eq!(metric("clip_rate").pane_text(&m), format!("{} (1)", format::pct(0.125)));
        assert_eq!(metric("mse").pane_text(&m), format::num(0.25));
        assert!(metric("clipped").text.is_none() && metric("levels_available").text.is_none());
    }
}
