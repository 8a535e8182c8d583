//! The Quantize pane's controls: which are shown, how each shows its value,
//! and how a key or typed text changes it.

use std::path::Path;

use super::{Context, ladder, multiply, parse, parse_fraction, scale_count, step_seed};
use crate::compute::analysis::Analysis;
use crate::compute::quant::{self, Granularity, Rounding, Scheme};
use crate::compute::weights::{Distribution, MAX_ELEMENTS};
use crate::format;
use crate::settings::{SYNTHETIC, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Source,
    Tensor,
    Distribution,
    Rows,
    Cols,
    Seed,
    Dof,
    OutlierFraction,
    /// The Formats pane's row: moving it makes that row's settings current.
    FormatRow,
    Format,
    Scheme,
    Bits,
    Granularity,
    GroupSize,
    ChannelAxis,
    BlockSize,
    DoubleQuant,
    Rounding,
    RoundingSeed,
    Calibration,
    Percentile,
    SigmaK,
    Scale,
    ClipLo,
    ClipHi,
}

const PERCENTILES: &[f64] = &[90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100.0];
const OUTLIER_FRACTIONS: &[f64] = &[0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1];

/// The controls that matter for these settings, top to bottom.
pub fn visible(s: &Settings) -> Vec<Control> {
    use Control as C;
    let w = &s.weights;
    let q = &s.quant;
    let manual = q.scheme == Scheme::Manual;
    let mut out = vec![C::Source];
    if is_safetensors(&w.source) {
        out.push(C::Tensor);
    }
    if w.is_synthetic() {
        out.extend([C::Distribution, C::Rows, C::Cols, C::Seed]);
        match w.distribution {
            Distribution::StudentT => out.push(C::Dof),
            Distribution::NormalOutliers => out.push(C::OutlierFraction),
            _ => {}
        }
    }
    out.push(C::Format);
    // A format's own settings, and only those: each names the keys it reads.
    let reads = |key: &str| q.format.format().settings().contains(&key);
    let manual = manual && reads("scheme");
    let show = |out: &mut Vec<Control>, c: Control, when: bool| {
        if when && reads(c.key().trim_start_matches("quant.")) {
            out.push(c);
        }
    };
    show(&mut out, C::Scheme, true);
    show(&mut out, C::Bits, !manual);
    show(&mut out, C::Granularity, !manual);
    show(&mut out, C::GroupSize, !manual && q.granularity == Granularity::PerGroup);
    show(&mut out, C::ChannelAxis, !manual && q.granularity == Granularity::PerChannel);
    show(&mut out, C::BlockSize, true);
    show(&mut out, C::DoubleQuant, true);
    show(&mut out, C::Rounding, true);
    show(&mut out, C::RoundingSeed, q.rounding == Rounding::Stochastic);
    show(&mut out, C::Calibration, !manual);
    show(&mut out, C::Percentile, !manual && q.calibration == quant::Calibration::Percentile);
    show(&mut out, C::SigmaK, !manual && q.calibration == quant::Calibration::Sigma);
    for c in [C::Scale, C::ClipLo, C::ClipHi] {
        show(&mut out, c, true);
    }
    out
}

/// The group sizes a key steps through, and the block sizes.
const GROUP_SIZES: &[f64] = &[32.0, 64.0, 128.0, 256.0];
const BLOCK_SIZES: &[f64] = &[32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0];

