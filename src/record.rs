//! The record: one JSON object per line, the wire contract between the four programs.
//!
//! Each stage reads records, adds its own fields and writes them on; fields it does not know
//! (a user's own, added with `jq`) pass through untouched in [`Record::extra`]. A record alone
//! carries everything needed to re-submit it, so `jq -c '.jobs[]' sweep_manifest.json |
//! sweep-submit ...` works. Field order on output is the order of this struct, then unknown
//! fields in the order they came in.
//!
//! The table of every field, which program adds it and what it means, and how the `id` is
//! made, is in `docs/record.md` (the one place); each field's own doc below says what it holds.

use crate::{JobState, Submission, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One combination of the sweep, as it travels between the stages. See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 0-based position in the expansion.
    pub index: u64,
    /// Stable content hash of the parameters: same values, same id.
    pub id: String,
    /// Disaggregated (prefill/decode) or aggregated serving.
    pub mode: Mode,
    /// Nodes the job allocates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_nodes: Option<u64>,
    /// `{"slurm": {...}, "sglang": {...}}`, the seed manifest's shape.
    pub parameters: Parameters,
    /// Per-role SGLang values (disaggregated sweeps only), layered over `parameters.sglang`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_parameters: Option<RoleParameters>,
    /// Absolute path of the sweep file the record came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_file: Option<String>,
    /// Absolute path of the sweep's output directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_dir: Option<String>,
    /// Absolute path of the rendered SGLang config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// The concurrencies the job measures instead of `--profiler`'s (a follow-up round of the
    /// adaptive search, `sweep-collect --next-round`): the record's current submission's, or,
    /// without one, the next one's. Part of what a submission is ([`crate::concurrencies`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrencies: Option<Vec<u64>>,
    /// Slurm job name, `{job-name}_sweep{index}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Absolute path of the saved job script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_script: Option<String>,
    /// Absolute path of the job's log directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
    /// GPUs per node the job was submitted with (`--gpus-per-node`): the job has
    /// `total_nodes * gpus_per_node` GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u64>,
    /// The `--comment` tag that finds the job in Slurm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Outcome of the last submission attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_status: Option<SubmitStatus>,
    /// Slurm job ID (a string, as in the seed manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Cluster name from `sbatch --parsable` output `ID;cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// RFC 3339 time at which `sbatch` returned the job ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    /// Why the submission failed: Slurm's own message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_error: Option<String>,
    /// The exact `sbatch` command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbatch_command: Option<Vec<String>>,
    /// IDs of the follow-up jobs that `--retries` queued behind `job_id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_job_ids: Vec<String>,
    /// Earlier submissions of this combination, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Submission>,
    /// Job state from Slurm, flattened into the record (`state`, `state_reason`, ...).
    #[serde(flatten)]
    pub status: JobStatus,
    /// Fields this version does not know: passed through untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How the job serves the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Prefill and decode workers on separate nodes.
    Disagg,
    /// Aggregated workers.
    Agg,
}

impl Mode {
    /// `"disagg"` or `"agg"`, as on the wire and in launch-script paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disagg => "disagg",
            Mode::Agg => "agg",
        }
    }

    /// The slurm keys a sweep of this mode gives, all of them.
    pub fn slurm_keys(self) -> &'static [SlurmKey] {
        match self {
            Mode::Disagg => &SlurmKey::ALL[..4],
            Mode::Agg => &SlurmKey::ALL[4..],
        }
    }

    /// Each group of workers as (nodes key, workers key): prefill then decode, or agg.
    pub fn node_worker_keys(self) -> &'static [(SlurmKey, SlurmKey)] {
        match self {
            Mode::Disagg => &[
                (SlurmKey::PrefillNodes, SlurmKey::PrefillWorkers),
                (SlurmKey::DecodeNodes, SlurmKey::DecodeWorkers),
            ],
            Mode::Agg => &[(SlurmKey::AggNodes, SlurmKey::AggWorkers)],
        }
    }
}

/// A worker role of a disaggregated job: its own SGLang values (`role_parameters`), its own
/// section of the config file (`--config-key prefill|decode`), its own slurm counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Prefill,
    Decode,
}

impl Role {
    /// Both, in the order of the config file and the job.
    pub const ALL: [Role; 2] = [Role::Prefill, Role::Decode];

