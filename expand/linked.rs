//! Linked parameters (`linked: [[slurm.prefill_nodes, slurm.decode_nodes]]`): keys whose lists
//! advance together, element by element, as one axis of the product.

use crate::model::{kind, Axis, Issue, KeyRef, Param, PerSection, Result, Section};
use crate::yaml_reader::Step;
use serde_json::Value;

/// A linked group: its members, in the order written.
pub type Group = Vec<KeyRef>;

/// Reads and checks the `linked` section against the swept keys.
pub fn groups(v: &Value, sections: &PerSection<Vec<Param>>) -> Result<Vec<Group>> {
    let at = |steps: &[usize]| {
        let mut p = vec![Step::Key("linked".to_string())];
        p.extend(steps.iter().map(|i| Step::Nth(*i)));
        p
    };
    let groups = match v {
        Value::Array(g) if !g.is_empty() => g,
        _ => {
            return Err(Issue::new(
                at(&[]),
                format!("linked: {SHAPE}, found {}", kind(v)),
            ))
        }
    };
    let mut out: Vec<Group> = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let members = match group {
            Value::Array(m) if m.len() >= 2 => m,
            _ => {
                return Err(Issue::new(
                    at(&[g]),
                    format!("linked: a group lists two or more keys ({SHAPE})"),
                ))
            }
        };
        let mut ids = Group::new();
        for (m, member) in members.iter().enumerate() {
            let id = check_member(member, sections, &ids, &out)
                .map_err(|msg| Issue::new(at(&[g, m]), msg))?;
            ids.push(id);
        }
        out.push(ids);
    }
    Ok(out)
}

const SHAPE: &str = "expected a list of groups, each a list of section.key paths, e.g. [[slurm.prefill_nodes, slurm.decode_nodes]]";

/// One member of the group being read (`ids` so far; `done` the groups before): a swept list
/// in no other group, as long as the group's first member.
fn check_member(
    member: &Value,
    sections: &PerSection<Vec<Param>>,
    ids: &Group,
    done: &[Group],
) -> std::result::Result<KeyRef, String> {
    let id = member_id(member, sections)?;
    let name = member.as_str().unwrap_or_default();
    if ids.contains(&id) || done.iter().any(|o| o.contains(&id)) {
        return Err(format!(
            "linked: {name} is in more than one group (or twice in one)"
        ));
    }
    let param = &sections[id.section][id.index];
    if !param.listed {
        return Err(format!(
            "linked: {name} is a single value, not a list (linked keys need lists of equal length)"
        ));
    }
    if let Some(&k0) = ids.first() {
        let first = &sections[k0.section][k0.index];
        if first.values.len() != param.values.len() {
            return Err(format!(
                "linked: {}.{} has {} values but {name} has {} (linked lists need equal length)",
                k0.section.name(),
                first.name,
                first.values.len(),
                param.values.len()
            ));
        }
    }
    Ok(id)
}

/// `section.key` to indexes; the message says why a member is not a swept key.
fn member_id(
    member: &Value,
    sections: &PerSection<Vec<Param>>,
) -> std::result::Result<KeyRef, String> {
    let Some(path) = member.as_str() else {
        return Err(format!(
            "linked: {member} is not a section.key path ({SHAPE})"
        ));
    };
    let found = path.split_once('.').and_then(|(section, key)| {
        let section = Section::parse(section)?;
        let index = sections[section].iter().position(|p| p.name == key)?;
        Some(KeyRef { section, index })
    });
    found.ok_or_else(|| {
        format!("linked: {path} is not a key of this sweep (write section.key, e.g. slurm.prefill_nodes)")
    })
}

/// The loop, outermost first: every key in section order (slurm, sglang, prefill, decode) and
/// file order, except that a linked group is one axis, placed where its earliest member is.
pub fn axes(sections: &PerSection<Vec<Param>>, groups: &[Group]) -> Vec<Axis> {
    let mut out = Vec::new();
    for (section, params) in sections.iter() {
        for index in 0..params.len() {
            let k = KeyRef { section, index };
            match groups.iter().find(|g| g.contains(&k)) {
                None => out.push(vec![k]),
                Some(g) if !out.contains(g) => out.push(g.clone()),
                Some(_) => {}
            }
        }
    }
    out
}
