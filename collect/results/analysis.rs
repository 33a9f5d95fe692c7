//! The results, organised for the answer: which sweep each record belongs to ([`Sweeps`]),
//! which workload each point measured ([`Shape`]), and per combination and shape its loads
//! ([`Series`], with the repeats of a load folded into one [`Level`]). Then, per sweep and
//! shape, the Pareto frontier over the loads' means that meet the SLO, and per combination and
//! shape the best load under the SLO and its bracket ([`super::best`]).
//!
//! Points of different shapes (input/output lengths, datasets, rate modes) are different
//! workloads: nothing here compares across shapes. Sweeps are compared only with each other
//! ([`super::compare`]), each with its own frontier.

use super::best::{self, Boundary, Level, PointAt};
use super::frontier::{self, Limit};
use super::stats::Estimate;
use super::{Found, Point};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use sweep::Record;

/// A workload: what a point measured, besides the load.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shape {
    /// The dataset the prompts came from (`random`, `sharegpt`, ...), when the client said.
    pub dataset: Option<String>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    /// `concurrency`, `request_rate`, `unlimited` or `trace`.
    pub rate_mode: &'static str,
    /// A request-rate run's limit on requests in flight, if it had one.
    pub cap: Option<u64>,
}

impl Shape {
    pub fn of(p: &Point) -> Shape {
        let r = &p.run;
        let rate_mode = r.rate_mode.as_str();
        Shape {
            dataset: r.dataset.as_deref().map(str::to_string),
            isl: r.isl,
            osl: r.osl,
            rate_mode,
            cap: if rate_mode == "request_rate" {
                r.concurrency
            } else {
                None
            },
        }
    }

    /// The load of a point of this shape: its concurrency or its request rate.
    pub fn load(&self, p: &Point) -> Option<f64> {
        match self.rate_mode {
            "concurrency" => p.run.concurrency.map(|c| c as f64),
            "request_rate" => p.run.request_rate,
            _ => None,
        }
    }

    /// What the load is called: `concurrency`, `request rate`; `load` for the others.
    pub fn load_name(&self) -> &'static str {
        match self.rate_mode {
            "concurrency" => "concurrency",
            "request_rate" => "request rate",
            _ => "load",
        }
    }

    /// A short column title for the load.
    pub fn load_column(&self) -> &'static str {
        match self.rate_mode {
            "concurrency" => "conc",
            "request_rate" => "req/s",
            _ => "load",
        }
    }

    /// `random, ISL 1024, OSL 256, by concurrency`.
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.push(
            self.dataset
                .clone()
                .unwrap_or_else(|| "dataset not said".to_string()),
        );
        if let Some(i) = self.isl {
            parts.push(format!("ISL {i}"));
        }
        if let Some(o) = self.osl {
            parts.push(format!("OSL {o}"));
        }
        parts.push(match (self.rate_mode, self.cap) {
            ("concurrency", _) => "by concurrency".to_string(),
            ("request_rate", Some(c)) => format!("by request rate (at most {c} in flight)"),
            ("request_rate", None) => "by request rate".to_string(),
            ("trace", _) => "trace replay".to_string(),
            _ => "all requests at once".to_string(),
        });
        parts.join(", ")
    }
}

/// One sweep of the input: the records of one sweep directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// Its directory (`sweep_dir`), absent for records without one.
    pub dir: Option<String>,
    /// Its name in tables, plots and the report: `--label`, else the directory's name.
    pub label: String,
}

/// The sweeps of the input, in the order they first appear in it: the first is the baseline
/// of comparisons.
#[derive(Clone, Debug, Default)]
pub struct Sweeps {
    pub list: Vec<Sweep>,
}

