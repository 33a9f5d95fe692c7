//! `--table FILE`: one row per point with the record's parameters as columns, as CSV or JSON
//! Lines, for pandas and DuckDB to load as is.
//!
//! Columns: `index`, `id`, `state` (the combination's), then every parameter as
//! `slurm.<key>`, `sglang.<key>`, `prefill.<key>`, `decode.<key>` (in order of first
//! appearance), then the point's fields as in `results.points`. CSV has every column in every
//! row (an absent value is an empty cell; a list value is its JSON text); JSON Lines rows
//! leave absent values out.

use super::Found;
use anyhow::Result;
use serde_json::{Map, Value};
use std::io::Write;
use sweep::Record;

/// The table's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
// Variants without doc comments: clap would list them in a long --help of their own, which
// switches every option's help to the next line.
pub enum TableFormat {
    // Comma-separated values with a header row.
    Csv,
    // One JSON object per row.
    Jsonl,
}

impl TableFormat {
    /// From a file name's extension (`.csv`, `.jsonl`), if it says.
    pub fn from_path(path: &std::path::Path) -> Option<TableFormat> {
        match path.extension()?.to_str()? {
            "csv" => Some(TableFormat::Csv),
            "jsonl" => Some(TableFormat::Jsonl),
            _ => None,
        }
    }
}

/// Writes the table, one row at a time.
pub fn write(
    w: &mut dyn Write,
    records: &[Record],
    found: &[Found],
    format: TableFormat,
) -> Result<()> {
    match format {
        TableFormat::Jsonl => jsonl(w, records, found),
        TableFormat::Csv => csv(w, records, found),
    }
}

fn jsonl(w: &mut dyn Write, records: &[Record], found: &[Found]) -> Result<()> {
    for (r, f) in records.iter().zip(found) {
        if f.points.is_empty() {
            continue;
        }
        // The record's part of each of its rows, written once.
        let mut head = serde_json::to_vec(&head(r))?;
        head.pop(); // its closing brace: the point's fields follow
        for p in &f.points {
            w.write_all(&head)?;
            let mut err = Ok(());
            p.each_field(|k, v| {
                if err.is_ok() {
                    err = (|| {
                        w.write_all(b",")?;
                        serde_json::to_writer(&mut *w, k).map_err(std::io::Error::from)?;
                        w.write_all(b":")?;
                        v.write_json(w)
                    })();
                }
            });
            err?;
            w.write_all(b"}\n")?;
        }
    }
    Ok(())
}

fn csv(w: &mut dyn Write, records: &[Record], found: &[Found]) -> Result<()> {
    let (heads, points) = columns(records, found);
    let mut out = ::csv::Writer::from_writer(&mut *w);
    out.write_record(heads.iter().chain(&points))?;
    out.flush()?;
    drop(out);
    // Rows are formatted on the machine's cores, a batch of records at a time, and written
    // in order: a large sweep has millions of cells, and memory holds one batch.
    let threads = super::threads();
    let pairs: Vec<(&Record, &Found)> = records.iter().zip(found).collect();
    for batch in pairs.chunks(ROWS_BATCH * threads) {
        let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = batch
                .chunks(ROWS_BATCH)
                .map(|part| scope.spawn(|| csv_rows(part, &heads, &points)))
                .collect();
            workers
                .into_iter()
                .map(|h| h.join().expect("a table worker panicked"))
                .collect()
        });
        for part in parts {
            w.write_all(&part?)?;
        }
    }
    Ok(())
}

/// Records per table worker and batch.
const ROWS_BATCH: usize = 1024;

/// The CSV rows of some records' points.
fn csv_rows(part: &[(&Record, &Found)], heads: &[String], points: &[String]) -> Result<Vec<u8>> {
    let mut out = ::csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(64 * 1024));
    // Cells are written one by one from reused buffers.
    let mut text = Vec::with_capacity(64);
    let mut err: Result<(), ::csv::Error> = Ok(());
    for (r, f) in part {
        if f.points.is_empty() {
            continue;
        }
        let head = head(r);
        let head: Vec<String> = heads.iter().map(|c| cell(head.get(c))).collect();
        for p in &f.points {
            for h in &head {
                out.write_field(h)?;
            }
            // The point's fields come in column order: fill the gaps with empty cells.
            let mut next = 0;
            p.each_field(|k, v| {
                while next < points.len() && points[next] != k {
                    if err.is_ok() {
                        err = out.write_field(b"");
                    }
                    next += 1;
                }
                text.clear();
                let _ = v.write_text(&mut text);
                if err.is_ok() {
                    err = out.write_field(&text);
                }
                next += 1;
            });
            for _ in next..points.len() {
                out.write_field(b"")?;
            }
            std::mem::replace(&mut err, Ok(()))?;
            out.write_record(None::<&[u8]>)?;
        }
    }
    out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The columns of the CSV, found before any row is written so that every row has every
/// column: the records' (in order of first appearance), then the points' (in the order of
/// [`super::Point::each_field`]).
fn columns(records: &[Record], found: &[Found]) -> (Vec<String>, Vec<String>) {
    let mut heads: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (r, f) in records.iter().zip(found) {
        if !f.points.is_empty() {
            for k in head(r).keys() {
                if seen.insert(k.clone()) {
                    heads.push(k.clone());
                }
            }
        }
    }
    let mut points: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // Most points have the fields of the one before: only a point whose field list differs
    // from the last one looked at is looked into.
    let mut last: Vec<String> = Vec::new();
    let mut same;
    for p in found.iter().flat_map(|f| &f.points) {
        let mut i = 0;
        same = true;
        p.each_field(|k, _| {
            same &= last.get(i).is_some_and(|l| l == k);
            i += 1;
        });
        if same && i == last.len() {
            continue;
        }
        last.clear();
        p.each_field(|k, _| {
            last.push(k.to_string());
            if !seen.contains(k) {
                seen.insert(k.to_string());
                points.push(k.to_string());
            }
        });
    }
    points.sort_by(|a, b| {
        super::column_rank(a)
            .partial_cmp(&super::column_rank(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    (heads, points)
}

/// The record's columns: index, id, state and its parameters.
fn head(r: &Record) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("index".to_string(), Value::from(r.index));
    m.insert("id".to_string(), Value::from(r.id.clone()));
    if let Some(s) = &r.status.state {
        m.insert("state".to_string(), Value::from(s.as_str()));
    }
    for (name, v) in parameters(r) {
        m.insert(name, v);
    }
    m
}

/// `section.key` and value of every parameter of the record, in record order.
pub fn parameters(r: &Record) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut add = |section: &str, map: &Map<String, Value>| {
        for (k, v) in map {
            out.push((format!("{section}.{k}"), v.clone()));
        }
    };
    add("slurm", &r.parameters.slurm);
    add("sglang", &r.parameters.sglang);
    if let Some(roles) = &r.role_parameters {
        add("prefill", &roles.prefill);
        add("decode", &roles.decode);
    }
    out
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
