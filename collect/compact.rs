//! A record held as its compact JSON text: what sweep-collect keeps of each record while it
//! only passes it through (a 100,000-record sweep's records as structs took five times the
//! manifest's size; as text, less than it).
//!
//! The text is the record's own serialization (field order of [`Record`], unknown fields
//! after), so parsing it again gives the same record, and writing it is a matter of bytes:
//! a JSON Lines line as it is, a manifest job with `job_id` and `parameters` moved first and
//! laid out as serde_json's pretty printer lays it out ([`pretty`]; a test checks both
//! against serde_json itself).

use crate::manifest::Facts;
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::borrow::Cow;
use std::io::Write;
use sweep::Record;

/// One record, as compact JSON, with what merging and the manifest's head need of it.
#[derive(Clone)]
pub struct Compact {
    /// The record's `index`.
    pub index: u64,
    /// The record's `id`.
    pub id: Box<str>,
    /// The record's `sweep_dir`: merging keys on it too.
    pub sweep_dir: Option<Box<str>>,
    /// It has earlier submissions (`history`): merging may reorder them.
    pub has_history: bool,
    /// What the manifest's head counts.
    pub facts: Facts,
    text: Box<str>,
}

impl Compact {
    /// The record as compact text.
    pub fn of(r: &Record) -> Result<Compact> {
        let text = serde_json::to_string(r)?;
        Ok(Compact {
            index: r.index,
            id: r.id.as_str().into(),
            sweep_dir: r.sweep_dir.as_deref().map(Into::into),
            has_history: !r.history.is_empty(),
            facts: Facts::of(r),
            text: text.into_boxed_str(),
        })
    }

    /// The record again.
    pub fn record(&self) -> Result<Record> {
        sweep::jsonl::parse_record(&self.text)
            .map_err(|e| anyhow!("record {} (index {}) read back: {e}", self.id, self.index))
    }

    /// The record as a JSON Lines line (without the newline), `results` last when given (in
    /// place of the record's own: results read from a manifest are those of an earlier run).
    pub fn write_line(&self, w: &mut dyn Write, results: Option<&Value>) -> Result<()> {
        match results {
            None => w.write_all(self.text.as_bytes())?,
            Some(results) => {
                w.write_all(b"{")?;
                let kept = members(self.text.as_bytes());
                let kept = kept.iter().filter(|m| m.key != RESULTS);
                for (n, m) in kept.enumerate() {
                    if n > 0 {
                        w.write_all(b",")?;
                    }
                    w.write_all(m.text)?;
                }
                w.write_all(b",\"results\":")?;
                serde_json::to_writer(&mut *w, results).map_err(std::io::Error::from)?;
                w.write_all(b"}")?;
            }
        }
        Ok(())
    }

    /// The record as a job of the manifest: `job_id` and `parameters` first (as the seed
    /// wrote them), then every other field in record order, `results` last when given (in
    /// place of the record's own);
    /// pretty-printed, each line after the first indented by `indent` more spaces.
    pub fn write_job(
        &self,
        w: &mut dyn Write,
        results: Option<&Value>,
        indent: usize,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        buf.clear();
        buf.push(b'{');
        let members = members(self.text.as_bytes());
        let first = [&b"\"job_id\""[..], &b"\"parameters\""[..]];
        // New results replace the record's own.
        let dropped =
            |m: &&Member| first.contains(&m.key) || (results.is_some() && m.key == RESULTS);
        let ordered = first
            .iter()
            .flat_map(|key| members.iter().filter(move |m| m.key == *key))
            .chain(members.iter().filter(|m| !dropped(m)));
        for (n, m) in ordered.enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(m.text);
        }
        if let Some(results) = results {
            buf.extend_from_slice(b",\"results\":");
            serde_json::to_writer(&mut *buf, results)?;
        }
        buf.push(b'}');
        pretty(w, buf, indent)?;
        Ok(())
    }
}

/// A record as the writers take it: held as compact text already, or a `Record` made text
/// as it is written (a run that looked into the records writes them so, one at a time).
pub trait Writable {
    /// What the manifest's head counts of it.
    fn facts(&self) -> Facts;
    /// Its compact text.
    fn compact(&self) -> Result<Cow<'_, Compact>>;
}

/// A record lent out is written as the record: a chosen few of a run's records
/// (`--state`) are written without copies.
impl<T: Writable> Writable for &T {
    fn facts(&self) -> Facts {
        (**self).facts()
    }
    fn compact(&self) -> Result<Cow<'_, Compact>> {
        (**self).compact()
    }
}

impl Writable for Compact {
    fn facts(&self) -> Facts {
        self.facts.clone()
    }
    fn compact(&self) -> Result<Cow<'_, Compact>> {
        Ok(Cow::Borrowed(self))
    }
}

impl Writable for Record {
    fn facts(&self) -> Facts {
        Facts::of(self)
    }
    fn compact(&self) -> Result<Cow<'_, Compact>> {
        Compact::of(self).map(Cow::Owned)
    }
}

/// The key of the results member, as compact JSON writes it.
const RESULTS: &[u8] = b"\"results\"";