fn is_safetensors(source: &str) -> bool {
    Path::new(source).extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

impl Control {
    pub fn label(self) -> &'static str {
        match self {
            Control::Source => "source",
            Control::Tensor => "tensor",
            Control::Distribution => "distribution",
            Control::Rows => "rows",
            Control::Cols => "cols",
            Control::Seed => "seed",
            Control::Dof => "dof",
            Control::OutlierFraction => "outliers",
            Control::Format => "format",
            Control::FormatRow => "row",
            Control::GroupSize => "group size",
            Control::BlockSize => "block size",
            Control::DoubleQuant => "double quant",
            Control::Scheme => "scheme",
            Control::Bits => "bits",
            Control::Granularity => "granularity",
            Control::ChannelAxis => "channel axis",
            Control::Rounding => "rounding",
            Control::RoundingSeed => "rounding seed",
            Control::Calibration => "calibration",
            Control::Percentile => "percentile",
            Control::SigmaK => "sigma k",
            Control::Scale => "scale",
            Control::ClipLo => "clip lo",
            Control::ClipHi => "clip hi",
        }
    }

    /// The settings-file key, used in messages.
    pub fn key(self) -> &'static str {
        match self {
            Control::Source => "weights.source",
            Control::Tensor => "weights.tensor",
            Control::Distribution => "weights.distribution",
            Control::Rows => "weights.rows",
            Control::Cols => "weights.cols",
            Control::Seed => "weights.seed",
            Control::Dof => "weights.dof",
            Control::OutlierFraction => "weights.outlier_fraction",
            Control::Format | Control::FormatRow => "quant.format",
            Control::GroupSize => "quant.group_size",
            Control::BlockSize => "quant.block_size",
            Control::DoubleQuant => "quant.double_quant",
            Control::Scheme => "quant.scheme",
            Control::Bits => "quant.bits",
            Control::Granularity => "quant.granularity",
            Control::ChannelAxis => "quant.channel_axis",
            Control::Rounding => "quant.rounding",
            Control::RoundingSeed => "quant.seed",
            Control::Calibration => "quant.calibration",
            Control::Percentile => "quant.percentile",
            Control::SigmaK => "quant.sigma_k",
            Control::Scale => "quant.scale",
            Control::ClipLo | Control::ClipHi => "quant.clip",
        }
    }

    /// Scale and clip are derived in the bit-driven schemes: editing them
    /// switches to manual.
    pub fn is_derived(self, s: &Settings) -> bool {
        matches!(self, Control::Scale | Control::ClipLo | Control::ClipHi) && s.quant.scheme != Scheme::Manual
    }

    /// The value as the pane shows it.
    pub fn value(self, s: &Settings, ctx: Context) -> String {
        let w = &s.weights;
        let q = &s.quant;
        match self {
            Control::Source => w.source.clone(),
            Control::Tensor => w.tensor.clone().unwrap_or_else(|| "(only one)".into()),
            Control::Distribution => w.distribution.to_string(),
            Control::Rows => w.rows.to_string(),
            Control::Cols => w.cols.to_string(),
            Control::Seed => w.seed.to_string(),
            Control::Dof => format::num(w.dof),
            Control::OutlierFraction => format::pct(w.outlier_fraction),
            Control::Format => q.format.to_string(),
            Control::FormatRow => row_name(s, ctx),
            Control::GroupSize => q.group_size.to_string(),
            Control::BlockSize => q.block_size.to_string(),
            Control::DoubleQuant => {
                if q.double_quant {
                    "on".into()
                } else {
                    "off".into()
                }
            }
            Control::Scheme => q.scheme.to_string(),
            Control::Bits => q.bits.to_string(),
            Control::Granularity => q.granularity.to_string(),
            Control::ChannelAxis => {
                if q.channel_axis == 0 {
                    "0 (rows)".into()
                } else {
                    "1 (cols)".into()
                }
            }
            Control::Rounding => q.rounding.to_string(),
            Control::RoundingSeed => q.seed.to_string(),
            Control::Calibration => q.calibration.to_string(),
            Control::Percentile => format!("{}", q.percentile),
            Control::SigmaK => format::num(q.sigma_k),
            Control::Scale | Control::ClipLo | Control::ClipHi => derived_value(self, s, ctx),
        }
    }

    /// Moves the value `steps` notches (negative: down); coarse moves further.
    pub fn adjust(self, s: &mut Settings, steps: i32, coarse: bool, ctx: Context) -> Result<(), String> {
        let up = steps > 0;
        let w = &mut s.weights;
        let q = &mut s.quant;
        match self {
            Control::Source => {
                return Err("press Enter to type the path of a .npy or .safetensors file, or \"synthetic\"".into());
            }
            Control::Tensor => {
                if ctx.tensors.is_empty() {
                    return Err("the file's tensors are not known yet".into());
                }
                let i = ctx.tensors.iter().position(|t| Some(&t.name) == w.tensor.as_ref()).unwrap_or(0);
                let n = ctx.tensors.len();
                w.tensor = Some(ctx.tensors[if up { (i + 1) % n } else { (i + n - 1) % n }].name.clone());
            }
            Control::Distribution => w.distribution = w.distribution.cycle(up),
            Control::Rows => w.rows = scale_count(w.rows, up, coarse, MAX_ELEMENTS / w.cols.max(1)),
            Control::Cols => w.cols = scale_count(w.cols, up, coarse, MAX_ELEMENTS / w.rows.max(1)),
            Control::Seed => w.seed = step_seed(w.seed, up, coarse),
            Control::Dof => {
                w.dof = if coarse { multiply(w.dof, 2.0, up) } else { (w.dof + if up { 0.5 } else { -0.5 }).max(0.5) }
            }
            Control::OutlierFraction => w.outlier_fraction = ladder(OUTLIER_FRACTIONS, w.outlier_fraction, up, coarse),
            Control::Format => q.format = q.format.cycle(up),
            Control::FormatRow => step_row(s, ctx, if coarse { 5 * steps } else { steps })?,
            Control::GroupSize => q.group_size = ladder(GROUP_SIZES, q.group_size as f64, up, coarse) as usize,
            Control::BlockSize => q.block_size = ladder(BLOCK_SIZES, q.block_size as f64, up, coarse) as usize,
            Control::DoubleQuant => q.double_quant = !q.double_quant,
            Control::Scheme => q.scheme = q.scheme.cycle(up),
            Control::Bits => {
                let step = if coarse { 4 } else { 1 };
                // Only int needs two levels at least; a codebook may have two levels in one bit.
                let least = if q.format.is_int() { quant::MIN_BITS } else { 1 };
                q.bits = if up { q.bits + step } else { q.bits.saturating_sub(step) }.clamp(least, quant::MAX_BITS);
            }
            Control::Granularity => q.granularity = q.granularity.cycle(up),
            Control::ChannelAxis => q.channel_axis = 1 - q.channel_axis.min(1),
            Control::Rounding => q.rounding = q.rounding.cycle(up),
            Control::RoundingSeed => q.seed = step_seed(q.seed, up, coarse),
            Control::Calibration => q.calibration = q.calibration.cycle(up),
            Control::Percentile => q.percentile = ladder(PERCENTILES, q.percentile, up, coarse),
            Control::SigmaK => {
                let step = if coarse { 1.0 } else { 0.25 };
                q.sigma_k = (q.sigma_k + if up { step } else { -step }).max(0.25);
            }
            Control::Scale | Control::ClipLo | Control::ClipHi => {
                switch_to_manual(s, ctx.analysis);
                let q = &mut s.quant;
                match self {
                    Control::Scale => q.scale = multiply(q.scale, if coarse { 2.0 } else { 2f64.powf(0.25) }, up),
                    _ => {
                        let width = ctx
                            .analysis
                            .map(|a| (a.data_range.1 - a.data_range.0) as f64)
                            .unwrap_or(q.clip[1] - q.clip[0]);
                        let step = width.max(f64::MIN_POSITIVE) / if coarse { 10.0 } else { 100.0 };
                        let i = if self == Control::ClipLo { 0 } else { 1 };
                        q.clip[i] += if up { step } else { -step };
                    }
                }
            }
        }
        s.validate().map_err(|e| e.to_string())
    }

    /// Sets the value from typed text; errors name the settings key.
    pub fn set(self, s: &mut Settings, text: &str, ctx: Context) -> Result<(), String> {
        self.set_unchecked(s, text.trim(), ctx)
            .map_err(|e| if e.contains(self.key()) { e } else { format!("{}: {e}", self.key()) })
    }

    fn set_unchecked(self, s: &mut Settings, text: &str, ctx: Context) -> Result<(), String> {
        let w = &mut s.weights;
        let q = &mut s.quant;
        match self {
            Control::Source => {
                w.source = if text.is_empty() { SYNTHETIC.into() } else { text.into() };
                w.tensor = None;
            }
            Control::Tensor => {
                if !ctx.tensors.is_empty() && !ctx.tensors.iter().any(|t| t.name == text) {
                    let names: Vec<&str> = ctx.tensors.iter().map(|t| t.name.as_str()).collect();
                    return Err(format!("no tensor named {text:?}; the file holds {}", names.join(", ")));
                }
                w.tensor = Some(text.into());
            }
            Control::Distribution => w.distribution = text.parse()?,
            Control::Rows => w.rows = parse(text, self.key(), self.label())?,
            Control::Cols => w.cols = parse(text, self.key(), self.label())?,
            Control::Seed => w.seed = parse(text, self.key(), self.label())?,
            Control::Dof => w.dof = parse(text, self.key(), self.label())?,
            Control::OutlierFraction => w.outlier_fraction = parse_fraction(text, self.key(), self.label())?,
            Control::Format => q.format = text.parse()?,
            Control::FormatRow => {
                let table = ctx.formats.ok_or("the formats are still being measured")?;
                let row = table.rows.iter().find(|r| r.name == text).ok_or_else(|| {
                    let names: Vec<&str> = table.rows.iter().map(|r| r.name.as_str()).collect();
                    format!("no row named {text:?}; the rows are {}", names.join(", "))
                })?;
                s.quant = row.settings.clone();
            }
            Control::GroupSize => q.group_size = parse(text, self.key(), self.label())?,
            Control::BlockSize => q.block_size = parse(text, self.key(), self.label())?,
            Control::DoubleQuant => {
                q.double_quant = match text {
                    "on" | "true" | "yes" | "1" => true,
                    "off" | "false" | "no" | "0" => false,
                    _ => return Err(format!("{text:?} is not on or off")),
                }
            }
            Control::Scheme => q.scheme = text.parse()?,
            Control::Bits => q.bits = parse(text, self.key(), self.label())?,
            Control::Granularity => q.granularity = text.parse()?,
            Control::ChannelAxis => q.channel_axis = parse(text, self.key(), self.label())?,
            Control::Rounding => q.rounding = text.parse()?,
            Control::RoundingSeed => q.seed = parse(text, self.key(), self.label())?,
            Control::Calibration => q.calibration = text.parse()?,
            Control::Percentile => q.percentile = parse(text, self.key(), self.label())?,
            Control::SigmaK => q.sigma_k = parse(text, self.key(), self.label())?,
            Control::Scale | Control::ClipLo | Control::ClipHi => {
                let v: f64 = parse(text, self.key(), self.label())?;
                switch_to_manual(s, ctx.analysis);
                match self {
                    Control::Scale => s.quant.scale = v,
                    Control::ClipLo => s.quant.clip[0] = v,
                    _ => s.quant.clip[1] = v,
                }
            }
        }
        s.validate().map_err(|e| e.to_string())
    }

    /// Back to the default value of this control, and of it alone. In
    /// manual mode clip lo / hi go back to the data's min / max and the
    /// scale to the step that puts 2^bits levels in the clip range; in a
    /// bit-driven scheme they are derived already.
    pub fn reset(self, s: &mut Settings, ctx: Context) {
        let d = Settings::default();
        let (w, q) = (&mut s.weights, &mut s.quant);
        match self {
            Control::Source => {
                w.source = d.weights.source;
                w.tensor = None;
            }
            Control::Tensor => w.tensor = None,
            Control::Distribution => w.distribution = d.weights.distribution,
            Control::Rows => w.rows = d.weights.rows,
            Control::Cols => w.cols = d.weights.cols,
            Control::Seed => w.seed = d.weights.seed,
            Control::Dof => w.dof = d.weights.dof,
            Control::OutlierFraction => w.outlier_fraction = d.weights.outlier_fraction,
            Control::Format | Control::FormatRow => q.format = d.quant.format,
            Control::GroupSize => q.group_size = d.quant.group_size,
            Control::BlockSize => q.block_size = d.quant.block_size,
            Control::DoubleQuant => q.double_quant = d.quant.double_quant,
            Control::Scheme => q.scheme = d.quant.scheme,
            Control::Bits => q.bits = d.quant.bits,
            Control::Granularity => q.granularity = d.quant.granularity,
            Control::ChannelAxis => q.channel_axis = d.quant.channel_axis,
            Control::Rounding => q.rounding = d.quant.rounding,
            Control::RoundingSeed => q.seed = d.quant.seed,
            Control::Calibration => q.calibration = d.quant.calibration,
            Control::Percentile => q.percentile = d.quant.percentile,
            Control::SigmaK => q.sigma_k = d.quant.sigma_k,
            _ if q.scheme != Scheme::Manual => {}
            Control::Scale => q.scale = (q.clip[1] - q.clip[0]) / ((1u64 << q.bits) - 1) as f64,
            Control::ClipLo => q.clip[0] = ctx.analysis.map_or(d.quant.clip[0], |a| a.data_range.0 as f64),
            Control::ClipHi => q.clip[1] = ctx.analysis.map_or(d.quant.clip[1], |a| a.data_range.1 as f64),
        }
    }

    /// The text an edit starts from.
    pub fn edit_text(self, s: &Settings, ctx: Context) -> String {
        match self {
            Control::Tensor => s.weights.tensor.clone().unwrap_or_default(),
            Control::OutlierFraction => s.weights.outlier_fraction.to_string(),
            Control::ChannelAxis => s.quant.channel_axis.to_string(),
            Control::Dof => s.weights.dof.to_string(),
            Control::SigmaK => s.quant.sigma_k.to_string(),
            Control::Scale | Control::ClipLo | Control::ClipHi => {
                manual_values(s, ctx.analysis)[self.manual_index()].to_string()
            }
            _ => self.value(s, ctx),
        }
    }

    fn manual_index(self) -> usize {
        match self {
            Control::Scale => 0,
            Control::ClipLo => 1,
            _ => 2,
        }
    }
}

