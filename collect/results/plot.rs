//! The plot: output tokens/s per GPU against output tokens/s per user, one panel per workload
//! shape, written as SVG by hand (every mark a `<g class="point">` with a `<title>` that a
//! browser shows on hover, which a plotting library's backend cannot attach).
//!
//! Each panel has: a title with the counts ([`super::summary::Counts`], the same as the
//! tables'), the shape and the SLO; axes from 0 with round ticks; the SLO's limits that are
//! axis quantities as dashed lines (`output_tps_per_user`, `output_tps_per_gpu`, and
//! `tpot_median_ms`, which is tokens/s per user in disguise); each sweep's frontier as a
//! line through its loads' means; every valid point with per-GPU figures as a mark (its
//! colour by `--color-by`, a parameter or the sweep; its shape by sweep when there are
//! several; hollow when it misses the SLO; ringed when its load is on the frontier);
//! points that would be drawn on the same spot spread around it (and say so); a label
//! beside each point where one fits (record index, or load); a legend on the right.

use super::analysis::{Analysis, Shape};
use super::best::PointAt;
use super::frontier::Limit;
use super::summary::{load_text, number, value_text, Counts};
use super::table::parameters;
use super::{Found, Point};
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use sweep::Record;

/// A panel's size, in pixels.
pub const WIDTH: f64 = 1000.0;
pub const HEIGHT: f64 = 620.0;
/// The plotting area.
const X0: f64 = 90.0;
const X1: f64 = 770.0;
const Y0: f64 = 78.0;
const Y1: f64 = 548.0;
const RADIUS: f64 = 5.0;
const LABEL_PX: f64 = 13.0;

/// Readable, distinct colours (Tableau 10), then a hue wheel for more groups.
const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// What colours the points.
#[derive(Clone, Debug, PartialEq)]
pub enum ColorBy {
    /// One colour (one sweep), or the sweep's colour (several).
    Default,
    /// A parameter, as `section.key`.
    Parameter(String),
    /// The sweep.
    Sweep,
}

/// What is written beside the points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PointLabels {
    // The record's index.
    Index,
    // The load (concurrency or request rate).
    Load,
    // Nothing.
    None,
}

/// How to draw.
pub struct Style<'a> {
    pub color_by: ColorBy,
    pub labels: PointLabels,
    pub slo: &'a [Limit],
}

/// The key `--color-by` names: `sweep`, or a parameter as `section.key`, given whole or as a
/// bare key found in one of the sections (slurm, sglang, prefill, decode).
pub fn color_by(records: &[Record], key: &str) -> Result<ColorBy> {
    let mut all: Vec<String> = Vec::new();
    for r in records {
        for (k, _) in parameters(r) {
            if !all.contains(&k) {
                all.push(k);
            }
        }
    }
    if all.iter().any(|k| k == key) {
        return Ok(ColorBy::Parameter(key.to_string()));
    }
    if key == "sweep" {
        return Ok(ColorBy::Sweep);
    }
    let suffix = format!(".{key}");
    match all.iter().find(|k| k.ends_with(&suffix)) {
        Some(k) => Ok(ColorBy::Parameter(k.clone())),
        None => Err(anyhow!(
            "--color-by: no record has a parameter {key:?} (parameters: {}; or 'sweep')",
            all.join(", ")
        )),
    }
}

/// The SVG file, written to `w`: every shape's panel, one below the other (each panel is made
/// and written in turn: a large sweep's plot is not held whole).
pub fn render(
    w: &mut dyn std::io::Write,
    records: &[Record],
    found: &[Found],
    a: &Analysis,
    style: &Style,
) -> std::io::Result<()> {
    let panels = a.shapes.len().max(1);
    let h = HEIGHT * panels as f64;
    writeln!(
        w,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" viewBox=\"0 0 {WIDTH} {h}\" font-family=\"sans-serif\">"
    )?;
    for i in 0..panels {
        writeln!(w, "<g transform=\"translate(0,{})\">", HEIGHT * i as f64)?;
        let p = if a.shapes.is_empty() {
            empty_panel(found)
        } else {
            panel(records, found, a, i, style)
        };
        w.write_all(p.as_bytes())?;
        w.write_all(b"</g>\n")?;
    }
    w.write_all(b"</svg>\n")
}

/// One shape's panel as a standalone `<svg>` element (for the report), written to `w`.
pub fn panel_svg(
    w: &mut dyn std::io::Write,
    records: &[Record],
    found: &[Found],
    a: &Analysis,
    shape: usize,
    style: &Style,
) -> std::io::Result<()> {
    writeln!(
        w,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" role=\"img\">"
    )?;
    w.write_all(panel(records, found, a, shape, style).as_bytes())?;
    w.write_all(b"</svg>\n")
}