/// One member of a compact JSON object: its key (with quotes) and its whole text
/// (`"key":value`).
struct Member<'a> {
    key: &'a [u8],
    text: &'a [u8],
}

/// The members of the compact JSON object `text`, in order.
fn members(text: &[u8]) -> Vec<Member<'_>> {
    let mut out = Vec::new();
    let mut i = 1; // after '{'
    while i < text.len() && text[i] == b'"' {
        let start = i;
        let key_end = string_end(text, i);
        // `:` then the value.
        let end = value_end(text, key_end + 1);
        out.push(Member {
            key: &text[start..key_end],
            text: &text[start..end],
        });
        i = end + 1; // past ',' (or '}', which ends the loop)
    }
    out
}

/// The position after the string that starts (with its quote) at `i`.
fn string_end(text: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// The position after the value that starts at `i`.
fn value_end(text: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < text.len() {
        match text[i] {
            b'"' => {
                i = string_end(text, i);
                if depth == 0 {
                    return i;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return i,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    text.len()
}

/// Writes the compact JSON `text` (serde_json's, with no white space outside strings) as
/// serde_json's pretty printer writes the same value: two spaces a level, `"key": value`,
/// empty objects and arrays as `{}` and `[]`. Every line after the first is indented by
/// `indent` more spaces.
pub fn pretty(w: &mut dyn Write, text: &[u8], indent: usize) -> std::io::Result<()> {
    let mut out: Vec<u8> = Vec::with_capacity(text.len() * 2);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + indent + 2 * depth, b' ');
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            b'"' => {
                let end = string_end(text, i);
                out.extend_from_slice(&text[i..end]);
                i = end;
                continue;
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                if text.get(i + 1) == Some(&close) {
                    out.extend_from_slice(&[c, close]);
                    i += 2;
                    continue;
                }
                out.push(c);
                depth += 1;
                newline(&mut out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            b',' => {
                out.push(b',');
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(c),
        }
        i += 1;
    }
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json's own layout of `value` as a manifest job: pretty, with 4 more spaces after
    /// each newline.
    fn serde_pretty(value: &Value, indent: usize) -> String {
        let text = serde_json::to_string_pretty(value).unwrap();
        text.replace('\n', &format!("\n{}", " ".repeat(indent)))
    }

    fn record(json: &str) -> Record {
        sweep::jsonl::parse_record(json).unwrap()
    }

    #[test]
    fn the_layout_is_serde_jsons_own() {
        let values = [
            r#"{"a":1,"b":[],"c":{},"d":[{}],"e":[[1,[2,{"x":null}]],"s"],"f":"a,b:{c}[d]\"e\\","g":true}"#,
            r#"[]"#,
            r#"{}"#,
            r#"{"é":"ü\u0001\n\t","k":-1.5e-300,"big":123456789012345678901234567890}"#,
        ];
        for text in values {
            let value: Value = serde_json::from_str(text).unwrap();
            let compact = serde_json::to_string(&value).unwrap();
            for indent in [0, 4] {
                let mut out = Vec::new();
                pretty(&mut out, compact.as_bytes(), indent).unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_pretty(&value, indent)
                );
            }
        }
    }

    #[test]
    fn a_job_has_job_id_and_parameters_first_and_results_last() {
        let r = record(
            r#"{"index":3,"id":"a","mode":"agg","parameters":{"slurm":{"agg_nodes":1},"sglang":{"x":"}\",{"}},"tag":"t","job_id":"12","state":"FAILED","zz":{"job_id":1},"results":{"old":[]}}"#,
        );
        let c = Compact::of(&r).unwrap();
        let results = serde_json::json!({"points": [{"a": 1}], "errors": []});
        let mut got = Vec::new();
        c.write_job(&mut got, Some(&results), 4, &mut Vec::new())
            .unwrap();
        // The oracle: the record as a JSON tree, the two keys moved first, serde's layout.
        let mut tree = serde_json::Map::new();
        let Value::Object(all) = serde_json::to_value(&r).unwrap() else {
            unreachable!()
        };
        tree.insert("job_id".into(), all["job_id"].clone());
        tree.insert("parameters".into(), all["parameters"].clone());
        for (k, v) in &all {
            if k != "job_id" && k != "parameters" {
                tree.insert(k.clone(), v.clone());
            }
        }
        // The new results replace the record's own (an earlier run's), last.
        tree.shift_remove("results");
        tree.insert("results".into(), results.clone());
        let want = serde_pretty(&Value::Object(tree.clone()), 4);
        assert_eq!(String::from_utf8(got).unwrap(), want);
        let mut line = Vec::new();
        c.write_line(&mut line, None).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            serde_json::to_string(&r).unwrap()
        );
        let mut line = Vec::new();
        c.write_line(&mut line, Some(&results)).unwrap();
        let mut all = all.clone();
        all.shift_remove("results");
        all.insert("results".into(), results.clone());
        assert_eq!(
            String::from_utf8(line).unwrap(),
            serde_json::to_string(&Value::Object(all)).unwrap()
        );
        assert_eq!(c.record().unwrap(), r);
    }
}
