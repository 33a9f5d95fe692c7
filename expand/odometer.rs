//! The expansion: an odometer over the axes (the last one turning fastest, as
//! `itertools.product`), one record per position, in memory that does not grow with the
//! number of combinations.

use crate::id::IdText;
use crate::model::{PerSection, Section, Sweep};
use serde_json::Map;
use std::io::{self, Write};
use sweep::jsonl::Writer;
use sweep::record::{Parameters, RoleParameters};
use sweep::Record;

/// Positions on a set of axes; `advance` turns the last one, carrying leftwards.
struct Odometer {
    pos: Vec<usize>,
    lens: Vec<usize>,
}

impl Odometer {
    fn new(lens: Vec<usize>) -> Odometer {
        Odometer {
            pos: vec![0; lens.len()],
            lens,
        }
    }

    /// Next position: returns the leftmost wheel that moved (it and all to its right
    /// changed), or `None` after the last position (all wheels back at 0).
    fn advance(&mut self) -> Option<usize> {
        for a in (0..self.pos.len()).rev() {
            self.pos[a] += 1;
            if self.pos[a] < self.lens[a] {
                return Some(a);
            }
            self.pos[a] = 0;
        }
        None
    }
}

/// Writes every combination of `sweep` as a record, in index order.
pub fn write_all<W: Write>(
    sweep: &Sweep,
    sweep_file: Option<String>,
    out: &mut Writer<W>,
) -> io::Result<()> {
    let mut x = Expansion::new(sweep, sweep_file);
    let (mut index, mut moved) = (0, 0);
    loop {
        x.fill(index, moved);
        out.write(&x.record)?;
        index += 1;
        match x.odo.advance() {
            Some(a) => moved = a,
            None => return Ok(()),
        }
    }
}

/// The record being filled in, reused from one combination to the next.
struct Expansion<'a> {
    sweep: &'a Sweep,
    odo: Odometer,
    /// Value index of every key, by section.
    choice: PerSection<Vec<usize>>,
    ids: IdText,
    record: Record,
}

impl<'a> Expansion<'a> {
    fn new(sweep: &'a Sweep, sweep_file: Option<String>) -> Expansion<'a> {
        let choice = PerSection::from_fn(|s| vec![0; sweep.sections[s].len()]);
        let first = |s: Section| -> Map<String, serde_json::Value> {
            sweep.sections[s]
                .iter()
                .map(|p| (p.name.clone(), p.values[0].clone()))
                .collect()
        };
        let roles = !sweep.sections[Section::Prefill].is_empty()
            || !sweep.sections[Section::Decode].is_empty();
        let record = Record {
            index: 0,
            id: String::new(),
            mode: sweep.mode,
            total_nodes: None,
            parameters: Parameters {
                slurm: first(Section::Slurm),
                sglang: first(Section::Sglang),
            },
            role_parameters: roles.then(|| RoleParameters {
                prefill: first(Section::Prefill),
                decode: first(Section::Decode),
            }),
            sweep_file,
            ..serde_json::from_str(EMPTY).expect("the empty record parses")
        };
        let lens = (0..sweep.axes.len()).map(|a| sweep.axis_len(a)).collect();
        Expansion {
            sweep,
            odo: Odometer::new(lens),
            choice,
            ids: IdText::new(&sweep.sections),
            record,
        }
    }
}

/// A record with only the required fields, the base the expansion fills in.
const EMPTY: &str = r#"{"index":0,"id":"","mode":"agg","parameters":{"slurm":{},"sglang":{}}}"#;

impl Expansion<'_> {
    /// Sets the record to the combination at the odometer's position, where the values of
    /// axes left of `moved` are those of the previous record already.
    fn fill(&mut self, index: u64, moved: usize) {
        for (axis, &pos) in self.sweep.axes.iter().zip(&self.odo.pos).skip(moved) {
            for &k in axis {
                self.choice[k.section][k.index] = pos;
                let param = self.sweep.param(k);
                let slot =
                    section_map(&mut self.record, k.section).and_then(|m| m.get_mut(&param.name));
                if let Some(slot) = slot {
                    *slot = param.values[pos].clone();
                }
            }
        }
        let nodes = self.sweep.mode.node_worker_keys().iter();
        let total = nodes.fold(0u64, |sum, &(n, _)| {
            sum.saturating_add(self.record.slurm_count(n).unwrap_or(0))
        });
        self.record.total_nodes = Some(total);
        self.record.index = index;
        self.record.id = self.ids.id(&self.choice);
    }
}

/// The record's map for section `s`, if the record has one.
fn section_map(r: &mut Record, s: Section) -> Option<&mut Map<String, serde_json::Value>> {
    match s.role() {
        None if s == Section::Slurm => Some(&mut r.parameters.slurm),
        None => Some(&mut r.parameters.sglang),
        Some(role) => r.role_parameters.as_mut().map(|p| p.of_mut(role)),
    }
}
