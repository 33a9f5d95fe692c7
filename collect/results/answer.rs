//! The answer, for people and for programs: per workload shape, the best-under-SLO table (one
//! row per combination, sorted by output tokens/s per GPU: the first row is the answer) with
//! the sweep-file values that reproduce the best, and, with several sweeps, the comparison at
//! equal output tokens/s per user. As text (`--best`, and on a terminal), and as CSV or JSON
//! Lines (`--best-table`, `--compare-table`).

use super::analysis::{Analysis, Series, Shape};
use super::best::Level;
use super::compare::{Comparison, Reading};
use super::frontier::Limit;
use super::stats::Estimate;
use super::summary::{
    align, align_to, fit, load_text, not_shown, number, short, value_text, varying, MAX_PARAMS,
};
use super::table::{parameters, TableFormat};
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use sweep::Record;

/// The series of a shape in answer order: by the best load's output tokens/s per GPU,
/// descending; those without a load within the SLO last, by record.
pub fn ranked(a: &Analysis, shape: usize) -> Vec<&Series> {
    let mut rows: Vec<&Series> = a.series_of(shape, None).collect();
    rows.sort_by(|x, y| {
        let gpu = |s: &Series| s.best().map(|l| l.per_gpu.mean);
        match (gpu(x), gpu(y)) {
            (Some(a), Some(b)) => b.total_cmp(&a),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(x.sweep.cmp(&y.sweep))
        .then(x.record.cmp(&y.record))
    });
    rows
}

/// `744` or `744 ±12` (the 95% interval's half-width).
pub fn estimate_text(e: &Estimate) -> String {
    match e.half_width {
        Some(h) => format!("{} ±{}", number(e.mean), number(h)),
        None => number(e.mean),
    }
}

/// What binds, for people: `itl_p99_ms 80 > 50 at 64 (reached at ~28)`; when every load
/// passed, `none (closest: ttft_p99_ms 900 of 1000 at 256)`.
pub fn binding_text(s: &Series, slo: &[Limit]) -> String {
    let Some(b) = &s.boundary.binding else {
        return "-".to_string();
    };
    let l = &slo[b.limit];
    let value = b.value.map_or("none".to_string(), number);
    let at = load_text(s.levels[b.level].load);
    if !b.misses {
        return format!("none (closest: {} {value} of {} at {at})", l.name, l.value);
    }
    let mut t = match b.value {
        Some(_) => {
            let op = if l.at_most { ">" } else { "<" };
            format!("{} {value} {op} {} at {at}", l.name, l.value)
        }
        None => format!("{} not measured at {at}", l.name),
    };
    if let Some(c) = b.crossing {
        t.push_str(&format!(" (reached at ~{})", number(c)));
    }
    t
}

/// The lowest failing load above the best, for people: `none` when every load passed, `-`
/// when none was measured.
pub fn fails_at_text(s: &Series) -> String {
    match s.boundary.bracket(&s.levels) {
        (_, Some(u)) => load_text(Some(u)),
        (_, None) if s.best().is_some() => "none".to_string(),
        (_, None) => "-".to_string(),
    }
}

/// The bracket's width as a share of its lower end (`(fails at - best) / best`): how well
/// the boundary is known; `None` without both ends.
pub fn bracket_width(s: &Series) -> Option<f64> {
    match s.boundary.bracket(&s.levels) {
        (Some(lo), Some(hi)) if lo > 0.0 => Some((hi - lo) / lo),
        _ => None,
    }
}

/// The bracket's width for people: `+9.1%`, `-` without both ends.
pub fn bracket_text(s: &Series) -> String {
    match bracket_width(s) {
        Some(w) if w * 100.0 < 10.0 => format!("+{:.1}%", w * 100.0),
        Some(w) => format!("+{:.0}%", w * 100.0),
        None => "-".to_string(),
    }
}

/// What a reader should know of a combination's measurements beyond its row: a peak below
/// the best, loads below the best that miss the SLO.
pub fn notes(records: &[Record], shape: &Shape, s: &Series) -> Vec<String> {
    let mut out = Vec::new();
    let index = records[s.record].index;
    if let (Some(p), Some(b)) = (s.boundary.peak, s.boundary.best) {
        if p != b {
            out.push(format!(
                "index {index} has more output tokens/s per GPU at {} {} ({}) than at its highest load within the SLO ({}: {})",
                shape.load_name(),
                load_text(s.levels[p].load),
                number(s.levels[p].per_gpu.mean),
                load_text(s.levels[b].load),
                number(s.levels[b].per_gpu.mean),
            ));
        }
    }
    if !s.boundary.inversions.is_empty() && s.best().is_some() {
        let loads: Vec<String> = s
            .boundary
            .inversions
            .iter()
            .map(|&i| load_text(s.levels[i].load))
            .collect();
        out.push(format!(
            "index {index} misses the SLO at {} {}, below its highest load within it: the measurements are not monotonic",
            shape.load_name(),
            loads.join(", ")
        ));
    }
    out
}

/// The best-under-SLO tables and the comparisons, for people.
pub fn text(records: &[Record], a: &Analysis, slo: &[Limit], comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    let within = if slo.is_empty() {
        "no --slo: every valid load counts".to_string()
    } else {
        slo.iter()
            .map(Limit::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if a.shapes.is_empty() {
        out.push_str(&format!(
            "Best under the SLO ({within}): no valid point with per-GPU figures\n"
        ));
    }
    for (shape_i, shape) in a.shapes.iter().enumerate() {
        let rows = ranked(a, shape_i);
        let passing = rows.iter().filter(|s| s.best().is_some()).count();
        out.push_str(&format!(
            "Best under the SLO ({within}), {}: {passing} of {} combination(s) with a load within it\n",
            shape.label(),
            rows.len()
        ));
        let several = a.sweeps.len() > 1;
        let swept = varying(records, rows.iter().map(|s| s.record));
        let repeats = rows
            .iter()
            .any(|s| s.levels.iter().any(|l| l.points.len() > 1));
        let mut header: Vec<String> = Vec::new();
        if several {
            header.push("sweep".to_string());
        }
        header.extend(["index", "id"].map(String::from));
        header.extend(swept.iter().take(MAX_PARAMS).map(|k| short(k)));
        header.push(shape.load_column().to_string());
        header.extend(["tok/s/gpu", "tok/s/user"].map(String::from));
        if repeats {
            header.push("runs".to_string());
        }
        header.extend(["fails at", "bracket", "binds"].map(String::from));
        let mut table = vec![header];
        for s in &rows {
            let r = &records[s.record];
            let params: BTreeMap<String, Value> = parameters(r).into_iter().collect();
            let mut row = Vec::new();
            if several {
                row.push(a.sweeps.list[s.sweep].label.clone());
            }
            row.push(r.index.to_string());
            row.push(r.id.clone());
            row.extend(
                swept
                    .iter()
                    .take(MAX_PARAMS)
                    .map(|k| params.get(k).map_or("-".to_string(), value_text)),
            );
            let best = s.best();
            row.push(best.map_or("-".to_string(), |l| load_text(l.load)));
            row.push(best.map_or("-".to_string(), |l| estimate_text(&l.per_gpu)));
            row.push(best.map_or("-".to_string(), |l| estimate_text(&l.per_user)));
            if repeats {
                row.push(best.map_or("-".to_string(), |l| l.points.len().to_string()));
            }
            row.push(fails_at_text(s));
            row.push(bracket_text(s));
            row.push(binding_text(s, slo));
            table.push(row);
        }
        // Fitted to the width, as the frontier's.
        let first_param = usize::from(several) + 2;
        let params = first_param..first_param + swept.len().min(MAX_PARAMS);
        let width = sweep::table::width();
        let dropped = fit(&mut table, width, params);
        out.push_str(&align_to(&table, width));
        out.push_str(&not_shown(dropped));
        for s in &rows {
            for note in notes(records, shape, s) {
                out.push_str(&format!("  note: {note}\n"));
            }
        }
        if let Some(top) = rows.first().filter(|s| s.best().is_some()) {
            let r = &records[top.record];
            let l = top.best().expect("filtered");
            let of_sweep = if several {
                format!(" of sweep {}", a.sweeps.list[top.sweep].label)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "Best: index {} (id {}){of_sweep} at {} {}: {} output tokens/s per GPU, {} per user. Its sweep-file values:\n",
                r.index,
                r.id,
                shape.load_name(),
                load_text(l.load),
                estimate_text(&l.per_gpu),
                estimate_text(&l.per_user),
            ));
            for line in sweep_file(r, shape.load_name(), l).lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        if let Some(c) = comparisons.iter().find(|c| c.shape == shape_i) {
            out.push_str(&comparison_text(a, c));
        }
    }
    out
}

/// The comparison of one shape, for people.
pub fn comparison_text(a: &Analysis, c: &Comparison) -> String {
    let shape = a.shapes[c.shape].label();
    if let Some(why) = &c.none_because {
        return format!("Comparison, {shape}: none: {why}\n");
    }
    let mut out = format!(
        "Comparison at equal output tokens/s per user, {shape}: each sweep's frontier within the SLO, output tokens/s per GPU (~: interpolated between two measured loads; -: outside the frontier), and the ratio to {}\n",
        a.sweeps.list[0].label
    );
    let mut header = vec!["tok/s/user".to_string()];
    for (i, s) in a.sweeps.list.iter().enumerate() {
        header.push(s.label.clone());
        if i > 0 {
            header.push(format!("{}/{}", s.label, a.sweeps.list[0].label));
        }
    }
    let mut rows = vec![header];
    let mut any_interval = false;
    for (k, &x) in c.levels.iter().enumerate() {
        let mut row = vec![number(x)];
        for i in 0..a.sweeps.len() {
            row.push(reading_text(&c.readings[k][i]));
            any_interval |= c.readings[k][i]
                .estimate()
                .is_some_and(|e| e.half_width.is_some());
            if i > 0 {
                row.push(match c.ratio(k, i) {
                    Some((r, Some(true))) => format!("{r:.2}x (within the 95% intervals)"),
                    Some((r, _)) => format!("{r:.2}x"),
                    None => "-".to_string(),
                });
            }
        }
        rows.push(row);
    }
    out.push_str(&align(&rows));
    if !any_interval {
        out.push_str(
            "  (one run per load: no intervals, so no difference can be told from noise; repeat runs to get them)\n",
        );
    }
    out
}

fn reading_text(r: &Reading) -> String {
    match r {
        Reading::Measured(e) => estimate_text(e),
        Reading::Interpolated(e) => format!("~{}", estimate_text(e)),
        Reading::Outside => "-".to_string(),
    }
}

/// The sweep-file values that reproduce a record: a sweep file of one combination (every
/// value a single value: lists wrapped, floats written so that PyYAML reads floats), with the
/// load as a comment.
pub fn sweep_file(r: &Record, load_name: &str, l: &Level) -> String {
    let mut out = format!(
        "# measured at {load_name} {} (the benchmark's load, --profiler)\n",
        load_text(l.load)
    );
    let mut section = |name: &str, map: &Map<String, Value>| {
        if map.is_empty() {
            return;
        }
        out.push_str(name);
        out.push_str(":\n");
        for (k, v) in map {
            out.push_str(&format!("  {}: {}\n", yaml_key(k), yaml_value(v)));
        }
    };
    section("slurm", &r.parameters.slurm);
    section("sglang", &r.parameters.sglang);
    if let Some(roles) = &r.role_parameters {
        section("prefill", &roles.prefill);
        section("decode", &roles.decode);
    }
    out
}

/// A key as a YAML plain scalar when that reads back as the same string, else quoted.
fn yaml_key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let special = matches!(
        k.to_ascii_lowercase().as_str(),
        "yes" | "no" | "on" | "off" | "true" | "false" | "y" | "n" | "null"
    );
    if plain && !special {
        k.to_string()
    } else {
        Value::from(k).to_string()
    }
}

/// One value of a sweep file: a list is wrapped in a list (a single list-value), the rest in
/// flow style.
fn yaml_value(v: &Value) -> String {
    match v {
        Value::Array(_) => format!("[{}]", flow(v)),
        other => flow(other),
    }
}

/// JSON flow style, with numbers as YAML 1.1 (PyYAML) reads them: a float has a dot and a
/// signed exponent (`1.0e-05`, not `1e-5`, which PyYAML reads as a string).
fn flow(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            let t = n.to_string();
            match t.find(['e', 'E']) {
                Some(at) => {
                    let (mantissa, exp) = (&t[..at], &t[at + 1..]);
                    let mantissa = if mantissa.contains('.') {
                        mantissa.to_string()
                    } else {
                        format!("{mantissa}.0")
                    };
                    let exp = if exp.starts_with(['+', '-']) {
                        exp.to_string()
                    } else {
                        format!("+{exp}")
                    };
                    format!("{mantissa}e{exp}")
                }
                None => t,
            }
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), flow(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// `--best-table`: one row per combination and shape, in answer order within each shape.
pub fn write_best_table(
    w: &mut dyn Write,
    format: TableFormat,
    records: &[Record],
    a: &Analysis,
    slo: &[Limit],
) -> Result<()> {
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for (shape_i, shape) in a.shapes.iter().enumerate() {
        for (rank, s) in ranked(a, shape_i).into_iter().enumerate() {
            let r = &records[s.record];
            let mut m = Map::new();
            m.insert("sweep".into(), json!(a.sweeps.list[s.sweep].label));
            m.insert("shape".into(), json!(shape.label()));
            if let Some(d) = &shape.dataset {
                m.insert("dataset".into(), json!(d));
            }
            if let Some(v) = shape.isl {
                m.insert("isl".into(), json!(v));
            }
            if let Some(v) = shape.osl {
                m.insert("osl".into(), json!(v));
            }
            m.insert("rate_mode".into(), json!(shape.rate_mode));
            let best = s.best();
            if best.is_some() {
                m.insert("rank".into(), json!(rank + 1));
            }
            m.insert("index".into(), json!(r.index));
            m.insert("id".into(), json!(r.id));
            for (k, v) in parameters(r) {
                m.insert(k, v);
            }
            if let Some(l) = best {
                put_load(&mut m, "best_load", l.load);
                put_estimate(&mut m, "output_tps_per_gpu", &l.per_gpu);
                put_estimate(&mut m, "output_tps_per_user", &l.per_user);
                m.insert("runs".into(), json!(l.points.len()));
                for (limit, e) in slo.iter().zip(&l.limits) {
                    if let Some(e) = e {
                        m.insert(limit.name.clone(), json!(e.mean));
                    }
                }
            }
            let (_, upper) = s.boundary.bracket(&s.levels);
            put_load(&mut m, "fails_at_load", upper);
            if let Some(w) = bracket_width(s) {
                m.insert("bracket_width".into(), json!(w));
            }
            if let Some(b) = &s.boundary.binding {
                m.insert("binding_limit".into(), json!(slo[b.limit].to_string()));
                if let Some(v) = b.value {
                    m.insert("binding_value".into(), json!(v));
                }
                m.insert("binding_misses".into(), json!(b.misses));
                if let Some(c) = b.crossing {
                    m.insert("boundary_estimate".into(), json!(c));
                }
            }
            if let Some(p) = s.boundary.peak {
                put_load(&mut m, "peak_load", s.levels[p].load);
            }
            if !s.boundary.inversions.is_empty() {
                let loads: Vec<Value> = s
                    .boundary
                    .inversions
                    .iter()
                    .filter_map(|&i| s.levels[i].load.map(load_value))
                    .collect();
                m.insert("inversions".into(), Value::Array(loads));
            }
            m.insert("loads_measured".into(), json!(s.levels.len()));
            rows.push(m);
        }
    }
    write_rows(w, format, &rows)
}

fn put_load(m: &mut Map<String, Value>, key: &str, load: Option<f64>) {
    if let Some(v) = load {
        m.insert(key.to_string(), load_value(v));
    }
}

/// A load as JSON: a whole number as an integer (a concurrency), else as it is.
fn load_value(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn put_estimate(m: &mut Map<String, Value>, key: &str, e: &Estimate) {
    m.insert(key.to_string(), json!(e.mean));
    if let Some(h) = e.half_width {
        m.insert(format!("{key}_ci95"), json!(h));
    }
}

/// `--compare-table`: one row per shape, level and sweep.
pub fn write_compare_table(
    w: &mut dyn Write,
    format: TableFormat,
    a: &Analysis,
    comparisons: &[Comparison],
) -> Result<()> {
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for c in comparisons {
        for (k, &x) in c.levels.iter().enumerate() {
            for (i, s) in a.sweeps.list.iter().enumerate() {
                let mut m = Map::new();
                m.insert("shape".into(), json!(a.shapes[c.shape].label()));
                m.insert("output_tps_per_user".into(), json!(x));
                m.insert("sweep".into(), json!(s.label));
                let reading = &c.readings[k][i];
                m.insert(
                    "reading".into(),
                    json!(match reading {
                        Reading::Measured(_) => "measured",
                        Reading::Interpolated(_) => "interpolated",
                        Reading::Outside => "outside",
                    }),
                );
                if let Some(e) = reading.estimate() {
                    put_estimate(&mut m, "output_tps_per_gpu", &e);
                }
                if let Some((ratio, within)) = c.ratio(k, i) {
                    m.insert("ratio_to_first".into(), json!(ratio));
                    if let Some(within) = within {
                        m.insert("within_intervals".into(), json!(within));
                    }
                }
                rows.push(m);
            }
        }
    }
    write_rows(w, format, &rows)
}

/// Rows as JSON Lines, or CSV with the union of their keys as columns (first appearance).
fn write_rows(w: &mut dyn Write, format: TableFormat, rows: &[Map<String, Value>]) -> Result<()> {
    match format {
        TableFormat::Jsonl => {
            for r in rows {
                serde_json::to_writer(&mut *w, r)?;
                w.write_all(b"\n")?;
            }
        }
        TableFormat::Csv => {
            let mut cols: Vec<&str> = Vec::new();
            for r in rows {
                for k in r.keys() {
                    if !cols.contains(&k.as_str()) {
                        cols.push(k);
                    }
                }
            }
            let mut out = ::csv::Writer::from_writer(&mut *w);
            out.write_record(&cols)?;
            for r in rows {
                out.write_record(cols.iter().map(|c| match r.get(*c) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                }))?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_file_values_read_back_as_single_values() {
        let v: Value = serde_json::from_str(
            r#"[0.82, 1e-5, 2E+3, 7, "fp8", "yes", [1, 2, 4], {"a": 1.5e-3}, true, null]"#,
        )
        .unwrap();
        let got: Vec<String> = v.as_array().unwrap().iter().map(yaml_value).collect();
        assert_eq!(
            got,
            [
                "0.82",
                "1.0e-5",
                "2.0e+3",
                "7",
                "\"fp8\"",
                "\"yes\"",
                "[[1, 2, 4]]",
                "{\"a\": 1.5e-3}",
                "true",
                "null"
            ]
        );
        assert_eq!(yaml_key("mem-fraction-static"), "mem-fraction-static");
        assert_eq!(yaml_key("yes"), "\"yes\"");
        assert_eq!(yaml_key("a b"), "\"a b\"");
    }
}
