//! The Checkpoint pane: one row per tensor of the checkpoint (its
//! statistics, each format's figures and the planner's pick, as `scan`
//! prints them), the model's totals per format beside the plan, and the
//! pictures: SQNR by layer, a histogram and the Pareto curve. With
//! `--against`, the comparison's table instead (`against.rs`).

mod against;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Cell, Chart, GraphType, Paragraph, Row, Table, TableState, Wrap,
};

use super::theme::theme;
use super::widgets::{
    Tick, chart_labels, content_widths, dataset, draw_chart, fitting_line, kept, panel, table_widths,
};
use crate::app::{App, CheckpointPane, Figure, HitMap, Mode, SortKey, layer_index, role};
use crate::compute::checkpoint::scan::{PlanReport, TensorScan};
use crate::format::{self, num};
use crate::keymap::{Action, hint};
use crate::panes::PANES;

/// Both the table and the pictures fit side by side from this width.
const SIDE_BY_SIDE: u16 = 200;

pub fn draw(frame: &mut Frame, app: &App, area: Rect, _hits: &mut HitMap) {
    let pane = &app.checkpoint;
    if pane.path.is_none() {
        let text = "No checkpoint open: start with qmc-tui --checkpoint PATH (a .safetensors file, a folder, an index or a .gguf file), and add --against QUANTIZED to compare it with its quantized copy.";
        let widget = Paragraph::new(text).style(theme().muted).wrap(Wrap { trim: true }).block(panel("Checkpoint"));
        frame.render_widget(widget, area);
        return;
    }
    if let Some(error) = &pane.error {
        let widget = Paragraph::new(error.as_str()).style(theme().error).wrap(Wrap { trim: true });
        frame.render_widget(widget.block(panel("Checkpoint")), area);
        return;
    }
    let (table, pictures) = if area.width >= SIDE_BY_SIDE {
        let [left, right] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
        (Some(left), Some(right))
    } else if pane.pictures {
        (None, Some(area))
    } else {
        (Some(area), None)
    };
    match (&pane.against, table) {
        (Some(c), Some(area)) => against::draw_table_and_totals(frame, app, c, area),
        (None, Some(area)) => draw_table_and_totals(frame, app, area),
        (_, None) => {}
    }
    if let Some(area) = pictures {
        draw_pictures(frame, pane, area);
    }
}

fn draw_table_and_totals(frame: &mut Frame, app: &App, area: Rect) {
    let pane = &app.checkpoint;
    // A line per format and the plan's.
    let footer = pane.format_labels().len() as u16 + 3;
    let [table, totals] = Layout::vertical([Constraint::Min(0), Constraint::Length(footer)]).areas(area);
    draw_table(frame, app, table);
    draw_totals(frame, pane, totals);
}

/// A short tag per format for the column headers: A, B, C …
fn tag(f: usize) -> char {
    (b'A' + (f % 26) as u8) as char
}

fn header(pane: &CheckpointPane) -> Vec<String> {
    let mut titles: Vec<(String, Option<SortKey>)> = vec![
        ("name".into(), Some(SortKey::Name)),
        ("shape".into(), None),
        ("dtype".into(), None),
        ("params".into(), Some(SortKey::Params)),
        ("max/σ".into(), Some(SortKey::Peak)),
        ("kurt".into(), Some(SortKey::Kurtosis)),
        ("outl".into(), Some(SortKey::Outliers)),
        ("spread".into(), Some(SortKey::Spread)),
        ("plan".into(), None),
    ];
    for f in 0..pane.format_labels().len() {
        for fig in Figure::ALL {
            let title =
                if fig == Figure::Sqnr { format!("{} dB", tag(f)) } else { format!("{} {}", tag(f), fig.title()) };
            titles.push((title, Some(SortKey::Format(f, fig))));
        }
    }
    let mark = if pane.descending { "▼" } else { "▲" };
    titles.into_iter().map(|(t, key)| if key == Some(pane.sort) { format!("{t}{mark}") } else { t }).collect()
}