fn empty_panel(found: &[Found]) -> String {
    let c = Counts::of(found);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n<text x=\"{}\" y=\"32\" font-size=\"18\" text-anchor=\"middle\">{}</text>\n<text x=\"{}\" y=\"{}\" font-size=\"20\" text-anchor=\"middle\">no valid points</text>",
        WIDTH / 2.0,
        esc(&format!("Pareto frontier: {}", c.frontier_phrase())),
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
    out
}

/// A point to draw.
struct Mark {
    at: PointAt,
    x: f64,
    /// Pixels.
    px: f64,
    py: f64,
    group: usize,
    sweep: usize,
    pareto: bool,
    misses_slo: bool,
    label: String,
}

/// Scales from data to pixels.
struct Axes {
    x_max: f64,
    y_max: f64,
}

impl Axes {
    fn px(&self, x: f64) -> f64 {
        X0 + (X1 - X0) * x / self.x_max
    }
    fn py(&self, y: f64) -> f64 {
        Y1 - (Y1 - Y0) * y / self.y_max
    }
}

fn panel(
    records: &[Record],
    found: &[Found],
    a: &Analysis,
    shape_i: usize,
    style: &Style,
) -> String {
    let shape = &a.shapes[shape_i];
    let several = a.sweeps.len() > 1;
    let point = |at: PointAt| &found[at.record].points[at.point];
    let placed = &a.placed[shape_i];
    // The parameters that differ between this shape's records, for the hover texts.
    let mut recs: Vec<usize> = placed.iter().map(|at| at.record).collect();
    recs.dedup();
    let swept = super::summary::varying(records, recs.iter().copied());
    // Colour groups.
    let mut groups: Vec<String> = Vec::new();
    let group_of = |r: &Record, groups: &mut Vec<String>| -> usize {
        let name = match &style.color_by {
            ColorBy::Default if several => a.sweeps.list[a.sweeps.of(r)].label.clone(),
            ColorBy::Default => String::new(),
            ColorBy::Sweep => a.sweeps.list[a.sweeps.of(r)].label.clone(),
            ColorBy::Parameter(k) => parameters(r)
                .into_iter()
                .find(|(n, _)| n == k)
                .map_or("(none)".to_string(), |(_, v)| value_text(&v)),
        };
        match groups.iter().position(|g| *g == name) {
            Some(i) => i,
            None => {
                groups.push(name);
                groups.len() - 1
            }
        }
    };
    let x_raw = placed
        .iter()
        .filter_map(|&at| point(at).output_tps_per_user)
        .fold(0.0, f64::max);
    let y_raw = placed
        .iter()
        .filter_map(|&at| point(at).output_tps_per_gpu)
        .fold(0.0, f64::max);
    // Limits drawn as lines also fit in the plot.
    let lines = slo_lines(style.slo);
    let x_lines = lines
        .iter()
        .filter(|l| l.vertical)
        .map(|l| l.at)
        .fold(0.0, f64::max);
    let y_lines = lines
        .iter()
        .filter(|l| !l.vertical)
        .map(|l| l.at)
        .fold(0.0, f64::max);
    let (x_max, x_step) = ticks(x_raw.max(x_lines) * 1.05);
    let (y_max, y_step) = ticks(y_raw.max(y_lines) * 1.08);
    let axes = Axes { x_max, y_max };
    let mut marks: Vec<Mark> = Vec::with_capacity(placed.len());
    for &at in placed {
        let p = point(at);
        let r = &records[at.record];
        let (Some(y), Some(x)) = (p.output_tps_per_gpu, p.output_tps_per_user) else {
            continue;
        };
        let group = group_of(r, &mut groups);
        let sweep = a.sweeps.of(r);
        let label = match style.labels {
            PointLabels::Index => r.index.to_string(),
            PointLabels::Load => load_text(shape.load(p)),
            PointLabels::None => String::new(),
        };
        marks.push(Mark {
            at,
            x,
            px: axes.px(x),
            py: axes.py(y),
            group,
            sweep,
            pareto: p.pareto,
            misses_slo: p.meets_slo == Some(false),
            label,
        });
    }
    sort_groups(&mut groups, &mut marks, &style.color_by, a);
    let apart = spread_coincident(&mut marks);
    let counts = Counts::of_group(records, found, a, shape_i, None);
    let mut out = String::with_capacity(400 * marks.len() + 8192);
    let _ = writeln!(
        out,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>"
    );
    // Title: the counts, then the shape and the SLO.
    let frontiers = if several {
        "Pareto frontiers"
    } else {
        "Pareto frontier"
    };
    let mut labels_say = String::new();
    if style.labels != PointLabels::None && !marks.is_empty() {
        labels_say = format!(
            " (labels: {})",
            match style.labels {
                PointLabels::Index => "record index",
                _ => shape.load_name(),
            }
        );
    }
    let _ = writeln!(
        out,
        "<text class=\"caption\" x=\"{}\" y=\"28\" font-size=\"18\" text-anchor=\"middle\">{}</text>",
        (X0 + X1) / 2.0,
        esc(&format!("{frontiers}: {}{labels_say}", counts.frontier_phrase()))
    );
    let mut sub = shape.label();
    if !style.slo.is_empty() {
        let l: Vec<String> = style.slo.iter().map(Limit::to_string).collect();
        sub.push_str(&format!("; SLO {}", l.join(", ")));
    }
    let _ = writeln!(
        out,
        "<text class=\"shape\" x=\"{}\" y=\"52\" font-size=\"14\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
        (X0 + X1) / 2.0,
        esc(&sub)
    );
    axes_svg(&mut out, &axes, x_step, y_step);
    // SLO lines.
    for l in &lines {
        let (x1, y1, x2, y2, tx, ty, anchor) = if l.vertical {
            let x = axes.px(l.at);
            (x, Y0, x, Y1, x + 4.0, Y0 + 14.0, "start")
        } else {
            let y = axes.py(l.at);
            (X0, y, X1, y, X1 - 4.0, y - 5.0, "end")
        };
        let _ = writeln!(
            out,
            "<g class=\"slo-line\"><title>{}</title><line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/><text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"12\" fill=\"#d62728\" text-anchor=\"{anchor}\">{}</text></g>",
            esc(&l.title),
            esc(&l.text)
        );
    }
    // Each sweep's frontier, through its loads' means.
    for sweep in 0..a.sweeps.len() {
        let f = a.frontier(shape_i, sweep);
        if f.is_empty() {
            continue;
        }
        let pts: Vec<String> = f
            .iter()
            .map(|(_, l)| {
                format!(
                    "{:.1},{:.1}",
                    axes.px(l.per_user.mean),
                    axes.py(l.per_gpu.mean)
                )
            })
            .collect();
        let color = if several {
            sweep_color(sweep, &style.color_by, &groups, a)
        } else {
            "#000".to_string()
        };
        let _ = writeln!(
            out,
            "<polyline class=\"frontier\" points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            pts.join(" ")
        );
    }
    // The points.
    let shape_label = shape.label();
    let mut title = String::new();
    let mut params: (Option<usize>, String) = (None, String::new());
    for m in &marks {
        let color = color(m.group);
        let (fill, stroke) = if m.misses_slo {
            ("white".to_string(), color.clone())
        } else {
            (color.clone(), "white".to_string())
        };
        // The hover text is made here, mark by mark, in one buffer: a large sweep's are not
        // all held.
        let r = &records[m.at.record];
        if params.0 != Some(m.at.record) {
            params = (Some(m.at.record), params_text(r, &swept));
        }
        hover(
            &mut title,
            r,
            point(m.at),
            a,
            (shape, &shape_label),
            &params.1,
            style.slo,
            apart.get(&(m.at.record, m.at.point)).copied(),
        );
        out.push_str("<g class=\"point\"><title>");
        esc_into(&mut out, &title);
        out.push_str("</title>");
        marker(
            &mut out,
            m.sweep,
            several,
            m.px,
            m.py,
            &fill,
            &stroke,
            m.misses_slo,
        );
        if m.pareto {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/>",
                m.px,
                m.py,
                RADIUS + 3.0
            );
        }
        out.push_str("</g>\n");
    }
    for (x, y, text) in place_labels(&marks) {
        let _ = writeln!(
            out,
            "<text class=\"label\" x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{LABEL_PX}\" fill=\"#333\">{}</text>",
            esc(&text)
        );
    }
    if marks.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"20\" text-anchor=\"middle\">no valid points</text>",
            (X0 + X1) / 2.0,
            (Y0 + Y1) / 2.0
        );
    }
    legend(&mut out, &groups, &marks, &style.color_by, a, &lines);
    out
}

