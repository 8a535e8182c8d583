//! The Quantize pane's controls: one table, [`QUANT_CONTROLS`], with a row
//! per control from top to bottom. A row holds the label, the settings key,
//! when it is shown, how it shows its value, and how a key, typed text or a
//! reset changes it. A new `[quant]` key is a field of `QuantConfig` and one
//! row here.

use std::path::Path;

use super::{Context, ControlError, ladder, multiply, parse, parse_fraction, scale_count, step_seed, text};
use crate::compute::analysis::Analysis;
use crate::compute::formats;
use crate::compute::quant::{self, Calibration, Granularity, Rounding, Scheme};
use crate::compute::weights::{self, Distribution, MAX_ELEMENTS};
use crate::format;
use crate::settings::{SYNTHETIC, Settings};

/// One control of the Quantize pane. `show` and `edit` read the settings;
/// `step`, `parse` and `reset` change them (the caller validates after).
pub struct QuantControl {
    pub label: &'static str,
    /// The settings-file key: errors name it, and a `[quant]` key's row is
    /// shown only when the format reads that key.
    pub key: &'static str,
    /// Whether the row matters for these settings.
    shown: fn(&Settings) -> bool,
    /// The value as the pane shows it.
    show: fn(&Settings, Context<'_>) -> String,
    /// The text an edit starts from; `None`: the value as shown.
    edit: Option<fn(&Settings, Context<'_>) -> String>,
    step: fn(&mut Settings, Notch, Context<'_>) -> Result<(), ControlError>,
    parse: fn(&mut Settings, Typed<'_>) -> Result<(), ControlError>,
    /// Back to the default (the second settings), this control alone.
    reset: fn(&mut Settings, &Settings, Context<'_>),
    /// Follows from the data in the bit-driven schemes (scale and clip).
    derived: bool,
}

/// A key press on a control: `steps` notches (negative: down), coarse or fine.
#[derive(Clone, Copy)]
struct Notch {
    steps: i32,
    up: bool,
    coarse: bool,
}

/// Text typed into a control, with the key and label its errors name.
#[derive(Clone, Copy)]
struct Typed<'a> {
    text: &'a str,
    key: &'static str,
    label: &'static str,
    ctx: Context<'a>,
}

impl Typed<'_> {
    fn number<T: std::str::FromStr>(self) -> Result<T, ControlError> {
        parse(self.text, self.key, self.label)
    }

    /// A fraction, typed as 0.001 or as 0.1%.
    fn fraction(self) -> Result<f64, ControlError> {
        parse_fraction(self.text, self.key, self.label)
    }
}

/// The row of a setting kept in one field, named once: it gives the key,
/// the value shown (`$show` formats it) and typed (`$parse` reads it), the
/// step (`$step` maps the value, the settings and the notch to the next
/// value) and the reset (the default's field). The edit starts from the
/// unformatted value.
macro_rules! field {
    ($label:literal, $sec:ident . $field:ident, $shown:expr, $show:expr, $step:expr, $parse:expr) => {
        QuantControl {
            label: $label,
            key: concat!(stringify!($sec), ".", stringify!($field)),
            shown: $shown,
            show: |s, _| $show(s.$sec.$field),
            edit: Some(|s, _| s.$sec.$field.to_string()),
            step: |s, n, _| {
                s.$sec.$field = next(s.$sec.$field, s, n, $step);
                Ok(())
            },
            parse: |s, t| $parse(t).map(|v| s.$sec.$field = v),
            reset: |s, d, _| s.$sec.$field = d.$sec.$field,
            derived: false,
        }
    };
}

/// A number: shown by `$show`, typed as a number.
macro_rules! number {
    ($label:literal, $sec:ident . $field:ident, $shown:expr, $show:expr, $step:expr) => {
        field!($label, $sec.$field, $shown, $show, $step, Typed::number)
    };
}

/// A named enum: shown and typed by name, cycled by a key.
macro_rules! choice {
    ($label:literal, $sec:ident . $field:ident, $shown:expr) => {
        field!($label, $sec.$field, $shown, text, |v, _, n| v.cycle(n.up), |t: Typed| t
            .text
            .parse()
            .map_err(ControlError::from))
    };
}

/// Scale, clip lo or clip hi: derived in the bit-driven schemes, set in
/// manual; `$i` is its index in [`manual_values`].
macro_rules! manual {
    ($label:literal, $key:literal, $i:expr) => {
        QuantControl {
            label: $label,
            key: $key,
            shown: always,
            show: |s, ctx| derived_value(s, ctx, $i),
            edit: Some(|s, ctx| manual_values(s, ctx.analysis)[$i].to_string()),
            step: |s, n, ctx| step_manual(s, n, ctx, $i),
            parse: |s, t| set_manual(s, t, $i),
            reset: |s, d, ctx| reset_manual(s, d, ctx, $i),
            derived: true,
        }
    };
}

/// The next format that applies to the tensor shown with the other
/// settings as they are: a key never lands on one that would be refused
/// (q8_0 on rows of 10 values), so every applicable format stays reachable.
fn step_format(s: &mut Settings, n: Notch, ctx: Context) -> Result<(), ControlError> {
    let cols = ctx.shape.map(|shape| weights::matrix_dims(shape).1);
    let mut next = s.quant.clone();
    for _ in 1..formats::BUILTIN_FORMATS.len() {
        next.format = next.format.cycle(n.up);
        if next.format.format().check(&next, cols).is_ok() {
            s.quant.format = next.format;
            return Ok(());
        }
    }
    Err(ControlError::NoOtherFormat { cols })
}

const PERCENTILES: &[f64] = &[90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100.0];
const OUTLIER_FRACTIONS: &[f64] = &[0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1];
/// The group sizes a key steps through, and the block sizes.
const GROUP_SIZES: &[f64] = &[32.0, 64.0, 128.0, 256.0];
const BLOCK_SIZES: &[f64] = &[32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0];

/// Indices in [`manual_values`].
const SCALE: usize = 0;
const CLIP_LO: usize = 1;
const CLIP_HI: usize = 2;

/// Every control of the Quantize pane, in the order shown.
pub const QUANT_CONTROLS: &[QuantControl] = &[
    QuantControl {
        label: "source",
        key: "weights.source",
        show: |s, _| s.weights.source.clone(),
        step: |_, _, _| {
            Err(ControlError::Unavailable(
                "press Enter to type the path of a .npy or .safetensors file, or \"synthetic\"",
            ))
        },
        parse: set_source,
        reset: |s, d, _| {
            s.weights.source = d.weights.source.clone();
            s.weights.tensor = None;
        },
        ..ROW
    },
    QuantControl {
        label: "tensor",
        key: "weights.tensor",
        shown: |s| is_safetensors(&s.weights.source),
        show: |s, _| s.weights.tensor.clone().unwrap_or_else(|| "(only one)".into()),
        edit: Some(|s, _| s.weights.tensor.clone().unwrap_or_default()),
        step: step_tensor,
        parse: set_tensor,
        reset: |s, _, _| s.weights.tensor = None,
        ..ROW
    },
    choice!("distribution", weights.distribution, synthetic),
    number!("rows", weights.rows, synthetic, text, |v, s, n| step_count(v, n, s.weights.cols)),
    number!("cols", weights.cols, synthetic, text, |v, s, n| step_count(v, n, s.weights.rows)),
    number!("seed", weights.seed, synthetic, text, |v, _, n| step_seed(v, n.up, n.coarse)),
    number!("dof", weights.dof, student_t, format::num, step_dof),
    field!("outliers", weights.outlier_fraction, with_outliers, format::pct, step_outliers, Typed::fraction),
    QuantControl { step: step_format, ..choice!("format", quant.format, always) },
    // The Formats pane's row: moving it makes that row's settings current.
    QuantControl {
        label: "row",
        key: "quant.format",
        shown: |_| false,
        show: row_name,
        step: |s, n, ctx| step_row(s, ctx, if n.coarse { 5 * n.steps } else { n.steps }),
        parse: set_row,
        reset: |s, d, _| s.quant.format = d.quant.format,
        ..ROW
    },
    choice!("scheme", quant.scheme, always),
    number!("bits", quant.bits, not_manual, text, step_bits),
    choice!("granularity", quant.granularity, not_manual),
    number!("group size", quant.group_size, per_group, text, |v, _, n| ladder_count(GROUP_SIZES, v, n)),
    number!("channel axis", quant.channel_axis, per_channel, axis_name, |v, _, _| 1 - v.min(1)),
    number!("block size", quant.block_size, always, text, |v, _, n| ladder_count(BLOCK_SIZES, v, n)),
    QuantControl {
        edit: None,
        ..field!("double quant", quant.double_quant, always, on_off, |v, _, _| !v, parse_on_off)
    },
    choice!("rounding", quant.rounding, always),
    number!("rounding seed", quant.seed, stochastic, text, |v, _, n| step_seed(v, n.up, n.coarse)),
    choice!("calibration", quant.calibration, not_manual),
    number!("percentile", quant.percentile, by_percentile, text, |v, _, n| ladder(PERCENTILES, v, n.up, n.coarse)),
    number!("sigma k", quant.sigma_k, by_sigma, format::num, step_sigma_k),
    manual!("scale", "quant.scale", SCALE),
    manual!("clip lo", "quant.clip", CLIP_LO),
    manual!("clip hi", "quant.clip", CLIP_HI),
];

/// What a row leaves as it is unless it says otherwise.
const ROW: QuantControl = QuantControl {
    label: "",
    key: "",
    shown: always,
    show: |_, _| String::new(),
    edit: None,
    step: |_, _, _| Err(ControlError::Unavailable("this control does not step")),
    parse: |_, _| Err(ControlError::Unavailable("this control cannot be typed")),
    reset: |_, _, _| {},
    derived: false,
};

/// A control of the Quantize pane: a row of [`QUANT_CONTROLS`], named by the
/// constants below where the app picks one.
#[derive(Clone, Copy)]
pub struct Control(&'static QuantControl);

#[allow(non_upper_case_globals)]
impl Control {
    pub const Source: Control = Control::named("source");
    pub const Tensor: Control = Control::named("tensor");
    pub const Distribution: Control = Control::named("distribution");
    pub const Rows: Control = Control::named("rows");
    pub const Cols: Control = Control::named("cols");
    pub const Seed: Control = Control::named("seed");
    pub const Dof: Control = Control::named("dof");
    pub const OutlierFraction: Control = Control::named("outliers");
    pub const Format: Control = Control::named("format");
    /// The Formats pane's row.
    pub const FormatRow: Control = Control::named("row");
    pub const Scheme: Control = Control::named("scheme");
    pub const Bits: Control = Control::named("bits");
    pub const Granularity: Control = Control::named("granularity");
    pub const GroupSize: Control = Control::named("group size");
    pub const ChannelAxis: Control = Control::named("channel axis");
    pub const BlockSize: Control = Control::named("block size");
    pub const DoubleQuant: Control = Control::named("double quant");
    pub const Rounding: Control = Control::named("rounding");
    pub const RoundingSeed: Control = Control::named("rounding seed");
    pub const Calibration: Control = Control::named("calibration");
    pub const Percentile: Control = Control::named("percentile");
    pub const SigmaK: Control = Control::named("sigma k");
    pub const Scale: Control = Control::named("scale");
    pub const ClipLo: Control = Control::named("clip lo");
    pub const ClipHi: Control = Control::named("clip hi");
}

impl PartialEq for Control {
    fn eq(&self, other: &Self) -> bool {
        self.0.label == other.0.label
    }
}

impl Eq for Control {}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.label)
    }
}

/// The controls that matter for these settings, top to bottom.
pub fn visible(s: &Settings) -> Vec<Control> {
    QUANT_CONTROLS.iter().filter(|c| (c.shown)(s) && format_reads(s, c.key)).map(Control).collect()
}

impl Control {
    /// The row labelled `label`; a label no row has fails the build.
    const fn named(label: &str) -> Control {
        let mut i = 0;
        while i < QUANT_CONTROLS.len() {
            if same_text(QUANT_CONTROLS[i].label, label) {
                return Control(&QUANT_CONTROLS[i]);
            }
            i += 1;
        }
        panic!("no Quantize control has this label")
    }

