//! `--report FILE.html`: the answer in one self-contained file, for mailing to the team.
//!
//! One HTML page, no script, no external resource of any kind (no CDN, font, image or
//! stylesheet: a Content-Security-Policy of `default-src 'none'` forbids the browser to
//! fetch any), every text from the records escaped. Per workload shape: the answer (the
//! best combination under the SLO and the sweep-file values that reproduce it), the
//! best-under-SLO table, the comparison of sweeps, the plot (inline SVG, a hover text on
//! every point) and the frontiers; then each sweep's parameters, and what was left out and
//! why (invalid points by reason, points without per-GPU figures, combinations without a
//! point, files that could not be read, other files).

use super::analysis::Analysis;
use super::answer::{
    binding_text, bracket_text, estimate_text, fails_at_text, notes, ranked, sweep_file,
};
use super::compare::{Comparison, Reading};
use super::frontier::Limit;
use super::plot::{esc, panel_svg, Style};
use super::summary::{load_text, number, short, value_text, varying, Counts};
use super::table::parameters;
use super::Found;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use sweep::Record;

/// What the report shows.
pub struct Inputs<'a> {
    pub records: &'a [Record],
    pub found: &'a [Found],
    pub analysis: &'a Analysis,
    pub slo: &'a [Limit],
    pub comparisons: &'a [Comparison],
    pub style: &'a Style<'a>,
    /// The lines sweep-collect wrote on stderr about the results.
    pub note: &'a [String],
}