    /// `"prefill"` or `"decode"`: the sweep-file section, the `role_parameters` key, the
    /// config key.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Prefill => "prefill",
            Role::Decode => "decode",
        }
    }

    /// The role's (nodes, workers) slurm keys.
    pub fn counts(self) -> (SlurmKey, SlurmKey) {
        match self {
            Role::Prefill => (SlurmKey::PrefillNodes, SlurmKey::PrefillWorkers),
            Role::Decode => (SlurmKey::DecodeNodes, SlurmKey::DecodeWorkers),
        }
    }
}

/// A key of `parameters.slurm`: the job's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlurmKey {
    PrefillNodes,
    DecodeNodes,
    PrefillWorkers,
    DecodeWorkers,
    AggNodes,
    AggWorkers,
}

impl SlurmKey {
    /// Every key: the four disaggregated ones, then the two aggregated ones.
    pub const ALL: [SlurmKey; 6] = [
        SlurmKey::PrefillNodes,
        SlurmKey::DecodeNodes,
        SlurmKey::PrefillWorkers,
        SlurmKey::DecodeWorkers,
        SlurmKey::AggNodes,
        SlurmKey::AggWorkers,
    ];

    /// The key as written in sweep files and records.
    pub fn as_str(self) -> &'static str {
        match self {
            SlurmKey::PrefillNodes => "prefill_nodes",
            SlurmKey::DecodeNodes => "decode_nodes",
            SlurmKey::PrefillWorkers => "prefill_workers",
            SlurmKey::DecodeWorkers => "decode_workers",
            SlurmKey::AggNodes => "agg_nodes",
            SlurmKey::AggWorkers => "agg_workers",
        }
    }

    /// The key named `name`, if it is one.
    pub fn parse(name: &str) -> Option<SlurmKey> {
        SlurmKey::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for SlurmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed manifest's `parameters`: the combination's Slurm and SGLang values, keys in the
/// sweep file's order, values with their YAML types.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Parameters {
    /// `prefill_nodes`, `decode_nodes`, `prefill_workers`, `decode_workers`, or `agg_nodes`,
    /// `agg_workers`.
    pub slurm: Map<String, Value>,
    /// Engine flags (without the leading `--`) and their values.
    #[serde(default)]
    pub sglang: Map<String, Value>,
}

/// Per-role SGLang values in a disaggregated sweep; each wins over `parameters.sglang` for
/// its own role.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoleParameters {
    /// Values for prefill workers only.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub prefill: Map<String, Value>,
    /// Values for decode workers only.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub decode: Map<String, Value>,
}

impl RoleParameters {
    /// The values of `role`.
    pub fn of(&self, role: Role) -> &Map<String, Value> {
        match role {
            Role::Prefill => &self.prefill,
            Role::Decode => &self.decode,
        }
    }

    /// The values of `role`, to change.
    pub fn of_mut(&mut self, role: Role) -> &mut Map<String, Value> {
        match role {
            Role::Prefill => &mut self.prefill,
            Role::Decode => &mut self.decode,
        }
    }
}

/// Outcome of a submission attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmitStatus {
    /// `sbatch` returned a job ID.
    Submitted,
    /// `sbatch` failed; `submit_error` says why.
    Failed,
    /// Not attempted: an earlier record failed under `--fail-fast`.
    NotSubmitted,
    /// `--dry-run`: the script was written, nothing was submitted.
    DryRun,
    /// Not submitted because the combination already has a pending, running or completed job
    /// in its sweep directory (the record carries that job).
    AlreadySubmitted,
}

/// Job state read from Slurm by `sweep-collect --status`; every field is absent until then.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobStatus {
    /// Slurm state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY,
    /// NODE_FAIL, PREEMPTED, ..., or UNKNOWN when Slurm could not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Why a job pends (Slurm's reason, e.g. `ReqNodeNotAvail`), or why the state is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// `exit:signal` as Slurm reports it, once the job has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<String>,
    /// Run time so far, `[D-]HH:MM:SS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<String>,
    /// Nodes the job ran on (Slurm's compressed node list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_list: Option<String>,
    /// The job's time limit, `[D-]HH:MM:SS` (or Slurm's `UNLIMITED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    /// When the job ended, as Slurm prints it (`2026-12-07T18:31:25`, the cluster's local
    /// time); absent while it has not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Who cancelled the job (a user name, else `uid N`), once accounting says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// States of the `--retries` follow-up jobs, in `retry_job_ids` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_states: Vec<JobState>,
    /// Where the state came from: `squeue`, `sacct`, or `none` when Slurm could not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_source: Option<String>,
    /// The job the state describes when it is not `job_id`: the `--retries` follow-up that
    /// took over after `job_id` failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_job_id: Option<String>,
    /// Why a job that ended without completing did so (sweep-collect reads it from the job's
    /// logs): absent for a job that completed or has not ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Why a job ended without completing, as `sweep-collect` read it from the job's own files:
