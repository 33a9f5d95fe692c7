//! The sweep file's YAML read as PyYAML's `yaml.safe_load` reads it (the seed's reader: users
//! wrote their files for it), into a `serde_json::Value`, keys in document order; and the
//! position of any node, for error messages.
//!
//! Where PyYAML reads something JSON cannot hold, or reads it differently from a YAML 1.2
//! reader in a way we cannot follow, the file is refused with one line naming the node;
//! never a third meaning. In short (docs/sweep-expand.md has the whole list):
//! - plain scalars resolve by YAML 1.1's rules, as PyYAML's resolver does: `yes`/`no`/`on`/
//!   `off` are booleans, `0o17` and `1e3` strings, `017` octal, `0x1F` hex, `1_000` and
//!   `1:30` (base 60) integers, `1.5e+3` a float; quoted and block scalars are strings;
//! - the core tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map` are
//!   applied; every other tag (`!!python/tuple`, `!x`, `!!set`, `!!timestamp` ...) is refused;
//! - anchors and aliases are copied; the merge key `<<` is applied (YAML 1.1: the merged
//!   mappings' keys first, a key written in the mapping itself wins);
//! - refused: integers outside -2^63 ..= 2^64-1 and floats that overflow (PyYAML reads them
//!   as inf), `.inf`/`.nan`, dates and times (PyYAML makes them date objects), non-string
//!   keys, duplicate keys and anchors, more than one document, and nesting deeper than
//!   [`MAX_DEPTH`] (every later stage must read the records).

use crate::libyaml::{self, Event, Scalar};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

pub use crate::libyaml::Pos;

/// Deepest nesting of lists and mappings in a sweep file, the top-level mapping included. A
/// value in a section can then nest 62 deep, a record 65, a manifest 67: well inside what
/// serde_json reads (128) in render, submit and collect.
pub const MAX_DEPTH: usize = 64;

/// Most values a file may expand to through aliases (a "billion laughs" file is refused
/// before it fills the memory).
const MAX_NODES: usize = 1_000_000;

/// An error in the YAML itself, with the node's position when it has one.
pub struct YamlError {
    /// What is wrong, lowercase, without the position.
    pub msg: String,
    /// Where.
    pub pos: Option<Pos>,
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The entry of a mapping with this key.
    Key(String),
    /// The n-th (0-based) element of a list.
    Nth(usize),
}

/// Parses a whole YAML document. An empty document (or one of comments only) is `Null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    Ok(compose(text)?.map_or(Value::Null, |root| to_value(&root)))
}

/// Where the node at `path` is: the key itself when the path ends in a key, the element when
/// it ends in an index. `None` when the path is not in the document.
pub fn locate(text: &str, path: &[Step]) -> Option<Pos> {
    let mut node = compose(text).ok()??;
    for (i, step) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let (pos, next) = match (step, &node.kind) {
            (Step::Key(k), Kind::Map(entries)) => {
                let e = entries.iter().find(|e| e.key == *k)?;
                (e.pos, e.value.clone())
            }
            (Step::Nth(n), Kind::Seq(items)) => {
                let item = items.get(*n)?;
                (item.pos, item.clone())
            }
            _ => return None,
        };
        if last {
            return Some(pos);
        }
        node = next;
    }
    None
}

/// A node of the document, aliases resolved (shared) and merges applied.
struct Node {
    kind: Kind,
    pos: Pos,
    /// Values in it, itself included (what copying it costs).
    size: usize,
    /// Levels of lists and mappings in it (0 for a scalar).
    height: usize,
}

enum Kind {
    Scalar(Value),
    Seq(Vec<Rc<Node>>),
    Map(Vec<Entry>),
}

#[derive(Clone)]
struct Entry {
    key: String,
    /// Where the key is written.
    pos: Pos,
    value: Rc<Node>,
}