/// A `--slo` limit drawn as a line.
struct SloLine {
    vertical: bool,
    at: f64,
    text: String,
    title: String,
}

fn slo_lines(slo: &[Limit]) -> Vec<SloLine> {
    slo.iter()
        .filter_map(|l| {
            let text = l.to_string();
            match l.name.as_str() {
                "output_tps_per_user" => Some(SloLine {
                    vertical: true,
                    at: l.value,
                    title: format!("SLO limit {text}"),
                    text,
                }),
                "output_tps_per_gpu" => Some(SloLine {
                    vertical: false,
                    at: l.value,
                    title: format!("SLO limit {text}"),
                    text,
                }),
                // Tokens/s per user is 1000 / median TPOT: a TPOT limit is a per-user one.
                "tpot_median_ms" if l.value > 0.0 => Some(SloLine {
                    vertical: true,
                    at: 1000.0 / l.value,
                    title: format!(
                        "SLO limit {text}: output tokens/s per user {} {}",
                        if l.at_most { ">=" } else { "<=" },
                        number(1000.0 / l.value)
                    ),
                    text,
                }),
                _ => None,
            }
        })
        .collect()
}

/// The hover text of a point, into `t` (emptied first): `shape` is the shape's label,
/// `params` the record's swept values as text, `apart` how many points share its spot.
#[allow(clippy::too_many_arguments)]
fn hover(
    t: &mut String,
    r: &Record,
    p: &Point,
    a: &Analysis,
    shape: (&Shape, &str),
    params: &str,
    slo: &[Limit],
    apart: Option<usize>,
) {
    t.clear();
    let _ = write!(t, "index {}, id {}, job {}", r.index, r.id, p.job_id);
    if a.sweeps.len() > 1 {
        let _ = write!(t, ", sweep {}", a.sweeps.list[a.sweeps.of(r)].label);
    }
    let _ = write!(
        t,
        "\n{} {} ({})",
        shape.0.load_name(),
        load_text(shape.0.load(p)),
        shape.1
    );
    if !params.is_empty() {
        t.push('\n');
        t.push_str(params);
    }
    let _ = write!(
        t,
        "\n{} output tokens/s per GPU, {} per user",
        p.output_tps_per_gpu.map_or("-".to_string(), number),
        p.output_tps_per_user.map_or("-".to_string(), number)
    );
    let mut sep = "\n";
    let mut shown: Vec<&str> = Vec::with_capacity(2 + slo.len());
    for name in ["ttft_p99_ms", "itl_p99_ms"]
        .into_iter()
        .chain(slo.iter().map(|l| l.name.as_str()))
    {
        if shown.contains(&name) {
            continue;
        }
        shown.push(name);
        if let Some(v) = p.get(name) {
            let _ = write!(t, "{sep}{name} {}", number(v));
            sep = ", ";
        }
    }
    match p.meets_slo {
        Some(true) => t.push_str("\nwithin the SLO"),
        Some(false) => {
            t.push_str("\nmisses the SLO: ");
            let mut first = true;
            for l in slo {
                let v = p.get(&l.name);
                if v.is_some_and(|v| l.holds(v)) {
                    continue;
                }
                if !first {
                    t.push_str(", ");
                }
                first = false;
                match v {
                    Some(v) => {
                        let op = if l.at_most { ">" } else { "<" };
                        let _ = write!(t, "{} {} {op} {}", l.name, number(v), l.value);
                    }
                    None => {
                        let _ = write!(t, "{} not measured", l.name);
                    }
                }
            }
        }
        None => {}
    }
    if p.pareto {
        t.push_str("\non the Pareto frontier");
    }
    if let Some(n) = apart {
        let _ = write!(
            t,
            "\n(drawn a few pixels apart from {n} other point(s) at the same place)"
        );
    }
    // The file's line stays last.
    let _ = write!(t, "\n{}:{}", p.file, p.line);
}

