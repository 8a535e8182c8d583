//! The Ensemble pane: controls, the members table, accuracy gauges, the
//! confusion matrix, member accuracies beside the ensemble's, and diversity.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Cell, Gauge, Paragraph, Row, Table, TableState, Wrap};

use super::quant::draw_controls;
use super::theme::theme;
use super::widgets::{
    columns, content_widths, controls_height, field, fitting_line, fitting_title, kept, panel, shorten_middle,
    table_widths,
};
use crate::app::{App, DiversityMatrix, EnsembleLower, HitMap, Target};
use crate::compute::ensemble::{EnsembleReport, Fusion};
use crate::format::{self, num};
use crate::worker::EnsembleView;

/// The members table: its rows, a header and the border, within limits.
fn members_height(members: usize) -> u16 {
    (members as u16 + 3).clamp(4, 14)
}

/// Rows the left column keeps for the data panel below the controls.
const RESERVED_ROWS: u16 = 8;

/// The disagreement matrix shows at most this many members.
const MATRIX_MEMBERS: u16 = 7;

pub fn draw(frame: &mut Frame, app: &App, area: Rect, hits: &mut HitMap) {
    let [left, right] = columns(area);
    let controls = app.controls();
    let controls_height = controls_height(controls.len(), left, RESERVED_ROWS);
    let members = app.ensemble.as_ref().map_or(0, |e| e.report.members.len()) as u16;
    let diversity_height = if members > 1 { members.min(MATRIX_MEMBERS) + 3 } else { 0 };
    let [controls_area, data_area, diversity_area, notes_area] = Layout::vertical([
        Constraint::Length(controls_height),
        Constraint::Length(6),
        Constraint::Length(diversity_height),
        Constraint::Min(0),
    ])
    .areas(left);
    draw_controls(frame, app, &controls, "Ensemble", controls_area, hits);
    let Some(view) = &app.ensemble else {
        let text = if app.busy() { "training the members ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Result")), right);
        return;
    };
    let r = &view.report;
    draw_data(frame, view, data_area);
    if r.members.len() > 1 {
        draw_diversity(frame, r, app.diversity, diversity_area);
    }
    draw_notes(frame, r, notes_area);
    if r.no_members {
        draw_no_members(frame, right, "press a to add one");
        return;
    }
    let members_height = members_height(r.members.len());
    let [members_area, gauges_area, scores_area, bottom] = Layout::vertical([
        Constraint::Length(members_height),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Min(0),
    ])
    .areas(right);
    hits.add_rows(members_area, 1, app.member, r.members.len(), Target::Member);
    draw_members(frame, app, r, members_area);
    draw_gauges(frame, view, gauges_area);
    draw_scores(frame, r, scores_area);
    match app.ensemble_lower {
        EnsembleLower::Confusion => {}
        EnsembleLower::Reliability => return draw_reliability(frame, r, bottom),
        EnsembleLower::Quality => return draw_quality(frame, r, bottom),
    }
    let [confusion_area, bars_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    // A matrix too wide for its share takes the whole row: the bars repeat the members table.
    if Confusion::of(r, confusion_area).fits() {
        draw_confusion(frame, r, confusion_area);
        draw_bars(frame, r, bars_area);
    } else {
        draw_confusion(frame, r, bottom);
    }
}

/// A file name shortened below this many characters says nothing: it goes.
const MIN_NAME: usize = 12;

fn draw_data(frame: &mut Frame, view: &EnsembleView, area: Rect) {
    let d = &view.data;
    const W: usize = 9;
    let room = area.width.saturating_sub(2);
    let folds = view.settings.data.folds;
    let trained =
        if view.trained == 0 { "nothing: every member cached".into() } else { format::plural(view.trained, "member") };
    let counts = format!("{} rows × {} features", d.rows, d.features);
    // The counts come first: a long path loses its middle, then goes.
    let file = std::path::Path::new(&d.source).file_name().map_or(d.source.clone(), |f| f.to_string_lossy().into());
    let file_room = (room as usize).saturating_sub(W + counts.chars().count() + 2);
    let lines = vec![
        fitting_line(
            room,
            vec![
                field("data", W, format!("{} ({counts})", d.source)),
                field("data", W, format!("{counts}, {}", d.source)),
                field("data", W, format!("{counts}, {}", shorten_middle(&file, file_room.max(MIN_NAME)))),
                field("data", W, counts),
            ],
        ),
        fitting_line(
            room,
            vec![
                field("classes", W, d.class_names.join(", ")),
                field("classes", W, format!("{} of them", d.class_names.len())),
            ],
        ),
        fitting_line(
            room,
            vec![
                field("split", W, format!("{} train / {} test, {folds}-fold cv", d.train_rows, d.test_rows)),
                field("split", W, format!("{} train / {} test, {folds} folds", d.train_rows, d.test_rows)),
                field("split", W, format!("{}/{}, {folds} folds", d.train_rows, d.test_rows)),
            ],
        ),
        field("trained", W, trained),
    ];
    frame.render_widget(Paragraph::new(lines).block(panel("Data")), area);
}

