//! YAML text to `serde_json::Value` (types and document order kept), and positions from the
//! YAML parser for error messages.
//!
//! `serde_yaml::Value` forgets where things were, and its duplicate-key error points at the
//! start of the enclosing mapping. So the document is read through our own serde visitor,
//! which raises its errors (duplicate key, tag, non-string key, NaN) while the parser stands
//! on the offending node: serde_yaml attaches that node's line and column to the error.
//! [`locate`] uses the same mechanism on demand: it walks the document again and fails on
//! purpose at a given key or value, only to read the position the parser reports there.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// A 1-based `(line, column)`.
pub type Pos = (usize, usize);

/// An error in the YAML itself, with the parser's position when it has one.
pub struct YamlError {
    /// What is wrong, lowercase, without the position.
    pub msg: String,
    /// Where.
    pub pos: Option<Pos>,
}

/// Parses a whole YAML document. An empty document (or one of comments only) is `Null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let ours = RefCell::new(None);
    let de = serde_yaml::Deserializer::from_str(text);
    ValueSeed {
        msg: &ours,
        path: String::new(),
    }
    .deserialize(de)
    .map_err(|err| {
        let pos = err.location().map(|l| (l.line(), l.column()));
        let msg = match ours.into_inner() {
            Some(msg) => msg,
            None => format!("invalid yaml: {}", strip_first_mark(&err.to_string())),
        };
        YamlError { msg, pos }
    })
}

/// `problem at line 3 column 1, while parsing ...` -> `problem, while parsing ...`: the
/// position goes to the front of the message instead.
fn strip_first_mark(msg: &str) -> String {
    let Some(at) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[at + " at line ".len()..];
    let end = rest
        .find(" column ")
        .map(|c| {
            let digits = rest[c + 8..].bytes().take_while(u8::is_ascii_digit).count();
            c + 8 + digits
        })
        .unwrap_or(0);
    format!("{}{}", &msg[..at], &rest[end..])
}

/// Reads any YAML node into a JSON value; our own errors go to `msg` (serde_yaml would prefix
/// them with its own path otherwise), starting with the dotted path of the node.
struct ValueSeed<'a> {
    msg: &'a RefCell<Option<String>>,
    path: String,
}

/// Stores `msg` for [`parse`] and returns the error that makes serde_yaml mark the node.
fn fail<E: de::Error>(cell: &RefCell<Option<String>>, msg: String) -> E {
    *cell.borrow_mut() = Some(msg);
    E::custom("sweep")
}

impl ValueSeed<'_> {
    fn fail<E: de::Error>(&self, what: &str) -> E {
        fail(self.msg, format!("{}: {what}", self.path))
    }
    fn child(&self, path: String) -> Self {
        ValueSeed {
            msg: self.msg,
            path,
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a yaml value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Err(self.fail(&format!("integer {v} is too large")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Err(self.fail(&format!("integer {v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match Number::from_f64(v) {
            Some(n) => Ok(Value::Number(n)),
            None => Err(self.fail(&format!(
                "{v} is not a finite number (json has no place for it)"
            ))),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) =
            seq.next_element_seed(self.child(format!("{}[{}]", self.path, items.len())))?
        {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            seen: &out,
            msg: self.msg,
            parent: &self.path,
        })? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let value = map.next_value_seed(self.child(path))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(self.fail("yaml tags (!name) are not supported"))
    }
}

/// A mapping key: a string not seen before in the same mapping.
struct KeySeed<'a> {
    seen: &'a Map<String, Value>,
    msg: &'a RefCell<Option<String>>,
    parent: &'a str,
}

impl KeySeed<'_> {
    fn non_string<E: de::Error>(&self, v: impl fmt::Display) -> Result<String, E> {
        let at = if self.parent.is_empty() {
            "top level"
        } else {
            self.parent
        };
        Err(fail(
            self.msg,
            format!("{at}: map key {v} is not a string (quote it)"),
        ))
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.seen.contains_key(v) {
            let path = if self.parent.is_empty() {
                v.to_string()
            } else {
                format!("{}.{v}", self.parent)
            };
            return Err(fail(self.msg, format!("{path}: duplicate key")));
        }
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.non_string(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.non_string(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.non_string(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.non_string(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.non_string("null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<String, A::Error> {
        self.non_string("(a list)")
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<String, A::Error> {
        self.non_string("(a mapping)")
    }
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The entry of a mapping with this key.
    Key(String),
    /// The n-th (0-based) element of a list.
    Nth(usize),
}

/// Where the parser sees the node at `path`: the key itself when the path ends in a key, the
/// element when it ends in an index. `None` when the path is not in the document.
pub fn locate(text: &str, path: &[Step]) -> Option<Pos> {
    if path.is_empty() {
        return None;
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match (Seek { path }).deserialize(de) {
        Ok(()) => None,
        Err(err) => err.location().map(|l| (l.line(), l.column())),
    }
}

/// Walks to `path`, ignoring everything else, and fails there.
struct Seek<'p> {
    path: &'p [Step],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(want), rest)) = self.path.split_first() else {
            return drain_map(map);
        };
        while let Some(hit) = map.next_key_seed(KeyHit {
            want,
            fail: rest.is_empty(),
        })? {
            if hit {
                return map.next_value_seed(Seek { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Nth(n), rest)) = self.path.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        for _ in 0..*n {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        if rest.is_empty() {
            seq.next_element_seed(Here)?;
        } else {
            seq.next_element_seed(Seek { path: rest })?;
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A mapping key that is `want` (true) or not; fails on it when `fail`, to mark the key.
struct KeyHit<'a> {
    want: &'a str,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for KeyHit<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyHit<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.want, self.fail) {
            (true, true) => Err(E::custom("here")),
            (hit, _) => Ok(hit),
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Fails on whatever node it is given, so that the parser marks that node.
struct Here;

impl<'de> DeserializeSeed<'de> for Here {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Here)
    }
}

impl<'de> Visitor<'de> for Here {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom("here"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom("here"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom("here"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom("here"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom("here"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom("here"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom("here"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom("here"))
    }
}