fn to_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar(v) => v.clone(),
        Kind::Seq(items) => Value::Array(items.iter().map(|n| to_value(n)).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_value(&e.value)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

fn error(pos: Pos, msg: String) -> YamlError {
    YamlError {
        msg,
        pos: Some(pos),
    }
}

/// The document's root node; `None` for an empty document.
fn compose(text: &str) -> Result<Option<Rc<Node>>, YamlError> {
    let events = libyaml::events(text).map_err(|e| YamlError {
        msg: format!("invalid yaml: {}", e.msg),
        pos: e.pos,
    })?;
    let mut c = Composer {
        events: events.into_iter(),
        anchors: BTreeMap::new(),
        open: Vec::new(),
        nodes: 0,
    };
    c.next(); // stream start
    let root = match c.next() {
        (Event::DocumentStart, _) => {
            let (event, pos) = c.next();
            let root = c.node(event, pos, 1, "")?;
            c.next(); // document end
            Some(root)
        }
        _ => None,
    };
    if let (Event::DocumentStart, pos) = c.next() {
        return Err(error(
            pos,
            "a second yaml document (after ---): a sweep file is one document".to_string(),
        ));
    }
    Ok(root)
}

struct Composer {
    events: std::vec::IntoIter<(Event, Pos)>,
    anchors: BTreeMap<String, (Rc<Node>, Pos)>,
    /// Anchors of the collections being read (an alias to one would be a cycle).
    open: Vec<String>,
    /// Values so far, aliases expanded.
    nodes: usize,
}

/// `path` for messages: the dotted key path, or `top level`.
fn at(path: &str) -> &str {
    if path.is_empty() {
        "top level"
    } else {
        path
    }
}

impl Composer {
    fn next(&mut self) -> (Event, Pos) {
        self.events.next().unwrap_or((Event::StreamEnd, (1, 1)))
    }

    /// The node that starts with `event`, at nesting `depth` (the top level is 1).
    fn node(
        &mut self,
        event: Event,
        pos: Pos,
        depth: usize,
        path: &str,
    ) -> Result<Rc<Node>, YamlError> {
        let (node, anchor) = match event {
            Event::Alias(name) => return self.alias(&name, pos, depth, path),
            Event::Scalar(s) => {
                let value = scalar(&s, path).map_err(|msg| error(pos, msg))?;
                let node = Node {
                    kind: Kind::Scalar(value),
                    pos,
                    size: 1,
                    height: 0,
                };
                (node, s.anchor)
            }
            Event::SequenceStart(start) => {
                self.collection_start(start.tag.as_deref(), "seq", pos, depth, path)?;
                self.open.extend(start.anchor.clone());
                let node = self.sequence(pos, depth, path)?;
                (node, start.anchor)
            }
            Event::MappingStart(start) => {
                self.collection_start(start.tag.as_deref(), "map", pos, depth, path)?;
                self.open.extend(start.anchor.clone());
                let node = self.mapping(pos, depth, path)?;
                (node, start.anchor)
            }
            _ => return Err(error(pos, format!("{}: unexpected yaml event", at(path)))),
        };
        self.count(node.size, pos)?;
        let node = Rc::new(node);
        if let Some(name) = anchor {
            self.open.retain(|a| *a != name);
            if let Some((_, first)) = self.anchors.get(&name) {
                return Err(error(
                    pos,
                    format!(
                        "{}: duplicate anchor &{name} (first at line {})",
                        at(path),
                        first.0
                    ),
                ));
            }
            self.anchors.insert(name, (node.clone(), pos));
        }
        Ok(node)
    }

    /// `*name`: the anchored node, shared.
    fn alias(
        &mut self,
        name: &str,
        pos: Pos,
        depth: usize,
        path: &str,
    ) -> Result<Rc<Node>, YamlError> {
        let Some((node, _)) = self.anchors.get(name).cloned() else {
            let why = if self.open.iter().any(|a| a == name) {
                "refers to a list or mapping that contains it (json cannot hold a cycle)"
            } else {
                "has no &anchor before it"
            };
            return Err(error(pos, format!("{}: alias *{name} {why}", at(path))));
        };
        if depth - 1 + node.height > MAX_DEPTH {
            return Err(too_deep(pos, path));
        }
        self.count(node.size, pos)?;
        Ok(node)
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(error(
                pos,
                format!("the file expands to more than {MAX_NODES} values (through aliases)"),
            ));
        }
        Ok(())
    }

    /// Checks a list's (`seq`) or mapping's (`map`) tag and depth.
    fn collection_start(
        &self,
        tag: Option<&str>,
        kind: &str,
        pos: Pos,
        depth: usize,
        path: &str,
    ) -> Result<(), YamlError> {
        if let Some(tag) = tag {
            if tag.strip_prefix(CORE) != Some(kind) {
                return Err(error(pos, format!("{}: {}", at(path), unsupported(tag))));
            }
        }
        if depth > MAX_DEPTH {
            return Err(too_deep(pos, path));
        }
        Ok(())
    }

    fn sequence(&mut self, pos: Pos, depth: usize, path: &str) -> Result<Node, YamlError> {
        let mut items = Vec::new();
        loop {
            let (event, p) = self.next();
            if matches!(event, Event::SequenceEnd | Event::StreamEnd) {
                break;
            }
            let child = format!("{path}[{}]", items.len());
            items.push(self.node(event, p, depth + 1, &child)?);
        }
        Ok(Node {
            size: 1 + items.iter().map(|n| n.size).sum::<usize>(),
            height: 1 + items.iter().map(|n| n.height).max().unwrap_or(0),
            kind: Kind::Seq(items),
            pos,
        })
    }

    /// A mapping, with its merge keys applied as PyYAML applies them: the mappings merged
    /// (in `<<: [*a, *b]`, those of the last listed first, the first listed winning), then
    /// the mapping's own keys; where a key repeats, the place of its first appearance and the
    /// value of its last.
    fn mapping(&mut self, pos: Pos, depth: usize, path: &str) -> Result<Node, YamlError> {
        let mut merged: Vec<Entry> = Vec::new();
        let mut own: Vec<Entry> = Vec::new();
        let mut seen = BTreeMap::new();
        loop {
            let (event, kpos) = self.next();
            if matches!(event, Event::MappingEnd | Event::StreamEnd) {
                break;
            }
            let key = match event {
                Event::Scalar(s) if s.plain && s.tag.is_none() && s.value == "<<" => {
                    let (event, vpos) = self.next();
                    let child = format!("{}<<", dot(path));
                    let value = self.node(event, vpos, depth + 1, &child)?;
                    merged.extend(merge_entries(&value, &child)?);
                    continue;
                }
                // YAML 1.1's value key: PyYAML reads it as the string "=" in a key.
                Event::Scalar(s) if s.plain && s.tag.is_none() && s.value == "=" => "=".to_string(),
                event => self.key(event, kpos, depth, path)?,
            };
            let child = format!("{}{key}", dot(path));
            if seen.insert(key.clone(), kpos).is_some() {
                return Err(error(kpos, format!("{child}: duplicate key")));
            }
            let (event, vpos) = self.next();
            let value = self.node(event, vpos, depth + 1, &child)?;
            own.push(Entry {
                key,
                pos: kpos,
                value,
            });
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for e in merged.into_iter().chain(own) {
            match index.get(&e.key) {
                Some(&i) => entries[i] = e,
                None => {
                    index.insert(e.key.clone(), entries.len());
                    entries.push(e);
                }
            }
        }
        Ok(Node {
            size: 1 + entries.iter().map(|e| e.value.size).sum::<usize>(),
            height: 1 + entries.iter().map(|e| e.value.height).max().unwrap_or(0),
            kind: Kind::Map(entries),
            pos,
        })
    }

    /// A mapping key: a string (quoted, or plain and read as a string).
    fn key(
        &mut self,
        event: Event,
        pos: Pos,
        depth: usize,
        path: &str,
    ) -> Result<String, YamlError> {
        let shown = match &event {
            Event::Scalar(s) => s.value.clone(),
            Event::SequenceStart(_) => "(a list)".to_string(),
            Event::MappingStart(_) => "(a mapping)".to_string(),
            Event::Alias(name) => format!("*{name}"),
            _ => String::new(),
        };
        let node = self.node(event, pos, depth + 1, path)?;
        match &node.kind {
            Kind::Scalar(Value::String(s)) => Ok(s.clone()),
            _ => Err(error(
                pos,
                format!("{}: map key {shown} is not a string (quote it)", at(path)),
            )),
        }
    }
}

/// `path.` (empty at the top level).
fn dot(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    }
}