/// A pairwise diversity matrix (`m` picks which): disagreement on the test
/// rows, double fault and Q on the out-of-fold rows. Members that never
/// disagree add nothing to a vote. The first `MATRIX_MEMBERS` members are shown.
fn draw_diversity(frame: &mut Frame, r: &EnsembleReport, which: DiversityMatrix, area: Rect) {
    let n = r.members.len().min(MATRIX_MEMBERS as usize);
    let cell = |i: usize, j: usize| -> String {
        match which {
            DiversityMatrix::Disagreement if i == j => "·".into(),
            DiversityMatrix::Disagreement => format!("{:.0}%", 100.0 * r.disagreement[i][j]),
            DiversityMatrix::DoubleFault => format!("{:.0}%", 100.0 * r.double_fault[i][j]),
            DiversityMatrix::Q if i == j => "·".into(),
            DiversityMatrix::Q => r.q_statistic[i][j].map_or("-".into(), |q| format!("{q:+.2}")),
        }
    };
    let mut header = vec![Cell::from("")];
    header.extend((0..n).map(|j| Cell::from(format!("#{}", j + 1))));
    let rows = (0..n).map(|i| {
        let mut cells = vec![Cell::from(format!("#{}", i + 1))];
        cells.extend((0..n).map(|j| Cell::from(cell(i, j))));
        Row::new(cells)
    });
    let widths = vec![Constraint::Length(5); n + 1];
    let titles = match which {
        DiversityMatrix::Disagreement => {
            let mean = format::pct(r.mean_disagreement.unwrap_or_default());
            [format!("Disagreement (test), mean {mean}"), format!("Disagreement, mean {mean}")]
        }
        DiversityMatrix::DoubleFault => ["Double fault (cv): both wrong".into(), "Double fault (cv)".into()],
        DiversityMatrix::Q => ["Q statistic (cv), 1 = alike".into(), "Q statistic (cv)".into()],
    };
    let title = fitting_title(&titles.each_ref().map(String::as_str), area.width);
    let table = Table::new(rows, widths).header(Row::new(header).style(theme().header)).block(panel(title));
    frame.render_widget(table, area);
}

/// What the user must not miss: fallbacks, the wrong fusion, the meta-learner.
fn draw_notes(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let mut lines = Vec::new();
    if r.no_members {
        lines.push(Line::styled("⚠ no members: press a to add one", theme().warning));
    }
    if r.weights_fell_back {
        lines.push(Line::styled("⚠ every weight is 0: using equal weights", theme().warning));
    }
    if r.label_mean_invalid {
        lines.push(Line::styled(
            "⚠ label-mean averages class numbers (the seed's code): votes for 0 and 2 become 1. Not valid for class labels.",
            theme().warning,
        ));
        if let Some(soft) = r.soft_test_accuracy {
            lines.push(Line::styled(format!("  soft voting would score {}", format::pct(soft)), theme().note));
        }
    }
    for note in &r.notes {
        lines.push(Line::styled(format!("• {note}"), theme().note));
    }
    if let Some(influence) = &r.stacking_influence {
        let parts: Vec<String> =
            influence.iter().enumerate().map(|(i, v)| format!("#{} {}", i + 1, format::pct(*v))).collect();
        lines.push(Line::styled(format!("• meta-learner influence: {}", parts.join("  ")), theme().note));
    }
    if lines.is_empty() {
        lines.push(Line::styled("✓ nothing looks wrong", theme().info));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Notes")), area);
}

/// An empty ensemble has no figures to draw, only what to do about it.
pub fn draw_no_members(frame: &mut Frame, area: Rect, what_to_do: &str) {
    let text = Line::styled(format!("⚠ no members: {what_to_do}"), theme().warning);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).block(panel("Members (0)")), area);
}

