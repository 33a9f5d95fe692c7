//! Reading one result file: the JSON values in it, each as the fields a result needs, with
//! the line it starts on. Bounded (a file larger than the limit is an error, not read), and
//! tolerant of what Python's `json.dump` writes that JSON does not allow: `NaN`, `Infinity`
//! and `-Infinity` become the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (so that an
//! unlimited request rate reads, and a NaN metric is reported by name rather than as a syntax
//! error). Fields a result does not need (per-request arrays, generated texts) are skipped
//! without being kept.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One JSON value of a result file (keys borrowed from the file's text where they can be).
pub enum Raw<'a> {
    /// An object: the fields [`super::formats`] reads, and what it notes of the rest.
    Object(Object<'a>),
    /// Something else: what it is ("an array", "a number", ...).
    Other(&'static str),
}

/// The parts of a JSON object that [`super::formats`] reads.
#[derive(Default)]
pub struct Object<'a> {
    /// The fields kept ([`Want::Keep`]), in file order, as their JSON text (no number is
    /// parsed, nothing allocated, until a run is read from them).
    pub fields: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// Keys seen whose values were skipped ([`Want::Mark`] bits): enough to say what a JSON
    /// value that is not a result is.
    pub marks: u32,
    /// An `errors` array (per-request errors, SGLang's `--output-details`): how many entries,
    /// and how many of them are an error (not empty).
    pub errors: Option<(u64, u64)>,
}

/// What the reader does with a key ([`super::formats::want`]).
pub enum Want {
    /// Keep the value.
    Keep,
    /// Skip the value, note that the key was there.
    Mark(u32),
    /// Count the entries of the array, and the non-empty ones.
    Errors,
    /// Skip the value.
    Skip,
}

/// What went wrong in a file, and where.
pub struct Failure {
    /// 1-based line, when the problem has one.
    pub line: Option<u64>,
    /// Lowercase, without the file name.
    pub message: String,
}

impl Failure {
    fn at(line: Option<u64>, message: String) -> Failure {
        Failure { line, message }
    }
}

/// Calls `each(line, value)` for every JSON value of a file's text (at most `limit` bytes),
/// in order. A syntax error ends the file: it is returned with its line (the values before it
/// were handed on).
pub fn text(content: &[u8], limit: u64, each: &mut dyn FnMut(u64, Raw)) -> Result<(), Failure> {
    if content.len() as u64 > limit {
        return Err(too_large(limit));
    }
    let text = sanitize(content);
    parse(text.as_deref().unwrap_or(content), each)
}

fn too_large(limit: u64) -> Failure {
    Failure::at(None, super::gather::too_large(limit))
}

/// The values of a whole file's text, as [`text`] describes.
fn parse(bytes: &[u8], each: &mut dyn FnMut(u64, Raw)) -> Result<(), Failure> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Raw>();
    let (mut counted_to, mut line) = (0usize, 1u64);
    loop {
        let start = stream.byte_offset();
        let item = stream.next();
        // The value starts at the first non-blank byte after the previous one.
        let begin = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        line += newlines(&bytes[counted_to..begin.min(bytes.len())]);
        counted_to = begin.min(bytes.len());
        match item {
            None => return Ok(()),
            Some(Ok(raw)) => each(line, raw),
            Some(Err(e)) => {
                let msg = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
                return Err(Failure::at(
                    Some(e.line() as u64),
                    format!("invalid JSON: {msg}"),
                ));
            }
        }
    }
}