/// A record's swept values as a hover text line: `mem-fraction-static=0.8, ...`.
fn params_text(r: &Record, swept: &[String]) -> String {
    if swept.is_empty() {
        return String::new();
    }
    let params: Vec<(String, Value)> = parameters(r);
    let shown: Vec<String> = swept
        .iter()
        .filter_map(|k| {
            let v = params.iter().find(|(n, _)| n == k)?;
            Some(format!("{}={}", super::summary::short(k), value_text(&v.1)))
        })
        .collect();
    shown.join(", ")
}

/// Legend order: numeric values ascending, else text order; sweeps in sweep order.
fn sort_groups(groups: &mut Vec<String>, marks: &mut [Mark], by: &ColorBy, a: &Analysis) {
    if groups.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    let sweeps = matches!(by, ColorBy::Sweep) || (*by == ColorBy::Default && a.sweeps.len() > 1);
    if sweeps {
        let rank = |g: &str| a.sweeps.list.iter().position(|s| s.label == g);
        order.sort_by_key(|&i| rank(&groups[i]));
    } else {
        order.sort_by(
            |&x, &y| match (groups[x].parse::<f64>(), groups[y].parse::<f64>()) {
                (Ok(p), Ok(q)) => p.total_cmp(&q),
                _ => groups[x].cmp(&groups[y]),
            },
        );
    }
    let mut new_of = vec![0; groups.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of[old] = new;
    }
    for m in marks.iter_mut() {
        m.group = new_of[m.group];
    }
    *groups = order.iter().map(|&i| groups[i].clone()).collect();
}