    /// Its row of the table.
    pub fn row(self) -> &'static QuantControl {
        self.0
    }

    pub fn label(self) -> &'static str {
        self.0.label
    }

    /// The settings-file key, used in messages.
    pub fn key(self) -> &'static str {
        self.0.key
    }

    /// Scale and clip are derived in the bit-driven schemes: editing them
    /// switches to manual.
    pub fn is_derived(self, s: &Settings) -> bool {
        self.0.derived && s.quant.scheme != Scheme::Manual
    }

    /// The value as the pane shows it.
    pub fn value(self, s: &Settings, ctx: Context) -> String {
        (self.0.show)(s, ctx)
    }

    /// Moves the value `steps` notches (negative: down); coarse moves further.
    pub fn adjust(self, s: &mut Settings, steps: i32, coarse: bool, ctx: Context) -> Result<(), ControlError> {
        (self.0.step)(s, Notch { steps, up: steps > 0, coarse }, ctx)?;
        Ok(s.validate()?)
    }

    /// Sets the value from typed text; errors name the settings key.
    pub fn set(self, s: &mut Settings, text: &str, ctx: Context) -> Result<(), ControlError> {
        let typed = Typed { text: text.trim(), key: self.key(), label: self.label(), ctx };
        (self.0.parse)(s, typed).and_then(|()| Ok(s.validate()?)).map_err(|e| e.keyed(self.key()))
    }

    /// Back to the default value of this control, and of it alone. In
    /// manual mode clip lo / hi go back to the data's min / max and the
    /// scale to the step that puts 2^bits levels in the clip range; in a
    /// bit-driven scheme they are derived already.
    pub fn reset(self, s: &mut Settings, ctx: Context) {
        (self.0.reset)(s, &Settings::default(), ctx)
    }

    /// The text an edit starts from.
    pub fn edit_text(self, s: &Settings, ctx: Context) -> String {
        self.0.edit.unwrap_or(self.0.show)(s, ctx)
    }
}