/// the step that failed (the job script writes `<log_dir>/<job ID>/failed_step`) and the last
/// meaningful line of that step's stderr; without a failed step, Slurm's verdict (`TIMEOUT:
/// ...`) or the last line of the job's own `<log_dir>/<job ID>.err`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Failure {
    /// The step that failed (`prefill_w0_r0`, `benchmark`), when the job script named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// That step's exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i64>,
    /// Absolute path of the file the message was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The cause in one line: the last meaningful line of `file`, or Slurm's verdict.
    pub message: String,
}

impl Record {
    /// The current submission, from the record's flat fields (`job_id`, `retry_job_ids`,
    /// `tag`, `cluster`, `submitted_at`, `job_name`, `job_script`, `log_dir`,
    /// `gpus_per_node`, `sbatch_command`, `concurrencies` and `state`); `None` without a
    /// `job_id`.
    pub fn current(&self) -> Option<Submission> {
        Some(Submission {
            job_id: self.job_id.clone()?,
            submitted_at: self.submitted_at.clone(),
            retry_job_ids: self.retry_job_ids.clone(),
            state: self.status.state.clone(),
            kept_script: None,
            tag: self.tag.clone(),
            cluster: self.cluster.clone(),
            cluster_name: None,
            job_name: self.job_name.clone(),
            job_script: self.job_script.clone(),
            log_dir: self.log_dir.clone(),
            options: None,
            gpus_per_node: self.gpus_per_node,
            sbatch_command: self.sbatch_command.clone(),
            concurrencies: self.concurrencies.clone(),
        })
    }