fn color(group: usize) -> String {
    if group < COLORS.len() {
        COLORS[group].to_string()
    } else {
        // The golden angle around the hue wheel: neighbours stay apart.
        let hue = (group as f64 * 137.508) % 360.0;
        format!("hsl({hue:.0},65%,45%)")
    }
}

/// A sweep's frontier line colour: its points' colour when they are coloured by sweep.
fn sweep_color(sweep: usize, by: &ColorBy, groups: &[String], a: &Analysis) -> String {
    match by {
        ColorBy::Parameter(_) => "#000".to_string(),
        _ => {
            let label = &a.sweeps.list[sweep].label;
            color(groups.iter().position(|g| g == label).unwrap_or(sweep))
        }
    }
}

/// A mark: a circle, or with several sweeps a shape per sweep (circle, square, triangle,
/// diamond).
#[allow(clippy::too_many_arguments)]
fn marker(
    out: &mut String,
    sweep: usize,
    several: bool,
    x: f64,
    y: f64,
    fill: &str,
    stroke: &str,
    hollow: bool,
) {
    let width = if hollow { 2.0 } else { 1.0 };
    let kind = if several { sweep % 4 } else { 0 };
    let r = RADIUS;
    let _ = match kind {
        0 => write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>"),
        1 => write!(out, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>", x - r, y - r, 2.0 * r, 2.0 * r),
        2 => write!(out, "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>", x, y - r * 1.2, x - r * 1.1, y + r * 0.8, x + r * 1.1, y + r * 0.8),
        _ => write!(out, "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>", x, y - r * 1.3, x + r * 1.3, y, x, y + r * 1.3, x - r * 1.3, y),
    };
}

/// Round axis ends and steps: (end, step), the end a multiple of the step.
fn ticks(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let raw = max / 6.0;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p);
    ((max / step).ceil() * step, step)
}

