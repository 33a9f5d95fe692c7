//! Job states for many job IDs in a few batched `squeue` and `sacct` calls.
//!
//! `squeue -t all` is asked first: it is right the moment a job changes state, but forgets a
//! job `MinJobAge` (300 s by default) after it ends. `sacct` (accounting) remembers ended jobs
//! but lags a few seconds behind the controller (right after a job ends it still shows the
//! job `PENDING`). So: squeue for every job, then one sacct pass for the jobs squeue no longer
//! knows and for the ended ones (whose exit code only sacct has). Each call takes up to
//! `batch` job IDs; never one call per job.

use super::Slurm;
use crate::JobState;
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

/// A job to look up: its ID, its cluster (`sbatch -M`), and the tag it should carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobRef {
    /// Cluster name when submitted with `-M`, else `None` (the default cluster).
    pub cluster: Option<String>,
    /// Slurm job ID.
    pub job_id: String,
}

/// What Slurm said about one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// The state (`CANCELLED by 0` is `CANCELLED`).
    pub state: JobState,
    /// Slurm's reason, when it is not `None`.
    pub reason: Option<String>,
    /// `exit:signal`, once the job ended and accounting has it.
    pub exit_code: Option<String>,
    /// `[D-]HH:MM:SS`.
    pub elapsed: Option<String>,
    /// Compressed node list, once nodes are allocated.
    pub node_list: Option<String>,
    /// The job's comment (our tag), if Slurm shows it.
    pub comment: Option<String>,
    /// `squeue` or `sacct`.
    pub source: &'static str,
}

/// The answers of one lookup.
#[derive(Debug, Default)]
pub struct Answers {
    /// Jobs Slurm knows.
    pub jobs: BTreeMap<JobRef, JobInfo>,
    /// True when `sacct` said accounting is disabled: jobs squeue no longer knows cannot be
    /// known at all.
    pub accounting_disabled: bool,
}

const SQUEUE_FORMAT: &str = "%i|%T|%r|%M|%N|%k";
const SACCT_FIELDS: &str = "JobID,State,ExitCode,Elapsed,NodeList,Reason,Comment";

impl Slurm {
    /// States of `jobs`: squeue first, then sacct for the ones it does not know or that ended.
    pub fn lookup(&self, jobs: &[JobRef]) -> Result<Answers> {
        let mut answers = Answers::default();
        for (cluster, ids) in by_cluster(jobs) {
            for chunk in ids.chunks(self.batch) {
                self.squeue_chunk(&cluster, chunk, &mut answers)?;
            }
            let later: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| {
                    let key = key(&cluster, id);
                    answers.jobs.get(&key).is_none_or(|j| j.state.is_final())
                })
                .collect();
            for chunk in later.chunks(self.batch) {
                if !self.sacct_chunk(&cluster, chunk, &mut answers)? {
                    answers.accounting_disabled = true;
                    break;
                }
            }
        }
        Ok(answers)
    }

    fn squeue_chunk(
        &self,
        cluster: &Option<String>,
        ids: &[&str],
        out: &mut Answers,
    ) -> Result<()> {
        let mut args = vec!["-h".to_string(), "-t".into(), "all".into()];
        args.extend(cluster_args(cluster));
        args.extend([
            "-j".into(),
            ids.join(","),
            "-o".into(),
            SQUEUE_FORMAT.into(),
        ]);
        let text = match self.call(&self.squeue, &args) {
            Ok(text) => text,
            // One unknown job ID alone: squeue asks for that job and is told it is invalid.
            Err(e) if e.0.contains("Invalid job id specified") => String::new(),
            Err(e) => return Err(e.into()),
        };
        for line in text.lines().filter(|l| !l.starts_with("CLUSTER: ")) {
            let f: Vec<&str> = line.splitn(6, '|').collect();
            let [id, state, reason, elapsed, nodes, comment] = f[..] else {
                return Err(anyhow!("unexpected squeue output: {line:?}"));
            };
            let info = JobInfo {
                state: JobState::from_slurm(state),
                reason: non_empty(reason).filter(|r| *r != "None").map(String::from),
                exit_code: None,
                elapsed: non_empty(elapsed).map(normalise_elapsed),
                node_list: non_empty(nodes).map(String::from),
                comment: non_empty(comment).map(String::from),
                source: "squeue",
            };
            out.jobs.insert(key(cluster, id), info);
        }
        Ok(())
    }

    /// One sacct call; false when accounting is disabled.
    fn sacct_chunk(
        &self,
        cluster: &Option<String>,
        ids: &[&str],
        out: &mut Answers,
    ) -> Result<bool> {
        let mut args = vec!["-n".to_string(), "-X".into(), "-P".into()];
        args.extend(cluster_args(cluster));
        args.extend(["-j".into(), ids.join(","), "-o".into(), SACCT_FIELDS.into()]);
        let text = match self.call(&self.sacct, &args) {
            Ok(text) => text,
            Err(e) if e.0.contains("accounting storage is disabled") => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        for line in text.lines() {
            let f: Vec<&str> = line.splitn(7, '|').collect();
            let [id, state, exit, elapsed, nodes, reason, comment] = f[..] else {
                return Err(anyhow!("unexpected sacct output: {line:?}"));
            };
            let state = JobState::from_slurm(state);
            let info = JobInfo {
                exit_code: Some(exit.to_string()).filter(|_| state.is_final()),
                reason: non_empty(reason).filter(|r| *r != "None").map(String::from),
                elapsed: non_empty(elapsed).map(normalise_elapsed),
                node_list: non_empty(nodes)
                    .filter(|n| *n != "None assigned")
                    .map(String::from),
                comment: non_empty(comment).map(String::from),
                state,
                source: "sacct",
            };
            combine(out, key(cluster, base_id(id)), info);
        }
        Ok(true)
    }
}

