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
use sweep::Record;

/// The table's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per row.
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

/// The table as bytes.
pub fn render(records: &[Record], found: &[Found], format: TableFormat) -> Result<Vec<u8>> {
    let rows = rows(records, found);
    match format {
        TableFormat::Jsonl => {
            let mut out = Vec::new();
            for row in &rows {
                serde_json::to_writer(&mut out, row)?;
                out.push(b'\n');
            }
            Ok(out)
        }
        TableFormat::Csv => csv(&rows),
    }
}

/// Every point as a flat row.
pub fn rows(records: &[Record], found: &[Found]) -> Vec<Map<String, Value>> {
    let mut rows = Vec::new();
    for (r, f) in records.iter().zip(found) {
        let head = head(r);
        for p in &f.points {
            let mut row = head.clone();
            row.extend(p.to_json());
            rows.push(row);
        }
    }
    rows
}

/// The record's columns: index, id, state and its parameters.
fn head(r: &Record) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("index".to_string(), Value::from(r.index));
    m.insert("id".to_string(), Value::from(r.id.clone()));
    if let Some(s) = &r.status.state {
        m.insert("state".to_string(), Value::from(s.clone()));
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

fn csv(rows: &[Map<String, Value>]) -> Result<Vec<u8>> {
    let mut columns: Vec<&str> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for row in rows {
        for k in row.keys() {
            if seen.insert(k.as_str()) {
                columns.push(k);
            }
        }
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(&columns)?;
    for row in rows {
        w.write_record(columns.iter().map(|c| cell(row.get(*c))))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
