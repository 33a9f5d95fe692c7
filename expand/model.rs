//! The sweep as expand models it: sections, swept keys and their values, the loop order
//! ("axes"), and the issue a check reports. Every other module of expand builds on this one;
//! it imports none of them but the YAML reader's path type.

use crate::yaml_reader::{Pos, Step};
use serde_json::Value;
use std::ops::{Index, IndexMut};
use sweep::{Mode, Role};

/// A section of the sweep file that holds swept values, in loop order (outermost first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The job's shape: node and worker counts.
    Slurm,
    /// Engine flags for every worker.
    Sglang,
    /// Engine flags for prefill workers only.
    Prefill,
    /// Engine flags for decode workers only.
    Decode,
}

impl Section {
    /// Every section, in loop order.
    pub const ALL: [Section; 4] = [
        Section::Slurm,
        Section::Sglang,
        Section::Prefill,
        Section::Decode,
    ];

    /// The section's name in the sweep file.
    pub fn name(self) -> &'static str {
        match self {
            Section::Slurm => "slurm",
            Section::Sglang => "sglang",
            Section::Prefill => Role::Prefill.as_str(),
            Section::Decode => Role::Decode.as_str(),
        }
    }

    /// The section named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The role whose own values the section holds (`prefill`, `decode`).
    pub fn role(self) -> Option<Role> {
        match self {
            Section::Prefill => Some(Role::Prefill),
            Section::Decode => Some(Role::Decode),
            Section::Slurm | Section::Sglang => None,
        }
    }
}

/// One `T` per section, indexed by [`Section`].
#[derive(Debug, Clone, Default)]
pub struct PerSection<T>([T; 4]);

impl<T> PerSection<T> {
    /// `f` of each section.
    pub fn from_fn(mut f: impl FnMut(Section) -> T) -> PerSection<T> {
        PerSection(Section::ALL.map(&mut f))
    }

    /// Each section with its `T`, in loop order.
    pub fn iter(&self) -> impl Iterator<Item = (Section, &T)> {
        Section::ALL.into_iter().zip(&self.0)
    }
}

impl<T> Index<Section> for PerSection<T> {
    type Output = T;
    fn index(&self, s: Section) -> &T {
        &self.0[s as usize]
    }
}

impl<T> IndexMut<Section> for PerSection<T> {
    fn index_mut(&mut self, s: Section) -> &mut T {
        &mut self.0[s as usize]
    }
}

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

/// A swept key: its section and its place there (file order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub section: Section,
    pub index: usize,
}

/// One loop of the expansion: a key, or a linked group whose keys advance together.
pub type Axis = Vec<KeyRef>;

/// A valid sweep, ready to expand.
#[derive(Debug)]
pub struct Sweep {
    pub mode: Mode,
    /// The swept keys of each section, in file order; empty when the section is absent.
    pub sections: PerSection<Vec<Param>>,
    /// The loop, outermost first.
    pub axes: Vec<Axis>,
}

impl Sweep {
    /// The key `k` refers to.
    pub fn param(&self, k: KeyRef) -> &Param {
        &self.sections[k.section][k.index]
    }

    /// Number of values along axis `a`.
    pub fn axis_len(&self, a: usize) -> usize {
        self.param(self.axes[a][0]).values.len()
    }

    /// Number of combinations; `None` if it does not fit in a u64.
    pub fn count(&self) -> Option<u64> {
        (0..self.axes.len()).try_fold(1u64, |n, a| n.checked_mul(self.axis_len(a) as u64))
    }

    /// The slurm key `name` of this sweep, with the axis it is on.
    pub fn slurm_key(&self, name: &str) -> Option<(KeyRef, usize)> {
        let index = self.sections[Section::Slurm]
            .iter()
            .position(|p| p.name == name)?;
        let k = KeyRef {
            section: Section::Slurm,
            index,
        };
        let axis = self.axes.iter().position(|a| a.contains(&k))?;
        Some((k, axis))
    }
}

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