impl Sweeps {
    /// The sweeps of `records`: `order` lists the sweep directories in the order the inputs
    /// named them (directories not in it follow, in record order); `labels` are `--label`
    /// values, `NAME` (the next sweep without a name) or `DIR=NAME` (the sweep whose directory
    /// is DIR, or is named DIR).
    pub fn new(records: &[Record], order: &[Option<String>], labels: &[String]) -> Result<Sweeps> {
        let mut dirs: Vec<Option<String>> = Vec::new();
        let present: std::collections::BTreeSet<Option<&str>> =
            records.iter().map(|r| r.sweep_dir.as_deref()).collect();
        for d in order.iter().chain(records.iter().map(|r| &r.sweep_dir)) {
            if !dirs.contains(d) && present.contains(&d.as_deref()) {
                dirs.push(d.clone());
            }
        }
        let mut names: Vec<Option<String>> = vec![None; dirs.len()];
        let mut positional = Vec::new();
        for l in labels {
            match l.split_once('=') {
                Some((dir, name)) => {
                    let matches: Vec<usize> = (0..dirs.len())
                        .filter(|&i| dirs[i].as_deref().is_some_and(|d| names_dir(d, dir)))
                        .collect();
                    match matches.as_slice() {
                        [i] => names[*i] = Some(name.to_string()),
                        [] => bail!(
                            "--label {l:?}: no sweep directory is {dir:?} (the sweeps: {})",
                            list(&dirs)
                        ),
                        _ => bail!(
                            "--label {l:?}: {dir:?} names more than one sweep directory ({}): give its path",
                            list(&dirs)
                        ),
                    }
                }
                None => positional.push(l.clone()),
            }
        }
        let mut unnamed = (0..dirs.len())
            .filter(|&i| names[i].is_none())
            .collect::<Vec<_>>();
        if positional.len() > unnamed.len() {
            bail!(
                "--label: {} name(s) for {} sweep(s) without one (the sweeps, in input order: {})",
                positional.len(),
                unnamed.len(),
                list(&dirs)
            );
        }
        unnamed.truncate(positional.len());
        for (i, name) in unnamed.into_iter().zip(positional) {
            names[i] = Some(name);
        }
        let defaults = default_labels(&dirs);
        let list: Vec<Sweep> = dirs
            .into_iter()
            .zip(names)
            .zip(defaults)
            .map(|((dir, name), default)| Sweep {
                dir,
                label: name.unwrap_or(default),
            })
            .collect();
        for (i, s) in list.iter().enumerate() {
            if s.label.trim().is_empty() {
                bail!("--label: a sweep's name cannot be empty");
            }
            if list[..i].iter().any(|o| o.label == s.label) {
                bail!(
                    "--label: two sweeps are named {:?}: give each its own name",
                    s.label
                );
            }
        }
        Ok(Sweeps { list })
    }

