//! The expansion: an odometer over the axes (the last one turning fastest, as
//! `itertools.product`), one record per position, in memory that does not grow with the
//! number of combinations.

use crate::id;
use crate::sweepfile::{Sweep, DECODE, PREFILL, SLURM};
use serde_json::Map;
use std::io::{self, Write};
use sweep::jsonl::Writer;
use sweep::record::{Parameters, RoleParameters};
use sweep::{Mode, Record};

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
    choice: [Vec<usize>; 4],
    /// `"key":value` canonical text of every value of every key, by section.
    fragments: [Vec<Vec<String>>; 4],
    /// Key indexes of each section in canonical (sorted) order.
    sorted: [Vec<usize>; 4],
    record: Record,
    text: String,
}

impl<'a> Expansion<'a> {
    fn new(sweep: &'a Sweep, sweep_file: Option<String>) -> Expansion<'a> {
        let choice = sweep.sections.each_ref().map(|ps| vec![0; ps.len()]);
        let fragments = sweep.sections.each_ref().map(|ps| {
            ps.iter()
                .map(|p| p.values.iter().map(|v| id::fragment(&p.name, v)).collect())
                .collect()
        });
        let sorted = sweep.sections.each_ref().map(|ps| {
            let mut idx: Vec<usize> = (0..ps.len()).collect();
            idx.sort_by(|&a, &b| ps[a].name.cmp(&ps[b].name));
            idx
        });
        let first = |s: usize| -> Map<String, serde_json::Value> {
            sweep.sections[s]
                .iter()
                .map(|p| (p.name.clone(), p.values[0].clone()))
                .collect()
        };
        let roles = !sweep.sections[PREFILL].is_empty() || !sweep.sections[DECODE].is_empty();
        let record = Record {
            index: 0,
            id: String::new(),
            mode: sweep.mode,
            total_nodes: None,
            parameters: Parameters {
                slurm: first(SLURM),
                sglang: first(1),
            },
            role_parameters: roles.then(|| RoleParameters {
                prefill: first(PREFILL),
                decode: first(DECODE),
            }),
            sweep_file,
            ..serde_json::from_str(EMPTY).expect("the empty record parses")
        };
        let lens = (0..sweep.axes.len()).map(|a| sweep.axis_len(a)).collect();
        Expansion {
            sweep,
            odo: Odometer::new(lens),
            choice,
            fragments,
            sorted,
            record,
            text: String::new(),
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
            for &(s, k) in axis {
                self.choice[s][k] = pos;
                let param = &self.sweep.sections[s][k];
                let slot = section_map(&mut self.record, s).and_then(|m| m.get_mut(&param.name));
                if let Some(slot) = slot {
                    *slot = param.values[pos].clone();
                }
            }
        }
        let count = |key| self.record.slurm_count(key).unwrap_or(0);
        self.record.total_nodes = Some(match self.sweep.mode {
            Mode::Disagg => count("prefill_nodes").saturating_add(count("decode_nodes")),
            Mode::Agg => count("agg_nodes"),
        });
        self.record.index = index;
        self.record.id = self.id();
    }

    /// The id of the current combination: see [`crate::id`]. Sections in canonical order:
    /// `parameters` {`sglang`, `slurm`}, then `role_parameters` {`decode`, `prefill`}.
    fn id(&mut self) -> String {
        self.text.clear();
        self.text.push_str(r#"{"parameters":{"sglang":"#);
        self.section_text(1);
        self.text.push_str(r#","slurm":"#);
        self.section_text(SLURM);
        self.text.push('}');
        if self.record.role_parameters.is_some() {
            self.text.push_str(r#","role_parameters":{"#);
            if !self.sweep.sections[DECODE].is_empty() {
                self.text.push_str(r#""decode":"#);
                self.section_text(DECODE);
            }
            if !self.sweep.sections[PREFILL].is_empty() {
                if !self.sweep.sections[DECODE].is_empty() {
                    self.text.push(',');
                }
                self.text.push_str(r#""prefill":"#);
                self.section_text(PREFILL);
            }
            self.text.push('}');
        }
        self.text.push('}');
        id::hash(self.text.as_bytes())
    }

    /// `{"a":1,"b":2}`: the section's current values, keys sorted.
    fn section_text(&mut self, s: usize) {
        self.text.push('{');
        for (i, &k) in self.sorted[s].iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(&self.fragments[s][k][self.choice[s][k]]);
        }
        self.text.push('}');
    }
}

/// The record's map for value section `s`, if the record has one.
fn section_map(r: &mut Record, s: usize) -> Option<&mut Map<String, serde_json::Value>> {
    match s {
        SLURM => Some(&mut r.parameters.slurm),
        1 => Some(&mut r.parameters.sglang),
        PREFILL => r.role_parameters.as_mut().map(|p| &mut p.prefill),
        _ => r.role_parameters.as_mut().map(|p| &mut p.decode),
    }
}