const CSS: &str = "
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
tr.answer td { background: #eaf5ea; font-weight: bold; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.9em; }
.muted { color: #666; }
.note { color: #8a5a00; }
svg { max-width: 100%; height: auto; border: 1px solid #eee; }
div.wide { overflow-x: auto; }
div.wide td.text { white-space: nowrap; }
code { background: #f3f3f3; padding: 0 3px; }
";

/// Writes the HTML page to `w`, a part at a time (a large sweep's page is not held whole).
pub fn write(w: &mut dyn std::io::Write, i: &Inputs) -> std::io::Result<()> {
    let a = i.analysis;
    let mut out = String::with_capacity(1 << 16);
    let labels: Vec<&str> = a.sweeps.list.iter().map(|s| s.label.as_str()).collect();
    let title = format!("Sweep results: {}", labels.join(" vs "));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"sweep-collect {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&title),
        esc(&title)
    );
    // What was read.
    out.push_str("<p class=\"muted\">Written by <code>sweep-collect --report</code>. Output tokens/s per GPU against output tokens/s per user (1000 / median TPOT); every figure from the benchmark clients' own result files.</p>\n");
    out.push_str("<table><tr><th class=\"text\">sweep</th><th class=\"text\">directory</th><th>combinations</th><th class=\"text\">job states</th></tr>\n");
    for (s_i, s) in a.sweeps.list.iter().enumerate() {
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        let mut n = 0;
        for r in i.records.iter().filter(|r| a.sweeps.of(r) == s_i) {
            n += 1;
            let st = r
                .status
                .state
                .as_ref()
                .map_or("not known".to_string(), |s| s.to_string());
            *states.entry(st).or_default() += 1;
        }
        let states: Vec<String> = states.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{n}</td><td class=\"text\">{}</td></tr>",
            esc(&s.label),
            esc(s.dir.as_deref().unwrap_or("(no sweep_dir)")),
            esc(&states.join(", "))
        );
    }
    out.push_str("</table>\n");
    let slo = if i.slo.is_empty() {
        "none given (--slo): every valid load counts as within it".to_string()
    } else {
        i.slo
            .iter()
            .map(Limit::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "<p><b>SLO:</b> {}</p>", esc(&slo));
    out.push_str("<p class=\"muted\">");
    for line in i.note {
        let _ = write!(out, "{}<br>", esc(line));
    }
    out.push_str("</p>\n");
    if a.shapes.len() > 1 {
        out.push_str("<p>Workloads (each has its own frontier, table and plot: results of different workloads are not comparable):</p>\n<ul>\n");
        for (k, shape) in a.shapes.iter().enumerate() {
            let _ = writeln!(
                out,
                "<li><a href=\"#shape-{}\">{}</a></li>",
                k + 1,
                esc(&shape.label())
            );
        }
        out.push_str("</ul>\n");
    }
    if a.shapes.is_empty() {
        out.push_str("<h2>No valid point with per-GPU figures</h2>\n<p>Nothing to plot or rank: see below for what was left out and why.</p>\n");
    }
    for shape_i in 0..a.shapes.len() {
        shape_section(&mut out, w, i, shape_i)?;
    }
    parameters_section(&mut out, i);
    left_out_section(&mut out, i);
    out.push_str("</body>\n</html>\n");
    w.write_all(out.as_bytes())
}

/// Writes what `out` holds to `w`, and empties it.
fn flush(out: &mut String, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    w.write_all(out.as_bytes())?;
    out.clear();
    Ok(())
}

fn shape_section(
    out: &mut String,
    w: &mut dyn std::io::Write,
    i: &Inputs,
    shape_i: usize,
) -> std::io::Result<()> {
    let a = i.analysis;
    let shape = &a.shapes[shape_i];
    let several = a.sweeps.len() > 1;
    let _ = writeln!(
        out,
        "<h2 id=\"shape-{}\">Workload: {}</h2>",
        shape_i + 1,
        esc(&shape.label())
    );
    let rows = ranked(a, shape_i);
    let records = i.records;
    // The answer.
    match rows.first().filter(|s| s.best().is_some()) {
        Some(top) => {
            let r = &records[top.record];
            let l = top.best().expect("filtered");
            let of_sweep = if several {
                format!(" of sweep {}", a.sweeps.list[top.sweep].label)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<p><b>Best under the SLO:</b> index {} (id <code>{}</code>){} at {} {}: <b>{}</b> output tokens/s per GPU, {} output tokens/s per user.</p>",
                r.index,
                esc(&r.id),
                esc(&of_sweep),
                shape.load_name(),
                esc(&load_text(l.load)),
                esc(&estimate_text(&l.per_gpu)),
                esc(&estimate_text(&l.per_user)),
            );
            let _ = writeln!(
                out,
                "<p>The sweep-file values that reproduce it:</p>\n<pre>{}</pre>",
                esc(&sweep_file(r, shape.load_name(), l))
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<p><b>No combination has a load within the SLO in this workload.</b></p>"
            );
        }
    }
    // The best-under-SLO table.
    let swept = varying(records, rows.iter().map(|s| s.record));
    let repeats = rows
        .iter()
        .any(|s| s.levels.iter().any(|l| l.points.len() > 1));
    out.push_str("<h3>Best under the SLO, per combination</h3>\n<p class=\"muted\">The highest load whose means meet every limit, its figures, the lowest load above it that misses (the SLO boundary lies between the two; the bracket is how far apart they are, as a share of the first) and the limit that binds first. Sorted by output tokens/s per GPU: the first row is the answer.</p>\n<div class=\"wide\"><table>\n<tr>");
    let mut head: Vec<String> = Vec::new();
    if several {
        head.push("sweep".into());
    }
    head.extend(["index", "id"].map(String::from));
    head.extend(swept.iter().map(|k| short(k)));
    let numeric_from = head.len();
    head.push(shape.load_name().into());
    head.extend(["tok/s/GPU", "tok/s/user"].map(String::from));
    if repeats {
        head.push("runs".into());
    }
    head.push("fails at".into());
    head.push("bracket".into());
    for l in i.slo {
        head.push(l.name.clone());
    }
    head.push("binds".into());
    for (k, h) in head.iter().enumerate() {
        let class = if k < numeric_from || k == head.len() - 1 {
            " class=\"text\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for (k, s) in rows.iter().enumerate() {
        let r = &records[s.record];
        let params: BTreeMap<String, Value> = parameters(r).into_iter().collect();
        let best = s.best();
        let class = if k == 0 && best.is_some() {
            " class=\"answer\""
        } else {
            ""
        };
        let _ = write!(out, "<tr{class}>");
        let text = |out: &mut String, t: &str| {
            let _ = write!(out, "<td class=\"text\">{}</td>", esc(t));
        };
        let num = |out: &mut String, t: &str| {
            let _ = write!(out, "<td>{}</td>", esc(t));
        };
        if several {
            text(out, &a.sweeps.list[s.sweep].label);
        }
        num(out, &r.index.to_string());
        text(out, &r.id);
        for key in &swept {
            text(out, &params.get(key).map_or("-".to_string(), value_text));
        }
        num(out, &best.map_or("-".to_string(), |l| load_text(l.load)));
        num(
            out,
            &best.map_or("-".to_string(), |l| estimate_text(&l.per_gpu)),
        );
        num(
            out,
            &best.map_or("-".to_string(), |l| estimate_text(&l.per_user)),
        );
        if repeats {
            num(
                out,
                &best.map_or("-".to_string(), |l| l.points.len().to_string()),
            );
        }
        num(out, &fails_at_text(s));
        num(out, &bracket_text(s));
        for k in 0..i.slo.len() {
            num(
                out,
                &best
                    .and_then(|l| l.limits[k])
                    .map_or("-".to_string(), |e| estimate_text(&e)),
            );
        }
        text(out, &binding_text(s, i.slo));
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    for s in &rows {
        for note in notes(records, shape, s) {
            // A sentence: "Index 3 ...".
            let mut chars = note.chars();
            let first = chars.next().map(|c| c.to_uppercase().to_string());
            let note = first.unwrap_or_default() + chars.as_str();
            let _ = writeln!(out, "<p class=\"note\">{}.</p>", esc(&note));
        }
    }
    if let Some(c) = i.comparisons.iter().find(|c| c.shape == shape_i) {
        comparison(out, a, c);
    }
    out.push_str("<h3>Plot</h3>\n<p class=\"muted\">Hover over a point for its record, job, load, parameters and figures.</p>\n");
    flush(out, w)?;
    panel_svg(w, records, i.found, a, shape_i, i.style)?;
    frontiers(out, i, shape_i);
    flush(out, w)
}

fn comparison(out: &mut String, a: &super::analysis::Analysis, c: &Comparison) {
    out.push_str("<h3>Comparison of the sweeps</h3>\n");
    if let Some(why) = &c.none_because {
        let _ = writeln!(out, "<p>No comparison: {}.</p>", esc(why));
        return;
    }
    let base = &a.sweeps.list[0].label;
    let _ = writeln!(
        out,
        "<p class=\"muted\">Each sweep's frontier (within the SLO) read at equal output tokens/s per user{}: output tokens/s per GPU, measured or <i>~ interpolated</i> linearly between two measured loads (- outside the frontier), and the ratio to {}. With repeats, ± is the 95% interval; a ratio whose intervals overlap is within them.</p>",
        if c.given { " (--at)" } else { ", at levels spread over the range every frontier covers" },
        esc(base)
    );
    out.push_str("<table>\n<tr><th>tok/s/user</th>");
    for (k, s) in a.sweeps.list.iter().enumerate() {
        let _ = write!(out, "<th>{}</th>", esc(&s.label));
        if k > 0 {
            let _ = write!(out, "<th>{} / {}</th>", esc(&s.label), esc(base));
        }
    }
    out.push_str("</tr>\n");
    for (lvl, &x) in c.levels.iter().enumerate() {
        let _ = write!(out, "<tr><td>{}</td>", number(x));
        for k in 0..a.sweeps.len() {
            let cell = match &c.readings[lvl][k] {
                Reading::Measured(e) => esc(&estimate_text(e)),
                Reading::Interpolated(e) => format!("<i>~{}</i>", esc(&estimate_text(e))),
                Reading::Outside => "-".to_string(),
            };
            let _ = write!(out, "<td>{cell}</td>");
            if k > 0 {
                let ratio = match c.ratio(lvl, k) {
                    Some((r, Some(true))) => format!("{r:.2}x (within the intervals)"),
                    Some((r, Some(false))) => format!("{r:.2}x (beyond the intervals)"),
                    Some((r, None)) => format!("{r:.2}x"),
                    None => "-".to_string(),
                };
                let _ = write!(out, "<td>{}</td>", esc(&ratio));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn frontiers(out: &mut String, i: &Inputs, shape_i: usize) {
    let a = i.analysis;
    let shape = &a.shapes[shape_i];
    for (sweep_i, sweep) in a.sweeps.list.iter().enumerate() {
        let counts = Counts::of_group(i.records, i.found, a, shape_i, Some(sweep_i));
        if counts.points == 0 {
            continue;
        }
        let of = if a.sweeps.len() > 1 {
            format!(", sweep {}", sweep.label)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<h3>Pareto frontier{}</h3>\n<p class=\"muted\">{}. A load of a combination is one row (the mean of its runs).</p>",
            esc(&of),
            esc(&counts.frontier_phrase())
        );
        // By tokens/s per GPU, descending.
        let on = a.frontier(shape_i, sweep_i);
        if on.is_empty() {
            continue;
        }
        let swept = varying(i.records, on.iter().map(|(s, _)| s.record));
        out.push_str("<table>\n<tr><th>index</th><th class=\"text\">id</th>");
        for k in &swept {
            let _ = write!(out, "<th class=\"text\">{}</th>", esc(&short(k)));
        }
        let _ = writeln!(
            out,
            "<th>{}</th><th>runs</th><th>tok/s/GPU</th><th>tok/s/user</th></tr>",
            shape.load_name()
        );
        for (s, l) in on {
            let r = &i.records[s.record];
            let params: BTreeMap<String, Value> = parameters(r).into_iter().collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"text\">{}</td>",
                r.index,
                esc(&r.id)
            );
            for k in &swept {
                let _ = write!(
                    out,
                    "<td class=\"text\">{}</td>",
                    esc(&params.get(k).map_or("-".to_string(), value_text))
                );
            }
            let _ = writeln!(
                out,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&load_text(l.load)),
                l.points.len(),
                esc(&estimate_text(&l.per_gpu)),
                esc(&estimate_text(&l.per_user))
            );
        }
        out.push_str("</table>\n");
    }
}

/// Each sweep's parameters: the swept ones with their values, then the fixed ones.
fn parameters_section(out: &mut String, i: &Inputs) {
    let a = i.analysis;
    out.push_str("<h2 id=\"parameters\">The sweeps' parameters</h2>\n");
    for (s_i, s) in a.sweeps.list.iter().enumerate() {
        // Per key, its values in order of first appearance (and as a set, to look up).
        let mut values: Vec<(String, Vec<String>)> = Vec::new();
        let mut seen: Vec<std::collections::HashSet<String>> = Vec::new();
        for r in i.records.iter().filter(|r| a.sweeps.of(r) == s_i) {
            for (k, v) in parameters(r) {
                let t = value_text(&v);
                match values.iter().position(|(n, _)| *n == k) {
                    Some(at) => {
                        if seen[at].insert(t.clone()) {
                            values[at].1.push(t);
                        }
                    }
                    None => {
                        seen.push(std::iter::once(t.clone()).collect());
                        values.push((k, vec![t]));
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<table><tr><th class=\"text\">parameter</th><th class=\"text\">values</th></tr>",
            esc(&s.label)
        );
        let (swept, fixed): (Vec<_>, Vec<_>) = values.into_iter().partition(|(_, v)| v.len() > 1);
        for (k, v) in swept.iter().chain(&fixed) {
            let mark = if v.len() > 1 { " (swept)" } else { "" };
            let _ = writeln!(
                out,
                "<tr><td class=\"text\">{}{mark}</td><td class=\"text\">{}</td></tr>",
                esc(k),
                esc(&v.join(", "))
            );
        }
        out.push_str("</table>\n");
    }
}

/// A reason with its numbers taken out, to group alike reasons: `3 of 80 requests failed` and
/// `5 of 80 requests failed` are one kind.
fn gist(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_number = false;
    for c in reason.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Up to ten record indices, then how many more.
fn indices(list: &[u64]) -> String {
    let mut t: Vec<String> = list.iter().take(10).map(u64::to_string).collect();
    if list.len() > 10 {
        t.push(format!("and {} more", list.len() - 10));
    }
    t.join(", ")
}

fn left_out_section(out: &mut String, i: &Inputs) {
    out.push_str("<h2 id=\"left-out\">What was left out, and why</h2>\n");
    let mut any = false;
    // Invalid points, by the kind of reason.
    let mut invalid: BTreeMap<String, (usize, Vec<u64>, String)> = BTreeMap::new();
    let mut unplaced: BTreeMap<&str, (usize, Vec<u64>)> = BTreeMap::new();
    for (r, f) in i.records.iter().zip(i.found) {
        for p in &f.points {
            if let Some(why) = &p.invalid_reason {
                for part in why.split("; ") {
                    let e = invalid
                        .entry(gist(part))
                        .or_insert_with(|| (0, Vec::new(), part.to_string()));
                    e.0 += 1;
                    if e.1.last() != Some(&r.index) {
                        e.1.push(r.index);
                    }
                }
            }
            if let Some(why) = p.unplaced_reason {
                let e = unplaced.entry(why).or_default();
                e.0 += 1;
                if e.1.last() != Some(&r.index) {
                    e.1.push(r.index);
                }
            }
        }
    }
    if !invalid.is_empty() {
        any = true;
        out.push_str("<h3>Invalid points (not ranked, not drawn)</h3>\n<table><tr><th class=\"text\">reason (one example)</th><th>points</th><th class=\"text\">record index</th></tr>\n");
        let mut rows: Vec<_> = invalid.into_values().collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
        for (n, idx, example) in rows {
            let _ = writeln!(
                out,
                "<tr><td class=\"text\">{}</td><td>{n}</td><td class=\"text\">{}</td></tr>",
                esc(&example),
                esc(&indices(&idx))
            );
        }
        out.push_str("</table>\n");
    }
    if !unplaced.is_empty() {
        any = true;
        out.push_str("<h3>Valid points without per-GPU figures (not ranked, not drawn)</h3>\n<table><tr><th class=\"text\">reason</th><th>points</th><th class=\"text\">record index</th></tr>\n");
        for (why, (n, idx)) in unplaced {
            let _ = writeln!(
                out,
                "<tr><td class=\"text\">{}</td><td>{n}</td><td class=\"text\">{}</td></tr>",
                esc(why),
                esc(&indices(&idx))
            );
        }
        out.push_str("</table>\n");
    }
    let without: Vec<&Record> = i
        .records
        .iter()
        .zip(i.found)
        .filter(|(_, f)| f.points.is_empty())
        .map(|(r, _)| r)
        .collect();
    if !without.is_empty() {
        any = true;
        out.push_str("<h3>Combinations without a point</h3>\n<table><tr><th>index</th><th class=\"text\">id</th><th class=\"text\">state</th><th class=\"text\">why, as far as known</th></tr>\n");
        for r in without.iter().take(200) {
            let state = r
                .status
                .state
                .as_ref()
                .map_or("not known".to_string(), |s| s.to_string());
            let why = match (&r.status.failure, &r.job_id) {
                (Some(f), _) => f.message.clone(),
                (None, None) => "never submitted".to_string(),
                (None, Some(_)) => "no result file in its job directories".to_string(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
                r.index,
                esc(&r.id),
                esc(&state),
                esc(&why)
            );
        }
        if without.len() > 200 {
            let _ = writeln!(
                out,
                "<tr><td colspan=\"4\" class=\"text\">... and {} more</td></tr>",
                without.len() - 200
            );
        }
        out.push_str("</table>\n");
    }
    let errors: Vec<(&Record, &super::FileError)> = i
        .records
        .iter()
        .zip(i.found)
        .flat_map(|(r, f)| f.errors.iter().map(move |e| (r, e)))
        .collect();
    if !errors.is_empty() {
        any = true;
        out.push_str("<h3>Files that could not be read</h3>\n<table><tr><th>index</th><th>job</th><th class=\"text\">file</th><th>line</th><th class=\"text\">error</th></tr>\n");
        for (r, e) in errors.iter().take(200) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"text\">{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
                r.index,
                esc(&e.job_id),
                esc(&e.file),
                e.line.map_or(String::new(), |l| l.to_string()),
                esc(&e.error)
            );
        }
        if errors.len() > 200 {
            let _ = writeln!(out, "<tr><td colspan=\"5\" class=\"text\">... and {} more (results.errors in the manifest has them all)</td></tr>", errors.len() - 200);
        }
        out.push_str("</table>\n");
    }
    let mut others: BTreeMap<String, usize> = BTreeMap::new();
    for f in i.found {
        for n in &f.not_results {
            *others.entry(gist(&n.reason)).or_default() += 1;
        }
    }
    if !others.is_empty() {
        any = true;
        out.push_str("<h3>Other files below the jobs' directories (not results)</h3>\n<table><tr><th class=\"text\">reason</th><th>files</th></tr>\n");
        for (why, n) in others {
            let _ = writeln!(
                out,
                "<tr><td class=\"text\">{}</td><td>{n}</td></tr>",
                esc(&why)
            );
        }
        out.push_str("</table>\n");
    }
    if !any {
        out.push_str("<p>Nothing: every point is valid and placed, every combination has a point, every file was read.</p>\n");
    }
}