fn too_deep(pos: Pos, path: &str) -> YamlError {
    error(
        pos,
        format!(
            "{}: nested more than {MAX_DEPTH} levels deep (every stage after sweep-expand must read the records)",
            at(path)
        ),
    )
}

/// The entries a `<<` value merges in: a mapping's, or those of a list of mappings, the
/// last listed first.
fn merge_entries(value: &Node, path: &str) -> Result<Vec<Entry>, YamlError> {
    match &value.kind {
        Kind::Map(entries) => Ok(entries.clone()),
        Kind::Seq(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate().rev() {
                match &item.kind {
                    Kind::Map(entries) => out.extend(entries.iter().cloned()),
                    _ => {
                        return Err(error(
                            item.pos,
                            format!("{path}[{i}]: a merge (<<) list holds mappings only"),
                        ))
                    }
                }
            }
            Ok(out)
        }
        Kind::Scalar(_) => Err(error(
            value.pos,
            format!("{path}: a merge (<<) takes a mapping or a list of mappings (quote \"<<\" for a key of that name)"),
        )),
    }
}

/// The prefix of the core tags: `!!int` is `tag:yaml.org,2002:int`.
const CORE: &str = "tag:yaml.org,2002:";

fn unsupported(tag: &str) -> String {
    let shown = match tag.strip_prefix(CORE) {
        Some(name) => format!("!!{name}"),
        None => tag.to_string(),
    };
    format!("yaml tag {shown} is not supported (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)")
}