/// The cells of one row; a skipped tensor says so where its statistics go.
fn cells(t: &TensorScan, pane: &CheckpointPane, name_width: usize) -> Vec<String> {
    let formats = pane.format_labels().len();
    let mut out =
        vec![shorten_start(&t.name, name_width), format::shape(&t.shape), t.dtype.clone(), t.count.to_string()];
    let ratio = |v: Option<f64>| v.map_or("-".into(), num);
    match &t.stats {
        Some(s) => out.extend([
            ratio(s.peak_to_sigma),
            num(s.kurtosis),
            format::pct(s.outlier_ratio),
            ratio(s.channel_range_spread),
        ]),
        None => out.extend(["skipped".into(), "-".into(), "-".into(), "-".into()]),
    }
    out.push(planned_tag(pane, &t.name).map_or("-".into(), String::from));
    for f in 0..formats {
        match t.results.get(f).and_then(|r| r.figures.as_ref()) {
            Some(fig) => out.extend([
                fig.sqnr_db.map_or("inf".into(), |db| format!("{db:.2}")),
                num(fig.rel_rmse),
                num(fig.max_abs_error),
                num(fig.bpw),
            ]),
            // A format that cannot apply (or a skipped tensor): no figures.
            None => out.extend(std::iter::repeat_n(if t.skipped { "-" } else { "n/a" }.to_string(), 4)),
        }
    }
    out
}

/// `name` in at most `width` characters: whole, or its end (the role,
/// which tells a layer's tensors apart) after "…", with the layer index in
/// front when the cut took it (`3.…ntion.self.key.weight`): without it a
/// model's six `self.key` rows would look the same.
fn shorten_start(name: &str, width: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= width || width == 0 {
        return name.to_string();
    }
    let tail = |n: usize| chars[chars.len() - n.min(chars.len())..].iter().collect::<String>();
    if let Some(layer) = layer_index(name) {
        let head = format!("{layer}.…");
        let room = width.saturating_sub(head.chars().count());
        let kept = tail(width - 1);
        let index_kept = kept.starts_with(&format!("{layer}.")) || kept.contains(&format!(".{layer}."));
        if !index_kept && room >= 4 {
            return format!("{head}{}", tail(room));
        }
    }
    format!("…{}", tail(width - 1))
}

/// The tag of the format the plan gives a tensor.
fn planned_tag(pane: &CheckpointPane, name: &str) -> Option<char> {
    let format = pane.plan.as_ref()?.assignments.get(name)?;
    pane.format_labels().iter().position(|l| l == format).map(tag)
}

/// Narrow: the outlier share, each format's max|e|, its relative RMSE
/// (the SQNR says it too), the kurtosis, the spread, then the shape and
/// dtype go before a number would be cut; the plan's column stays.
fn drop_order(formats: usize) -> Vec<usize> {
    let figure = |fig: usize| (0..formats).map(move |f| FIRST_FIGURE + 4 * f + fig);
    let mut order = vec![6];
    order.extend(figure(2));
    order.extend(figure(1));
    order.extend([5, 7, 1, 2, 3, 4]);
    order.extend(figure(3));
    order
}

/// The first format's first column: after the name, shape, dtype, params,
/// four statistics and the plan.
const FIRST_FIGURE: usize = 9;

