//! `--plot FILE.svg`: every valid point, output tokens/s per GPU against output tokens/s per
//! user, the frontier as a line, points labelled by record index (a label that would overlap
//! another label or a point is left out), optionally coloured by one swept parameter. The
//! title gives the counts as the frontier table does ([`super::summary::Counts`]), with the
//! valid points that cannot be drawn (no per-GPU figures).

use super::summary::Counts;
use super::table::parameters;
use super::{Found, Options, Point};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use sweep::Record;

const SIZE: (u32, u32) = (1100, 720);
const FONT: &str = "sans-serif";
const LABEL_PX: f64 = 15.0;
const RADIUS: i32 = 5;

/// Readable, distinct colours (Tableau 10), then plotters' palette for more groups.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A point to draw.
struct Mark {
    x: f64,
    y: f64,
    index: u64,
    group: usize,
    pareto: bool,
    misses_slo: bool,
}

/// The key `--color-by` names, as `section.key`: given whole, or a bare key found in one of
/// the sections (slurm, sglang, prefill, decode).
pub fn color_key(records: &[Record], key: &str) -> Result<String> {
    let all: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for r in records {
            for (k, _) in parameters(r) {
                if !v.contains(&k) {
                    v.push(k);
                }
            }
        }
        v
    };
    if all.iter().any(|k| k == key) {
        return Ok(key.to_string());
    }
    let suffix = format!(".{key}");
    match all.iter().find(|k| k.ends_with(&suffix)) {
        Some(k) => Ok(k.clone()),
        None => Err(anyhow!(
            "--color-by: no record has a parameter {key:?} (parameters: {})",
            all.join(", ")
        )),
    }
}

/// The SVG text.
pub fn render(
    records: &[Record],
    found: &[Found],
    opts: &Options,
    counts: &Counts,
) -> Result<String> {
    let key = match &opts.color_by {
        Some(k) => Some(color_key(records, k)?),
        None => None,
    };
    let mut groups: Vec<String> = Vec::new();
    let mut marks = Vec::new();
    for (r, f) in records.iter().zip(found) {
        let group_text = key.as_ref().map(|k| {
            parameters(r)
                .into_iter()
                .find(|(n, _)| n == k)
                .map_or("(none)".to_string(), |(_, v)| text(&v))
        });
        for p in f.points.iter().filter(|p| p.placed()) {
            let (Some(y), Some(x)) = (p.output_tps_per_gpu, p.output_tps_per_user) else {
                continue;
            };
            let group = match &group_text {
                Some(g) => position_or_push(&mut groups, g),
                None => 0,
            };
            marks.push(mark(r, p, x, y, group));
        }
    }
    sort_groups(&mut groups, &mut marks);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, &marks, &groups, key.as_deref(), opts, counts)
            .map_err(|e| anyhow!("failed to draw the plot: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("failed to draw the plot: {e}"))?;
    }
    Ok(svg)
}

fn mark(r: &Record, p: &Point, x: f64, y: f64, group: usize) -> Mark {
    Mark {
        x,
        y,
        index: r.index,
        group,
        pareto: p.pareto,
        misses_slo: p.meets_slo == Some(false),
    }
}

fn position_or_push(groups: &mut Vec<String>, g: &str) -> usize {
    match groups.iter().position(|x| x == g) {
        Some(i) => i,
        None => {
            groups.push(g.to_string());
            groups.len() - 1
        }
    }
}

