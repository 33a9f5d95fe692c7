//! One submission of a combination: the `sbatch` that created a job, its `--retries`
//! follow-ups, and everything known about it (tag, cluster, time, script, options, state).
//!
//! The same submission is known in several places, each keeping part of it: the sweep
//! directory's journal ([`crate::state::Journal`]), a record's current submission (its flat
//! fields, [`crate::Record::current`]), a record's `history`, and Slurm (found by its tag).
//! Every program turns what it read into a [`Submission`] at the edge and decides on that;
//! [`Submission::absorb`] joins two views of one job without losing what either knew.

use crate::job_state::JobState;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// One submission and what is known of it. Only `job_id` is always known.
///
/// As an entry of a record's `history` (its serde form) it carries `job_id`, `submitted_at`,
/// `retry_job_ids`, `state`, `job_script` (where the script was kept when a re-submission
/// replaced it) and `concurrencies`; the rest is known only to the journal, the record's flat fields, or Slurm,
/// and is not written there (docs/record.md lists the fields).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Submission {
    /// The job `sbatch` created.
    pub job_id: String,
    /// When `sbatch` returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    /// Its `--retries` follow-ups, in chain order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_job_ids: Vec<String>,
    /// The last state known for `job_id` (from Slurm, or as a record carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Where its job script was kept when a re-submission replaced it
    /// (`<sweep dir>/history/job_{index}.{job_id}.sh`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "job_script"
    )]
    pub kept_script: Option<String>,
    /// The `--comment` tag it was submitted with.
    #[serde(skip)]
    pub tag: Option<String>,
    /// The cluster (`sbatch --parsable` answered `ID;cluster`): asked with `-M`.
    #[serde(skip)]
    pub cluster: Option<String>,
    /// The name of the cluster the job was submitted on (`ClusterName`), whether or not it
    /// was asked with `-M`: a sweep directory used against another cluster is told apart by
    /// it (the journal keeps it).
    #[serde(skip)]
    pub cluster_name: Option<String>,
    /// Slurm job name.
    #[serde(skip)]
    pub job_name: Option<String>,
    /// The job script as submitted (where it was saved then).
    #[serde(skip)]
    pub job_script: Option<String>,
    /// The jobs' log directory.
    #[serde(skip)]
    pub log_dir: Option<String>,
    /// Hash of the job options it was made with (`.sweep/options/<hash>.json`).
    #[serde(skip)]
    pub options: Option<String>,
    /// GPUs per node it asked for.
    #[serde(skip)]
    pub gpus_per_node: Option<u64>,
    /// The exact `sbatch` command line.
    #[serde(skip)]
    pub sbatch_command: Option<Vec<String>>,
    /// The concurrencies its benchmark measured instead of `--profiler`'s (a follow-up round
    /// of the adaptive search); none: `--profiler`'s. With the combination, what the
    /// submission is: never twice holds per combination and concurrencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrencies: Option<Vec<u64>>,
}

impl Submission {
    /// A submission of which only the job is known.
    pub fn of_job(job_id: impl Into<String>) -> Submission {
        Submission {
            job_id: job_id.into(),
            ..Submission::default()
        }
    }

    /// A job Slurm lists with a sweep tag ([`crate::slurm::Slurm::tagged_jobs`], or
    /// accounting's [`crate::slurm::Slurm::tagged_in_accounting`]), as a submission: its job,
    /// the tag it carries, when it was submitted, its name and its state. The one place a
    /// submission is made from a Slurm row: adopting a sweep's jobs into its journal, and
    /// `--reconcile`, both go through it.
    pub fn from_tagged(j: &crate::slurm::TaggedJob) -> Submission {
        Submission {
            submitted_at: j.submitted.and_then(Timestamp::from_slurm),
            state: Some(j.state.clone()),
            tag: Some(j.tag_text()),
            job_name: Some(j.name.clone()).filter(|n| !n.is_empty()),
            concurrencies: j.tag.concurrencies.clone(),
            ..Submission::of_job(j.job_id.clone())
        }
    }

    /// Its jobs: `job_id`, then the follow-ups.
    pub fn jobs(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.job_id).chain(&self.retry_job_ids)
    }

    /// True when `job` is one of its jobs.
    pub fn has_job(&self, job: &str) -> bool {
        self.jobs().any(|j| j == job)
    }

    /// True when it measured `concurrencies` (none: `--profiler`'s list): the same
    /// measurement of its combination.
    pub fn measures(&self, concurrencies: Option<&[u64]>) -> bool {
        self.concurrencies.as_deref() == concurrencies
    }

    /// Adds what `other` (another view of the same job) knows and this one does not: every
    /// field this one lacks, every follow-up it lacks (in `other`'s order, after its own). A
    /// known value is never replaced, by a missing one or another one. (`concurrencies` is
    /// not filled in: absent means `--profiler`'s list, a value of its own.)
    pub fn absorb(&mut self, other: Submission) {
        for job in other.retry_job_ids {
            if job != self.job_id && !self.retry_job_ids.contains(&job) {
                self.retry_job_ids.push(job);
            }
        }
        fill(&mut self.submitted_at, other.submitted_at);
        fill(&mut self.state, other.state);
        fill(&mut self.kept_script, other.kept_script);
        fill(&mut self.tag, other.tag);
        fill(&mut self.cluster, other.cluster);
        fill(&mut self.cluster_name, other.cluster_name);
        fill(&mut self.job_name, other.job_name);
        fill(&mut self.job_script, other.job_script);
        fill(&mut self.log_dir, other.log_dir);
        fill(&mut self.options, other.options);
        fill(&mut self.gpus_per_node, other.gpus_per_node);
        fill(&mut self.sbatch_command, other.sbatch_command);
    }
}

fn fill<T>(known: &mut Option<T>, more: Option<T>) {
    if known.is_none() {
        *known = more;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbing_keeps_what_is_known() {
        let mut mine = Submission {
            tag: Some("sweep:k:a:0".into()),
            retry_job_ids: vec!["11".into()],
            ..Submission::of_job("10")
        };
        mine.absorb(Submission {
            tag: Some("other".into()),
            log_dir: Some("/l".into()),
            retry_job_ids: vec!["11".into(), "12".into()],
            ..Submission::of_job("10")
        });
        assert_eq!(mine.tag.as_deref(), Some("sweep:k:a:0"));
        assert_eq!(mine.log_dir.as_deref(), Some("/l"));
        assert_eq!(mine.jobs().collect::<Vec<_>>(), ["10", "11", "12"]);
        assert!(mine.has_job("12") && !mine.has_job("13"));
    }

    #[test]
    fn a_history_entry_carries_its_own_fields_only() {
        let s = Submission {
            submitted_at: Some(Timestamp::parse("2026-01-01T00:00:00+00:00")),
            state: Some(JobState::Failed),
            kept_script: Some("/d/history/job_0.10.sh".into()),
            tag: Some("sweep:k:a:0".into()),
            job_script: Some("/d/job_0.sh".into()),
            ..Submission::of_job("10")
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"job_id":"10","submitted_at":"2026-01-01T00:00:00+00:00","state":"FAILED","job_script":"/d/history/job_0.10.sh"}"#
        );
        let back: Submission = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.kept_script, s.kept_script);
        assert_eq!((back.tag, back.job_script), (None, None));
    }
}