fn draw_table(frame: &mut Frame, app: &App, area: Rect) {
    let pane = &app.checkpoint;
    let formats = pane.format_labels().len();
    let order = pane.order();
    let name_width = if area.width >= 120 { 36 } else { 24 };
    let mut all = vec![header(pane)];
    all.extend(order.iter().map(|&i| cells(&pane.rows[i], pane, name_width)));
    let (widths, keep) = table_widths(area.width.saturating_sub(2), &content_widths(&all), &drop_order(formats));
    let rows = all[1..].iter().zip(&order).map(|(cells, &i)| {
        let row = Row::new(kept(cells.iter().cloned().map(Cell::from), &keep));
        if pane.rows[i].skipped { row.style(theme().muted) } else { row }
    });
    let head = Row::new(kept(all[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let title = table_title(app, order.len());
    let selected = (!order.is_empty()).then_some(pane.selected);
    let widget = Table::new(rows, widths).header(head).block(panel(&title)).row_highlight_style(theme().selected);
    frame.render_stateful_widget(widget, area, &mut TableState::default().with_selected(selected));
}

/// What the table shows: the progress or the count, the sort, the filter.
fn table_title(app: &App, shown: usize) -> String {
    let pane = &app.checkpoint;
    let progress = if pane.done() {
        format!("{} tensors", pane.rows.len())
    } else if pane.total == 0 {
        "opening ...".to_string()
    } else {
        format!("{} of {} scanned ...", pane.rows.len(), pane.total)
    };
    let filter = match (&app.mode, pane.filter.is_empty()) {
        (Mode::FilterTensors, _) => format!(", filter /{}▏", pane.filter),
        (_, false) => format!(", {shown} match {}", pane.filter),
        _ => String::new(),
    };
    let sort = pane.sort.title(&pane.format_labels());
    format!("Tensors ({progress}{filter}, by {sort})")
}

/// The model's figures per format, from the scan's totals, and the plan's beneath.
fn draw_totals(frame: &mut Frame, pane: &CheckpointPane, area: Rect) {
    let labels = pane.format_labels();
    let mut lines: Vec<Line> = match &pane.scan {
        Some(scan) => scan
            .totals
            .iter()
            .enumerate()
            .map(|(f, t)| {
                let sqnr = t.sqnr_db.map_or("inf dB".into(), format::db);
                let text = format!(
                    "{} {}: {}, {} bpw, {sqnr} over {}",
                    tag(f),
                    t.format,
                    format::megabytes(t.bytes),
                    num(t.bpw),
                    format::plural(t.tensors, "tensor")
                );
                Line::styled(text, theme().value)
            })
            .collect(),
        None => labels
            .iter()
            .enumerate()
            .map(|(f, l)| Line::styled(format!("{} {l}: totals when the scan is done", tag(f)), theme().muted))
            .collect(),
    };
    lines.push(plan_line(pane, area.width.saturating_sub(2)));
    frame.render_widget(Paragraph::new(lines).block(panel("Whole model and the plan")), area);
}

/// The plan within the budget, as `scan --budget-bpw` prints it, said
/// shorter where it does not fit.
fn plan_line(pane: &CheckpointPane, width: u16) -> Line<'static> {
    let keys = format!("{}{}", hint(Action::Decrease), hint(Action::Increase));
    let (Some(plan), Some(budget)) = (&pane.plan, pane.budget) else {
        let text = match &pane.plan_error {
            Some(e) => format!("plan: {e}"),
            None => "plan: when the scan is done".into(),
        };
        return Line::styled(text, theme().muted);
    };
    let sqnr = plan.sqnr_db.map_or("inf dB".into(), format::db);
    // In MB, the unit `--budget-mb` takes, so the figure can be typed back.
    let figures = format!("{}, {} bpw, {sqnr}", format::megabytes(plan.bytes), num(plan.bpw));
    let head = format!("plan ≤ {} bpw: ", num(budget));
    let counts = assignment_counts(pane, plan);
    let variants = [
        format!("{head}{figures} ({counts})   {keys} budget"),
        format!("{head}{figures} ({counts})"),
        format!("{head}{figures}"),
    ];
    fitting_line(width, variants.into_iter().map(|t| Line::styled(t, theme().optimum)).collect())
}

/// "A 2, B 2": how many tensors the plan gives each format.
fn assignment_counts(pane: &CheckpointPane, plan: &PlanReport) -> String {
    let labels = pane.format_labels();
    let count = |l: &String| plan.assignments.values().filter(|f| *f == l).count();
    let parts: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(f, l)| (tag(f), count(l)))
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    parts.join(", ")
}

/// The status line while the formats are typed, as a control's typed value is.
pub fn formats_input(text: &str, selected: bool) -> Line<'static> {
    let text_style = if selected { theme().value.add_modifier(Modifier::REVERSED) } else { theme().value };
    Line::from(vec![
        Span::styled(" formats = ", theme().label),
        Span::styled(text.to_string(), text_style),
        Span::styled("▏", theme().value),
        Span::styled("   Enter re-scan · Esc cancel · Ctrl-U clear", theme().muted),
    ])
}