fn newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// The text with `NaN`, `Infinity` and `-Infinity` outside strings quoted, or `None` when
/// there are none (the usual case: no copy).
fn sanitize(text: &[u8]) -> Option<Vec<u8>> {
    // Most files have neither letter outside their strings: a quick look (memchr) first.
    if !text.contains(&b'N') && !text.contains(&b'I') {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut copied) = (0, 0);
    // Jumps from one byte that matters to the next: a quote, and outside strings the first
    // letter of a word to quote; inside strings a quote or a backslash.
    while i < text.len() {
        let Some(k) = text[i..]
            .iter()
            .position(|&b| matches!(b, b'"' | b'N' | b'I' | b'-'))
        else {
            break;
        };
        i += k;
        if text[i] == b'"' {
            i += 1;
            loop {
                let Some(k) = text[i..].iter().position(|&b| b == b'"' || b == b'\\') else {
                    i = text.len();
                    break;
                };
                i += k;
                if text[i] == b'\\' {
                    // A truncated file may end right after the backslash.
                    i = (i + 2).min(text.len());
                } else {
                    i += 1;
                    break;
                }
            }
            continue;
        }
        let word: &[u8] = [&b"NaN"[..], b"Infinity", b"-Infinity"]
            .into_iter()
            .find(|w| text[i..].starts_with(w))
            .unwrap_or_default();
        if word.is_empty() {
            i += 1;
            continue;
        }
        let o = out.get_or_insert_with(|| Vec::with_capacity(text.len() + 16));
        o.extend_from_slice(&text[copied..i]);
        o.push(b'"');
        o.extend_from_slice(word);
        o.push(b'"');
        i += word.len();
        copied = i;
    }
    if let Some(o) = out.as_mut() {
        o.extend_from_slice(&text[copied.min(text.len())..]);
    }
    out
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw<'de>, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        // Room for every field a result keeps (about 40): one allocation, no regrowth.
        let mut o = Object {
            fields: Vec::with_capacity(48),
            ..Object::default()
        };
        while let Some(key) = map.next_key_seed(WantedKey)? {
            match key {
                Key::Keep(key) => {
                    let v: &RawValue = map.next_value()?;
                    o.fields.push((key, v));
                }
                Key::Mark(bit) => {
                    o.marks |= bit;
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Errors => o.errors = map.next_value::<ErrorCount>()?.0,
                Key::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Raw::Object(o))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Other("an array"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("a string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("null"))
    }
}

/// A key, kept only when a run is read from it, and borrowed from the text when it can be:
/// no allocation per key.
struct WantedKey;

enum Key<'a> {
    Keep(Cow<'a, str>),
    Mark(u32),
    Errors,
    Skip,
}

impl<'a> Key<'a> {
    fn of(key: &str, keep: impl FnOnce() -> Cow<'a, str>) -> Key<'a> {
        match super::formats::want(key) {
            Want::Keep => Key::Keep(keep()),
            Want::Mark(bit) => Key::Mark(bit),
            Want::Errors => Key::Errors,
            Want::Skip => Key::Skip,
        }
    }
}

impl<'de> de::DeserializeSeed<'de> for WantedKey {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for WantedKey {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Key::of(key, || Cow::Borrowed(key)))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Key::of(key, || Cow::Owned(key.to_string())))
    }
}

/// An `errors` array counted without being kept: (entries, entries that are an error). An
/// entry is no error when it is `""` or `null` (SGLang and vLLM write `""` for a success).
/// Anything but an array counts as absent.
struct ErrorCount(Option<(u64, u64)>);

impl<'de> Deserialize<'de> for ErrorCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ErrorCount, D::Error> {
        d.deserialize_any(ErrorCountVisitor)
    }
}

struct ErrorCountVisitor;

impl<'de> Visitor<'de> for ErrorCountVisitor {
    type Value = ErrorCount;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of errors")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ErrorCount, A::Error> {
        let (mut n, mut errors) = (0u64, 0u64);
        while let Some(entry) = seq.next_element::<ErrorEntry>()? {
            n += 1;
            errors += u64::from(entry.0);
        }
        Ok(ErrorCount(Some((n, errors))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorCount, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(ErrorCount(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ErrorCount, E> {
        Ok(ErrorCount(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ErrorCount, E> {
        Ok(ErrorCount(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ErrorCount, E> {
        Ok(ErrorCount(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ErrorCount, E> {
        Ok(ErrorCount(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ErrorCount, E> {
        Ok(ErrorCount(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<ErrorCount, E> {
        Ok(ErrorCount(None))
    }
}

/// One entry of an `errors` array: true when it is an error.
struct ErrorEntry(bool);

impl<'de> Deserialize<'de> for ErrorEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ErrorEntry, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ErrorEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an error")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ErrorEntry, E> {
                Ok(ErrorEntry(!s.is_empty()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ErrorEntry, E> {
                Ok(ErrorEntry(false))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<ErrorEntry, E> {
                Ok(ErrorEntry(b))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ErrorEntry, E> {
                Ok(ErrorEntry(true))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ErrorEntry, E> {
                Ok(ErrorEntry(true))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ErrorEntry, E> {
                Ok(ErrorEntry(true))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ErrorEntry, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ErrorEntry(true))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorEntry, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ErrorEntry(true))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::{sanitize, text, Raw};

    #[test]
    fn no_input_panics_every_prefix_and_byte_soup() {
        let line = br#"{"backend": "sglang", "request_rate": Infinity, "completed": 16, "duration": NaN, "s": "a\"b\\", "median_tpot_ms": -Infinity, "x": [1, {"y": "N"}]}
{"completed": 1}"#;
        let mut each = |_: u64, raw: Raw| {
            if let Raw::Object(o) = raw {
                let _ = crate::results::formats::classify(&o);
            }
        };
        for end in 0..=line.len() {
            let _ = text(&line[..end], 1 << 20, &mut each);
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"{}[]\",:\\ NIaf-0123456789.eE\ntrul";
        for _ in 0..3000 {
            let soup: Vec<u8> = (0..(seed % 64))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = text(&soup, 1 << 20, &mut each);
        }
    }

    #[test]
    fn python_non_finite_numbers_become_strings_outside_strings_only() {
        let s = |t: &str| sanitize(t.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(s(r#"{"a": 1}"#), None);
        assert_eq!(
            s(r#"{"request_rate": Infinity, "x": NaN, "y": [-Infinity]}"#).as_deref(),
            Some(r#"{"request_rate": "Infinity", "x": "NaN", "y": ["-Infinity"]}"#)
        );
        assert_eq!(s(r#"{"t": "NaN Infinity \" NaN"}"#), None);
        assert_eq!(
            s(r#"{"x": -5, "y": -Infinity"#).as_deref(),
            Some(r#"{"x": -5, "y": "-Infinity""#)
        );
        // Truncated inside a string, after a backslash: no panic, nothing to quote.
        assert_eq!(s("{\"N\": \"I\\"), None);
        assert_eq!(s("{\"N\": \"I\\\\"), None);
    }
}