const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() && a[i] == b[i] {
        i += 1;
    }
    i == a.len()
}

/// Calls a row's `$step` with the field's value: pins its argument types.
fn next<T>(v: T, s: &Settings, n: Notch, step: impl FnOnce(T, &Settings, Notch) -> T) -> T {
    step(v, s, n)
}

// When the rows are shown.

fn always(_: &Settings) -> bool {
    true
}

fn synthetic(s: &Settings) -> bool {
    s.weights.is_synthetic()
}

fn student_t(s: &Settings) -> bool {
    synthetic(s) && s.weights.distribution == Distribution::StudentT
}

fn with_outliers(s: &Settings) -> bool {
    synthetic(s) && s.weights.distribution == Distribution::NormalOutliers
}

/// Manual mode, where the format has schemes at all.
fn manual(s: &Settings) -> bool {
    s.quant.scheme == Scheme::Manual && format_reads(s, "quant.scheme")
}

fn not_manual(s: &Settings) -> bool {
    !manual(s)
}

fn per_group(s: &Settings) -> bool {
    !manual(s) && s.quant.granularity == Granularity::PerGroup
}

fn per_channel(s: &Settings) -> bool {
    !manual(s) && s.quant.granularity == Granularity::PerChannel
}

fn stochastic(s: &Settings) -> bool {
    s.quant.rounding == Rounding::Stochastic
}

