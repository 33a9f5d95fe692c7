//! Finding `sbatch` and reading what `sbatch --parsable` said (the call itself runs through
//! [`sweep::slurm::run`], with its deadline): a job ID, a permanent refusal, or a transient
//! failure worth retrying.

use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sweep::slurm::{summary, Finished};

/// How one `sbatch` call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `--parsable` printed `N` or `N;cluster`.
    Submitted {
        job_id: String,
        cluster: Option<String>,
    },
    /// Slurm refused the job, or `sbatch` said something that is not a job ID: do not retry.
    Refused(String),
    /// Worth retrying. `maybe_created`: the request may have reached slurmctld, so the job may
    /// exist; look it up by its tag before submitting again.
    Transient {
        message: String,
        maybe_created: bool,
    },
}

/// Reads a finished `sbatch --parsable` call. `timeout` is the deadline it was given.
pub fn outcome(f: &Finished, timeout: Duration) -> Outcome {
    let Some(status) = f.status else {
        return Outcome::Transient {
            message: format!("sbatch did not answer within {}s", timeout.as_secs_f64()),
            maybe_created: true,
        };
    };
    if !status.success() {
        let Some(code) = status.code() else {
            // Killed mid-call (not by us): like a timeout, the request may have reached
            // slurmctld, so the job is looked up before another sbatch.
            return Outcome::Transient {
                message: summary(&f.stderr)
                    .unwrap_or_else(|| "sbatch was killed by a signal".to_string()),
                maybe_created: true,
            };
        };
        let message = summary(&f.stderr)
            .unwrap_or_else(|| format!("sbatch exited with status {code} and no message"));
        return classify(message);
    }
    match parse_parsable(&f.stdout) {
        Some((job_id, cluster)) => Outcome::Submitted { job_id, cluster },
        // Exit 0 without an ID: the job may well exist, so this is never retried blindly.
        None => Outcome::Refused(format!(
            "sbatch exited 0 but printed no job ID (stdout: {:?}{})",
            f.stdout.trim(),
            summary(&f.stderr)
                .map(|e| format!(", stderr: {e:?}"))
                .unwrap_or_default()
        )),
    }
}

/// `N` or `N;cluster`, surrounding white space allowed; anything else is `None`.
pub fn parse_parsable(stdout: &str) -> Option<(String, Option<String>)> {
    let text = stdout.trim();
    let (id, cluster) = match text.split_once(';') {
        Some((id, cluster)) => (id, Some(cluster)),
        None => (text, None),
    };
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let cluster_ok = cluster
        .is_none_or(|c| !c.is_empty() && !c.contains(|ch: char| ch.is_whitespace() || ch == ';'));
    (id_ok && cluster_ok).then(|| (id.to_string(), cluster.map(str::to_string)))
}

/// Messages of failures that go away by themselves. Matched case-insensitively. Limits such
/// as `AssocMaxSubmitJobLimit` or `QOSMaxSubmitJobPerUserLimit` are not here: they hold until
/// jobs leave the queue, which is hours, not seconds of backoff ([`submit_limit`] names them,
/// and `--max-queued` waits for room instead).
const NOT_SENT: &[&str] = &[
    // The request never reached slurmctld: nothing can have been created.
    "unable to contact slurm controller",
    "connection refused",
];
const MAYBE_SENT: &[&str] = &[
    "socket timed out",
    "zero bytes were transmitted or received",
    "transport endpoint is not connected",
    "connection reset",
    "temporarily unavailable",
    "temporarily unable to accept job",
    "try again",
    "rate limit",
    "slurmctld is busy",
    "too many pending",
];

