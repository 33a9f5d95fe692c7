//! The sweep file, validated as a whole: sections, keys, values, mode, linked groups, per-role
//! values, and the loop order ("axes") the expansion walks.

use crate::yaml::{Pos, Step};
use serde_json::{Map, Value};
use sweep::Mode;

/// Sections that hold swept values, in loop order (outermost first).
pub const VALUE_SECTIONS: [&str; 4] = ["slurm", "sglang", "prefill", "decode"];
/// Index of each in [`VALUE_SECTIONS`].
pub const SLURM: usize = 0;
pub const PREFILL: usize = 2;
pub const DECODE: usize = 3;
const ALL_SECTIONS: [&str; 5] = ["slurm", "sglang", "prefill", "decode", "linked"];
const DISAGG_KEYS: [&str; 4] = [
    "prefill_nodes",
    "decode_nodes",
    "prefill_workers",
    "decode_workers",
];
const AGG_KEYS: [&str; 2] = ["agg_nodes", "agg_workers"];

/// A validation failure: what is wrong, and the path of the node it is about.
#[derive(Debug)]
pub struct Issue {
    /// Where in the document (empty: the file as a whole).
    pub path: Vec<Step>,
    /// One lowercase line, starting with the key path when there is one.
    pub msg: String,
    /// The position, when already known (YAML errors); else found from `path`.
    pub pos: Option<Pos>,
}