    /// Makes `s` the current submission: its job and follow-ups, and each field it knows
    /// (a field it does not know keeps the record's value). The job state is not set here:
    /// it is the state of the combination, which `sweep-collect --status` decides.
    pub fn set_current(&mut self, s: Submission) {
        self.job_id = Some(s.job_id);
        self.retry_job_ids = s.retry_job_ids;
        let keep = |field: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *field = v;
            }
        };
        if s.submitted_at.is_some() {
            self.submitted_at = s.submitted_at;
        }
        keep(&mut self.cluster, s.cluster);
        // A tag it does not know: the record's, for what this submission measured.
        let tag = s.tag.or_else(|| {
            self.tag
                .as_deref()
                .map(|t| crate::tag::measuring(t, s.concurrencies.as_deref()))
        });
        keep(&mut self.tag, tag);
        keep(&mut self.job_name, s.job_name);
        keep(&mut self.job_script, s.job_script);
        keep(&mut self.log_dir, s.log_dir);
        if s.gpus_per_node.is_some() {
            self.gpus_per_node = s.gpus_per_node;
        }
        if s.sbatch_command.is_some() {
            self.sbatch_command = s.sbatch_command;
        }
        // What the job measures is the submission's, always (none: --profiler's list).
        self.concurrencies = s.concurrencies;
    }

    /// Moves the current submission (if any) into `history`, as a history entry (its job,
    /// time, follow-ups, state and concurrencies), and clears what belonged to it: the job and
    /// its follow-ups, time, cluster, submission outcome, collected state, and the `results`
    /// and `reconciled` that sweep-collect added about it. The record is then ready for its
    /// next submission (job name, script, log directory and tag are made anew by
    /// sweep-submit).
    pub fn retire_current(&mut self) {
        if let Some(job_id) = self.job_id.take() {
            self.history.push(Submission {
                submitted_at: self.submitted_at.take(),
                retry_job_ids: std::mem::take(&mut self.retry_job_ids),
                state: self.status.state.take(),
                concurrencies: self.concurrencies.clone(),
                ..Submission::of_job(job_id)
            });
        }
        self.status = JobStatus::default();
        self.submitted_at = None;
        self.retry_job_ids.clear();
        self.cluster = None;
        self.submit_status = None;
        self.submit_error = None;
        // sweep-collect --reconcile's mark: it was about the old submission.
        self.extra.shift_remove("reconciled");
        // sweep-collect --results' points: they were the old jobs' results.
        self.extra.shift_remove("results");
    }

    /// The tag its current job carries in Slurm: `tag`, else (a record whose tag was lost, or
    /// never written) the one sweep-submit gives its combination in its `sweep_dir`, for what
    /// the record measures (its `concurrencies`); `None` for a record that has neither
    /// (straight from sweep-expand, or the seed's manifest): Slurm cannot then say whether a
    /// job is this combination's.
    pub fn own_tag(&self) -> Option<String> {
        self.tag
            .clone()
            .or_else(|| self.tag_for(self.concurrencies.as_deref()))
    }

    /// The tag of this combination's job that measured `concurrencies` (none: `--profiler`'s):
    /// every submission of a combination in one sweep directory has the same tag but for what
    /// it measured ([`crate::tag::format_measured`]). From `tag` (what it measured replaced),
    /// else from `sweep_dir`; `None` without either.
    pub fn tag_for(&self, concurrencies: Option<&[u64]>) -> Option<String> {
        match &self.tag {
            Some(tag) => Some(crate::tag::measuring(tag, concurrencies)),
            None => {
                let dir = self.sweep_dir.as_deref()?;
                Some(crate::tag::format_measured(
                    &crate::tag::sweep_key(dir),
                    &self.id,
                    self.index,
                    concurrencies,
                ))
            }
        }
    }

    /// Every job the record names, each with the tag it must carry (see [`Record::tag_for`]):
    /// its current job and follow-ups, then each earlier submission's.
    pub fn every_job_tagged(&self) -> Vec<(&String, Option<String>)> {
        let own = self.own_tag();
        let mut out: Vec<(&String, Option<String>)> = self
            .job_id
            .iter()
            .chain(&self.retry_job_ids)
            .map(|j| (j, own.clone()))
            .collect();
        for h in &self.history {
            let tag = self.tag_for(h.concurrencies.as_deref());
            out.extend(h.jobs().map(|j| (j, tag.clone())));
        }
        out
    }

    /// Every job the record names: its current job and follow-ups, then each earlier
    /// submission's.
    pub fn every_job(&self) -> impl Iterator<Item = &String> {
        self.job_id
            .iter()
            .chain(&self.retry_job_ids)
            .chain(self.history.iter().flat_map(Submission::jobs))
    }

    /// Every SGLang value for `role`: the common values, then that role's own on top (per-role
    /// values win; a per-role key new to the common ones is appended in its own order).
    pub fn sglang_for_role(&self, role: Role) -> Map<String, Value> {
        let mut merged = self.parameters.sglang.clone();
        if let Some(roles) = &self.role_parameters {
            for (k, v) in roles.of(role) {
                merged.insert(k.clone(), v.clone());
            }
        }
        merged
    }

    /// True when the record has SGLang values (common or per-role), i.e. gets a config file.
    pub fn has_sglang(&self) -> bool {
        !self.parameters.sglang.is_empty()
            || self
                .role_parameters
                .as_ref()
                .is_some_and(|r| !r.prefill.is_empty() || !r.decode.is_empty())
    }

    /// A Slurm count from `parameters.slurm` (`prefill_nodes`, `agg_workers`, ...), if present
    /// and a non-negative integer.
    pub fn slurm_count(&self, key: SlurmKey) -> Option<u64> {
        self.parameters
            .slurm
            .get(key.as_str())
            .and_then(Value::as_u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_modes_list_their_keys() {
        for k in SlurmKey::ALL {
            assert_eq!(SlurmKey::parse(k.as_str()), Some(k));
        }
        assert_eq!(SlurmKey::parse("prefil_nodes"), None);
        let keys = |m: Mode| {
            m.slurm_keys()
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(Mode::Disagg),
            [
                "prefill_nodes",
                "decode_nodes",
                "prefill_workers",
                "decode_workers"
            ]
        );
        assert_eq!(keys(Mode::Agg), ["agg_nodes", "agg_workers"]);
        for role in Role::ALL {
            let (nodes, workers) = role.counts();
            assert_eq!(nodes.as_str(), format!("{}_nodes", role.as_str()));
            assert_eq!(workers.as_str(), format!("{}_workers", role.as_str()));
        }
    }
}