fn axes_svg(out: &mut String, axes: &Axes, x_step: f64, y_step: f64) {
    let _ = writeln!(
        out,
        "<rect x=\"{X0}\" y=\"{Y0}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        X1 - X0,
        Y1 - Y0
    );
    let count = |max: f64, step: f64| (max / step).round() as usize;
    for i in 0..=count(axes.x_max, x_step) {
        let v = i as f64 * x_step;
        let x = axes.px(v);
        if i > 0 {
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{Y0}\" x2=\"{x:.1}\" y2=\"{Y1}\" stroke=\"#e4e4e4\"/>"
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{}</text>",
            Y1 + 18.0,
            tick_text(v, x_step)
        );
    }
    for i in 0..=count(axes.y_max, y_step) {
        let v = i as f64 * y_step;
        let y = axes.py(v);
        if i > 0 {
            let _ = writeln!(
                out,
                "<line x1=\"{X0}\" y1=\"{y:.1}\" x2=\"{X1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>"
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"end\">{}</text>",
            X0 - 8.0,
            y + 4.5,
            tick_text(v, y_step)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"15\" text-anchor=\"middle\">Output tokens/s per user (1000 / median TPOT)</text>",
        (X0 + X1) / 2.0,
        Y1 + 46.0
    );
    let _ = writeln!(
        out,
        "<text transform=\"translate(24,{}) rotate(-90)\" font-size=\"15\" text-anchor=\"middle\">Output tokens/s per GPU</text>",
        (Y0 + Y1) / 2.0
    );
}

/// A tick's text: as many decimals as the step needs.
fn tick_text(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6);
    format!("{v:.decimals$}")
}

/// Marks whose centres are closer than this (pixels) would hide each other: they coincide.
const NEAR: f64 = RADIUS + 1.0;

/// Points that would be drawn on (nearly) the same spot are spread around it: each point not
/// yet placed gathers the ones within [`NEAR`] pixels of it (in point order: deterministic).
/// A few go on a small circle, turned (and widened) until none lands on another point; many
/// (more than [`CIRCLE`]) on a sunflower spiral, which never puts two on one spot. Returns,
/// per point spread, how many others share its spot.
fn spread_coincident(marks: &mut [Mark]) -> HashMap<(usize, usize), usize> {
    let cell = |v: f64| (v / NEAR).floor() as i64;
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, m) in marks.iter().enumerate() {
        grid.entry((cell(m.px), cell(m.py))).or_default().push(i);
    }
    let mut taken = vec![false; marks.len()];
    let mut member = vec![false; marks.len()];
    let mut apart = HashMap::new();
    for i in 0..marks.len() {
        if taken[i] {
            continue;
        }
        let (x, y) = (marks[i].px, marks[i].py);
        let mut members = vec![i];
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &j in grid
                    .get(&(cell(x) + dx, cell(y) + dy))
                    .into_iter()
                    .flatten()
                {
                    if j != i && !taken[j] && (marks[j].px - x).hypot(marks[j].py - y) < NEAR {
                        members.push(j);
                        taken[j] = true;
                    }
                }
            }
        }
        taken[i] = true;
        members.sort_unstable();
        let k = members.len();
        if k < 2 {
            continue;
        }
        for &j in &members {
            member[j] = true;
        }
        let cx = members.iter().map(|&j| marks[j].px).sum::<f64>() / k as f64;
        let cy = members.iter().map(|&j| marks[j].py).sum::<f64>() / k as f64;
        let spots: Vec<(f64, f64)> = if k <= CIRCLE {
            circle(&grid, &member, marks, (cx, cy), k)
        } else {
            // Sunflower: the n-th at radius c·√n, turned by the golden angle.
            let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
            (0..k)
                .map(|n| {
                    let r = 3.0 * ((n as f64) + 0.5).sqrt();
                    let a = n as f64 * golden;
                    (cx + r * a.cos(), cy + r * a.sin())
                })
                .collect()
        };
        for (&j, (x, y)) in members.iter().zip(spots) {
            let from = (cell(marks[j].px), cell(marks[j].py));
            if let Some(v) = grid.get_mut(&from) {
                if let Some(at) = v.iter().position(|&o| o == j) {
                    v.swap_remove(at);
                }
            }
            marks[j].px = x;
            marks[j].py = y;
            grid.entry((cell(x), cell(y))).or_default().push(j);
            apart.insert((marks[j].at.record, marks[j].at.point), k - 1);
            member[j] = false;
        }
    }
    apart
}

/// Clusters up to this size go on a circle; larger ones on a spiral.
const CIRCLE: usize = 12;

/// `k` spots on a circle around `centre`, turned (and widened) until none lands on a point
/// that is not a `member`; failing that, the arrangement that keeps the most room.
fn circle(
    grid: &HashMap<(i64, i64), Vec<usize>>,
    member: &[bool],
    marks: &[Mark],
    (cx, cy): (f64, f64),
    k: usize,
) -> Vec<(f64, f64)> {
    let cell = |v: f64| (v / NEAR).floor() as i64;
    let base = RADIUS + 1.5 + (k as f64).sqrt();
    let room = |x: f64, y: f64| {
        let mut least = f64::INFINITY;
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &o in grid
                    .get(&(cell(x) + dx, cell(y) + dy))
                    .into_iter()
                    .flatten()
                {
                    if !member[o] {
                        least = least.min((marks[o].px - x).hypot(marks[o].py - y));
                    }
                }
            }
        }
        least
    };
    let spot = |n: usize, turn: f64, radius: f64| {
        let angle =
            std::f64::consts::TAU * n as f64 / k as f64 - std::f64::consts::FRAC_PI_2 + turn;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    };
    let mut chosen = (0.0, base);
    let mut best_room = f64::NEG_INFINITY;
    'search: for widen in [1.0, 1.5, 2.0, 3.0, 4.0] {
        for step in 0..12 {
            let turn = std::f64::consts::TAU * step as f64 / 12.0 / k as f64;
            let r = (0..k)
                .map(|n| {
                    let (x, y) = spot(n, turn, base * widen);
                    room(x, y)
                })
                .fold(f64::INFINITY, f64::min);
            if r > best_room {
                best_room = r;
                chosen = (turn, base * widen);
            }
            if r >= NEAR {
                break 'search;
            }
        }
    }
    (0..k).map(|n| spot(n, chosen.0, chosen.1)).collect()
}

/// The most labels tried per panel.
const LABELS_TRIED: usize = 1000;

/// Pixel boxes `(x0, y0, x1, y1)`.
type Box2 = (f64, f64, f64, f64);

