//! `--cancel`: cancels every job the inputs name, and only those: each record's `job_id`, its
//! `--retries` follow-ups, and the jobs (and follow-ups) in its `history`. The IDs come from
//! the records, never from a search: a merged manifest, or a jq-filtered subset piped in,
//! cancels exactly what it names.
//!
//! One batched lookup first: only jobs Slurm still runs or queues are cancelled, and only
//! jobs that carry the record's tag ([`Record::own_tag`]): a job ID that now belongs to another
//! job (IDs restart when a controller's state is rebuilt, and wrap) is left alone, and said.
//! A record without a tag (straight from sweep-expand with a `job_id` set by hand, or the
//! seed's manifest) cancels nothing unless the user trusts its job IDs (`--trust-job-ids`).
//! Then batched `scancel` calls, then the jobs are polled until they have ended (a running
//! job takes a moment), and the records get their states.

use crate::status::{self, Scope};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use sweep::cli::warn;
use sweep::slurm::{JobRef, Seen, Slurm};
use sweep::Record;

/// How long cancelled jobs are given to end, without `--timeout`.
const GRACE: f64 = 60.0;

/// Cancels the jobs of `records` still queued or running, and gives them `timeout` (default:
/// a minute) to end; their states are in the records afterwards. `trusted`
/// (`--trust-job-ids`): the job IDs of records without a tag are taken as theirs. Exit code:
/// success when every job cancelled has ended.
pub fn run(
    slurm: &Slurm,
    records: &mut [Record],
    timeout: Option<Duration>,
    trusted: bool,
) -> Result<ExitCode> {
    let named = every_job(records);
    let combinations = records.iter().filter(|r| r.job_id.is_some()).count();
    let answers = slurm.lookup(&named)?;
    let (mut foreign, mut untagged) = (BTreeSet::new(), BTreeSet::new());
    let mut live: Vec<JobRef> = Vec::new();
    for job in &named {
        let info = match answers.of(job) {
            Seen::Ours(info) => info,
            Seen::Unchecked(info) if trusted => info,
            Seen::Unchecked(_) => {
                untagged.insert(job.job_id.clone());
                continue;
            }
            Seen::Foreign(info) => {
                foreign.insert(info.as_foreign(&job.job_id));
                continue;
            }
            Seen::Unknown => continue,
        };
        // One job named by two records (of two sweeps, once) is cancelled once.
        let plain = JobRef::new(job.cluster.as_deref(), &job.job_id, None);
        if !info.state.is_final() && !live.contains(&plain) {
            live.push(plain);
        }
    }
    // Said before anything is cancelled, so that what is left alone is known first.
    status::note_not_ours(&foreign, &untagged);
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
    // The notes on foreign and untagged jobs were said above.
    let refreshed = status::refresh(slurm, records, Scope::All, trusted)?;
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

/// Every job the records name, each with the tag it must carry, once.
fn every_job(records: &[Record]) -> Vec<JobRef> {
    let mut jobs: BTreeSet<JobRef> = BTreeSet::new();
    for r in records {
        for (id, tag) in r.every_job_tagged() {
            jobs.insert(JobRef::new(r.cluster.as_deref(), id, tag.as_deref()));
        }
    }
    jobs.into_iter().collect()
}

/// Polls `jobs` until each has ended (or Slurm no longer knows it), for up to `limit`
/// seconds; returns those still not ended.
fn until_ended(slurm: &Slurm, mut jobs: Vec<JobRef>, limit: f64) -> Result<Vec<JobRef>> {
    let start = Instant::now();
    let mut pause = 0.25;
    while !jobs.is_empty() {
        let answers = slurm.lookup(&jobs)?;
        // These are ours (checked above); the ID is asked again without a tag.
        jobs.retain(|j| match answers.of(j) {
            Seen::Unchecked(i) => !i.state.is_final(),
            _ => false,
        });
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
