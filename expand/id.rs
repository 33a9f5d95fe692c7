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
//! pair is computed once per value ([`fragment`]) and the per-record text is only joined.

use serde_json::Value;
use sha2::{Digest, Sha256};

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