/// The pane's keys for the hint line, least used first (they give way
/// first); with `--against` there is no budget nor formats to change.
pub fn key_hints(pane: &CheckpointPane) -> Vec<(String, &'static str)> {
    let mut pairs =
        vec![(format!("{}{}", hint(Action::Up), hint(Action::Down)), "select"), (hint(Action::Edit), "open")];
    let entry = PANES.iter().find(|p| p.scope == crate::keymap::Scope::Checkpoint);
    let hints = entry.into_iter().flat_map(|p| p.hints);
    let planning = pane.against.is_none();
    pairs.extend(hints.filter(|(a, _)| planning || *a != Action::ChooseFormats).map(|&(a, what)| (hint(a), what)));
    if planning {
        pairs.push((format!("{}{}", hint(Action::Decrease), hint(Action::Increase)), "budget"));
    }
    pairs
}

/// The format the pictures show: the one sorted by, else the first.
fn pictured_format(pane: &CheckpointPane) -> usize {
    match pane.sort {
        SortKey::Format(f, _) => f,
        _ => 0,
    }
}

fn draw_pictures(frame: &mut Frame, pane: &CheckpointPane, area: Rect) {
    let [top, bottom] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let [bottom, pareto] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    let (sqnrs, label) = match &pane.against {
        Some(c) => {
            against::draw_pareto(frame, c, pareto);
            (against::sqnrs(c), against::label(c))
        }
        None => {
            draw_pareto(frame, pane, pareto);
            let f = pictured_format(pane);
            let label = pane.format_labels().get(f).cloned().unwrap_or_default();
            let sqnrs: Vec<(&str, f64)> = pane
                .rows
                .iter()
                .filter_map(|t| t.results.get(f)?.figures.as_ref()?.sqnr_db.map(|db| (t.name.as_str(), db)))
                .collect();
            (sqnrs, label)
        }
    };
    if sqnrs.is_empty() {
        let widget = Paragraph::new("no SQNR measured yet").style(theme().muted).block(panel("SQNR by layer"));
        frame.render_widget(widget, area);
        return;
    }
    draw_by_layer(frame, &sqnrs, &label, top);
    draw_histogram(frame, &sqnrs, &label, bottom);
}

/// The styles the roles' series cycle through; each also has its own glyph.
fn series_styles() -> [Style; 6] {
    let t = theme();
    [t.curve, t.optimum, t.current, t.levels, t.clipped, t.weights]
}

/// Each role's marker and its glyph in the legend, so a monochrome terminal tells them apart.
const MARKERS: [(Marker, &str); 5] =
    [(Marker::Braille, "⣿"), (Marker::Dot, "•"), (Marker::Block, "█"), (Marker::HalfBlock, "▀"), (Marker::Bar, "▄")];