/// Adds a sacct answer: squeue's state stays (sacct lags), sacct adds the exit code once it
/// has caught up with the end of the job.
fn combine(out: &mut Answers, key: JobRef, acct: JobInfo) {
    match out.jobs.get_mut(&key) {
        Some(live) => {
            if acct.state.is_final() && acct.exit_code.is_some() {
                live.exit_code = acct.exit_code;
            }
        }
        None => {
            out.jobs.insert(key, acct);
        }
    }
}

fn key(cluster: &Option<String>, id: &str) -> JobRef {
    JobRef {
        cluster: cluster.clone(),
        job_id: id.to_string(),
    }
}

fn by_cluster(jobs: &[JobRef]) -> BTreeMap<Option<String>, Vec<&str>> {
    let mut map: BTreeMap<Option<String>, Vec<&str>> = BTreeMap::new();
    for j in jobs {
        let ids = map.entry(j.cluster.clone()).or_default();
        if !ids.contains(&j.job_id.as_str()) {
            ids.push(&j.job_id);
        }
    }
    map
}

fn cluster_args(cluster: &Option<String>) -> Vec<String> {
    match cluster {
        Some(c) => vec!["-M".to_string(), c.clone()],
        None => Vec::new(),
    }
}

/// `M:SS`, `H:MM:SS`, `D-H:MM:SS` -> `[D-]HH:MM:SS`; anything else unchanged.
pub fn normalise_elapsed(t: &str) -> String {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    let hms = match nums.as_deref() {
        Some([m, s]) => format!("00:{m:02}:{s:02}"),
        Some([h, m, s]) => format!("{h:02}:{m:02}:{s:02}"),
        _ => return t.to_string(),
    };
    match days {
        Some(d) => format!("{d}-{hms}"),
        None => hms,
    }
}

/// `123.batch` -> `123` (sacct -X should not print steps; be safe).
fn base_id(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_normalised() {
        assert_eq!(normalise_elapsed("0:05"), "00:00:05");
        assert_eq!(normalise_elapsed("1:02:03"), "01:02:03");
        assert_eq!(normalise_elapsed("2-03:04:05"), "2-03:04:05");
        assert_eq!(normalise_elapsed("INVALID"), "INVALID");
        assert_eq!(base_id("12.batch"), "12");
    }
}
