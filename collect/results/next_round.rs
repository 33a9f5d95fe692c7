//! `--next-round FILE`: the adaptive search's next round, as records for `sweep-submit`
//! (issue 22). Each combination's measurements so far (every round's jobs: history is read)
//! are judged by [`super::search`]'s rules, per workload shape; a combination with loads to
//! measure becomes a record whose `concurrencies` name them, its current submission moved
//! into `history`, ready to be piped into `sweep-submit` like any other record. One line on
//! stderr counts the combinations (resolved, pruned, open, ...); one more per combination not
//! resolved says why, or what it measures next.
//!
//! A combination whose job has not ended (or whose state is not known: no `--status` or
//! `--wait`) is **waiting**: nothing is decided on part of its results. A measurement is
//! never proposed twice: loads that a job of the combination already measured without a
//! valid result (it failed, or completed without one) make the combination **failed**, to
//! re-submit by hand if wanted. A combination measured `--max-rounds` times (each distinct
//! set of loads is one round, the first sweep's included) is **at the round cap**.

use super::analysis::Analysis;
use super::search::{self, Move, Resolved, Rival, Rules, Verdict};
use super::summary::{load_text, number};
use anyhow::Result;
use std::collections::BTreeMap;
use std::io::Write;
use sweep::{JobState, Record};

/// The search's settings: its rules and the round cap.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    pub rules: Rules,
    /// `--max-rounds`: measurements per combination, its first included.
    pub max_rounds: usize,
}

/// What the search makes of one record.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// No job yet: nothing measured.
    NotSubmitted,
    /// Its job has not ended, or its state is not known.
    Waiting(String),
    /// No valid result to go on, or its next loads were measured already without one.
    Failed(String),
    /// Only request-rate (or unlimited) runs: not searched.
    NotSearched,
    /// Every shape resolved.
    Resolved(Vec<(usize, Resolved)>),
    /// Pruned (in some shape; none open).
    Pruned(Vec<(usize, search::Pruned)>),
    /// Open, but measured `--max-rounds` times.
    Capped(Vec<u64>),
    /// The loads to measure next, and how each shape chose them.
    Open(Vec<u64>, Vec<(usize, Move)>),
}

/// The next round of a sweep.
pub struct NextRound {
    /// One per record, in record order.
    pub status: Vec<Status>,
    /// The round the open records' jobs are (1 + the most measurements an open record has);
    /// when none is open, the most measurements any record has.
    pub round: usize,
}