/// SQNR against the layer index, one series per role.
fn draw_by_layer(frame: &mut Frame, sqnrs: &[(&str, f64)], label: &str, area: Rect) {
    let mut roles: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for (name, db) in sqnrs {
        let Some(layer) = layer_index(name) else { continue };
        let r = role(name);
        match roles.iter_mut().find(|(name, _)| *name == r) {
            Some((_, points)) => points.push((layer as f64, *db)),
            None => roles.push((r, vec![(layer as f64, *db)])),
        }
    }
    roles.iter_mut().for_each(|(_, p)| p.sort_by(|a, b| a.0.total_cmp(&b.0)));
    let title = format!("SQNR (dB) of {label} by layer");
    if roles.is_empty() {
        let text = "no layer index in the names (layers.N., h.N., blk.N.)";
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel(&title)), area);
        return;
    }
    let styles = series_styles();
    let datasets = roles
        .iter()
        .enumerate()
        .map(|(i, (name, points))| {
            let marker = MARKERS[i % MARKERS.len()].0;
            dataset(name.to_string(), marker, GraphType::Line, styles[i % styles.len()], points)
        })
        .collect();
    let legend: Vec<Span<'static>> = roles
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            Span::styled(format!("{} {name}", MARKERS[i % MARKERS.len()].1), styles[i % styles.len()])
        })
        .collect();
    let points = roles.iter().flat_map(|(_, p)| p);
    let (xmax, ymin, ymax) =
        points.fold((0f64, f64::INFINITY, f64::NEG_INFINITY), |(x, lo, hi), p| (x.max(p.0), lo.min(p.1), hi.max(p.1)));
    let (ymin, ymax) = ((ymin - 1.0).floor(), (ymax + 1.0).ceil());
    let xmax = xmax.max(1.0);
    // A middle label only where it is a layer of its own.
    let mut x_ticks = vec![Tick::Text("0".into()), Tick::Count(xmax as u64)];
    if xmax >= 4.0 {
        x_ticks.insert(1, Tick::Count((xmax / 2.0).round() as u64));
    }
    let (x_labels, y_labels) = chart_labels(
        area.width.saturating_sub(2),
        &x_ticks,
        &[Tick::Text(format!("{ymin:.0}")), Tick::Text(format!("{ymax:.0}"))],
    );
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([0.0, xmax]).labels(x_labels).style(theme().muted))
        .y_axis(Axis::default().bounds([ymin, ymax]).labels(y_labels).style(theme().muted))
        .legend_position(None);
    draw_chart(frame, chart, &title, &legend, area);
}

/// How many tensors fall in each band of SQNR, a bar per band of whole dB.
fn draw_histogram(frame: &mut Frame, sqnrs: &[(&str, f64)], label: &str, area: Rect) {
    let (lo, hi) = sqnrs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, db)| (a.min(*db), b.max(*db)));
    // Bars of at least 5 columns each, at most 12 of them, a whole number of dB wide.
    let bars = ((area.width.saturating_sub(2) / 6) as usize).clamp(1, 12);
    let start = lo.floor();
    let step = ((hi - start) / bars as f64).ceil().max(1.0);
    let mut counts = vec![0u64; bars];
    for (_, db) in sqnrs {
        counts[(((db - start) / step) as usize).min(bars - 1)] += 1;
    }
    let group: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let from = start + step * i as f64;
            Bar::default().value(n).label(Line::from(format!("{from:.0}"))).style(theme().curve)
        })
        .collect();
    let width = (area.width.saturating_sub(2) / bars as u16).saturating_sub(1).max(1);
    // The longest title that fits the border, never a cut one.
    let room = usize::from(area.width.saturating_sub(4));
    let titles = [
        format!("Tensors by SQNR of {label} (dB, bands of {step:.0})"),
        format!("Tensors by SQNR (dB, bands of {step:.0})"),
        format!("SQNR (dB, bands of {step:.0})"),
    ];
    let title = titles.iter().find(|t| t.chars().count() <= room).unwrap_or(&titles[2]);
    let chart =
        BarChart::default().data(BarGroup::default().bars(&group)).bar_width(width).bar_gap(1).block(panel(title));
    frame.render_widget(chart, area);
}

