//! The frontier for people: a short table sorted by output tokens/s per GPU, with each
//! point's record index, id, the swept values that differ across the sweep, and its metrics;
//! and the counts, the same in the line on stderr, the frontier's title and the plot's title
//! ([`Counts`]).

use super::analysis::Analysis;
use super::stats::Estimate;
use super::table::parameters;
use super::{Found, Limit, Point};
use serde_json::Value;
use std::collections::BTreeMap;
use sweep::Record;

/// At most this many swept values per row: the summary must stay short.
pub const MAX_PARAMS: usize = 4;

/// How many points there are of each kind: counted once, said the same everywhere.
pub struct Counts {
    pub points: usize,
    pub valid: usize,
    /// Placed, and within the SLO (all of them without one): the frontier's candidates.
    pub candidates: usize,
    pub frontier: usize,
    /// Valid without per-GPU figures: left out of the frontier and the plot.
    pub unplaced: usize,
    /// Points whose failed requests nobody counted.
    pub failed_unknown: usize,
    pub errors: usize,
    pub not_results: usize,
    /// Records without a point.
    pub without: usize,
    pub records: usize,
    pub slo: bool,
}

impl Counts {
    pub fn of(found: &[Found]) -> Counts {
        let all = || found.iter().flat_map(|f| &f.points);
        Counts {
            points: all().count(),
            valid: all().filter(|p| p.valid()).count(),
            candidates: all().filter(|p| p.candidate).count(),
            frontier: all().filter(|p| p.pareto).count(),
            unplaced: all().filter(|p| p.unplaced_reason.is_some()).count(),
            failed_unknown: all().filter(|p| p.run.failed.is_none()).count(),
            errors: found.iter().map(|f| f.errors.len()).sum(),
            not_results: found.iter().map(|f| f.not_results.len()).sum(),
            without: found.iter().filter(|f| f.points.is_empty()).count(),
            records: found.len(),
            slo: all().any(|p| p.meets_slo.is_some()),
        }
    }

    /// The counts of one workload shape (and one sweep, when given).
    pub fn of_group(
        records: &[Record],
        found: &[Found],
        a: &Analysis,
        shape: usize,
        sweep: Option<usize>,
    ) -> Counts {
        let mut c = Counts {
            points: 0,
            valid: 0,
            candidates: 0,
            frontier: 0,
            unplaced: 0,
            failed_unknown: 0,
            errors: 0,
            not_results: 0,
            without: 0,
            records: 0,
            slo: false,
        };
        for (i, (r, f)) in records.iter().zip(found).enumerate() {
            if sweep.is_some_and(|w| a.sweeps.of(r) != w) {
                continue;
            }
            let of_shape = |j: &usize| a.point_shape[i][*j] as usize == shape;
            for p in (0..f.points.len()).filter(of_shape).map(|j| &f.points[j]) {
                c.points += 1;
                c.valid += usize::from(p.valid());
                c.candidates += usize::from(p.candidate);
                c.frontier += usize::from(p.pareto);
                c.unplaced += usize::from(p.unplaced_reason.is_some());
                c.failed_unknown += usize::from(p.run.failed.is_none());
                c.slo |= p.meets_slo.is_some();
            }
        }
        c
    }

    /// "8 of 16 valid points[ within the SLO][; 16 valid without per-GPU figures, left out]":
    /// the frontier among its candidates, as every output says it.
    pub fn frontier_phrase(&self) -> String {
        let mut s = format!(
            "{} of {} valid points{}",
            self.frontier,
            self.candidates,
            if self.slo { " within the SLO" } else { "" }
        );
        if self.unplaced > 0 {
            s.push_str(&format!(
                "; {} valid without per-GPU figures, left out",
                self.unplaced
            ));
        }
        s
    }
}