fn by_percentile(s: &Settings) -> bool {
    !manual(s) && s.quant.calibration == Calibration::Percentile
}

fn by_sigma(s: &Settings) -> bool {
    !manual(s) && s.quant.calibration == Calibration::Sigma
}

/// A format's own settings, and only those, are shown: each format names
/// the `[quant]` keys it reads. The format itself always is.
fn format_reads(s: &Settings, key: &str) -> bool {
    match key.strip_prefix("quant.") {
        Some(k) if k != "format" => s.quant.format.format().settings().contains(&k),
        _ => true,
    }
}

fn is_safetensors(source: &str) -> bool {
    Path::new(source).extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

// How the values show, step and parse.

fn axis_name(axis: usize) -> String {
    if axis == 0 { "0 (rows)".into() } else { "1 (cols)".into() }
}

fn on_off(on: bool) -> String {
    if on { "on".into() } else { "off".into() }
}

fn parse_on_off(t: Typed) -> Result<bool, ControlError> {
    match t.text {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        text => Err(ControlError::NotOnOff { text: text.to_string() }),
    }
}

/// Rows (or cols) grow as far as the cols (rows) allow under the element cap.
fn step_count(n: usize, notch: Notch, other: usize) -> usize {
    scale_count(n, notch.up, notch.coarse, MAX_ELEMENTS / other.max(1))
}

fn ladder_count(steps: &[f64], v: usize, n: Notch) -> usize {
    ladder(steps, v as f64, n.up, n.coarse) as usize
}

fn step_dof(dof: f64, _: &Settings, n: Notch) -> f64 {
    if n.coarse { multiply(dof, 2.0, n.up) } else { (dof + if n.up { 0.5 } else { -0.5 }).max(0.5) }
}

fn step_outliers(fraction: f64, _: &Settings, n: Notch) -> f64 {
    ladder(OUTLIER_FRACTIONS, fraction, n.up, n.coarse)
}

fn step_bits(bits: u32, s: &Settings, n: Notch) -> u32 {
    let step = if n.coarse { 4 } else { 1 };
    // Only int needs two levels at least; a codebook may have two levels in one bit.
    let least = if s.quant.format.is_int() { quant::MIN_BITS } else { 1 };
    if n.up { bits + step } else { bits.saturating_sub(step) }.clamp(least, quant::MAX_BITS)
}

fn step_sigma_k(k: f64, _: &Settings, n: Notch) -> f64 {
    let step = if n.coarse { 1.0 } else { 0.25 };
    (k + if n.up { step } else { -step }).max(0.25)
}

fn set_source(s: &mut Settings, t: Typed) -> Result<(), ControlError> {
    s.weights.source = if t.text.is_empty() { SYNTHETIC.into() } else { t.text.into() };
    s.weights.tensor = None;
    Ok(())
}

fn step_tensor(s: &mut Settings, n: Notch, ctx: Context) -> Result<(), ControlError> {
    let tensors = ctx.tensors;
    if tensors.is_empty() {
        return Err(ControlError::Unavailable("the file's tensors are not known yet"));
    }
    let i = tensors.iter().position(|t| Some(&t.name) == s.weights.tensor.as_ref()).unwrap_or(0);
    let len = tensors.len();
    s.weights.tensor = Some(tensors[if n.up { (i + 1) % len } else { (i + len - 1) % len }].name.clone());
    Ok(())
}

fn set_tensor(s: &mut Settings, t: Typed) -> Result<(), ControlError> {
    let tensors = t.ctx.tensors;
    if !tensors.is_empty() && !tensors.iter().any(|x| x.name == t.text) {
        let names = tensors.iter().map(|x| x.name.clone()).collect();
        return Err(ControlError::NoTensor { name: t.text.to_string(), names });
    }
    s.weights.tensor = Some(t.text.into());
    Ok(())
}

fn set_row(s: &mut Settings, t: Typed) -> Result<(), ControlError> {
    let table = t.ctx.formats.ok_or(MEASURING)?;
    let row = table.rows.iter().find(|r| r.name == t.text).ok_or_else(|| ControlError::NoRow {
        name: t.text.to_string(),
        names: table.rows.iter().map(|r| r.name.clone()).collect(),
    })?;
    s.quant = row.settings.clone();
    Ok(())
}

const MEASURING: ControlError = ControlError::Unavailable("the formats are still being measured");

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
fn step_row(s: &mut Settings, ctx: Context, steps: i32) -> Result<(), ControlError> {
    let table = ctx.formats.ok_or(MEASURING)?;
    let order: Vec<usize> =
        table.order(ctx.formats_sort).into_iter().filter(|&i| table.rows[i].error.is_none()).collect();
    if order.is_empty() {
        return Err(ControlError::Unavailable("no format applies to this tensor yet"));
    }
    let n = order.len() as i64;
    let at = table.current(s).and_then(|c| order.iter().position(|&i| i == c)).map_or(-1, |p| p as i64);
    let next = if at < 0 && steps < 0 { n - 1 } else { (at + steps as i64).rem_euclid(n) };
    s.quant = table.rows[order[next as usize]].settings.clone();
    Ok(())
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

/// Scale moves by 2^(1/4) (coarse x2); a clip end by 1% of the data's
/// width (coarse 10%).
fn step_manual(s: &mut Settings, n: Notch, ctx: Context, i: usize) -> Result<(), ControlError> {
    switch_to_manual(s, ctx.analysis);
    let q = &mut s.quant;
    if i == SCALE {
        q.scale = multiply(q.scale, if n.coarse { 2.0 } else { 2f64.powf(0.25) }, n.up);
    } else {
        let width = ctx.analysis.map(|a| (a.data_range.1 - a.data_range.0) as f64).unwrap_or(q.clip[1] - q.clip[0]);
        let step = width.max(f64::MIN_POSITIVE) / if n.coarse { 10.0 } else { 100.0 };
        q.clip[i - CLIP_LO] += if n.up { step } else { -step };
    }
    Ok(())
}

fn set_manual(s: &mut Settings, t: Typed, i: usize) -> Result<(), ControlError> {
    let v: f64 = t.number()?;
    switch_to_manual(s, t.ctx.analysis);
    if i == SCALE {
        s.quant.scale = v;
    } else {
        s.quant.clip[i - CLIP_LO] = v;
    }
    Ok(())
}

fn reset_manual(s: &mut Settings, d: &Settings, ctx: Context, i: usize) {
    let q = &mut s.quant;
    if q.scheme != Scheme::Manual {
        return;
    }
    if i == SCALE {
        q.scale = (q.clip[1] - q.clip[0]) / ((1u64 << q.bits) - 1) as f64;
    } else {
        let data = ctx.analysis.map_or(d.quant.clip, |a| [a.data_range.0 as f64, a.data_range.1 as f64]);
        q.clip[i - CLIP_LO] = data[i - CLIP_LO];
    }
}

/// Scale or clip as shown: what is in effect, and where it is derived, from what.
fn derived_value(s: &Settings, ctx: Context, i: usize) -> String {
    let value = format::num(manual_values(s, ctx.analysis)[i]);
    if s.quant.scheme == Scheme::Manual {
        return value;
    }
    let per_channel = ctx.analysis.is_some_and(|a| a.channels.len() > 1);
    let note = match (per_channel, i) {
        (false, _) => "derived",
        (true, CLIP_LO) => "min of ch.",
        (true, _) => "max of ch.",
    };
    format!("{value} ({note})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::analysis::analyze;

    /// Settings in which each row is shown: the default, and one for each
    /// condition a row waits for.
    fn bases() -> Vec<Settings> {
        let with = |change: fn(&mut Settings)| {
            let mut s = Settings::default();
            change(&mut s);
            s
        };
        vec![
            Settings::default(),
            with(|s| s.weights.source = "model.safetensors".into()),
            with(|s| s.weights.distribution = Distribution::StudentT),
            with(|s| s.weights.distribution = Distribution::NormalOutliers),
            with(|s| s.quant.granularity = Granularity::PerGroup),
            with(|s| s.quant.granularity = Granularity::PerChannel),
            with(|s| s.quant.rounding = Rounding::Stochastic),
            with(|s| s.quant.calibration = Calibration::Percentile),
            with(|s| s.quant.calibration = Calibration::Sigma),
            with(|s| s.quant.format = "nf4".parse().unwrap()),
            with(|s| s.quant.scheme = Scheme::Manual),
        ]
    }

    /// A key press that changes the row's value, or (for the rows that are
    /// typed, not stepped) typed text.
    fn change(c: Control, base: &Settings) -> Settings {
        let typed = [(Control::Source, "model.npy"), (Control::Tensor, "layer.weight")];
        for steps in [1, -1] {
            let mut s = base.clone();
            if c.adjust(&mut s, steps, false, Context::default()).is_ok()
                && c.value(&s, Context::default()) != c.value(base, Context::default())
            {
                return s;
            }
        }
        let (_, text) =
            typed.iter().find(|(t, _)| *t == c).unwrap_or_else(|| panic!("{c:?} neither steps nor is typed here"));
        let mut s = base.clone();
        c.set(&mut s, text, Context::default()).unwrap();
        s
    }

    /// The table is the one description of each control: every row but the
    /// Formats pane's is shown somewhere; a key press (or typed text)
    /// changes its value and its settings key alone, as the settings file
    /// names it; its edit text types back to the same settings; and a reset
    /// restores the default.
    /// On rows of 10 values no block format applies: the key goes from
    /// int straight to fp8-e4m3 and back, never onto a refused format; with
    /// rows of 256 every format is a step away.
    #[test]
    fn the_format_key_skips_formats_the_tensor_refuses() {
        let s = Settings::default();
        let on = |shape: &'static [usize], steps: i32| {
            let mut t = s.clone();
            let ctx = Context { shape: Some(shape), ..Context::default() };
            Control::Format.adjust(&mut t, steps, false, ctx).map(|()| t.quant.format.name())
        };
        assert_eq!(on(&[1000, 10], 1), Ok("fp8-e4m3"));
        assert_eq!(on(&[1000, 10], -1), Ok("codebook"));
        assert_eq!(on(&[64, 256], 1), Ok("q8_0"));
        // Not loaded yet: nothing to refuse by.
        let mut t = s.clone();
        Control::Format.adjust(&mut t, 1, false, Context::default()).unwrap();
        assert_eq!(t.quant.format.name(), "q8_0");
    }

    #[test]
    fn every_row_edits_its_own_settings_key() {
        let ctx = Context::default();
        let bases = bases();
        let labels: std::collections::BTreeSet<&str> = QUANT_CONTROLS.iter().map(|r| r.label).collect();
        assert_eq!(labels.len(), QUANT_CONTROLS.len(), "labels name the controls, so they must differ");
        for c in QUANT_CONTROLS.iter().map(Control).filter(|&c| c != Control::FormatRow) {
            // Scale and clip are set in manual mode; elsewhere they are derived.
            let base = bases
                .iter()
                .find(|b| visible(b).contains(&c) && (!c.row().derived || b.quant.scheme == Scheme::Manual))
                .unwrap_or_else(|| panic!("{c:?} is never shown"));
            let changed = change(c, base);
            assert_ne!(c.value(&changed, ctx), c.value(base, ctx), "{c:?}");

            // Copying the row's key alone, through the settings file, gives the changed settings.
            let (section, field) = c.key().split_once('.').unwrap();
            let mut file = toml::Table::try_from(base).unwrap();
            let value = toml::Table::try_from(&changed).unwrap()[section][field].clone();
            file[section].as_table_mut().unwrap().insert(field.into(), value);
            let parsed = Settings::parse(&toml::to_string(&file).unwrap());
            assert_eq!(parsed.as_ref(), Ok(&changed), "{c:?}: {} is not the key it edits", c.key());

            let mut typed = changed.clone();
            c.set(&mut typed, &c.edit_text(&changed, ctx), ctx).unwrap();
            assert_eq!(typed, changed, "{c:?}: its edit text does not type back");

            let mut reset = changed.clone();
            c.reset(&mut reset, ctx);
            let mut expected = base.clone();
            if c == Control::Scale {
                // Manual scale resets to 2^bits levels across the clip.
                expected.quant.scale = (base.quant.clip[1] - base.quant.clip[0]) / 255.0;
            }
            assert_eq!(reset, expected, "{c:?}: reset");
        }
    }

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
        let err = |c: Control, s: &Settings, text: &str| {
            c.set(&mut s.clone(), text, Context::default()).unwrap_err().to_string()
        };
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
