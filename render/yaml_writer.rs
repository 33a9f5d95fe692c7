//! A small YAML emitter for JSON values, written so that PyYAML's `yaml.safe_load` (YAML 1.1,
//! what the engine uses) and YAML 1.2 readers both read back exactly the data that went in.
//!
//! Mappings are block style in their own order; lists and anything inside them are flow style
//! (`[1, 2, 4]`, as users write them in the sweep file). Nothing is shared, so there are no
//! anchors or aliases. Every string that any of those readers could take for something else
//! (`on`, `y`, `null`, `1e3`, `0x1F`, `2024-01-01`, `.inf`, `<<`, leading spaces, `: `, ...)
//! is double-quoted, and the output is pure ASCII (other characters are escaped), so it reads
//! the same whatever the reader's locale.

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// PyYAML refuses keys of more than 1024 characters; stay clear of that limit.
const MAX_KEY_CHARS: usize = 1000;

/// Emits `map` as a block mapping document (`{}` when empty), ending in a newline.
pub fn document(map: &Map<String, Value>, out: &mut String) -> Result<(), String> {
    if map.is_empty() {
        out.push_str("{}\n");
        return Ok(());
    }
    block_mapping(map, 0, out)
}

/// One `key: value` line per entry at `indent` spaces; a non-empty mapping value nests below.
fn block_mapping(map: &Map<String, Value>, indent: usize, out: &mut String) -> Result<(), String> {
    for (key, value) in map {
        out.extend(std::iter::repeat_n(' ', indent));
        emit_key(key, false, out)?;
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push_str(":\n");
                block_mapping(inner, indent + 2, out)?;
            }
            _ => {
                out.push_str(": ");
                flow_value(value, false, out)?;
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// A key, as long as PyYAML can read it: it gives up on a key whose `:` comes more than 1024
/// characters after its start, escapes and quotes included.
fn emit_key(key: &str, in_flow: bool, out: &mut String) -> Result<(), String> {
    let start = out.len();
    string(key, in_flow, out);
    let written = &out[start..]; // ASCII: bytes are characters
    if written.len() > MAX_KEY_CHARS {
        let head: String = key.chars().take(20).collect();
        return Err(format!(
            "key {head:?}... takes {} characters in YAML, more than PyYAML reads in a key ({MAX_KEY_CHARS})",
            written.len()
        ));
    }
    Ok(())
}

/// A value on one line: a scalar, or a flow list / flow mapping.
fn flow_value(value: &Value, in_flow: bool, out: &mut String) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(n, out)?,
        Value::String(s) => string(s, in_flow, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow_value(item, true, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_key(key, true, out)?;
                out.push_str(": ");
                flow_value(item, true, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// An integer exactly as the record has it (of any size: PyYAML reads big ints exactly); any
/// other number as the float Python's `json.loads` reads from its text.
fn number(n: &Number, out: &mut String) -> Result<(), String> {
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // `-0` is the int 0 for Python too.
        out.push_str(if digits.bytes().all(|b| b == b'0') {
            "0"
        } else {
            &text
        });
        return Ok(());
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => {
            float(f, out);
            Ok(())
        }
        _ => Err(format!("number {text} is too large for a float")),
    }
}

/// A float that reads back as a float: always a `.` in the mantissa (`1.0`, not `1`, which is
/// an int), and an exponent with an explicit sign (`1.0e+16`: YAML 1.1 requires both).
/// Exponent form where Python's `repr` uses it, so files look like PyYAML's own.
pub fn float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str(".nan");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { ".inf" } else { "-.inf" });
        return;
    }
    let a = f.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        // Display is the shortest decimal that round-trips, and never uses an exponent.
        let start = out.len();
        let _ = write!(out, "{f}");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
        return;
    }
    let text = format!("{f:e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    out.push_str(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    out.push('e');
    if !exp.starts_with('-') {
        out.push('+');
    }
    out.push_str(exp);
}

/// A string, plain when that is unambiguous, double-quoted otherwise.
fn string(s: &str, in_flow: bool, out: &mut String) {
    if is_plain_safe(s, in_flow) {
        out.push_str(s);
    } else {
        double_quoted(s, out);
    }
}

/// Characters that may not start a plain scalar (YAML indicators), plus `.` (`.inf`, `.5`,
/// `...`) and `~` (null): conservative on purpose, quoting costs nothing.
const BAD_FIRST: &[u8] = b"-?:,[]{}#&*!|>'\"%@`~.";

/// Words that YAML 1.1 (PyYAML) or 1.2 resolve to bools, nulls, or the merge/value keys.
/// Compared ignoring case: over-quoting `TrUe` is harmless.
const RESERVED: [&str; 11] = [
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "<<", "=",
];

/// True when `s` written bare reads back as this same string in every reader we care about.
/// Anything starting like a number (digit, `.`, sign + digit) is quoted: that covers ints in
/// every base, floats, `1_000`, sexagesimal `1:30`, timestamps and versions at once.
fn is_plain_safe(s: &str, in_flow: bool) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false; // "" is null in YAML
    };
    if !b.iter().all(|c| (0x20..0x7f).contains(c)) {
        return false; // control characters, tabs, non-ASCII: escaped in quotes
    }
    if first == b' ' || last == b' ' || last == b':' {
        return false;
    }
    if BAD_FIRST.contains(&first) || first.is_ascii_digit() {
        return false;
    }
    if first == b'+' && b.get(1).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    // PyYAML ends a plain scalar in a flow collection at any of these, even mid-word.
    if in_flow && b.iter().any(|c| b",[]{}:#?".contains(c)) {
        return false;
    }
    !RESERVED.iter().any(|w| s.eq_ignore_ascii_case(w))
}

/// `"..."` with YAML escapes; every character outside printable ASCII is escaped.
fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}
