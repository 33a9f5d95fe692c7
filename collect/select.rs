//! `--state` and `--sweep`: which records a run shows or passes on, without jq. States are
//! Slurm's names or squeue's short forms (`-t PD,R`), plus the table's words for combinations
//! without a job (`SUBMIT_FAILED`, `NOT_SUBMITTED`, `DRY_RUN`); a sweep is named by its
//! directory's name, its path, or its sweep key.

use std::path::Path;
use sweep::record::SubmitStatus;
use sweep::{JobState, Record};

/// The records a run keeps: in one of `states` (when given) and of one of `sweeps` (when
/// given).
#[derive(Debug, Clone, Default)]
pub struct Select {
    /// State names, as [`state_of`] gives them.
    pub states: Vec<String>,
    /// Sweep names, paths or keys.
    pub sweeps: Vec<String>,
}

/// squeue's short forms (`squeue -t`) and the names they stand for.
const SHORT: [(&str, &str); 24] = [
    ("PD", "PENDING"),
    ("R", "RUNNING"),
    ("CG", "COMPLETING"),
    ("CD", "COMPLETED"),
    ("CF", "CONFIGURING"),
    ("CA", "CANCELLED"),
    ("F", "FAILED"),
    ("TO", "TIMEOUT"),
    ("PR", "PREEMPTED"),
    ("NF", "NODE_FAIL"),
    ("OOM", "OUT_OF_MEMORY"),
    ("BF", "BOOT_FAIL"),
    ("DL", "DEADLINE"),
    ("RV", "REVOKED"),
    ("S", "SUSPENDED"),
    ("ST", "STOPPED"),
    ("RQ", "REQUEUED"),
    ("RH", "REQUEUE_HOLD"),
    ("RF", "REQUEUE_FED"),
    ("RS", "RESIZING"),
    ("RD", "RESV_DEL_HOLD"),
    ("SE", "SPECIAL_EXIT"),
    ("SI", "SIGNALING"),
    ("SO", "STAGE_OUT"),
];

/// The words for combinations without a job's state.
const NO_JOB: [&str; 3] = ["SUBMIT_FAILED", "NOT_SUBMITTED", "DRY_RUN"];

/// `--state FAILED,TO,oom`: the names, upper case, short forms expanded; an unknown name is
/// an error that lists the known ones.
pub fn parse_states(lists: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for word in lists.iter().flat_map(|l| l.split(',')) {
        let word = word.trim().to_ascii_uppercase();
        if word.is_empty() {
            continue;
        }
        let name = match SHORT.iter().find(|(s, _)| *s == word) {
            Some((_, name)) => name.to_string(),
            None => word,
        };
        let known = !matches!(JobState::parse(&name), JobState::Other(_))
            || NO_JOB.contains(&name.as_str());
        if !known {
            let shorts: Vec<String> = SHORT.iter().map(|(s, n)| format!("{s} ({n})")).collect();
            return Err(format!(
                "--state: unknown state {name:?}; known: Slurm's state names, their short forms {}, UNKNOWN, and {} for combinations without a job",
                shorts.join(", "),
                NO_JOB.join(", ")
            ));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// `--sweep a,b`: the names, as given.
pub fn parse_sweeps(lists: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in lists.iter().flat_map(|l| l.split(',')) {
        let word = word.trim().trim_end_matches('/');
        if !word.is_empty() && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    }
    out
}

/// What the STATE column calls a record: its job's state, or what became of its submission.
pub fn state_of(r: &Record) -> String {
    match (&r.status.state, &r.job_id, r.submit_status) {
        (Some(s), _, _) => s.as_str().to_string(),
        (None, Some(_), _) => "-".to_string(),
        (None, None, Some(SubmitStatus::Failed)) => "SUBMIT_FAILED".to_string(),
        (None, None, Some(SubmitStatus::DryRun)) => "DRY_RUN".to_string(),
        (None, None, _) => "NOT_SUBMITTED".to_string(),
    }
}

impl Select {
    /// True when nothing is asked: every record is kept.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && self.sweeps.is_empty()
    }

    /// True when `r` is kept.
    pub fn keeps(&self, r: &Record) -> bool {
        let state = self.states.is_empty() || self.states.contains(&state_of(r));
        let sweep = self.sweeps.is_empty() || self.sweeps.iter().any(|s| of_sweep(r, s));
        state && sweep
    }
}

/// True when `r` belongs to the sweep named `name`: its directory's path, or the end of it
/// (`tpt`, `sweeps/tpt`), or its sweep key (`tpt-1a2b3c4d`, in its tag).
fn of_sweep(r: &Record, name: &str) -> bool {
    let dir = r.sweep_dir.as_deref().map(Path::new);
    let by_path = dir.is_some_and(|d| d == Path::new(name) || d.ends_with(name));
    let by_key = r
        .sweep_dir
        .as_deref()
        .is_some_and(|d| sweep::tag::sweep_key(d) == name)
        || r.tag
            .as_deref()
            .and_then(sweep::tag::parse)
            .is_some_and(|t| t.sweep_key == name);
    by_path || by_key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_by_name_or_short_form() {
        let s = |l: &str| parse_states(&[l.to_string()]);
        assert_eq!(s("FAILED,TO").unwrap(), ["FAILED", "TIMEOUT"]);
        assert_eq!(
            s("pd, r,oom").unwrap(),
            ["PENDING", "RUNNING", "OUT_OF_MEMORY"]
        );
        assert_eq!(
            s("submit_failed,CD").unwrap(),
            ["SUBMIT_FAILED", "COMPLETED"]
        );
        let e = s("FAILD").unwrap_err();
        assert!(
            e.starts_with("--state: unknown state \"FAILD\"; known: "),
            "{e}"
        );
    }
}
