//! Talking to Slurm, for every program: each command runs with a deadline ([`run`]), a failure
//! is summarised one way ([`summary`]), job states come from batched `squeue`/`sacct` calls
//! ([`Slurm::lookup`]), the jobs of a sweep are found by their tag ([`Slurm::tagged_jobs`]),
//! a user's limits on queued jobs and the jobs that count against them are read in a few
//! calls ([`Slurm::queued_jobs`], [`Slurm::associations`], [`Slurm::qos_limits`]), and Slurm's
//! times are read by one parser ([`parse_time`]).
//!
//! What stays with a program is what only it needs: reading `sbatch --parsable` (sweep-submit),
//! searching accounting for `--reconcile` (sweep-collect).

mod control;
mod limits;
mod process;
mod states;
mod tags;
mod time;

pub use control::Refused;
pub use limits::{AccountingConfig, Association, QosLimits, QueuedJob};
pub use process::{run, run_until, Finished};
pub use states::{comment_in_command, normalise_elapsed, Answers, JobInfo, JobRef, Seen};
pub use tags::{TaggedJob, TAG_FORMAT};
pub use time::parse_time;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Slurm commands a program asks, and how long one call may take.
#[derive(Debug, Clone)]
pub struct Slurm {
    /// The `squeue` program.
    pub squeue: String,
    /// The `sacct` program.
    pub sacct: String,
    /// The `scontrol` program (releasing held jobs).
    pub scontrol: String,
    /// The `scancel` program.
    pub scancel: String,
    /// Job IDs per `squeue`/`sacct` call of [`Slurm::lookup`]: never one call per job.
    pub batch: usize,
    /// Longest wait for one call; a hung one is killed.
    pub timeout: Duration,
    /// The option that sets `timeout` (`--slurm-timeout`), named when a call is killed at it.
    pub timeout_option: &'static str,
}

/// Slurm could not be asked: the command could not start, was killed at the deadline, or
/// failed (controller unreachable, or another refusal: the message says which).
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// Job IDs per `squeue`/`sacct` call unless a program says otherwise.
pub const BATCH: usize = 1000;

impl Slurm {
    /// The Slurm commands by their plain names (found on PATH when called), `BATCH` job IDs
    /// per call, each call killed after `timeout` (set by the option `timeout_option`).
    pub fn new(timeout: Duration, timeout_option: &'static str) -> Slurm {
        Slurm {
            squeue: "squeue".to_string(),
            sacct: "sacct".to_string(),
            scontrol: "scontrol".to_string(),
            scancel: "scancel".to_string(),
            batch: BATCH,
            timeout,
            timeout_option,
        }
    }

    /// The Slurm commands next to `program` (an explicit `--sbatch` in a site's Slurm bin
    /// directory), each else on PATH (else its plain name: calling it then says it could not
    /// run).
    pub fn beside(program: &Path, timeout: Duration, timeout_option: &'static str) -> Slurm {
        let find = |name: &str| {
            program_beside(program, name)
                .map_or_else(|| name.to_string(), |p| p.display().to_string())
        };
        Slurm {
            squeue: find("squeue"),
            sacct: find("sacct"),
            scontrol: find("scontrol"),
            scancel: find("scancel"),
            ..Slurm::new(timeout, timeout_option)
        }
    }

    /// Runs `program args` with the deadline: its stdout, or one line that says why not
    /// (`squeue: slurm_load_jobs error: Unable to contact slurm controller (connect failure)`).
    pub fn call(&self, program: &str, args: &[String]) -> Result<String, Unreachable> {
        let argv: Vec<String> = std::iter::once(program.to_string())
            .chain(args.iter().cloned())
            .collect();
        let out = run(&argv, self.timeout)
            .map_err(|e| Unreachable(format!("failed to run {program}: {e}")))?;
        let Some(status) = out.status else {
            return Err(Unreachable(format!(
                "{program} did not answer within {}s ({})",
                self.timeout.as_secs_f64(),
                self.timeout_option
            )));
        };
        if status.success() {
            return Ok(out.stdout);
        }
        Err(Unreachable(match (summary(&out.stderr), status.code()) {
            (Some(msg), _) => format!("{program}: {msg}"),
            (None, Some(code)) => format!("{program} exited with status {code}"),
            (None, None) => format!("{program} was killed by a signal"),
        }))
    }
}

/// The program `name` next to `beside`, else on PATH.
pub fn program_beside(beside: &Path, name: &str) -> Option<PathBuf> {
    let sibling = beside.with_file_name(name);
    if sibling.is_file() {
        return Some(sibling);
    }
    which::which(name).ok()
}

/// Slurm's stderr as one line: the lines that say `error` (Slurm prints warnings and notes
/// before the error that matters), else every non-empty line, joined with "; ". `None` when
/// there is nothing.
pub fn summary(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    let chosen = if errors.is_empty() { lines } else { errors };
    (!chosen.is_empty()).then(|| chosen.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_prefers_errors() {
        assert_eq!(
            summary("sbatch: warning: x\nsbatch: error: bad thing\n\n").as_deref(),
            Some("sbatch: error: bad thing")
        );
        assert_eq!(summary("a\nb\n").as_deref(), Some("a; b"));
        assert_eq!(summary(" \n"), None);
    }
}