/// The frontier tables, one per workload shape and sweep, each with a title line; then the
/// valid points left out.
pub fn frontier(records: &[Record], found: &[Found], a: &Analysis, slo: &[Limit]) -> String {
    let limits = if slo.is_empty() {
        String::new()
    } else {
        let l: Vec<String> = slo.iter().map(Limit::to_string).collect();
        format!(", within {}", l.join(", "))
    };
    let mut out = String::new();
    if a.shapes.is_empty() {
        let counts = Counts::of(found);
        out.push_str(&format!(
            "Pareto frontier (output tokens/s per GPU against output tokens/s per user{limits}): {}\n",
            counts.frontier_phrase()
        ));
    }
    let metrics = metric_columns(slo);
    for (shape_i, shape) in a.shapes.iter().enumerate() {
        for (sweep_i, sweep) in a.sweeps.list.iter().enumerate() {
            let counts = Counts::of_group(records, found, a, shape_i, Some(sweep_i));
            if counts.points == 0 {
                continue;
            }
            let of_sweep = if a.sweeps.len() > 1 {
                format!(", sweep {}", sweep.label)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "Pareto frontier of {}{of_sweep} (output tokens/s per GPU against output tokens/s per user{limits}): {}\n",
                shape.label(),
                counts.frontier_phrase()
            ));
            // By tokens/s per user ascending: by tokens/s per GPU descending.
            let on = a.frontier(shape_i, sweep_i);
            if on.is_empty() {
                continue;
            }
            let swept = varying(records, on.iter().map(|(s, _)| s.record));
            let repeats = on.iter().any(|(_, l)| l.points.len() > 1);
            let mut header: Vec<String> = ["index", "id", "job", shape.load_column()]
                .iter()
                .map(|s| s.to_string())
                .collect();
            header.extend(swept.iter().take(MAX_PARAMS).map(|s| short(s)));
            if repeats {
                header.push("runs".to_string());
            }
            header.extend(metrics.iter().map(|(_, title)| title.to_string()));
            let mut rows = vec![header];
            for (s, l) in &on {
                let r = &records[s.record];
                let params: BTreeMap<String, Value> = parameters(r).into_iter().collect();
                let pts: Vec<&Point> = l
                    .points
                    .iter()
                    .map(|at| &found[at.record].points[at.point])
                    .collect();
                let job = match pts.as_slice() {
                    [one] => one.job_id.to_string(),
                    [first, rest @ ..] => format!("{} +{}", first.job_id, rest.len()),
                    [] => "-".to_string(),
                };
                let mut row = vec![r.index.to_string(), r.id.clone(), job, load_text(l.load)];
                row.extend(
                    swept
                        .iter()
                        .take(MAX_PARAMS)
                        .map(|k| params.get(k).map_or("-".to_string(), value_text)),
                );
                if repeats {
                    row.push(pts.len().to_string());
                }
                row.extend(metrics.iter().map(|(name, _)| {
                    let v: Vec<f64> = pts.iter().filter_map(|p| p.get(name)).collect();
                    Estimate::of(&v).map_or("-".to_string(), |e| number(e.mean))
                }));
                rows.push(row);
            }
            // Fitted to the width (the terminal's, else COLUMNS, else 80): the id goes first
            // (the index names the point; the table file and the manifest have the id), then
            // the swept values' names shorten, then those columns go, the last first.
            let params = 4..4 + swept.len().min(MAX_PARAMS);
            let width = sweep::table::width();
            let dropped = fit(&mut rows, width, params);
            out.push_str(&align_to(&rows, width));
            out.push_str(&not_shown(dropped));
        }
    }
    out.push_str(&left_out(records, found));
    out
}

/// A load as people read it: `64`, `2.5`, `-`.
pub fn load_text(load: Option<f64>) -> String {
    match load {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => format!("{v}"),
        None => "-".to_string(),
    }
}

