//! The record id: the first 16 hex digits of the SHA-256 of the canonical JSON of
//! `{"parameters": ..., "role_parameters": ...}` (the latter only when the record has it).
//!
//! Canonical JSON: object keys sorted by their UTF-8 bytes at every depth, no whitespace,
//! strings and numbers exactly as serde_json writes them in the record itself (so `1`, `1.0`
//! and `"1"` hash differently). This equals Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` for every
//! value a sweep file normally holds (floats below 0.0001 differ: Python's `1e-05`, `1e-07`
//! against our `0.00001`, `1e-7`).
//!
//! Expansion hashes a million records a second, so the canonical text of each `"key":value`
//! pair is computed once per value ([`fragment`]) and the per-record text is only joined
//! ([`IdText`]).

use crate::model::{Param, PerSection, Section};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The ids of one sweep's combinations: the canonical text of each combination's
/// `{"parameters": ..., "role_parameters": ...}`, joined from per-value fragments, hashed.
pub struct IdText {
    /// `"key":value` canonical text of every value of every key, by section.
    fragments: PerSection<Vec<Vec<String>>>,
    /// Key indexes of each section in canonical (sorted) order.
    sorted: PerSection<Vec<usize>>,
    /// The record has `role_parameters` (some role has values of its own).
    roles: bool,
    text: String,
}

impl IdText {
    pub fn new(sections: &PerSection<Vec<Param>>) -> IdText {
        let fragments = PerSection::from_fn(|s| {
            let params = &sections[s];
            params
                .iter()
                .map(|p| p.values.iter().map(|v| fragment(&p.name, v)).collect())
                .collect()
        });
        let sorted = PerSection::from_fn(|s| {
            let params = &sections[s];
            let mut idx: Vec<usize> = (0..params.len()).collect();
            idx.sort_by(|&a, &b| params[a].name.cmp(&params[b].name));
            idx
        });
        let roles = !sections[Section::Prefill].is_empty() || !sections[Section::Decode].is_empty();
        IdText {
            fragments,
            sorted,
            roles,
            text: String::new(),
        }
    }

    /// The id of the combination that takes value `choice[section][key]` of each key.
    /// Canonical order: `parameters` {`sglang`, `slurm`}, then `role_parameters` {`decode`,
    /// `prefill`}, a role only when it has values.
    pub fn id(&mut self, choice: &PerSection<Vec<usize>>) -> String {
        self.text.clear();
        self.text.push_str(r#"{"parameters":{"sglang":"#);
        self.section(Section::Sglang, choice);
        self.text.push_str(r#","slurm":"#);
        self.section(Section::Slurm, choice);
        self.text.push('}');
        if self.roles {
            self.text.push_str(r#","role_parameters":{"#);
            let mut first = true;
            for s in [Section::Decode, Section::Prefill] {
                if self.fragments[s].is_empty() {
                    continue;
                }
                if !first {
                    self.text.push(',');
                }
                first = false;
                self.text
                    .push_str(&json(&Value::String(s.name().to_string())));
                self.text.push(':');
                self.section(s, choice);
            }
            self.text.push('}');
        }
        self.text.push('}');
        hash(self.text.as_bytes())
    }

    /// `{"a":1,"b":2}`: the section's chosen values, keys sorted.
    fn section(&mut self, s: Section, choice: &PerSection<Vec<usize>>) {
        self.text.push('{');
        for (i, &k) in self.sorted[s].iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(&self.fragments[s][k][choice[s][k]]);
        }
        self.text.push('}');
    }
}

/// Appends the canonical JSON of `v` to `out`.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json(&Value::String(k.clone())));
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&json(scalar)),
    }
}

/// `"key":<canonical value>`.
pub fn fragment(key: &str, v: &Value) -> String {
    let mut out = json(&Value::String(key.to_string()));
    out.push(':');
    canonical(v, &mut out);
    out
}

fn json(v: &Value) -> String {
    // Serializing a Value to a String cannot fail (keys are strings, numbers are finite).
    serde_json::to_string(v).unwrap_or_default()
}

/// The id of a canonical text: 16 lowercase hex digits.
pub fn hash(text: &[u8]) -> String {
    let digest = Sha256::digest(text);
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_at_every_depth_and_keeps_types() {
        let v: Value =
            serde_json::from_str(r#"{"b":[1,1.0,"1",{"z":true,"a":null}],"a":"é\n"}"#).unwrap();
        let mut s = String::new();
        canonical(&v, &mut s);
        assert_eq!(s, r#"{"a":"é\n","b":[1,1.0,"1",{"a":null,"z":true}]}"#);
    }

    #[test]
    fn hash_is_sha256_prefix() {
        // sha256("") = e3b0c44298fc1c14...
        assert_eq!(hash(b""), "e3b0c44298fc1c14");
    }
}