/// A scalar's value, by PyYAML's rules; the error starts with the path.
fn scalar(s: &Scalar, path: &str) -> Result<Value, String> {
    let v = s.value.as_str();
    let fail = |what: String| format!("{}: {what}", at(path));
    let Some(tag) = &s.tag else {
        if !s.plain {
            return Ok(Value::String(v.to_string()));
        }
        return implicit(v).map_err(fail);
    };
    match tag.strip_prefix(CORE) {
        Some("str") => Ok(Value::String(v.to_string())),
        Some("null") => Ok(Value::Null),
        Some("bool") => match v.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Ok(Value::Bool(true)),
            "no" | "false" | "off" => Ok(Value::Bool(false)),
            _ => Err(fail(format!(
                "!!bool {v:?} is not a boolean (yes, no, true, false, on, off)"
            ))),
        },
        Some("int") if is_int(v) => int(v).map_err(fail),
        Some("int") => Err(fail(format!("!!int {v:?} is not an integer"))),
        Some("float") => tagged_float(v).map_err(fail),
        Some("seq") | Some("map") => Err(fail(format!(
            "!!{} on a scalar ({v:?}): the tag is for a {}",
            tag.strip_prefix(CORE).unwrap_or_default(),
            if tag.ends_with("seq") {
                "list"
            } else {
                "mapping"
            }
        ))),
        _ => Err(fail(unsupported(tag))),
    }
}