/// Fits `rows` (the first is the header) into `width` as [`align`] lays them out: the `id`
/// column goes first (the index names the combination; `--table` and the manifest have the
/// id); then the names of the swept values (the columns `params`) are shortened, the longest
/// first, down to their values' width (at least 6); then those columns go, the last first.
/// Returns how many columns it left out.
pub fn fit(rows: &mut [Vec<String>], width: usize, params: std::ops::Range<usize>) -> usize {
    // The last column wraps ([`align_to`]): it counts for at most WRAPPED columns.
    const WRAPPED: usize = 24;
    let wide = |rows: &[Vec<String>]| {
        let capped: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(last) = r.last_mut() {
                    *last = last.chars().take(WRAPPED).collect();
                }
                r
            })
            .collect();
        align(&capped)
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
    };
    let drop = |rows: &mut [Vec<String>], at: usize| {
        for row in rows.iter_mut().filter(|r| at < r.len()) {
            row.remove(at);
        }
    };
    if rows.is_empty() || wide(rows) <= width {
        return 0;
    }
    let mut params = params;
    let mut dropped = 0;
    if let Some(id) = rows[0].iter().position(|h| h == "id") {
        drop(rows, id);
        dropped += 1;
        if id < params.start {
            params = params.start - 1..params.end - 1;
        }
    }
    let floor = |rows: &[Vec<String>], c: usize| {
        rows[1..]
            .iter()
            .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
            .max()
            .unwrap_or(0)
            .max(6)
    };
    while wide(rows) > width {
        let longest = params
            .clone()
            .filter(|&c| rows[0][c].chars().count() > floor(rows, c))
            .max_by_key(|&c| rows[0][c].chars().count());
        let Some(c) = longest else { break };
        let name = &rows[0][c];
        rows[0][c] = match sweep::table::abbreviate(name) {
            Some(shorter) => shorter,
            None => name.chars().take(name.chars().count() - 1).collect(),
        };
    }
    for c in params.rev() {
        if wide(rows) <= width {
            break;
        }
        drop(rows, c);
        dropped += 1;
    }
    dropped
}

/// The line under a table that [`fit`] left columns out of.
pub fn not_shown(dropped: usize) -> String {
    match dropped {
        0 => String::new(),
        n => format!("  ({n} column(s) not shown: a wider terminal, COLUMNS, or --table FILE)\n"),
    }
}

/// The valid points left out of the frontier and the plot, by reason: "left out: 16 valid
/// points of index 2, 3 (no per-GPU figures: ...)\n", or nothing.
pub fn left_out(records: &[Record], found: &[Found]) -> String {
    let mut by_reason: Vec<(&str, usize, Vec<u64>)> = Vec::new();
    for (r, f) in records.iter().zip(found) {
        for why in f.points.iter().filter_map(|p| p.unplaced_reason) {
            match by_reason.iter_mut().find(|(w, _, _)| *w == why) {
                Some((_, n, idx)) => {
                    *n += 1;
                    if idx.last() != Some(&r.index) {
                        idx.push(r.index);
                    }
                }
                None => by_reason.push((why, 1, vec![r.index])),
            }
        }
    }
    let mut out = String::new();
    for (why, n, idx) in by_reason {
        const SHOWN: usize = 10;
        let mut list: Vec<String> = idx.iter().take(SHOWN).map(u64::to_string).collect();
        if idx.len() > SHOWN {
            list.push(format!("and {} more", idx.len() - SHOWN));
        }
        out.push_str(&format!(
            "left out: {n} valid point(s) of index {} ({why})\n",
            list.join(", ")
        ));
    }
    out
}

/// The lines for stderr: what was found (one line, and one per reason points were left
/// out).
pub fn note(
    records: &[Record],
    found: &[Found],
    a: &Analysis,
    c: &Counts,
    unknown_states: usize,
) -> Vec<String> {
    // One frontier per workload shape and sweep.
    let frontiers = match (a.shapes.len(), a.sweeps.len()) {
        (0 | 1, 0 | 1) => "the Pareto frontier".to_string(),
        (shapes, 0 | 1) => format!("the Pareto frontiers ({shapes} workload shapes)"),
        (0 | 1, sweeps) => format!("the Pareto frontiers ({sweeps} sweeps)"),
        (shapes, sweeps) => {
            format!("the Pareto frontiers ({shapes} workload shapes x {sweeps} sweeps)")
        }
    };
    let mut s = format!(
        "results: {} points, {} valid, {} on {frontiers} of {}{}",
        c.points,
        c.valid,
        c.frontier,
        c.candidates,
        if c.slo { " within the SLO" } else { "" }
    );
    if c.unplaced > 0 {
        s.push_str(&format!(
            ", {} valid without per-GPU figures (left out, see below)",
            c.unplaced
        ));
    }
    s.push_str(&format!(
        "; {} of {} combinations without a point; {} file error(s)",
        c.without, c.records, c.errors
    ));
    if c.errors > 0 {
        s.push_str(" (see results.errors)");
    }
    if c.not_results > 0 {
        s.push_str(&format!(
            "; {} other file(s), not results (see results.not_results)",
            c.not_results
        ));
    }
    if c.failed_unknown > 0 {
        s.push_str(&format!(
            "; {} point(s) whose failed requests are unknown (SGLang counts none: add requests-per-concurrency=N to --profiler, or --output-details to bench_serving)",
            c.failed_unknown
        ));
    }
    if unknown_states > 0 {
        s.push_str(&format!(
            "; {unknown_states} job(s) without a known state, judged on their numbers alone (add --status)"
        ));
    }
    let mut lines = vec![s];
    lines.extend(
        left_out(records, found)
            .lines()
            .map(|l| format!("results: {l}")),
    );
    lines
}

