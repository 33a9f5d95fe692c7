//! A job's state as Slurm names it (`PENDING`, `COMPLETED`, ...), plus `UNKNOWN` when Slurm
//! could not say, as one type: code decides with a `match` the compiler checks, never by
//! comparing strings. On the wire (records, manifests) it is the string it always was.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;

/// A Slurm job state (the names of `squeue -o %T` and `sacct -o State`), `Unknown` when Slurm
/// could not say, or any other text as [`JobState::Other`].
///
/// Equality and order are those of the name ([`JobState::as_str`]): `Other("PENDING")` (which
/// only a hand-built value can be; [`JobState::parse`] never makes one) equals `Pending`.
#[derive(Debug, Clone)]
pub enum JobState {
    BootFail,
    Cancelled,
    Completed,
    Completing,
    Configuring,
    Deadline,
    Failed,
    NodeFail,
    OutOfMemory,
    Pending,
    Preempted,
    Requeued,
    RequeueFed,
    RequeueHold,
    Resizing,
    ResvDelHold,
    Revoked,
    Running,
    Signaling,
    SpecialExit,
    StageOut,
    Stopped,
    Suspended,
    Timeout,
    /// Neither squeue nor sacct knows the job (sweep's own word, not Slurm's).
    Unknown,
    /// Any other text, kept as it was written.
    Other(String),
}

/// Every named state and its name.
const NAMES: [(JobState, &str); 25] = [
    (JobState::BootFail, "BOOT_FAIL"),
    (JobState::Cancelled, "CANCELLED"),
    (JobState::Completed, "COMPLETED"),
    (JobState::Completing, "COMPLETING"),
    (JobState::Configuring, "CONFIGURING"),
    (JobState::Deadline, "DEADLINE"),
    (JobState::Failed, "FAILED"),
    (JobState::NodeFail, "NODE_FAIL"),
    (JobState::OutOfMemory, "OUT_OF_MEMORY"),
    (JobState::Pending, "PENDING"),
    (JobState::Preempted, "PREEMPTED"),
    (JobState::Requeued, "REQUEUED"),
    (JobState::RequeueFed, "REQUEUE_FED"),
    (JobState::RequeueHold, "REQUEUE_HOLD"),
    (JobState::Resizing, "RESIZING"),
    (JobState::ResvDelHold, "RESV_DEL_HOLD"),
    (JobState::Revoked, "REVOKED"),
    (JobState::Running, "RUNNING"),
    (JobState::Signaling, "SIGNALING"),
    (JobState::SpecialExit, "SPECIAL_EXIT"),
    (JobState::StageOut, "STAGE_OUT"),
    (JobState::Stopped, "STOPPED"),
    (JobState::Suspended, "SUSPENDED"),
    (JobState::Timeout, "TIMEOUT"),
    (JobState::Unknown, "UNKNOWN"),
];

impl JobState {
    /// The state named exactly `name`; any other text is [`JobState::Other`].
    pub fn parse(name: &str) -> JobState {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| JobState::Other(name.to_string()), |(s, _)| s.clone())
    }

    /// The state in what Slurm prints: its first word, without a trailing `+`
    /// (`CANCELLED by 0` is `CANCELLED`); nothing at all is `UNKNOWN`.
    pub fn from_slurm(text: &str) -> JobState {
        match text.split_whitespace().next() {
            Some(word) => JobState::parse(word.trim_end_matches('+')),
            None => JobState::Unknown,
        }
    }

    /// The name, as on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Other(text) => text,
            named => {
                NAMES
                    .iter()
                    .find(|(s, _)| std::mem::discriminant(s) == std::mem::discriminant(named))
                    .expect("every named state is in NAMES")
                    .1
            }
        }
    }

    /// The job will not change any more: it ended (completed or not), or Slurm no longer
    /// knows it (`UNKNOWN`).
    pub fn is_final(&self) -> bool {
        use JobState::*;
        match self {
            Completed | Failed | Cancelled | Timeout | OutOfMemory | NodeFail | Preempted
            | BootFail | Deadline | Revoked | Unknown => true,
            Other(text) => JobState::parse(text).is_final_named(),
            _ => false,
        }
    }

    /// `is_final` of a state that is not `Other` (an `Other` holding a name counts as it).
    fn is_final_named(&self) -> bool {
        !matches!(self, JobState::Other(_)) && self.is_final()
    }

    /// Ended without completing (failed, cancelled, timed out, ...): not `Unknown`.
    pub fn is_failure(&self) -> bool {
        self.is_final() && *self != JobState::Completed && *self != JobState::Unknown
    }
}

impl PartialEq for JobState {
    fn eq(&self, other: &JobState) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JobState {}

impl PartialOrd for JobState {
    fn partial_cmp(&self, other: &JobState) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JobState {
    fn cmp(&self, other: &JobState) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for JobState {
    fn from(name: &str) -> JobState {
        JobState::parse(name)
    }
}

impl Serialize for JobState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JobState, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match JobState::parse(&text) {
            JobState::Other(_) => JobState::Other(text),
            named => named,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_other_text_is_kept() {
        for (state, name) in NAMES {
            assert_eq!(state.as_str(), name);
            assert_eq!(JobState::parse(name), state);
            assert!(
                !matches!(JobState::parse(name), JobState::Other(_)),
                "{name}"
            );
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<JobState>(&json).unwrap(), state);
        }
        let odd: JobState = serde_json::from_str("\"CANCELLED by 0\"").unwrap();
        assert_eq!(odd, JobState::Other("CANCELLED by 0".into()));
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"CANCELLED by 0\"");
        assert_eq!(JobState::Other("PENDING".into()), JobState::Pending);
    }

    #[test]
    fn slurm_text_and_final_states() {
        assert_eq!(JobState::from_slurm("CANCELLED by 0"), JobState::Cancelled);
        assert_eq!(JobState::from_slurm("COMPLETED+"), JobState::Completed);
        assert_eq!(JobState::from_slurm(""), JobState::Unknown);
        assert_eq!(
            JobState::from_slurm("WEIRD"),
            JobState::Other("WEIRD".into())
        );
        let finals = [
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "TIMEOUT",
            "OUT_OF_MEMORY",
            "NODE_FAIL",
            "PREEMPTED",
            "BOOT_FAIL",
            "DEADLINE",
            "REVOKED",
            "UNKNOWN",
        ];
        for (state, name) in NAMES {
            assert_eq!(state.is_final(), finals.contains(&name), "{name}");
        }
        assert!(!JobState::Other("WEIRD".into()).is_final());
        assert!(JobState::Other("FAILED".into()).is_final());
        assert!(JobState::Timeout.is_failure());
        assert!(!JobState::Completed.is_failure() && !JobState::Unknown.is_failure());
    }
}