/// The distinct measurements (sets of loads; `None`: `--profiler`'s) of a record: its current
/// submission's and each earlier one's.
fn measurements(r: &Record) -> Vec<Option<&[u64]>> {
    let mut seen: Vec<Option<&[u64]>> = Vec::new();
    let current = r.job_id.as_ref().map(|_| r.concurrencies.as_deref());
    for m in r
        .history
        .iter()
        .map(|h| h.concurrencies.as_deref())
        .chain(current)
    {
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    seen
}

/// Judges every record (see the module docs).
pub fn plan(records: &[Record], a: &Analysis, search: &Search) -> NextRound {
    // Per sweep and shape, the two best figures within the SLO: (figure, series).
    let mut tops: BTreeMap<(usize, usize), Vec<(f64, usize)>> = BTreeMap::new();
    for (i, s) in a.series.iter().enumerate() {
        if let Some(l) = s.best() {
            let t = tops.entry((s.sweep, s.shape)).or_default();
            t.push((l.per_gpu.mean, i));
            t.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            t.truncate(2);
        }
    }
    let rival = |i: usize| -> Option<Rival> {
        let s = &a.series[i];
        let (gpu, j) = *tops
            .get(&(s.sweep, s.shape))?
            .iter()
            .find(|(_, j)| *j != i)?;
        let load = a.series[j].best()?.load?;
        Some((j, load, gpu))
    };
    let mut by_record: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in a.series.iter().enumerate() {
        by_record.entry(s.record).or_default().push(i);
    }
    let mut status = Vec::with_capacity(records.len());
    for (ri, r) in records.iter().enumerate() {
        let series = by_record.get(&ri).map_or(&[][..], Vec::as_slice);
        status.push(judge(r, a, series, &rival, search));
    }
    let count = |pick: &dyn Fn(&Status) -> bool| {
        records
            .iter()
            .zip(&status)
            .filter(|(_, s)| pick(s))
            .map(|(r, _)| measurements(r).len())
            .max()
    };
    let round = match count(&|s| matches!(s, Status::Open(..))) {
        Some(n) => n + 1,
        None => count(&|_| true).unwrap_or(0),
    };
    NextRound { status, round }
}

fn judge(
    r: &Record,
    a: &Analysis,
    series: &[usize],
    rival: &dyn Fn(usize) -> Option<Rival>,
    search: &Search,
) -> Status {
    match (&r.job_id, &r.status.state) {
        // Never submitted; or its last submission failed (no job): judged on what earlier
        // jobs measured, if any.
        (None, _) if series.is_empty() && r.history.is_empty() => return Status::NotSubmitted,
        (None, _) => {}
        (Some(job), None) => {
            return Status::Waiting(format!(
                "the state of job {job} is not known (add --status or --wait)"
            ))
        }
        (Some(job), Some(st)) if !st.is_final() => {
            return Status::Waiting(format!("job {job} is {st}"))
        }
        _ => {}
    }
    let searched: Vec<usize> = series
        .iter()
        .copied()
        .filter(|&i| a.shapes[a.series[i].shape].rate_mode == "concurrency")
        .collect();
    if searched.is_empty() {
        if series.is_empty() {
            return Status::Failed(no_result(r));
        }
        return Status::NotSearched;
    }
    let mut resolved = Vec::new();
    let mut pruned = Vec::new();
    let mut open: Vec<(usize, Vec<u64>, Move)> = Vec::new();
    for &i in &searched {
        let s = &a.series[i];
        match search::verdict(&s.levels, &s.boundary, rival(i), &search.rules) {
            Verdict::Resolved(why) => resolved.push((i, why)),
            Verdict::Pruned(p) => pruned.push((i, p)),
            Verdict::Open { loads, how } => open.push((i, loads, how)),
        }
    }
    if open.is_empty() {
        return match pruned.is_empty() {
            true => Status::Resolved(resolved),
            false => Status::Pruned(pruned),
        };
    }
    let mut loads: Vec<u64> = open
        .iter()
        .flat_map(|(_, l, _)| l.iter().copied())
        .collect();
    loads.sort_unstable();
    loads.dedup();
    let seen = measurements(r);
    if loads.is_empty() {
        return Status::Failed("no load left to measure between its measured ones".to_string());
    }
    if seen.contains(&Some(loads.as_slice())) {
        return Status::Failed(format!(
            "concurrency {} was measured already ({}) without a valid result there; re-submit it by hand to try again",
            sweep::concurrencies::text(&loads),
            jobs_of(r, &loads)
        ));
    }
    if seen.len() >= search.max_rounds {
        return Status::Capped(loads);
    }
    Status::Open(
        loads,
        open.into_iter().map(|(i, _, how)| (i, how)).collect(),
    )
}

/// Why a record has no valid point: its job's state.
fn no_result(r: &Record) -> String {
    let Some(job) = r.job_id.as_deref() else {
        return "no valid result, and no job (its last submission failed)".to_string();
    };
    match &r.status.state {
        Some(JobState::Completed) => format!("job {job} completed without a valid result"),
        Some(st) => format!("job {job} ended {st} without a valid result"),
        None => format!("job {job}: no valid result"),
    }
}

/// The jobs of `r` that measured `loads`, with their states: `job 12 FAILED`.
fn jobs_of(r: &Record, loads: &[u64]) -> String {
    let mut out: Vec<String> = r
        .history
        .iter()
        .filter(|h| h.measures(Some(loads)))
        .map(|h| match &h.state {
            Some(st) => format!("job {} {st}", h.job_id),
            None => format!("job {}", h.job_id),
        })
        .collect();
    if let Some(job) = r
        .job_id
        .as_ref()
        .filter(|_| r.concurrencies.as_deref() == Some(loads))
    {
        out.push(match &r.status.state {
            Some(st) => format!("job {job} {st}"),
            None => format!("job {job}"),
        });
    }
    out.join(", ")
}

impl NextRound {
    /// The records of the next round, as JSON Lines: each open record with its loads as
    /// `concurrencies`, its current submission moved into `history`.
    pub fn write(&self, w: &mut dyn Write, records: &[Record]) -> Result<()> {
        for (r, s) in records.iter().zip(&self.status) {
            let Status::Open(loads, _) = s else { continue };
            let mut next = r.clone();
            next.retire_current();
            // Made anew by sweep-submit for the next job.
            next.tag = None;
            next.sbatch_command = None;
            next.concurrencies = Some(loads.clone());
            serde_json::to_writer(&mut *w, &next).map_err(std::io::Error::from)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The progress line: `search round 2: 3 resolved, 1 pruned, 2 open (6 loads)`, with
    /// the other kinds when there are some (each open combination is one job).
    pub fn line(&self) -> String {
        let mut n: BTreeMap<&str, usize> = BTreeMap::new();
        let mut loads = 0;
        for s in &self.status {
            let kind = match s {
                Status::NotSubmitted => "not submitted",
                Status::Waiting(_) => "waiting",
                Status::Failed(_) => "failed",
                Status::NotSearched => "not searched (request rate)",
                Status::Resolved(_) => "resolved",
                Status::Pruned(_) => "pruned",
                Status::Capped(_) => "at the round cap",
                Status::Open(l, _) => {
                    loads += l.len();
                    "open"
                }
            };
            *n.entry(kind).or_default() += 1;
        }
        let get = |k: &str| n.get(k).copied().unwrap_or(0);
        let open = get("open");
        let mut parts = vec![
            format!("{} resolved", get("resolved")),
            format!("{} pruned", get("pruned")),
            match open {
                0 => "0 open".to_string(),
                _ => format!(
                    "{open} open ({loads} load{})",
                    if loads == 1 { "" } else { "s" }
                ),
            },
        ];
        for k in [
            "waiting",
            "failed",
            "at the round cap",
            "not searched (request rate)",
            "not submitted",
        ] {
            if get(k) > 0 {
                parts.push(format!("{} {k}", get(k)));
            }
        }
        let head = if open > 0 {
            format!("search round {}: {}", self.round, parts.join(", "))
        } else {
            format!(
                "search over after round {}: {}: nothing left to measure",
                self.round,
                parts.join(", ")
            )
        };
        head
    }

    /// One line per record (but those never submitted): where its boundary is, what it
    /// measures next, or why nothing.
    pub fn details(&self, records: &[Record], a: &Analysis) -> Vec<String> {
        let mut out = Vec::new();
        for (r, s) in records.iter().zip(&self.status) {
            let who = format!("index {} (id {})", r.index, r.id);
            let text = match s {
                Status::NotSubmitted => continue,
                Status::Resolved(why) => {
                    let why: Vec<String> = why.iter().map(|(i, w)| resolved_text(a, *i, w)).collect();
                    format!("{who}: resolved: {}", why.join("; "))
                }
                Status::Waiting(why) => format!("{who}: waiting: {why}"),
                Status::Failed(why) => format!("{who}: failed: {why}"),
                Status::NotSearched => format!(
                    "{who}: not searched: its runs are driven by request rate (a job takes one rate; the search measures concurrencies)"
                ),
                Status::Capped(loads) => format!(
                    "{who}: at the round cap (--max-rounds): it would measure concurrency {} next",
                    sweep::concurrencies::text(loads)
                ),
                Status::Pruned(p) => {
                    let why: Vec<String> = p.iter().map(|(i, p)| pruned_text(records, a, *i, p)).collect();
                    format!("{who}: pruned: {}", why.join("; "))
                }
                Status::Open(loads, how) => {
                    let why: Vec<String> = how.iter().map(|(i, m)| move_text(a, *i, m)).collect();
                    format!(
                        "{who}: measures concurrency {} next ({})",
                        sweep::concurrencies::text(loads),
                        why.join("; ")
                    )
                }
            };
            out.push(text);
        }
        out
    }
}

fn shape_prefix(a: &Analysis, i: usize) -> String {
    if a.shapes.len() > 1 {
        format!("{}: ", a.shapes[a.series[i].shape].label())
    } else {
        String::new()
    }
}

fn resolved_text(a: &Analysis, i: usize, w: &Resolved) -> String {
    let shape = shape_prefix(a, i);
    let load = |v: &f64| load_text(Some(*v));
    match w {
        Resolved::Bracket { below, above } => format!(
            "{shape}its boundary is between {} and {} (+{})",
            load(below),
            load(above),
            percent(above / below - 1.0)
        ),
        Resolved::Saturated {
            top,
            gpu,
            below,
            below_gpu,
        } => format!(
            "{shape}saturated: every load meets the SLO, and concurrency {} gives {} output tokens/s per GPU, {}{} on concurrency {}'s {} (less than --saturation): more load buys no throughput",
            load(top),
            number(*gpu),
            if gpu >= below_gpu { "+" } else { "-" },
            percent((gpu / below_gpu - 1.0).abs()),
            load(below),
            number(*below_gpu)
        ),
        Resolved::MaxLoad { top } => format!(
            "{shape}every load up to --max-load ({}) meets the SLO",
            load(top)
        ),
        Resolved::FailsAtOne => format!("{shape}concurrency 1 already misses the SLO"),
    }
}

/// `9.4%`, `300%`.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

fn pruned_text(records: &[Record], a: &Analysis, i: usize, p: &search::Pruned) -> String {
    let rival = &records[a.series[p.best_series].record];
    format!(
        "at most {} output tokens/s per GPU (its figure at concurrency {}{}), not more than index {}'s {} at concurrency {}",
        number(p.bound),
        load_text(Some(p.bound_load)),
        if a.series[i].boundary.best.is_some() && p.bound_load > best_load(a, i) {
            ", the lowest load that misses the SLO"
        } else if a.series[i].boundary.best.is_none() {
            ", its lowest load, which misses the SLO"
        } else {
            ""
        },
        rival.index,
        number(p.best_gpu),
        load_text(Some(p.best_load)),
    )
}

fn best_load(a: &Analysis, i: usize) -> f64 {
    a.series[i].best().and_then(|l| l.load).unwrap_or(0.0)
}

fn move_text(a: &Analysis, i: usize, m: &Move) -> String {
    let shape = shape_prefix(a, i);
    match m {
        Move::Bisect { below, above } => format!(
            "{shape}its boundary is between {} and {} (+{}): bisection",
            load_text(Some(*below)),
            load_text(Some(*above)),
            percent(above / below - 1.0)
        ),
        Move::StepUp { top } => format!(
            "{shape}every load up to {} meets the SLO and throughput still rises: a step up",
            load_text(Some(*top))
        ),
        Move::StepDown { lowest } => format!(
            "{shape}even its lowest load, {}, misses the SLO: a step down",
            load_text(Some(*lowest))
        ),
    }
}