/// The scale and clip a bit-driven quantizer derived, as manual settings
/// (scale, lo, hi) that keep the same levels: the representable range,
/// padded by a hair so float rounding cannot drop an end level.
fn manual_values(s: &Settings, analysis: Option<&Analysis>) -> [f64; 3] {
    let q = &s.quant;
    match analysis {
        Some(a) if q.scheme != Scheme::Manual && !a.channels.is_empty() => {
            let scale = a.channels.iter().map(|c| c.params.scale).fold(0f32, f32::max) as f64;
            let lo = a.channels.iter().map(|c| c.params.representable().0).fold(f32::INFINITY, f32::min) as f64;
            let hi = a.channels.iter().map(|c| c.params.representable().1).fold(f32::NEG_INFINITY, f32::max) as f64;
            [scale, lo - 1e-6 * scale, hi + 1e-6 * scale]
        }
        _ => [q.scale, q.clip[0], q.clip[1]],
    }
}

/// Pressing a key on scale or clip in a bit-driven scheme switches to
/// manual, starting from the values in effect.
fn switch_to_manual(s: &mut Settings, analysis: Option<&Analysis>) {
    if s.quant.scheme != Scheme::Manual {
        let [scale, lo, hi] = manual_values(s, analysis);
        s.quant.scheme = Scheme::Manual;
        s.quant.scale = scale;
        s.quant.clip = [lo, hi];
    }
}