fn draw_members(frame: &mut Frame, app: &App, r: &EnsembleReport, area: Rect) {
    let optimized = r.optimized_weights.as_deref();
    let share = if optimized.is_some() { "opt w" } else { "share" };
    let header = ["#", "kind", "trees", "depth", "weight", share, "test", "cv mean ± std"].map(String::from);
    let mut cells = vec![header.to_vec()];
    cells.extend(r.members.iter().enumerate().map(|(i, m)| {
        let marker = if i == app.member { "▶" } else { " " };
        // A column the member's kind does not read shows "-".
        let reads = |field: &str| m.kind.settings().contains(&field);
        let depth = if reads("max_depth") { format::depth(m.max_depth) } else { "-".to_string() };
        vec![
            format!("{marker}{}", i + 1),
            m.kind.to_string(),
            if reads("trees") { m.trees.to_string() } else { "-".into() },
            depth,
            num(m.weight),
            format::pct(optimized.and_then(|w| w.get(i).copied()).unwrap_or(m.normalized_weight)),
            format::pct(m.test_accuracy),
            format!("{} ±{}", format::pct(m.cv_accuracy_mean), format::pct(m.cv_accuracy_std)),
        ]
    }));
    // Narrow: the share, the depth, the weight go first (the controls show them).
    // Optimized weights are news: the raw weight goes before them.
    let drop_order: &[usize] = if optimized.is_some() { &[4, 3, 2, 5] } else { &[5, 3, 4, 2] };
    let (widths, keep) = table_widths(area.width.saturating_sub(2), &content_widths(&cells), drop_order);
    let rows = cells[1..].iter().enumerate().map(|(i, row)| {
        let row = Row::new(kept(row.iter().cloned().map(Cell::from), &keep));
        if i == app.member { row.style(theme().selected) } else { row }
    });
    let header = Row::new(kept(cells[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let (long, short) = if optimized.is_some() { (", optimized weights", ", opt. w") } else { ("", "") };
    let titles = [long, short].map(|w| format!("Members ({}), fusion {}{w}", r.members.len(), r.fusion));
    let title = fitting_title(&titles.each_ref().map(String::as_str), area.width).to_string();
    // The table state scrolls the selected member into view.
    let mut state = TableState::default().with_selected(Some(app.member));
    frame.render_stateful_widget(Table::new(rows, widths).header(header).block(panel(&title)), area, &mut state);
}

fn draw_gauges(frame: &mut Frame, view: &EnsembleView, area: Rect) {
    let r = &view.report;
    let (Some(test), Some(cv), Some(cv_std)) = (r.test_accuracy, r.cv_accuracy_mean, r.cv_accuracy_std) else { return };
    let [test_area, cv_area] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let correct = (test * view.data.test_rows as f64).round() as usize;
    let (test_pct, cv_pct, std_pct) = (format::pct(test), format::pct(cv), format::pct(cv_std));
    let room = test_area.width.saturating_sub(2);
    let test_label = fitting_line(
        room,
        vec![
            Line::raw(format!("test {test_pct} ({correct}/{})", view.data.test_rows)),
            Line::raw(format!("{test_pct} ({correct}/{})", view.data.test_rows)),
            Line::raw(test_pct),
        ],
    );
    let cv_label = fitting_line(
        room,
        vec![
            Line::raw(format!("cv {cv_pct} ± {std_pct}")),
            Line::raw(format!("{cv_pct} ± {std_pct}")),
            Line::raw(cv_pct),
        ],
    );
    // Optimized weights: the optimistic in-sample figure stands beside the per-fold one, labelled.
    let cv_title = match r.optimized_in_sample_cv_accuracy.map(format::pct) {
        Some(ins) => {
            [format!("Cross-validated, in-sample {ins}"), format!("CV, in-sample {ins}"), format!("in-sample {ins}")]
        }
        None => ["Cross-validated".to_string(), "Cross-validated".to_string(), "Cross-validated".to_string()],
    };
    let cv_title = fitting_title(&cv_title.each_ref().map(String::as_str), cv_area.width);
    fn gauge<'a>(label: Line<'static>, ratio: f64, title: &'a str) -> Gauge<'a> {
        Gauge::default()
            .block(panel(title))
            .gauge_style(theme().weights)
            .ratio(ratio.clamp(0.0, 1.0))
            .label(Span::raw(label.to_string()))
    }
    frame.render_widget(gauge(test_label, test, "Test accuracy"), test_area);
    frame.render_widget(gauge(cv_label, cv, cv_title), cv_area);
}

fn draw_scores(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let (Some(precision), Some(recall), Some(f1), Some(gain), Some(best)) =
        (r.precision_macro, r.recall_macro, r.f1_macro, r.gain, r.best_member_test_accuracy)
    else {
        return;
    };
    let gain = 100.0 * gain;
    let gain_style = if gain > 0.0 {
        theme().info
    } else if gain < 0.0 {
        theme().warning
    } else {
        theme().value
    };
    let scores = |names: [&'static str; 3]| {
        Line::from(vec![
            Span::styled(names[0], theme().label),
            Span::styled(format!("{precision:.3}"), theme().value),
            Span::styled(names[1], theme().label),
            Span::styled(format!("{recall:.3}"), theme().value),
            Span::styled(names[2], theme().label),
            Span::styled(format!("{f1:.3}"), theme().value),
        ])
    };
    let gains = |names: [&'static str; 2], unit: &str| {
        Line::from(vec![
            Span::styled(names[0], theme().label),
            Span::styled(format!("{gain:+.2} {unit}"), gain_style),
            Span::styled(format!("{}{})", names[1], format::pct(best)), theme().label),
        ])
    };
    let room = area.width.saturating_sub(2);
    let lines = vec![
        fitting_line(
            room,
            vec![
                scores(["macro precision ", "  recall ", "  F1 "]),
                scores(["macro P ", "  R ", "  F1 "]),
                scores(["P ", " R ", " F1 "]),
            ],
        ),
        fitting_line(
            room,
            vec![
                gains(["gain over the best member ", "   (best member "], "points"),
                gains(["gain ", " (best member "], "points"),
                gains(["gain ", " (best "], "pts"),
            ],
        ),
    ];
    let mut lines = lines;
    lines.push(reference_line(r, room));
    lines.push(quality_line(r.log_loss, r.brier, r.ece, room));
    let title = fitting_title(&["Scores (test split; last two lines cv)", "Scores (test; cv below)"], area.width);
    frame.render_widget(Paragraph::new(lines).block(panel(title)), area);
}

/// The CV reference lines: the ensemble against its best member and the oracle.
fn reference_line(r: &EnsembleReport, room: u16) -> Line<'static> {
    let (Some(ens), Some(best), Some(oracle)) = (r.cv_accuracy_mean, r.best_member_accuracy, r.oracle_accuracy) else {
        return Line::raw("");
    };
    let (ens, best, oracle) = (format::pct(ens), format::pct(best), format::pct(oracle));
    let in_sample = r.optimized_in_sample_cv_accuracy.map(format::pct);
    let mut variants = Vec::new();
    if let Some(ins) = &in_sample {
        variants.push(format!("cv {ens} (in-sample {ins})  best member {best}  oracle {oracle}"));
        variants.push(format!("cv {ens} (in-sample {ins}) best {best} oracle {oracle}"));
    }
    variants.push(format!("cv ensemble {ens}  best member {best}  oracle {oracle}"));
    variants.push(format!("cv {ens}  best member {best}  oracle {oracle}"));
    variants.push(format!("cv {ens} best {best} oracle {oracle}"));
    fitting_line(room, variants.into_iter().map(|t| Line::styled(t, theme().value)).collect())
}

/// Log loss, Brier and ECE of out-of-fold probabilities, or why there are none.
fn quality_line(log_loss: Option<f64>, brier: Option<f64>, ece: Option<f64>, room: u16) -> Line<'static> {
    let (Some(l), Some(b), Some(e)) = (log_loss, brier, ece) else {
        return fitting_line(
            room,
            vec![
                Line::styled("log loss, Brier, ECE: n/a (this fusion gives labels)", theme().muted),
                Line::styled("log loss: n/a (labels only)", theme().muted),
            ],
        );
    };
    fitting_line(
        room,
        vec![
            Line::raw(format!("log loss {l:.4}  Brier {b:.4}  ECE {e:.4}")),
            Line::raw(format!("LL {l:.3} Brier {b:.3} ECE {e:.3}")),
        ],
    )
}

/// The reliability diagram of the fused out-of-fold probabilities: one bar
/// per confidence bin, its height the bin's accuracy (a calibrated ensemble's
/// bars rise like the bins' confidences); the labels are the bins' upper ends.
fn draw_reliability(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let bins = r.reliability.len().max(1) as u16;
    let width = (area.width.saturating_sub(2) / bins).saturating_sub(1).clamp(1, 5);
    // Bars narrower than "100" are labelled in tenths (1 … 10), and the title says so.
    let percent = width >= 3;
    let titles = if percent {
        ["Reliability (cv): accuracy per confidence bin", "Reliability (cv)"]
    } else {
        ["Reliability (cv): accuracy per confidence bin (tenths)", "Reliability (cv), bins in tenths"]
    };
    let title = fitting_title(&titles, area.width);
    if r.reliability.is_empty() {
        let text = "n/a: this fusion gives labels, not probabilities (v: next view)";
        frame.render_widget(
            Paragraph::new(text).style(theme().muted).wrap(Wrap { trim: true }).block(panel(title)),
            area,
        );
        return;
    }
    let bars: Vec<Bar> = r
        .reliability
        .iter()
        .map(|b| {
            let acc = b.accuracy.unwrap_or(0.0);
            let text = b.accuracy.map_or("·".to_string(), |a| format!("{:.0}", 100.0 * a));
            Bar::default()
                .label(Line::from(format!("{:.0}", if percent { 100.0 } else { 10.0 } * b.upper)))
                .value((1000.0 * acc).round() as u64)
                .text_value(if text.len() as u16 <= width { text } else { String::new() })
                .style(theme().weights)
        })
        .collect();
    draw_permille_bars(frame, area, title, &bars, width);
}

/// Probability quality per member and for the ensemble (out-of-fold), each
/// member's leave-one-out contribution and its optimized weight.
fn draw_quality(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let header = ["#", "kind", "log loss", "Brier", "ECE", "contrib", "opt w"].map(String::from);
    let mut cells = vec![header.to_vec()];
    let optimized = r.optimized_weights.as_deref();
    cells.extend(r.members.iter().enumerate().map(|(i, m)| {
        vec![
            format!("{}", i + 1),
            m.kind.to_string(),
            format!("{:.4}", m.log_loss),
            format!("{:.4}", m.brier),
            format!("{:.4}", m.ece),
            m.contribution.map_or("-".into(), |c| format!("{:+.2}", 100.0 * c)),
            optimized.and_then(|w| w.get(i)).map_or("-".into(), |w| format::pct(*w)),
        ]
    }));
    let na = || "n/a".to_string();
    cells.push(vec![
        "ens".into(),
        r.fusion.to_string(),
        r.log_loss.map_or_else(na, |v| format!("{v:.4}")),
        r.brier.map_or_else(na, |v| format!("{v:.4}")),
        r.ece.map_or_else(na, |v| format!("{v:.4}")),
        String::new(),
        String::new(),
    ]);
    // Narrow: the kind goes first, then the contribution or, when there are
    // none, the optimized weights' empty column.
    let drop_order: &[usize] = if optimized.is_some() { &[1, 5, 6] } else { &[1, 6, 5] };
    let (widths, keep) = table_widths(area.width.saturating_sub(2), &content_widths(&cells), drop_order);
    let rows = cells[1..].iter().map(|row| Row::new(kept(row.iter().cloned().map(Cell::from), &keep)));
    let header = Row::new(kept(cells[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let title = fitting_title(&["Probabilities (cv), contribution in points", "Probabilities (cv)"], area.width);
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(title)), area);
}

/// How a confusion matrix is laid out in an area: every count whole (the
/// diagonal in brackets, not only by colour), class names shortened to the
/// columns, or class numbers when shortened names would read alike.
struct Confusion {
    /// Width of a count column; the row names take what is left.
    width: usize,
    name_width: usize,
    headers: Vec<String>,
    rows_needed: usize,
    room: (usize, usize),
}

impl Confusion {
    fn of(r: &EnsembleReport, area: Rect) -> Confusion {
        let classes = r.class_names.len();
        let room = (area.width.saturating_sub(2) as usize, area.height.saturating_sub(3) as usize);
        let widest_count = r.confusion.iter().flatten().map(|n| n.to_string().len()).max().unwrap_or(1);
        let longest_name = r.class_names.iter().map(|n| n.chars().count()).max().unwrap_or(1);
        // Columns as wide as the longest name when there is room, never narrower than "[count]".
        let even = (room.0 / (classes + 1)).saturating_sub(1);
        let width = (widest_count + 2).max(longest_name.min(even)).max(3);
        let short: Vec<String> = r.class_names.iter().map(|n| n.chars().take(width).collect()).collect();
        let unique = short.iter().collect::<std::collections::HashSet<_>>().len() == classes;
        let headers = if unique { short } else { (0..classes).map(|k| format!("#{k}")).collect() };
        let name_width = room.0.saturating_sub(classes * (width + 1)).min(longest_name + 4).max(width);
        Confusion { width, name_width, headers, rows_needed: classes, room }
    }

    fn fits(&self) -> bool {
        self.name_width + self.headers.len() * (self.width + 1) <= self.room.0 && self.rows_needed <= self.room.1
    }
}

fn draw_confusion(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let layout = Confusion::of(r, area);
    let classes = r.class_names.len();
    if !layout.fits() {
        let need = format!(
            "{classes} classes need {}×{} cells here; enlarge the terminal (qmc-tui report prints the matrix)",
            classes * (layout.width + 1) + layout.width + 2,
            classes + 3
        );
        frame.render_widget(
            Paragraph::new(need).style(theme().muted).wrap(Wrap { trim: true }).block(panel("Confusion (test)")),
            area,
        );
        return;
    }
    let numbered = layout.headers.first().is_some_and(|h| h == "#0");
    let row_name = |k: usize| {
        let name = if numbered { format!("#{k} {}", r.class_names[k]) } else { r.class_names[k].clone() };
        name.chars().take(layout.name_width).collect::<String>()
    };
    let mut header = vec![Cell::from("true→pred")];
    header.extend(layout.headers.iter().map(|h| Cell::from(h.clone())));
    let rows = r.confusion.iter().enumerate().map(|(i, row)| {
        let mut cells = vec![Cell::from(row_name(i))];
        cells.extend(
            row.iter()
                .enumerate()
                .map(|(j, &n)| if i == j { Cell::from(format!("[{n}]")).bold() } else { Cell::from(n.to_string()) }),
        );
        Row::new(cells)
    });
    let mut widths = vec![Constraint::Length(layout.name_width as u16)];
    widths.extend(vec![Constraint::Length(layout.width as u16); classes]);
    let table =
        Table::new(rows, widths).header(Row::new(header).style(theme().header)).block(panel("Confusion (test)"));
    frame.render_widget(table, area);
}

/// The bars start at 0%, so their heights compare as the accuracies do; each
/// bar is labelled with its value, written shorter when the bar is narrow.
fn draw_bars(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let Some(ensemble) = r.test_accuracy else { return };
    let count = r.members.len() as u16 + 1;
    let width = (area.width.saturating_sub(2) / count).saturating_sub(1).clamp(3, 9);
    let bar = |label: String, accuracy: f64, style| {
        Bar::default()
            .label(Line::from(label))
            .value((1000.0 * accuracy).round() as u64)
            .text_value(format::pct_within(accuracy, width as usize))
            .style(style)
    };
    let mut bars: Vec<Bar> = r
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| bar(format!("#{}", i + 1), m.test_accuracy, theme().weights))
        .collect();
    bars.push(bar("ens".into(), ensemble, theme().optimum));
    let what = if r.fusion == Fusion::LabelMean { " (ens: label-mean!)" } else { "" };
    let titles = [format!("Test accuracy, bars from 0%{what}"), format!("Test acc. from 0%{what}"), "from 0%".into()];
    let title = fitting_title(&titles.each_ref().map(String::as_str), area.width);
    draw_permille_bars(frame, area, title, &bars, width);
}

/// Bars of accuracies in permille (0 … 1000), `width` columns each, one apart.
fn draw_permille_bars(frame: &mut Frame, area: Rect, title: &str, bars: &[Bar], width: u16) {
    let chart = BarChart::default()
        .block(panel(title))
        .data(BarGroup::default().bars(bars))
        .bar_width(width)
        .bar_gap(1)
        .max(1000);
    frame.render_widget(chart, area);
}