fn overlaps(a: Box2, b: Box2) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// A grid of boxes, to find overlaps without looking at every box.
struct Grid {
    cells: HashMap<(i64, i64), Vec<Box2>>,
}

const CELL: f64 = 40.0;

impl Grid {
    fn keys(b: Box2) -> impl Iterator<Item = (i64, i64)> {
        let (x0, x1) = ((b.0 / CELL).floor() as i64, (b.2 / CELL).floor() as i64);
        let (y0, y1) = ((b.1 / CELL).floor() as i64, (b.3 / CELL).floor() as i64);
        (x0..=x1).flat_map(move |x| (y0..=y1).map(move |y| (x, y)))
    }
    fn add(&mut self, b: Box2) {
        for k in Grid::keys(b) {
            self.cells.entry(k).or_default().push(b);
        }
    }
    fn hits(&self, b: Box2, except: Option<Box2>) -> bool {
        Grid::keys(b).any(|k| {
            self.cells
                .get(&k)
                .is_some_and(|v| v.iter().any(|&o| Some(o) != except && overlaps(o, b)))
        })
    }
}

/// Greedy label placement: frontier points first, then the rest from right to left; each
/// label tries eight spots around its point and takes the first that overlaps no placed
/// label, no other point and stays inside the plot; a label with no free spot is left out
/// (the hover text and the tables have every point). At most [`LABELS_TRIED`] are tried: a
/// plot has no room for more.
fn place_labels(marks: &[Mark]) -> Vec<(f64, f64, String)> {
    let mut order: Vec<usize> = (0..marks.len())
        .filter(|&i| !marks[i].label.is_empty())
        .collect();
    order.sort_by(|&a, &b| {
        marks[b]
            .pareto
            .cmp(&marks[a].pareto)
            .then(marks[b].x.total_cmp(&marks[a].x))
    });
    order.truncate(LABELS_TRIED);
    let r = RADIUS + 3.0;
    let dot = |m: &Mark| (m.px - r, m.py - r, m.px + r, m.py + r);
    let mut dots = Grid {
        cells: HashMap::new(),
    };
    for m in marks {
        dots.add(dot(m));
    }
    let mut placed = Grid {
        cells: HashMap::new(),
    };
    let mut out = Vec::new();
    for i in order {
        let m = &marks[i];
        let w = (LABEL_PX * 0.62 * m.label.chars().count() as f64).ceil() + 2.0;
        let h = LABEL_PX;
        let (cx, cy) = (m.px, m.py);
        let g = RADIUS + 4.0;
        // Top-left corners of the candidate boxes.
        let spots = [
            (cx + g, cy - g - h),
            (cx + g, cy + g),
            (cx - g - w, cy - g - h),
            (cx - g - w, cy + g),
            (cx - w / 2.0, cy - g - h - 2.0),
            (cx - w / 2.0, cy + g + 2.0),
            (cx + g + 2.0, cy - h / 2.0),
            (cx - g - w - 2.0, cy - h / 2.0),
        ];
        let own = dot(m);
        let free = spots.iter().copied().find(|&(x, y)| {
            let b = (x, y, x + w, y + h);
            b.0 >= X0
                && b.2 <= X1
                && b.1 >= Y0
                && b.3 <= Y1
                && !placed.hits(b, None)
                && !dots.hits(b, Some(own))
        });
        if let Some((x, y)) = free {
            placed.add((x, y, x + w, y + h));
            // Text is placed by its baseline.
            out.push((x, y + h - 2.0, m.label.clone()));
        }
    }
    out
}

/// The legend's entries, one below the other.
struct Legend<'a> {
    out: &'a mut String,
    x: f64,
    y: f64,
}

impl Legend<'_> {
    /// An entry: `mark` drawn centred at (@X, @Y), then the text.
    fn entry(&mut self, mark: &str, text: &str) {
        let (x, y) = (self.x, self.y);
        let _ = writeln!(
            self.out,
            "<g class=\"legend\">{}<text x=\"{}\" y=\"{:.1}\" font-size=\"13\">{}</text></g>",
            mark.replace("@X", &format!("{:.1}", x + 8.0))
                .replace("@Y", &format!("{y:.1}")),
            x + 22.0,
            y + 4.5,
            esc(text)
        );
        self.y += 21.0;
    }

    /// A line entry (the frontier, an SLO limit).
    fn line(&mut self, stroke: &str, text: &str) {
        let (x, y) = (self.x, self.y);
        self.entry(
            &format!(
                "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" {stroke}/>",
                x + 16.0
            ),
            text,
        );
    }

    fn heading(&mut self, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            self.x,
            self.y - 2.0,
            esc(text)
        );
        self.y += 16.0;
    }
}