/// Sorts a failed `sbatch`'s message into transient (with whether the job may exist) or
/// permanent.
pub fn classify(message: String) -> Outcome {
    let lower = message.to_ascii_lowercase();
    if NOT_SENT.iter().any(|p| lower.contains(p)) {
        // "Unable to contact slurm controller (connect failure)" is definite; a timeout in its
        // wording is not.
        let maybe_created = lower.contains("timed out");
        return Outcome::Transient {
            message,
            maybe_created,
        };
    }
    if MAYBE_SENT.iter().any(|p| lower.contains(p)) {
        return Outcome::Transient {
            message,
            maybe_created: true,
        };
    }
    Outcome::Refused(message)
}

/// The reason Slurm gives when a refusal is a limit on the user's queued jobs, one that lifts
/// as jobs leave the queue: `AssocMaxSubmitJobLimit`, `AssocGrpSubmitJobsLimit`,
/// `QOSMaxSubmitJobPerUserLimit`, `QOSMaxSubmitJobPerAccountLimit`, `QOSGrpSubmitJobsLimit`.
/// `sbatch` prints the reason on a line of its own before the generic "Job violates
/// accounting/QOS policy (job submit limit, user's size and/or time limits)", which alone is
/// no proof: size and time limits say the same and never lift. `None` for any other message.
pub fn submit_limit(message: &str) -> Option<&str> {
    message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.to_ascii_lowercase().contains("submitjob"))
}

/// `--sbatch`, else `sbatch` on PATH. A dry run needs none and records plain `sbatch`.
pub fn find(given: Option<&Path>, dry_run: bool) -> Result<PathBuf> {
    if let Some(p) = given {
        if !dry_run && !p.is_file() {
            anyhow::bail!("sbatch not found: {} is not a file", p.display());
        }
        // Absolute like every other path in a record: sbatch_command must still run from
        // another directory weeks later.
        return sweep::fsutil::absolute(p);
    }
    match which::which("sbatch") {
        Ok(p) => Ok(p),
        Err(_) if dry_run => Ok(PathBuf::from("sbatch")),
        Err(_) => anyhow::bail!(
            "sbatch not found on PATH: not on a Slurm login node? use --sbatch PATH or --dry-run"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsable_forms() {
        assert_eq!(parse_parsable("123\n"), Some(("123".into(), None)));
        assert_eq!(
            parse_parsable(" 45;gpu-cluster \n"),
            Some(("45".into(), Some("gpu-cluster".into())))
        );
        for bad in [
            "",
            "\n",
            "Submitted batch job 12",
            "12a",
            "12;",
            ";x",
            "-3",
            "1 2",
        ] {
            assert_eq!(parse_parsable(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn transient_or_not() {
        let t = |m: &str| classify(m.to_string());
        assert!(matches!(
            t("sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)"),
            Outcome::Transient { maybe_created: false, .. }
        ));
        assert!(matches!(
            t("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"),
            Outcome::Transient { maybe_created: true, .. }
        ));
        assert!(matches!(
            t("sbatch: error: Batch job submission failed: Invalid partition name specified"),
            Outcome::Refused(_)
        ));
        assert!(matches!(
            t("sbatch: error: AssocMaxSubmitJobLimit"),
            Outcome::Refused(_)
        ));
    }

    #[test]
    fn limits_on_queued_jobs_are_told_from_other_refusals() {
        // As Slurm 22.05 says it (the lines joined by summary).
        let policy = "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)";
        for reason in [
            "AssocMaxSubmitJobLimit",
            "QOSMaxSubmitJobPerUserLimit",
            "AssocGrpSubmitJobsLimit",
            "QOSMaxSubmitJobPerAccountLimit",
            "QOSGrpSubmitJobsLimit",
        ] {
            let message = format!("sbatch: error: {reason}; {policy}");
            assert_eq!(submit_limit(&message), Some(reason));
            assert!(matches!(classify(message), Outcome::Refused(_)), "{reason}");
        }
        assert_eq!(submit_limit(policy), None, "the generic line alone");
        assert_eq!(
            submit_limit(&format!(
                "sbatch: error: QOSMaxWallDurationPerJobLimit; {policy}"
            )),
            None
        );
        assert_eq!(
            submit_limit("sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified"),
            None
        );
    }
}
