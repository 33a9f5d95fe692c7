//! Finding the jobs of a sweep by their tag (`sbatch --comment`, see [`crate::tag`]): one
//! `squeue --me -t all` call lists this user's jobs, live and recently ended (squeue keeps an
//! ended job for `MinJobAge`, 300 s by default), with their comments.

use super::{parse_time, Slurm, Unreachable};
use crate::tag::{self, Tag};
use crate::JobState;
use chrono::NaiveDateTime;

/// `squeue -o` of the tag query: job ID, submit time, dependency, state, reason, job name,
/// comment. The comment comes last: it is free text (`%k` is the comment, checked on Slurm
/// 22.05); a job name cannot hold `|` for our jobs (sweep-submit refuses such names).
pub const TAG_FORMAT: &str = "%i|%V|%E|%T|%r|%j|%k";

/// One job that carries a sweep tag, as squeue lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedJob {
    /// Slurm job ID.
    pub job_id: String,
    /// Submit time in Slurm's local time; `None` when squeue printed none that can be read.
    pub submitted: Option<NaiveDateTime>,
    /// Slurm's dependency text (`afternotok:41(unfulfilled)`); `None` when the job has none.
    pub dependency: Option<String>,
    /// Its state.
    pub state: JobState,
    /// Slurm's reason (`JobHeldUser`, `Priority`, ...); `None` for `None`.
    pub reason: Option<String>,
    /// The job's name.
    pub name: String,
    /// The parsed tag.
    pub tag: Tag,
}

impl TaggedJob {
    /// Pending on a hold (`sbatch --hold`, `scontrol hold`): it will not start until released.
    pub fn held(&self) -> bool {
        self.state == JobState::Pending && self.never_released()
    }

    /// Still held, or ended while held (cancelled: squeue keeps the hold as its reason): a
    /// job that never ran.
    pub fn never_released(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("JobHeld"))
    }
}

impl Slurm {
    /// This user's jobs in every state that squeue still lists and that carry a sweep tag, in
    /// squeue's order; jobs with any other comment are left out. One `squeue` call.
    pub fn tagged_jobs(&self) -> Result<Vec<TaggedJob>, Unreachable> {
        let args = ["--me", "-h", "-t", "all", "-o", TAG_FORMAT].map(String::from);
        let text = self.call(&self.squeue, &args)?;
        Ok(text.lines().filter_map(parse_row).collect())
    }
}

/// One line of [`TAG_FORMAT`] output; `None` when its comment is not a tag.
fn parse_row(line: &str) -> Option<TaggedJob> {
    let [id, submitted, dependency, state, reason, name, comment] =
        line.splitn(7, '|').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    let dependency = dependency.trim();
    let reason = reason.trim();
    Some(TaggedJob {
        tag: tag::parse(comment)?,
        job_id: id.trim().to_string(),
        submitted: parse_time(submitted),
        dependency: Some(dependency)
            .filter(|d| !d.is_empty() && *d != "(null)")
            .map(String::from),
        state: JobState::from_slurm(state),
        reason: Some(reason)
            .filter(|r| !r.is_empty() && *r != "None")
            .map(String::from),
        name: name.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_and_untagged_jobs_left_out() {
        let row = parse_row(
            "41|2026-01-01T10:00:05|afternotok:40(unfulfilled)|PENDING|JobHeldUser|j_sweep3|sweep:k:id:3",
        )
        .unwrap();
        assert!(row.held());
        assert_eq!(row.name, "j_sweep3");
        assert_eq!(row.job_id, "41");
        assert_eq!(row.submitted, parse_time("2026-01-01T10:00:05"));
        assert_eq!(
            row.dependency.as_deref(),
            Some("afternotok:40(unfulfilled)")
        );
        assert_eq!((row.tag.id.as_str(), row.tag.index), ("id", 3));
        let row = parse_row("42|N/A|(null)|CANCELLED by 0|None|j|sweep:k:id:3").unwrap();
        assert!(!row.held());
        assert_eq!((row.submitted, &row.dependency), (None, &None));
        assert_eq!((&row.state, &row.reason), (&JobState::Cancelled, &None));
        assert_eq!(
            parse_row("43|2026-01-01T10:00:05|(null)|PENDING|None|j|my own comment"),
            None
        );
        assert_eq!(parse_row("44|2026-01-01T10:00:05|sweep:k:id:3"), None);
    }
}