/// Metric columns: throughput per GPU and per user, then the latencies people check, then
/// the SLO's own metrics.
pub fn metric_columns(slo: &[Limit]) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = [
        ("output_tps_per_gpu", "tok/s/gpu"),
        ("output_tps_per_user", "tok/s/user"),
        ("ttft_p99_ms", "ttft_p99_ms"),
        ("itl_p99_ms", "itl_p99_ms"),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), t.to_string()))
    .collect();
    for l in slo {
        if !cols.iter().any(|(n, _)| *n == l.name) {
            cols.push((l.name.clone(), l.name.clone()));
        }
    }
    cols
}

/// Parameters whose value differs between the records `which` (the swept ones), in order of
/// first appearance.
pub fn varying(records: &[Record], which: impl Iterator<Item = usize>) -> Vec<String> {
    // Per key, the values seen (a set: a key may have as many values as records).
    let mut values: Vec<(String, std::collections::HashSet<String>)> = Vec::new();
    for i in which {
        for (k, v) in parameters(&records[i]) {
            let text = v.to_string();
            match values.iter_mut().find(|(n, _)| *n == k) {
                Some((_, seen)) => {
                    seen.insert(text);
                }
                None => values.push((k, std::iter::once(text).collect())),
            }
        }
    }
    values
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| k)
        .collect()
}

/// `sglang.mem-fraction-static` -> `mem-fraction-static`.
pub fn short(key: &str) -> String {
    key.split_once('.').map_or(key, |(_, k)| k).to_string()
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Three significant figures or so: people read this, the table has the exact values.
pub fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// [`align`]ed, with the last column's cells wrapped (onto lines indented to that column) when
/// a row would be wider than `width`: what [`fit`] could not make fit keeps its end.
pub fn align_to(rows: &[Vec<String>], width: usize) -> String {
    let text = align(rows);
    if text.lines().all(|l| l.chars().count() <= width) {
        return text;
    }
    let Some(last) = rows
        .iter()
        .map(Vec::len)
        .max()
        .and_then(|n| n.checked_sub(1))
    else {
        return text;
    };
    // Where the last column starts: the width of the others as align lays them out.
    let others: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r[..last.min(r.len())].to_vec())
        .collect();
    let start = align(&others)
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let room = width.saturating_sub(start).max(16);
    let mut out = String::new();
    for (line, row) in align(&others).lines().zip(rows) {
        let cell = row.get(last).map(String::as_str).unwrap_or_default();
        let mut parts = sweep::table::wrap(cell, room).into_iter();
        let first = parts.next().unwrap_or_default();
        let pad = start.saturating_sub(line.chars().count());
        out.push_str(format!("{line}{}{first}", " ".repeat(pad)).trim_end());
        out.push('\n');
        for more in parts {
            out.push_str(&" ".repeat(start));
            out.push_str(&more);
            out.push('\n');
        }
    }
    out
}

/// Columns padded to their widest cell; text left-aligned, numbers right-aligned (the first row
/// is the header).
pub fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                // Ids and sweep names are text, however they look.
                let text_column = matches!(rows[0][c].as_str(), "id" | "sweep");
                let numeric = s.parse::<f64>().is_ok() || s == "-";
                if numeric && !text_column {
                    format!("{s:>w$}", w = width[c])
                } else {
                    format!("{s:<w$}", w = width[c])
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