impl Issue {
    pub fn new(path: Vec<Step>, msg: impl Into<String>) -> Issue {
        Issue {
            path,
            msg: msg.into(),
            pos: None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Issue>;

/// One swept key and its values.
#[derive(Debug)]
pub struct Param {
    /// The key as written.
    pub name: String,
    /// Its values, in file order (a scalar is one value).
    pub values: Vec<Value>,
    /// Written as a list (a scalar cannot be linked).
    pub listed: bool,
}

/// A valid sweep, ready to expand.
#[derive(Debug)]
pub struct Sweep {
    pub mode: Mode,
    /// The params of each of [`VALUE_SECTIONS`], in file order; empty when absent.
    pub sections: [Vec<Param>; 4],
    /// The loop, outermost first: each axis is one key, or one linked group whose members
    /// `(section, key)` advance together.
    pub axes: Vec<Vec<(usize, usize)>>,
}

impl Sweep {
    /// Number of values along axis `a`.
    pub fn axis_len(&self, a: usize) -> usize {
        let (s, k) = self.axes[a][0];
        self.sections[s][k].values.len()
    }

    /// Number of combinations; `None` if it does not fit in a u64.
    pub fn count(&self) -> Option<u64> {
        (0..self.axes.len()).try_fold(1u64, |n, a| n.checked_mul(self.axis_len(a) as u64))
    }
}

/// Validates the parsed document and builds the sweep.
pub fn build(doc: Value) -> Result<Sweep> {
    let top = top_level(doc)?;
    let mut sections: [Vec<Param>; 4] = Default::default();
    for (i, name) in VALUE_SECTIONS.iter().enumerate() {
        if let Some(v) = top.get(*name) {
            sections[i] = params(name, v)?;
        }
    }
    let mode = mode(&sections)?;
    if mode == Mode::Agg {
        for s in [PREFILL, DECODE] {
            if !sections[s].is_empty() {
                let name = VALUE_SECTIONS[s];
                return Err(Issue::new(
                    key_path(&[name]),
                    format!("{name}: per-role values need disaggregated mode (this sweep is aggregated: agg_nodes, agg_workers)"),
                ));
            }
        }
    }
    let groups = match top.get("linked") {
        Some(v) => crate::linked::groups(v, &sections)?,
        None => Vec::new(),
    };
    let axes = crate::linked::axes(&sections, &groups);
    let sweep = Sweep {
        mode,
        sections,
        axes,
    };
    for axis in &sweep.axes {
        check_distinct(&sweep, axis)?;
    }
    Ok(sweep)
}

/// A value repeated along an axis would repeat whole combinations: the same job twice, under
/// one id. (Linked members may repeat a value; the group's tuples must differ.)
fn check_distinct(sweep: &Sweep, axis: &[(usize, usize)]) -> Result<()> {
    let mut seen = std::collections::BTreeMap::new();
    let (s0, k0) = axis[0];
    for i in 0..sweep.sections[s0][k0].values.len() {
        let mut tuple = String::new();
        for &(s, k) in axis {
            crate::id::canonical(&sweep.sections[s][k].values[i], &mut tuple);
            tuple.push('\n');
        }
        let Some(first) = seen.insert(tuple, i) else {
            continue;
        };
        let p = &sweep.sections[s0][k0];
        let name = format!("{}.{}", VALUE_SECTIONS[s0], p.name);
        let msg = if axis.len() == 1 {
            format!("{name}: {} is listed twice (elements {first} and {i}): its combinations would run twice", p.values[i])
        } else {
            format!("{name}: elements {first} and {i} of its linked group are the same values: their combinations would run twice")
        };
        return Err(Issue::new(
            vec![
                Step::Key(VALUE_SECTIONS[s0].to_string()),
                Step::Key(p.name.clone()),
                Step::Nth(i),
            ],
            msg,
        ));
    }
    Ok(())
}

/// The top level: a non-empty mapping of known sections.
fn top_level(doc: Value) -> Result<Map<String, Value>> {
    let top = match doc {
        Value::Object(m) if !m.is_empty() => m,
        Value::Null | Value::Object(_) => {
            return Err(Issue::new(
                vec![],
                "empty sweep file (expected the sections slurm and sglang)",
            ))
        }
        other => {
            return Err(Issue::new(
                vec![],
                format!(
                    "expected a mapping of sections (slurm, sglang, ...), found {}",
                    kind(&other)
                ),
            ))
        }
    };
    for name in top.keys() {
        if !ALL_SECTIONS.contains(&name.as_str()) {
            return Err(Issue::new(
                key_path(&[name]),
                format!("{name}: unknown section {}", hint(name, &ALL_SECTIONS)),
            ));
        }
    }
    Ok(top)
}

/// The keys of one value section, each checked, with its values.
fn params(section: &str, v: &Value) -> Result<Vec<Param>> {
    let map = match v {
        Value::Object(m) if !m.is_empty() => m,
        _ => {
            return Err(Issue::new(
                key_path(&[section]),
                format!(
                    "{section}: expected a mapping of keys to values, found {}",
                    kind(v)
                ),
            ))
        }
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        check_key(section, key)?;
        let (values, listed) = match value {
            Value::Array(items) => (items.clone(), true),
            other => (vec![other.clone()], false),
        };
        if values.is_empty() {
            return Err(Issue::new(
                key_path(&[section, key]),
                format!("{section}.{key}: empty list (a list needs at least one value)"),
            ));
        }
        for (i, value) in values.iter().enumerate() {
            let mut path = key_path(&[section, key]);
            if listed {
                path.push(Step::Nth(i));
            }
            check_value(section, key, value).map_err(|msg| Issue::new(path, msg))?;
        }
        out.push(Param {
            name: key.clone(),
            values,
            listed,
        });
    }
    Ok(out)
}

/// Slurm keys are the six the job needs; the others are engine flag names (`--` and `_` are
/// the two usual slips: the config file wants `max-running-requests`).
fn check_key(section: &str, key: &str) -> Result<()> {
    let path = key_path(&[section, key]);
    let msg = if section == "slurm" {
        let known: Vec<&str> = DISAGG_KEYS.iter().chain(&AGG_KEYS).copied().collect();
        if known.contains(&key) {
            return Ok(());
        }
        format!("{section}.{key}: unknown slurm key {}", hint(key, &known))
    } else if key.is_empty() {
        format!("{section}: empty key")
    } else if let Some(bare) = key.strip_prefix("--") {
        format!("{section}.{key}: write engine flags without the leading -- (did you mean {bare}?)")
    } else if key.contains('_') {
        format!(
            "{section}.{key}: engine flags are spelled with hyphens (did you mean {}?)",
            key.replace('_', "-")
        )
    } else {
        return Ok(());
    };
    Err(Issue::new(path, msg))
}

/// One value: slurm counts are positive integers; no value is null.
fn check_value(section: &str, key: &str, v: &Value) -> std::result::Result<(), String> {
    if section == "slurm" {
        if v.as_u64().is_some_and(|n| n > 0) {
            return Ok(());
        }
        return Err(format!("{section}.{key}: {v} is not a positive integer"));
    }
    if v.is_null() {
        return Err(format!(
            "{section}.{key}: null is not a value (give one, or remove the key)"
        ));
    }
    Ok(())
}

/// The mode, from which slurm keys are present: all four disaggregated ones or both
/// aggregated ones, never a mix.
fn mode(sections: &[Vec<Param>; 4]) -> Result<Mode> {
    let slurm = &sections[SLURM];
    if slurm.is_empty() {
        return Err(Issue::new(vec![], format!("no slurm section: {}", MODES)));
    }
    let names: Vec<&str> = slurm.iter().map(|p| p.name.as_str()).collect();
    let dis: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| DISAGG_KEYS.contains(n))
        .collect();
    let agg: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| AGG_KEYS.contains(n))
        .collect();
    if !dis.is_empty() && !agg.is_empty() {
        // Point at the first key of whichever mode came second.
        let first_agg = names.iter().position(|n| AGG_KEYS.contains(n));
        let first_dis = names.iter().position(|n| DISAGG_KEYS.contains(n));
        let at = names[first_agg.max(first_dis).unwrap_or(0)];
        return Err(Issue::new(
            key_path(&["slurm", at]),
            format!(
                "slurm.{at}: aggregated keys ({}) and disaggregated keys ({}) cannot be mixed: a sweep is one mode",
                agg.join(", "),
                dis.join(", ")
            ),
        ));
    }
    let (mode, needed, label) = if dis.is_empty() {
        (Mode::Agg, &AGG_KEYS[..], "aggregated")
    } else {
        (Mode::Disagg, &DISAGG_KEYS[..], "disaggregated")
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|k| !names.contains(k))
        .collect();
    if !missing.is_empty() {
        return Err(Issue::new(
            key_path(&["slurm"]),
            format!(
                "slurm: {label} mode needs {}; missing {}",
                needed.join(", "),
                missing.join(", ")
            ),
        ));
    }
    Ok(mode)
}

const MODES: &str = "give prefill_nodes, decode_nodes, prefill_workers, decode_workers (disaggregated) or agg_nodes, agg_workers (aggregated)";

/// Path of mapping keys.
pub fn key_path(keys: &[&str]) -> Vec<Step> {
    keys.iter().map(|k| Step::Key(k.to_string())).collect()
}

/// How a value is described in messages ("empty" matters: `sglang: {}` is refused because it
/// is empty, and "expected a mapping ..., found a mapping" would not say so).
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(a) if a.is_empty() => "an empty list",
        Value::Array(_) => "a list",
        Value::Object(m) if m.is_empty() => "an empty mapping",
        Value::Object(_) => "a mapping",
    }
}

/// `(did you mean x?)` when one of `known` is a near miss of `word`, else `(valid: a, b)`.
fn hint(word: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!("(did you mean {k}?)"))
        .unwrap_or_else(|| format!("(valid: {})", known.join(", ")))
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