/// Legend order: numeric values ascending, else text order.
fn sort_groups(groups: &mut Vec<String>, marks: &mut [Mark]) {
    if groups.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(
        |&a, &b| match (groups[a].parse::<f64>(), groups[b].parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => groups[a].cmp(&groups[b]),
        },
    );
    let new_of: Vec<usize> = {
        let mut v = vec![0; groups.len()];
        for (new, &old) in order.iter().enumerate() {
            v[old] = new;
        }
        v
    };
    for m in marks.iter_mut() {
        m.group = new_of[m.group];
    }
    *groups = order.iter().map(|&i| groups[i].clone()).collect();
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn color(group: usize) -> RGBColor {
    if group < COLORS.len() {
        COLORS[group]
    } else {
        let (r, g, b) = Palette99::pick(group).rgb();
        RGBColor(r, g, b)
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error + 'static>>;

fn draw(
    root: &Area,
    marks: &[Mark],
    groups: &[String],
    key: Option<&str>,
    opts: &Options,
    counts: &Counts,
) -> DrawResult<()> {
    root.fill(&WHITE)?;
    let mut caption = format!("Pareto frontier: {}", counts.frontier_phrase());
    if !opts.slo.is_empty() {
        let l: Vec<String> = opts.slo.iter().map(|l| l.to_string()).collect();
        caption.push_str(&format!(" (SLO {})", l.join(", ")));
    }
    if caption.len() < 80 {
        caption.push_str(" (labels: record index)");
    }
    // One line across the plot's width: smaller type for a long one.
    let caption_px = if caption.len() > 75 { 16 } else { 22 };
    let max_x = marks.iter().map(|m| m.x).fold(0.0, f64::max);
    let max_y = marks.iter().map(|m| m.y).fold(0.0, f64::max);
    let (x1, y1) = (nice(max_x * 1.08), nice(max_y * 1.12));
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, caption_px))
        .margin(24)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..x1, 0.0..y1)?;
    chart
        .configure_mesh()
        .x_desc("Output tokens/s per user (1000 / median TPOT)")
        .y_desc("Output tokens/s per GPU")
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_label_formatter(&|v| axis_number(*v, x1))
        .y_label_formatter(&|v| axis_number(*v, y1))
        .draw()?;
    if marks.is_empty() {
        let at = chart.backend_coord(&(x1 * 0.35, y1 * 0.5));
        root.draw(&Text::new(
            "no valid points".to_string(),
            at,
            (FONT, 20).into_font(),
        ))?;
        return Ok(());
    }
    let mut frontier: Vec<(f64, f64)> = marks
        .iter()
        .filter(|m| m.pareto)
        .map(|m| (m.x, m.y))
        .collect();
    frontier.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    chart
        .draw_series(LineSeries::new(frontier, BLACK.stroke_width(2)))?
        .label("Pareto frontier")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BLACK.stroke_width(2)));
    for (g, name) in groups_or_one(groups).iter().enumerate() {
        let c = color(g);
        let series = chart.draw_series(
            marks
                .iter()
                .filter(|m| m.group == g && !m.misses_slo)
                .map(|m| Circle::new((m.x, m.y), RADIUS, c.filled())),
        )?;
        let label = match key {
            Some(k) => format!("{} = {name}", k.split_once('.').map_or(k, |(_, b)| b)),
            None => "valid point".to_string(),
        };
        series
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 11, y), RADIUS, c.filled()));
    }
    if marks.iter().any(|m| m.misses_slo) {
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(
                marks
                    .iter()
                    .filter(|m| m.misses_slo)
                    .map(|m| Circle::new((m.x, m.y), RADIUS, grey.stroke_width(2))),
            )?
            .label("valid, misses the SLO")
            .legend(move |(x, y)| Circle::new((x + 11, y), RADIUS, grey.stroke_width(2)));
    }
    // Frontier points get a ring, so they read as such whatever their colour.
    chart.draw_series(
        marks
            .iter()
            .filter(|m| m.pareto)
            .map(|m| Circle::new((m.x, m.y), RADIUS + 3, BLACK.stroke_width(2))),
    )?;
    let centres: Vec<(i32, i32)> = marks
        .iter()
        .map(|m| chart.backend_coord(&(m.x, m.y)))
        .collect();
    let area = chart.plotting_area().get_pixel_range();
    for (at, text) in place_labels(
        marks,
        &centres,
        (area.0.start, area.0.end),
        (area.1.start, area.1.end),
    ) {
        root.draw(&Text::new(text, at, (FONT, LABEL_PX as u32).into_font()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}

fn groups_or_one(groups: &[String]) -> Vec<String> {
    if groups.is_empty() {
        vec![String::new()]
    } else {
        groups.to_vec()
    }
}

/// Tick labels without needless decimals: `2500`, `12.5`, `0.25`.
fn axis_number(v: f64, max: f64) -> String {
    if max >= 50.0 {
        format!("{v:.0}")
    } else if max >= 5.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A round upper bound for an axis (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^n): close enough
/// to the data that the points fill the plot.
fn nice(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// Pixel boxes `(x0, y0, x1, y1)`.
type Box2 = (i32, i32, i32, i32);

fn overlaps(a: Box2, b: Box2) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Greedy label placement: frontier points first, then the rest from right to left; each
/// label tries eight spots around its point and takes the first that overlaps no placed
/// label, no other point and stays inside the plot; a label with no free spot is left out.
fn place_labels(
    marks: &[Mark],
    centres: &[(i32, i32)],
    xs: (i32, i32),
    ys: (i32, i32),
) -> Vec<((i32, i32), String)> {
    let mut order: Vec<usize> = (0..marks.len()).collect();
    order.sort_by(|&a, &b| {
        marks[b]
            .pareto
            .cmp(&marks[a].pareto)
            .then(marks[b].x.total_cmp(&marks[a].x))
    });
    let r = RADIUS + 3;
    let dots: Vec<Box2> = centres
        .iter()
        .map(|&(x, y)| (x - r, y - r, x + r, y + r))
        .collect();
    let mut placed: Vec<Box2> = Vec::new();
    let mut out = Vec::new();
    for i in order {
        let text = marks[i].index.to_string();
        let w = (LABEL_PX * 0.62 * text.len() as f64).ceil() as i32 + 2;
        let h = LABEL_PX as i32;
        let (cx, cy) = centres[i];
        let g = RADIUS + 4;
        let spots = [
            (cx + g, cy - g - h),
            (cx + g, cy + g),
            (cx - g - w, cy - g - h),
            (cx - g - w, cy + g),
            (cx - w / 2, cy - g - h - 2),
            (cx - w / 2, cy + g + 2),
            (cx + g + 2, cy - h / 2),
            (cx - g - w - 2, cy - h / 2),
        ];
        let free = spots.iter().copied().find(|&(x, y)| {
            let b = (x, y, x + w, y + h);
            b.0 >= xs.0
                && b.2 <= xs.1
                && b.1 >= ys.0
                && b.3 <= ys.1
                && !placed.iter().any(|&p| overlaps(p, b))
                && !dots
                    .iter()
                    .enumerate()
                    .any(|(j, &d)| j != i && overlaps(d, b))
        });
        if let Some((x, y)) = free {
            placed.push((x, y, x + w, y + h));
            out.push(((x, y), text));
        }
    }
    out
}