/// The legend, right of the plot: colour groups, sweeps' marker shapes, hollow marks, the
/// frontier and the SLO lines.
fn legend(
    out: &mut String,
    groups: &[String],
    marks: &[Mark],
    by: &ColorBy,
    a: &Analysis,
    lines: &[SloLine],
) {
    let several = a.sweeps.len() > 1;
    let mut l = Legend {
        out,
        x: X1 + 22.0,
        y: Y0 + 10.0,
    };
    let title = match by {
        ColorBy::Parameter(k) => super::summary::short(k),
        ColorBy::Sweep => "sweep".to_string(),
        ColorBy::Default if several => "sweep".to_string(),
        ColorBy::Default => String::new(),
    };
    if !title.is_empty() {
        l.heading(&title);
    }
    const SHOWN: usize = 14;
    if !title.is_empty() {
        for (g, name) in groups.iter().enumerate().take(SHOWN) {
            let c = color(g);
            l.entry(
                &format!("<circle cx=\"@X\" cy=\"@Y\" r=\"{RADIUS}\" fill=\"{c}\"/>"),
                name,
            );
        }
        if groups.len() > SHOWN {
            l.entry("", &format!("... and {} more", groups.len() - SHOWN));
        }
    } else if !marks.is_empty() {
        l.entry(
            &format!(
                "<circle cx=\"@X\" cy=\"@Y\" r=\"{RADIUS}\" fill=\"{}\"/>",
                color(0)
            ),
            "valid point",
        );
    }
    if several && matches!(by, ColorBy::Parameter(_)) {
        l.y += 6.0;
        for (s, sw) in a.sweeps.list.iter().enumerate() {
            let mut m = String::new();
            marker(&mut m, s, true, 0.0, 0.0, "#888", "white", false);
            l.entry(
                &format!("<g transform=\"translate(@X,@Y)\">{m}</g>"),
                &format!("sweep {}", sw.label),
            );
        }
    }
    l.y += 6.0;
    if marks.iter().any(|m| m.misses_slo) {
        l.entry(
            &format!("<circle cx=\"@X\" cy=\"@Y\" r=\"{RADIUS}\" fill=\"white\" stroke=\"#777\" stroke-width=\"2\"/>"),
            "misses the SLO",
        );
    }
    if marks.iter().any(|m| m.pareto) {
        l.entry(
            &format!(
                "<circle cx=\"@X\" cy=\"@Y\" r=\"{}\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/>",
                RADIUS + 3.0
            ),
            "on the frontier",
        );
        l.line(
            "stroke=\"#000\" stroke-width=\"2\"",
            if several {
                "Pareto frontier (one per sweep)"
            } else {
                "Pareto frontier"
            },
        );
    }
    if !lines.is_empty() {
        l.line(
            "stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"6,4\"",
            "SLO limit",
        );
    }
}

/// Text for XML: `&`, `<`, `>`, quotes escaped; control characters (not allowed in XML 1.0)
/// dropped, newlines kept.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    esc_into(&mut out, s);
    out
}

/// [`esc`], appended to `out`: runs of plain text are copied whole. Every character it
/// changes is ASCII but U+FFFE and U+FFFF (bytes EF BF BE, EF BF BF), so the text is scanned
/// as bytes (a byte of a multi-byte character is never an ASCII one).
pub fn esc_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let (replace, len) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\'' => ("&#39;", 1),
            b'\n' | b'\t' => continue,
            b if b < 0x20 => ("", 1),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => ("", 3),
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        out.push_str(replace);
        plain = i + len;
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        for (max, end, step) in [
            (930.0, 1000.0, 200.0),
            (7.3, 8.0, 2.0),
            (0.42, 0.5, 0.1),
            (12500.0, 12500.0, 2500.0),
        ] {
            let (e, s) = ticks(max);
            assert!(
                (e - end).abs() < 1e-9 && (s - step).abs() < 1e-9,
                "{max}: {e} {s}"
            );
        }
        assert_eq!(tick_text(0.25, 0.05), "0.25");
        assert_eq!(tick_text(0.5, 0.25), "0.50");
        assert_eq!(tick_text(5.0, 2.5), "5.0");
        assert_eq!(tick_text(2000.0, 500.0), "2000");
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(
            esc("é<ü\n'\u{FFFF}x\u{FFFE}\u{EFFF}"),
            "é&lt;ü\n&#39;x\u{EFFF}"
        );
    }
}