/// A plain scalar, resolved as PyYAML's (YAML 1.1) resolver does.
fn implicit(v: &str) -> Result<Value, String> {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Value::Bool(true))
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Value::Bool(false))
        }
        "<<" => return Err(
            "<< is YAML 1.1's merge key, which PyYAML refuses as a value (quote it for the string)"
                .to_string(),
        ),
        "=" => return Err(
            "= is YAML 1.1's value key, which PyYAML refuses as a value (quote it for the string)"
                .to_string(),
        ),
        _ => {}
    }
    if is_float(v) {
        return float(v);
    }
    if is_int(v) {
        return int(v);
    }
    if is_timestamp(v) {
        return Err(format!(
            "{v} is a date in YAML 1.1: PyYAML reads a date object, which json cannot hold (quote it for the string)"
        ));
    }
    Ok(Value::String(v.to_string()))
}

fn strip_sign(b: &[u8]) -> &[u8] {
    match b.first() {
        Some(b'-' | b'+') => &b[1..],
        _ => b,
    }
}

fn all(b: &[u8], class: fn(&u8) -> bool) -> bool {
    b.iter().all(class)
}

fn count(b: &[u8], class: fn(&u8) -> bool) -> usize {
    b.iter().take_while(|c| class(c)).count()
}

fn digit_(c: &u8) -> bool {
    c.is_ascii_digit() || *c == b'_'
}

/// `([eE][-+][0-9]+)?` and nothing after.
fn exponent_or_end(b: &[u8]) -> bool {
    match b {
        [] => true,
        [b'e' | b'E', b'-' | b'+', rest @ ..] => !rest.is_empty() && all(rest, u8::is_ascii_digit),
        _ => false,
    }
}

/// `(:[0-5]?[0-9])+` followed by something `end` accepts.
fn sexagesimal(b: &[u8], end: &dyn Fn(&[u8]) -> bool) -> bool {
    let [b':', rest @ ..] = b else { return false };
    let then = |r: &[u8]| end(r) || sexagesimal(r, end);
    let two = matches!(rest, [b'0'..=b'5', b'0'..=b'9', ..]) && then(&rest[2..]);
    two || matches!(rest, [b'0'..=b'9', ..]) && then(&rest[1..])
}