/// Model SQNR against bpw: the uniform candidates as points, the plans'
/// curve between them and the current plan marked.
fn draw_pareto(frame: &mut Frame, pane: &CheckpointPane, area: Rect) {
    let uniform: Vec<(f64, f64)> = match &pane.scan {
        Some(scan) => scan.totals.iter().filter_map(|t| Some((t.bpw, t.sqnr_db?))).collect(),
        None => Vec::new(),
    };
    let current: Vec<(f64, f64)> = pane.plan.iter().filter_map(|p| Some((p.bpw, p.sqnr_db?))).collect();
    let t = theme();
    let sets = [
        Points {
            name: "⣿ plans",
            marker: Marker::Braille,
            kind: GraphType::Line,
            style: t.curve,
            data: &pane.frontier,
        },
        Points { name: "• uniform", marker: Marker::Dot, kind: GraphType::Scatter, style: t.levels, data: &uniform },
        Points {
            name: "█ this plan",
            marker: Marker::Block,
            kind: GraphType::Scatter,
            style: t.optimum,
            data: &current,
        },
    ];
    let empty = "the candidates' figures when the scan is done";
    draw_points(frame, area, "Model SQNR (dB) against bpw", &sets, empty);
}

/// A series of a points picture: its legend (glyph first), look and points.
struct Points<'a> {
    name: &'static str,
    marker: Marker,
    kind: GraphType,
    style: Style,
    data: &'a [(f64, f64)],
}

/// `sets` on axes around all their points (bpw across, dB up); `empty` says
/// why there is nothing yet when no set has a point.
fn draw_points(frame: &mut Frame, area: Rect, title: &str, sets: &[Points], empty: &str) {
    if sets.iter().all(|s| s.data.is_empty()) {
        frame.render_widget(Paragraph::new(empty.to_string()).style(theme().muted).block(panel(title)), area);
        return;
    }
    let all = sets.iter().flat_map(|s| s.data);
    let (xlo, xhi, ylo, yhi) = all
        .fold((f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY), |b, p| {
            (b.0.min(p.0), b.1.max(p.0), b.2.min(p.1), b.3.max(p.1))
        });
    let (xlo, xhi) = ((xlo - 0.5).max(0.0).floor(), (xhi + 0.5).ceil());
    let (ylo, yhi) = ((ylo - 1.0).floor(), (yhi + 1.0).ceil());
    let datasets = sets.iter().map(|s| dataset(s.name.into(), s.marker, s.kind, s.style, s.data)).collect();
    let legend: Vec<Span<'static>> = sets.iter().map(|s| Span::styled(s.name, s.style)).collect();
    let (x_labels, y_labels) = chart_labels(
        area.width.saturating_sub(2),
        &[Tick::Num(xlo), Tick::Num(xhi)],
        &[Tick::Text(format!("{ylo:.0}")), Tick::Text(format!("{yhi:.0}"))],
    );
    let t = theme();
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([xlo, xhi]).labels(x_labels).style(t.muted))
        .y_axis(Axis::default().bounds([ylo, yhi]).labels(y_labels).style(t.muted))
        .legend_position(None);
    draw_chart(frame, chart, title, &legend, area);
}

#[cfg(test)]
mod tests {
    use super::shorten_start;

    #[test]
    fn a_cut_name_keeps_its_layer_index() {
        let name = "encoder.layer.3.attention.self.key.weight";
        assert_eq!(shorten_start(name, 60), name);
        let short = shorten_start(name, 24);
        assert_eq!(short, "3.…ntion.self.key.weight");
        assert_eq!(short.chars().count(), 24);
        // The index survives the plain cut: nothing is added.
        assert_eq!(shorten_start("model.layers.10.mlp.up.weight", 24), "…layers.10.mlp.up.weight");
        // No layer index: the end only.
        assert_eq!(shorten_start("embeddings.token_type_embeddings.weight", 24), "…_type_embeddings.weight");
    }
}
