//! The sweep file, validated as a whole: sections, keys, values, mode, linked groups, per-role
//! values, and the loop order ("axes") the expansion walks.

use crate::model::{key_path, kind, Axis, Issue, Param, PerSection, Result, Section, Sweep};
use crate::yaml_reader::Step;
use serde_json::{Map, Value};
use sweep::{Mode, SlurmKey};

/// The sections a sweep file may have: those of values, and `linked`.
const ALL_SECTIONS: [&str; 5] = ["slurm", "sglang", "prefill", "decode", "linked"];

/// Validates the parsed document and builds the sweep.
pub fn build(doc: Value) -> Result<Sweep> {
    let top = top_level(doc)?;
    let mut sections: PerSection<Vec<Param>> = PerSection::default();
    for s in Section::ALL {
        if let Some(v) = top.get(s.name()) {
            sections[s] = params(s, v)?;
        }
    }
    let mode = mode(&sections)?;
    if mode == Mode::Agg {
        for s in [Section::Prefill, Section::Decode] {
            if !sections[s].is_empty() {
                let name = s.name();
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
fn check_distinct(sweep: &Sweep, axis: &Axis) -> Result<()> {
    let mut seen = std::collections::BTreeMap::new();
    let first_key = axis[0];
    let p = sweep.param(first_key);
    for i in 0..p.values.len() {
        let mut tuple = String::new();
        for &k in axis {
            crate::id::canonical(&sweep.param(k).values[i], &mut tuple);
            tuple.push('\n');
        }
        let Some(first) = seen.insert(tuple, i) else {
            continue;
        };
        let section = first_key.section.name();
        let name = format!("{section}.{}", p.name);
        let msg = if axis.len() == 1 {
            format!("{name}: {} is listed twice (elements {first} and {i}): its combinations would run twice", p.values[i])
        } else {
            format!("{name}: elements {first} and {i} of its linked group are the same values: their combinations would run twice")
        };
        return Err(Issue::new(
            vec![
                Step::Key(section.to_string()),
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
fn params(s: Section, v: &Value) -> Result<Vec<Param>> {
    let section = s.name();
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
        check_key(s, key)?;
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
            check_value(s, key, value).map_err(|msg| Issue::new(path, msg))?;
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
fn check_key(s: Section, key: &str) -> Result<()> {
    let section = s.name();
    let path = key_path(&[section, key]);
    let msg = if s == Section::Slurm {
        if SlurmKey::parse(key).is_some() {
            return Ok(());
        }
        let known = SlurmKey::ALL.map(SlurmKey::as_str);
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
fn check_value(s: Section, key: &str, v: &Value) -> std::result::Result<(), String> {
    let section = s.name();
    if s == Section::Slurm {
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
fn mode(sections: &PerSection<Vec<Param>>) -> Result<Mode> {
    let slurm = &sections[Section::Slurm];
    if slurm.is_empty() {
        return Err(Issue::new(vec![], format!("no slurm section: {}", MODES)));
    }
    let names: Vec<&str> = slurm.iter().map(|p| p.name.as_str()).collect();
    let of = |mode: Mode| -> Vec<&str> {
        names
            .iter()
            .copied()
            .filter(|n| mode.slurm_keys().iter().any(|k| k.as_str() == *n))
            .collect()
    };
    let (dis, agg) = (of(Mode::Disagg), of(Mode::Agg));
    if !dis.is_empty() && !agg.is_empty() {
        // Point at the first key of whichever mode came second.
        let first = |mode: Mode| names.iter().position(|n| of(mode).contains(n));
        let at = names[first(Mode::Agg).max(first(Mode::Disagg)).unwrap_or(0)];
        return Err(Issue::new(
            key_path(&["slurm", at]),
            format!(
                "slurm.{at}: aggregated keys ({}) and disaggregated keys ({}) cannot be mixed: a sweep is one mode",
                agg.join(", "),
                dis.join(", ")
            ),
        ));
    }
    let (mode, label) = if dis.is_empty() {
        (Mode::Agg, "aggregated")
    } else {
        (Mode::Disagg, "disaggregated")
    };
    let needed = mode.slurm_keys().iter().map(|k| k.as_str());
    let missing: Vec<&str> = needed.clone().filter(|k| !names.contains(k)).collect();
    if !missing.is_empty() {
        return Err(Issue::new(
            key_path(&["slurm"]),
            format!(
                "slurm: {label} mode needs {}; missing {}",
                needed.collect::<Vec<_>>().join(", "),
                missing.join(", ")
            ),
        ));
    }
    Ok(mode)
}

const MODES: &str = "give prefill_nodes, decode_nodes, prefill_workers, decode_workers (disaggregated) or agg_nodes, agg_workers (aggregated)";

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