/// PyYAML's float pattern.
fn is_float(v: &str) -> bool {
    if matches!(v, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let b = v.as_bytes();
    let u = strip_sign(b);
    if matches!(u, b".inf" | b".Inf" | b".INF") {
        return true;
    }
    // `\.[0-9][0-9_]*(exp)?`, without a sign.
    if let [b'.', first, rest @ ..] = b {
        let n = count(rest, digit_);
        return first.is_ascii_digit() && exponent_or_end(&rest[n..]);
    }
    if !u.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let rest = &u[1 + count(&u[1..], digit_)..];
    // `[0-9][0-9_]*\.[0-9_]*(exp)?`
    if let [b'.', frac @ ..] = rest {
        if exponent_or_end(&frac[count(frac, digit_)..]) {
            return true;
        }
    }
    // `[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*`
    sexagesimal(
        rest,
        &|r: &[u8]| matches!(r, [b'.', frac @ ..] if all(frac, digit_)),
    )
}

/// PyYAML's int pattern.
fn is_int(v: &str) -> bool {
    let u = strip_sign(v.as_bytes());
    match u {
        [b'0', b'b', rest @ ..] => {
            !rest.is_empty() && all(rest, |c| matches!(c, b'0' | b'1' | b'_'))
        }
        [b'0', b'x', rest @ ..] => {
            !rest.is_empty() && all(rest, |c| c.is_ascii_hexdigit() || *c == b'_')
        }
        [b'0'] => true,
        [b'0', rest @ ..] => all(rest, |c| matches!(c, b'0'..=b'7' | b'_')),
        [b'1'..=b'9', rest @ ..] => {
            let rest = &rest[count(rest, digit_)..];
            rest.is_empty() || sexagesimal(rest, &|r: &[u8]| r.is_empty())
        }
        _ => false,
    }
}

/// PyYAML's timestamp pattern.
fn is_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |b: &[u8], min: usize, max: usize| {
        let n = count(b, u8::is_ascii_digit);
        (n >= min).then_some(n.min(max))
    };
    // `[0-9]{4}-[0-9]{2}-[0-9]{2}`
    if b.len() == 10
        && digits(b, 4, 4) == Some(4)
        && b[4] == b'-'
        && b[7] == b'-'
        && all(&b[5..7], u8::is_ascii_digit)
        && all(&b[8..10], u8::is_ascii_digit)
    {
        return true;
    }
    // `[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?
    //  ([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?`
    let mut i = 0;
    let take = |b: &[u8], i: &mut usize, min: usize, max: usize| -> bool {
        match digits(&b[*i..], min, max) {
            Some(n) => {
                *i += n;
                true
            }
            None => false,
        }
    };
    let lit = |b: &[u8], i: &mut usize, c: u8| -> bool {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    if !(take(b, &mut i, 4, 4)
        && lit(b, &mut i, b'-')
        && take(b, &mut i, 1, 2)
        && lit(b, &mut i, b'-')
        && take(b, &mut i, 1, 2))
    {
        return false;
    }
    if !(lit(b, &mut i, b'T') || lit(b, &mut i, b't')) {
        let blanks = count(&b[i..], |c| *c == b' ' || *c == b'\t');
        if blanks == 0 {
            return false;
        }
        i += blanks;
    }
    if !(take(b, &mut i, 1, 2)
        && lit(b, &mut i, b':')
        && take(b, &mut i, 2, 2)
        && lit(b, &mut i, b':')
        && take(b, &mut i, 2, 2))
    {
        return false;
    }
    if lit(b, &mut i, b'.') {
        i += count(&b[i..], u8::is_ascii_digit);
    }
    if i == b.len() {
        return true;
    }
    i += count(&b[i..], |c| *c == b' ' || *c == b'\t');
    if lit(b, &mut i, b'Z') {
        return i == b.len();
    }
    if !(lit(b, &mut i, b'-') || lit(b, &mut i, b'+')) || !take(b, &mut i, 1, 2) {
        return false;
    }
    if lit(b, &mut i, b':') && !take(b, &mut i, 2, 2) {
        return false;
    }
    i == b.len()
}

/// The integer PyYAML constructs from text matching its pattern (`_` dropped; `0b`, `0x`,
/// leading `0` octal, `:` base 60); refused outside what a JSON record holds.
fn int(v: &str) -> Result<Value, String> {
    let clean: String = v.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let parsed: Option<u128> = if digits == "0" {
        Some(0)
    } else if let Some(d) = digits.strip_prefix("0b") {
        u128::from_str_radix(d, 2).ok()
    } else if let Some(d) = digits.strip_prefix("0x") {
        u128::from_str_radix(d, 16).ok()
    } else if digits.starts_with('0') {
        u128::from_str_radix(digits, 8).ok()
    } else if digits.contains(':') {
        digits.split(':').try_fold(0u128, |acc, part| {
            acc.checked_mul(60)?.checked_add(part.parse::<u128>().ok()?)
        })
    } else {
        digits.parse::<u128>().ok()
    };
    let out_of_range =
        || format!("integer {v} is out of range (a record holds integers from -2^63 to 2^64-1)");
    let Some(magnitude) = parsed else {
        // No digits at all (`0x_`: PyYAML fails on it), or too many.
        return if digits.len() <= 2 || digits.ends_with(['b', 'x']) {
            Err(format!("{v} is not an integer PyYAML can read (no digits)"))
        } else {
            Err(out_of_range())
        };
    };
    if !negative {
        return u64::try_from(magnitude)
            .map(Value::from)
            .map_err(|_| out_of_range());
    }
    match i64::try_from(magnitude) {
        Ok(m) => Ok(Value::from(-m)),
        Err(_) if magnitude == 1u128 << 63 => Ok(Value::from(i64::MIN)),
        Err(_) => Err(out_of_range()),
    }
}

/// The float PyYAML constructs from text matching its pattern.
fn float(v: &str) -> Result<Value, String> {
    let clean: String = v
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let (sign, body) = match clean.as_bytes().first() {
        Some(b'-') => (-1.0, &clean[1..]),
        Some(b'+') => (1.0, &clean[1..]),
        _ => (1.0, clean.as_str()),
    };
    let f = if body == ".inf" || body == ".nan" {
        let shown = if body == ".nan" {
            f64::NAN
        } else {
            sign * f64::INFINITY
        };
        return Err(format!(
            "{shown} is not a finite number (json has no place for it)"
        ));
    } else if body.contains(':') {
        // As PyYAML: each part a float, the last one the units, each before it 60 times more.
        let mut value = 0.0;
        let mut base = 1.0;
        for part in body.split(':').rev() {
            let digit: f64 = part
                .parse()
                .map_err(|_| format!("{v} is not a number PyYAML can read"))?;
            value += digit * base;
            base *= 60.0;
        }
        sign * value
    } else {
        sign * body
            .parse::<f64>()
            .map_err(|_| format!("{v} is not a number PyYAML can read"))?
    };
    Number::from_f64(f).map(Value::Number).ok_or_else(|| {
        format!(
            "{v} is out of range for a float (PyYAML reads it as inf, which json has no place for)"
        )
    })
}

/// `!!float v`: what the pattern accepts, or a plain decimal or exponent number (Python's
/// `float()` reads `3` and `1e5` too).
fn tagged_float(v: &str) -> Result<Value, String> {
    let numeric = !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_digit() || b"+-._eE".contains(&c))
        && v.bytes().any(|c| c.is_ascii_digit());
    if is_float(v) || numeric && v.replace('_', "").parse::<f64>().is_ok() {
        return float(v);
    }
    Err(format!("!!float {v:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_pyyamls() {
        for f in [
            "1.0", "1.", "-1.5", "+1_0.5", ".5", "1.5e+3", "1.e-3", "1:30.5", "-.inf", ".NaN",
            "1_.0",
        ] {
            assert!(is_float(f), "{f}");
        }
        for s in [
            "1e3", "1.5e3", "-.5", "+.5", ".", "1:60.5", "1.0e+", "e3", "1_000",
        ] {
            assert!(!is_float(s), "{s}");
        }
        for i in [
            "0",
            "-0",
            "017",
            "0_",
            "0b101",
            "0x1F",
            "-0x_f",
            "1_000",
            "1:30",
            "190:20:30",
            "+7",
        ] {
            assert!(is_int(i), "{i}");
        }
        for s in ["08", "0o17", "1:60", "1:5:", "0b", "0x", "1.0", "_1", "1e3"] {
            assert!(!is_int(s), "{s}");
        }
        for t in [
            "2024-01-01",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "2001-12-15T02:59:43.1Z",
            "2002-1-2 3:04:05",
        ] {
            assert!(is_timestamp(t), "{t}");
        }
        for s in ["2024-1-1", "2024-01-01x", "2001-12-14T21:59", "20240-01-01"] {
            assert!(!is_timestamp(s), "{s}");
        }
    }

    #[test]
    fn numbers_are_constructed_as_pyyaml_constructs_them() {
        assert_eq!(int("017").unwrap(), Value::from(15));
        assert_eq!(int("-0x_1F").unwrap(), Value::from(-31));
        assert_eq!(int("1:30").unwrap(), Value::from(90));
        assert_eq!(int("-9223372036854775808").unwrap(), Value::from(i64::MIN));
        assert_eq!(int("18446744073709551615").unwrap(), Value::from(u64::MAX));
        assert!(int("18446744073709551616").is_err());
        assert!(int("-9223372036854775809").is_err());
        assert!(int("0x_").is_err());
        assert_eq!(float("1:30.5").unwrap().as_f64(), Some(90.5));
        assert_eq!(float("1_0.2_5").unwrap().as_f64(), Some(10.25));
        assert!(float("1.0e+400").is_err());
    }
}
