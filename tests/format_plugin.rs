//! A number format added from outside the crate, through the public plug-in
//! API only: it is analysed by the pipeline, shown in `report` and the
//! Formats table, and given exactly its own controls.

use qmc_tui::cli::{Report, Section};
use qmc_tui::compute::analysis::{analyze, weight_stats};
use qmc_tui::compute::formats::table::{rows_of, table};
use qmc_tui::compute::formats::{FormatKind, Grouping, NumberFormat, Quantized, TensorFacts};
use qmc_tui::compute::quant::{InvalidSetting, QuantConfig};
use qmc_tui::compute::watch::Watch;
use qmc_tui::controls::{Control, visible};
use qmc_tui::settings::Settings;

/// Sign-magnitude with one level per sign: x̂ = ±amax of the tensor (1 bit, no stored scale but one fp32).
struct Extremes;

impl NumberFormat for Extremes {
    fn name(&self) -> &'static str {
        "extremes"
    }
    fn summary(&self) -> &'static str {
        "every value becomes ±amax of the tensor"
    }
    fn settings(&self) -> &'static [&'static str] {
        &["rounding"]
    }
    fn check(&self, _cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        Ok(())
    }
    fn grouping(&self, _cfg: &QuantConfig) -> Grouping {
        Grouping::Groups(1024)
    }
    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        1
    }
    fn bits_per_weight(&self, _cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        1.0 + 32.0 / (rows * cols) as f64
    }
    fn quantize(&self, _cfg: &QuantConfig, t: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        for (i, &x) in xs.iter().enumerate() {
            let negative = x < 0.0;
            out.xhat[i] = if negative { -t.amax } else { t.amax };
            out.codes[i] = negative as u16;
            out.clipped[i] = false;
        }
    }
    fn levels(&self, _cfg: &QuantConfig, t: &TensorFacts, _xs: &[f32]) -> Vec<f32> {
        vec![-t.amax, t.amax]
    }
    fn params(&self, _cfg: &QuantConfig, t: &TensorFacts, _xs: &[f32]) -> Vec<(&'static str, f64)> {
        vec![("amax", t.amax as f64)]
    }
    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        "nowhere".into()
    }
}

static EXTREMES: Extremes = Extremes;

#[test]
fn a_throwaway_format_is_analysed_reported_tabled_and_has_its_controls() {
    let kind = FormatKind::new(&EXTREMES);
    assert!(qmc_tui::compute::formats::find("extremes").is_err(), "the built-in list stays as it was");
    let mut s = Settings::default();
    s.quant.format = kind;
    let w = s.weights.load().unwrap();

    let a = analyze(&w, &s.quant).unwrap();
    let amax = w.values.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert_eq!(a.format.levels, [-amax, amax]);
    assert_eq!(a.metrics.levels_used, 2);
    let want: f64 =
        w.values.iter().map(|&x| (x.abs() as f64 - amax as f64).powi(2)).sum::<f64>() / w.values.len() as f64;
    assert!((a.metrics.mse - want).abs() < 1e-6 * want, "{} vs {want}", a.metrics.mse);

    let report = Report::build_sections(&s, Some(&w), &[Section::Quant]).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["quant"]["format"], "extremes");
    assert_eq!(json["quant"]["ecosystem"], "nowhere");
    assert_eq!(json["quant"]["format_params"]["amax"], amax as f64);

    let rows = rows_of(&[FormatKind::Int, kind]);
    assert_eq!(rows.last().unwrap().0, "extremes");
    let measured = table(&w, &weight_stats(&w), &rows, &Watch::NONE, |_| {}).unwrap();
    assert_eq!(measured.last().unwrap().metrics.mse, a.metrics.mse);

    let controls = visible(&s);
    assert!(controls.contains(&Control::Format) && controls.contains(&Control::Rounding), "{controls:?}");
    for not_read in [Control::Bits, Control::Scheme, Control::Calibration, Control::Scale] {
        assert!(!controls.contains(&not_read), "{not_read:?} is not a setting of this format");
    }
}