/// The Formats row of the current settings, or what they are when none matches.
fn row_name(s: &Settings, ctx: Context) -> String {
    match ctx.formats {
        None => "measuring ...".into(),
        Some(t) => match t.current(s) {
            Some(i) => t.rows[i].name.clone(),
            None => format!("custom {}", s.quant.format),
        },
    }
}

/// Moves `steps` rows down the table as sorted (rows that cannot apply are
/// skipped) and makes that row's settings the current ones.
fn step_row(s: &mut Settings, ctx: Context, steps: i32) -> Result<(), String> {
    let table = ctx.formats.ok_or("the formats are still being measured")?;
    let order: Vec<usize> =
        table.order(ctx.formats_sort).into_iter().filter(|&i| table.rows[i].error.is_none()).collect();
    if order.is_empty() {
        return Err("no format applies to this tensor yet".into());
    }
    let n = order.len() as i64;
    let at = table.current(s).and_then(|c| order.iter().position(|&i| i == c)).map_or(-1, |p| p as i64);
    let next = if at < 0 && steps < 0 { n - 1 } else { (at + steps as i64).rem_euclid(n) };
    s.quant = table.rows[order[next as usize]].settings.clone();
    Ok(())
}

fn derived_value(c: Control, s: &Settings, ctx: Context) -> String {
    let value = format::num(manual_values(s, ctx.analysis)[c.manual_index()]);
    if !c.is_derived(s) {
        return value;
    }
    let per_channel = ctx.analysis.is_some_and(|a| a.channels.len() > 1);
    let note = match (per_channel, c) {
        (false, _) => "derived",
        (true, Control::ClipLo) => "min of ch.",
        (true, _) => "max of ch.",
    };
    format!("{value} ({note})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::analysis::analyze;
    use crate::compute::quant::Calibration;

    #[test]
    fn visible_controls_follow_the_settings() {
        let mut s = Settings::default();
        let v = visible(&s);
        assert!(v.contains(&Control::Bits) && v.contains(&Control::Rows) && !v.contains(&Control::Percentile));
        assert!(!v.contains(&Control::Tensor) && !v.contains(&Control::ChannelAxis));
        s.quant.calibration = Calibration::Percentile;
        s.quant.granularity = Granularity::PerChannel;
        s.weights.source = "model.safetensors".into();
        let v = visible(&s);
        assert!(v.contains(&Control::Percentile) && v.contains(&Control::ChannelAxis) && v.contains(&Control::Tensor));
        assert!(!v.contains(&Control::Rows));
        s.quant.scheme = Scheme::Manual;
        let v = visible(&s);
        assert!(!v.contains(&Control::Bits) && !v.contains(&Control::Calibration) && v.contains(&Control::Scale));
    }

    #[test]
    fn bits_step_and_clamp() {
        let mut s = Settings::default();
        Control::Bits.adjust(&mut s, 1, false, Context::default()).unwrap();
        assert_eq!(s.quant.bits, 9);
        Control::Bits.adjust(&mut s, 1, true, Context::default()).unwrap();
        assert_eq!(s.quant.bits, 13);
        for _ in 0..5 {
            Control::Bits.adjust(&mut s, 1, true, Context::default()).unwrap();
        }
        assert_eq!(s.quant.bits, 16);
        for _ in 0..20 {
            Control::Bits.adjust(&mut s, -1, false, Context::default()).unwrap();
        }
        assert_eq!(s.quant.bits, 2);
    }

    #[test]
    fn editing_scale_switches_to_manual_from_the_derived_values() {
        let mut s = Settings::default();
        let a = analyze(&s.weights.load().unwrap(), &s.quant).unwrap();
        let ctx = Context { analysis: Some(&a), ..Context::default() };
        let p = a.channels[0].params;
        Control::Scale.adjust(&mut s, 1, true, ctx).unwrap();
        assert_eq!(s.quant.scheme, Scheme::Manual);
        assert!((s.quant.scale - 2.0 * p.scale as f64).abs() < 1e-9);
        // The clip keeps the bit-driven levels' range.
        let (lo, hi) = p.representable();
        assert!((s.quant.clip[0] - lo as f64).abs() < 1e-4 && (s.quant.clip[1] - hi as f64).abs() < 1e-4);
    }

    #[test]
    fn switching_to_manual_keeps_the_same_levels() {
        let mut s = Settings::default();
        s.quant.scheme = Scheme::Symmetric;
        let w = s.weights.load().unwrap();
        let a = analyze(&w, &s.quant).unwrap();
        let text = Control::ClipHi.edit_text(&s, Context { analysis: Some(&a), ..Context::default() });
        Control::ClipHi.set(&mut s, &text, Context { analysis: Some(&a), ..Context::default() }).unwrap();
        assert_eq!(s.quant.scheme, Scheme::Manual);
        let m = analyze(&w, &s.quant).unwrap();
        assert_eq!((m.qmin, m.qmax), (a.qmin, a.qmax));
        assert!((m.metrics.mse - a.metrics.mse).abs() < 1e-12 * a.metrics.mse.max(1.0) + 1e-12);
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let err = |c: Control, s: &Settings, text: &str| c.set(&mut s.clone(), text, Context::default()).unwrap_err();
        let d = Settings::default();
        for (c, text, key) in [
            (Control::Bits, "17", "quant.bits"),
            (Control::Bits, "eight", "quant.bits"),
            (Control::Percentile, "0", "quant.percentile"),
            (Control::Scale, "-1", "quant.scale"),
            (Control::Rows, "0", "weights.rows"),
            (Control::Scheme, "sideways", "asymmetric"),
        ] {
            let e = err(c, &d, text);
            assert!(e.contains(key), "{c:?} {text}: {e}");
        }
        let mut m = Settings::default();
        m.quant.scheme = Scheme::Manual;
        m.quant.clip = [-1.0, 1.0];
        assert!(err(Control::ClipLo, &m, "2").contains("quant.clip"));
    }

    #[test]
    fn reset_restores_defaults() {
        let mut s = Settings::default();
        s.quant.bits = 3;
        Control::Bits.reset(&mut s, Context::default());
        assert_eq!(s.quant.bits, 8);
        s.quant.scheme = Scheme::Manual;
        s.quant.scale = 0.5;
        s.quant.clip = [-1.0, 2.0];
        // In manual mode each of scale, clip lo and clip hi resets alone.
        let w = s.weights.load().unwrap();
        let a = analyze(&w, &s.quant).unwrap();
        let ctx = Context { analysis: Some(&a), ..Context::default() };
        Control::ClipLo.reset(&mut s, ctx);
        assert_eq!((s.quant.scheme, s.quant.scale, s.quant.clip), (Scheme::Manual, 0.5, [a.data_range.0 as f64, 2.0]));
        Control::ClipHi.reset(&mut s, ctx);
        assert_eq!(s.quant.clip, [a.data_range.0 as f64, a.data_range.1 as f64]);
        Control::Scale.reset(&mut s, ctx);
        assert_eq!(s.quant.scheme, Scheme::Manual);
        assert!((s.quant.scale - (s.quant.clip[1] - s.quant.clip[0]) / 255.0).abs() < 1e-12);
    }
}
