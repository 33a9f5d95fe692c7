//! `--cancel`: cancels every job the inputs name, and only those: each record's `job_id`, its
//! `--retries` follow-ups, and the jobs (and follow-ups) in its `history`. The IDs come from
//! the records, never from a search: a merged manifest, or a jq-filtered subset piped in,
//! cancels exactly what it names.
//!
//! One batched lookup first: only jobs Slurm still runs or queues are cancelled, and a job ID
//! that now belongs to another job (its comment is not the record's tag: IDs restart when a
//! cluster is rebuilt) is left alone. Then batched `scancel` calls, then the jobs are polled
//! until they have ended (a running job takes a moment), and the records get their states.

use crate::status::{self, Scope};
use anyhow::Result;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use sweep::cli::warn;
use sweep::slurm::{JobRef, Slurm};
use sweep::Record;

/// How long cancelled jobs are given to end, without `--timeout`.
const GRACE: f64 = 60.0;

/// Cancels the jobs of `records` still queued or running, and gives them `timeout` (default:
/// a minute) to end; their states are in the records afterwards. Exit code: success when
/// every job cancelled has ended.
pub fn run(slurm: &Slurm, records: &mut [Record], timeout: Option<Duration>) -> Result<ExitCode> {
    let named = every_job(records);
    let combinations = records.iter().filter(|r| r.job_id.is_some()).count();
    let refs: Vec<JobRef> = named.keys().cloned().collect();
    let answers = slurm.lookup(&refs)?;
    let live: Vec<JobRef> = named
        .iter()
        .filter(|(job, tags)| {
            answers.jobs.get(*job).is_some_and(|info| {
                let ours = match &info.comment {
                    Some(c) => tags.iter().all(|t| t.as_ref().is_none_or(|t| t == c)),
                    None => true,
                };
                ours && !info.state.is_final()
            })
        })
        .map(|(job, _)| job.clone())
        .collect();
    if live.is_empty() {
        warn(format_args!(
            "nothing to cancel: none of the {} job(s) of {combinations} combination(s) is queued or running",
            named.len()
        ));
    } else {
        warn(format_args!(
            "cancelling {} job(s) of {combinations} combination(s): {}",
            live.len(),
            list(&live)
        ));
        let mut by_cluster: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for j in &live {
            by_cluster
                .entry(j.cluster.clone())
                .or_default()
                .push(j.job_id.clone());
        }
        for (cluster, ids) in &by_cluster {
            slurm.cancel_on(cluster.as_deref(), ids)?;
        }
    }
    let limit = timeout.map_or(GRACE, |t| t.as_secs_f64());
    let open = until_ended(slurm, live, limit)?;
    let refreshed = status::refresh(slurm, records, Scope::All)?;
    status::note_unknowable(refreshed.unknowable);
    if open.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    warn(format_args!(
        "{} cancelled job(s) have not ended yet: {}",
        open.len(),
        list(&open)
    ));
    Ok(ExitCode::FAILURE)
}

/// Every job the records name, with the tags it should carry (a job ID named by two records
/// of different sweeps is one job).
fn every_job(records: &[Record]) -> BTreeMap<JobRef, Vec<Option<String>>> {
    let mut jobs: BTreeMap<JobRef, Vec<Option<String>>> = BTreeMap::new();
    for r in records {
        for id in r.every_job() {
            let key = JobRef {
                cluster: r.cluster.clone(),
                job_id: id.clone(),
            };
            jobs.entry(key).or_default().push(r.tag.clone());
        }
    }
    jobs
}

/// Polls `jobs` until each has ended (or Slurm no longer knows it), for up to `limit`
/// seconds; returns those still not ended.
fn until_ended(slurm: &Slurm, mut jobs: Vec<JobRef>, limit: f64) -> Result<Vec<JobRef>> {
    let start = Instant::now();
    let mut pause = 0.25;
    while !jobs.is_empty() {
        let answers = slurm.lookup(&jobs)?;
        jobs.retain(|j| answers.jobs.get(j).is_some_and(|i| !i.state.is_final()));
        if jobs.is_empty() || start.elapsed().as_secs_f64() + pause > limit {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(pause));
        pause = (pause * 2.0).min(2.0);
    }
    Ok(jobs)
}

/// `12, 13, 14` (the first 20, then how many more).
fn list(jobs: &[JobRef]) -> String {
    let mut ids: Vec<String> = jobs
        .iter()
        .take(20)
        .map(|j| match &j.cluster {
            Some(c) => format!("{}@{c}", j.job_id),
            None => j.job_id.clone(),
        })
        .collect();
    if jobs.len() > 20 {
        ids.push(format!("... ({} more)", jobs.len() - 20));
    }
    ids.join(", ")
}