    /// The sweep of a record.
    pub fn of(&self, r: &Record) -> usize {
        self.list
            .iter()
            .position(|s| s.dir == r.sweep_dir)
            .unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// `dir` names the sweep directory `path`: the same path, the same absolute path, or its
/// last component.
fn names_dir(path: &str, dir: &str) -> bool {
    let dir_trim = dir.trim_end_matches('/');
    path == dir_trim
        || std::path::Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            == Some(dir_trim)
        || sweep::fsutil::absolute(std::path::Path::new(dir))
            .is_ok_and(|a| a.to_str() == Some(path))
}

fn list(dirs: &[Option<String>]) -> String {
    dirs.iter()
        .map(|d| d.clone().unwrap_or_else(|| "(no sweep_dir)".to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each directory's last component, with as many parents as it takes to tell them apart.
fn default_labels(dirs: &[Option<String>]) -> Vec<String> {
    let parts: Vec<Vec<&str>> = dirs
        .iter()
        .map(|d| match d {
            Some(d) => d.split('/').filter(|s| !s.is_empty()).rev().collect(),
            None => Vec::new(),
        })
        .collect();
    let label = |i: usize, depth: usize| -> String {
        if dirs[i].is_none() {
            return "(no sweep_dir)".to_string();
        }
        let p = &parts[i];
        let n = depth.min(p.len()).max(1);
        let mut v: Vec<&str> = p.iter().take(n).copied().collect();
        v.reverse();
        if v.is_empty() {
            "/".to_string()
        } else {
            v.join("/")
        }
    };
    let mut depth = vec![1; dirs.len()];
    for _ in 0..64 {
        let labels: Vec<String> = (0..dirs.len()).map(|i| label(i, depth[i])).collect();
        let mut changed = false;
        for i in 0..dirs.len() {
            if (0..dirs.len()).any(|j| j != i && labels[j] == labels[i])
                && depth[i] < parts[i].len()
            {
                depth[i] += 1;
                changed = true;
            }
        }
        if !changed {
            return labels;
        }
    }
    (0..dirs.len()).map(|i| label(i, depth[i])).collect()
}

/// One combination in one sweep and one shape: its loads.
#[derive(Clone, Debug)]
pub struct Series {
    pub record: usize,
    pub sweep: usize,
    pub shape: usize,
    /// By load, ascending.
    pub levels: Vec<Level>,
    /// Per level: on its sweep's frontier for the shape.
    pub frontier: Vec<bool>,
    /// The best load under the SLO and its bracket.
    pub boundary: Boundary,
}

impl Series {
    /// The level that answers "best under the SLO": the highest load that meets it.
    pub fn best(&self) -> Option<&Level> {
        self.boundary.best.map(|i| &self.levels[i])
    }
}

/// Everything the answer is made of.
#[derive(Debug, Default)]
pub struct Analysis {
    pub sweeps: Sweeps,
    /// The shapes of the valid points, sorted.
    pub shapes: Vec<Shape>,
    /// By shape, then sweep, then record.
    pub series: Vec<Series>,
    /// Valid points with both figures, per shape (drawn on its plot).
    pub placed: Vec<Vec<PointAt>>,
    /// Per record, per point: its shape ([`NO_SHAPE`] for a shape no valid point has).
    pub point_shape: Vec<Vec<u32>>,
}

/// The shape of a point whose shape has no valid point (not in [`Analysis::shapes`]).
pub const NO_SHAPE: u32 = u32::MAX;

impl Analysis {
    /// The series of one shape (and, when given, one sweep).
    pub fn series_of(&self, shape: usize, sweep: Option<usize>) -> impl Iterator<Item = &Series> {
        self.series
            .iter()
            .filter(move |s| s.shape == shape && sweep.is_none_or(|w| s.sweep == w))
    }

    /// The frontier of one sweep in one shape: (series, level) by output tokens/s per user,
    /// ascending.
    pub fn frontier(&self, shape: usize, sweep: usize) -> Vec<(&Series, &Level)> {
        let mut on: Vec<(&Series, &Level)> = self
            .series_of(shape, Some(sweep))
            .flat_map(|s| {
                s.levels
                    .iter()
                    .zip(&s.frontier)
                    .filter(|(_, on)| **on)
                    .map(move |(l, _)| (s, l))
            })
            .collect();
        on.sort_by(|a, b| {
            a.1.per_user
                .mean
                .total_cmp(&b.1.per_user.mean)
                .then(b.1.per_gpu.mean.total_cmp(&a.1.per_gpu.mean))
        });
        on
    }
}

/// Groups the judged points, flags each sweep's frontier per shape on them (`pareto`, and
/// `candidate` for the loads within the SLO), and finds each combination's boundary.
pub fn analyse(records: &[Record], found: &mut [Found], slo: &[Limit], sweeps: Sweeps) -> Analysis {
    // Each point's shape, as a number: the shapes of valid points, sorted, numbered in order.
    let mut ids: std::collections::HashMap<Shape, u32> = std::collections::HashMap::new();
    let mut seen: Vec<(Shape, bool)> = Vec::new(); // by first sight: the shape, any valid point
    let mut point_shape: Vec<Vec<u32>> = Vec::with_capacity(found.len());
    for f in found.iter() {
        let mut of_record = Vec::with_capacity(f.points.len());
        for p in &f.points {
            let shape = Shape::of(p);
            let id = match ids.get(&shape) {
                Some(&id) => id,
                None => {
                    let id = seen.len() as u32;
                    ids.insert(shape.clone(), id);
                    seen.push((shape, false));
                    id
                }
            };
            seen[id as usize].1 |= p.valid();
            of_record.push(id);
        }
        point_shape.push(of_record);
    }
    drop(ids);
    let mut order: Vec<usize> = (0..seen.len()).filter(|&k| seen[k].1).collect();
    order.sort_by(|&x, &y| seen[x].0.cmp(&seen[y].0));
    let mut renumber = vec![NO_SHAPE; seen.len()];
    for (new, &old) in order.iter().enumerate() {
        renumber[old] = new as u32;
    }
    for ids in &mut point_shape {
        for id in ids.iter_mut() {
            *id = renumber[*id as usize];
        }
    }
    let shapes: Vec<Shape> = order.iter().map(|&k| seen[k].0.clone()).collect();
    drop(seen);
    // (shape, sweep, record) -> load -> points
    type Loads = BTreeMap<LoadKey, Vec<PointAt>>;
    let mut groups: BTreeMap<(usize, usize, usize), Loads> = BTreeMap::new();
    let mut placed: Vec<Vec<PointAt>> = vec![Vec::new(); shapes.len()];
    for (i, (r, f)) in records.iter().zip(found.iter()).enumerate() {
        let sweep = sweeps.of(r);
        for (j, p) in f.points.iter().enumerate() {
            if !p.placed() {
                continue;
            }
            let shape = point_shape[i][j] as usize;
            let at = PointAt {
                record: i,
                point: j,
            };
            placed[shape].push(at);
            let load = shapes[shape].load(p);
            groups
                .entry((shape, sweep, i))
                .or_default()
                .entry(LoadKey(load))
                .or_default()
                .push(at);
        }
    }
    let point = |at: PointAt| &found[at.record].points[at.point];
    let mut series: Vec<Series> = Vec::new();
    for ((shape_i, sweep, record), loads) in groups {
        let levels: Vec<Level> = loads
            .into_iter()
            .map(|(load, pts)| level(load.0, pts, slo, &point))
            .collect();
        let boundary = best::boundary(&levels, slo);
        series.push(Series {
            record,
            sweep,
            shape: shape_i,
            frontier: vec![false; levels.len()],
            levels,
            boundary,
        });
    }
    // Each sweep's frontier in each shape, over the loads' means that meet the SLO.
    let mut by_group: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
    for (s_i, s) in series.iter().enumerate() {
        for (l_i, l) in s.levels.iter().enumerate() {
            if l.meets(slo) {
                by_group
                    .entry((s.shape, s.sweep))
                    .or_default()
                    .push((s_i, l_i));
            }
        }
    }
    for members in by_group.values() {
        let xy: Vec<(f64, f64)> = members
            .iter()
            .map(|&(s, l)| {
                let l = &series[s].levels[l];
                (l.per_gpu.mean, l.per_user.mean)
            })
            .collect();
        for (&(s, l), on) in members.iter().zip(frontier::pareto(&xy)) {
            series[s].frontier[l] = on;
        }
    }
    for s in &series {
        for (l, on) in s.levels.iter().zip(&s.frontier) {
            let candidate = l.meets(slo);
            for at in &l.points {
                let p = &mut found[at.record].points[at.point];
                p.candidate = candidate;
                p.pareto = *on;
            }
        }
    }
    Analysis {
        sweeps,
        shapes,
        series,
        placed,
        point_shape,
    }
}

/// A load as a map key: by value (concurrencies are whole; rates compare as written).
#[derive(Clone, Copy, Debug)]
struct LoadKey(Option<f64>);

impl PartialEq for LoadKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for LoadKey {}
impl PartialOrd for LoadKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for LoadKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        }
    }
}

/// One load's repeats as a level.
fn level<'a>(
    load: Option<f64>,
    points: Vec<PointAt>,
    slo: &[Limit],
    point: &impl Fn(PointAt) -> &'a Point,
) -> Level {
    let figures = |get: &dyn Fn(&Point) -> Option<f64>| -> Option<Estimate> {
        let v: Vec<f64> = points.iter().filter_map(|&at| get(point(at))).collect();
        Estimate::of(&v)
    };
    let zero = Estimate::one(0.0);
    Level {
        load,
        per_gpu: figures(&|p| p.output_tps_per_gpu).unwrap_or(zero),
        per_user: figures(&|p| p.output_tps_per_user).unwrap_or(zero),
        limits: slo.iter().map(|l| figures(&|p| p.get(&l.name))).collect(),
        points,
    }
}
