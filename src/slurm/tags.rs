//! Finding the jobs of a sweep by their tag (`sbatch --comment`, see [`crate::tag`]): one
//! `squeue --me -t all` call lists this user's jobs, live and recently ended (squeue keeps an
//! ended job for `MinJobAge`, 300 s by default), with their comments
//! ([`Slurm::tagged_jobs`]); one `sacct` call over a window finds the older ones
//! ([`Slurm::tagged_in_accounting`]).

use super::{comment_in_command, parse_time, Slurm, Unreachable};
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
    /// It never ran: squeue shows it held, or ended while held (squeue keeps the hold as its
    /// reason); accounting shows it ended without a node ever allocated to it (its reason
    /// there is not to be trusted: a job released at once may keep `JobHeldUser`).
    pub never_ran: bool,
    /// `squeue`, or `sacct` (accounting, whose pending or running jobs squeue does not list
    /// were lost with a controller's state).
    pub source: &'static str,
}

impl TaggedJob {
    /// Pending on a hold (`sbatch --hold`, `scontrol hold`): it will not start until released.
    pub fn held(&self) -> bool {
        self.state == JobState::Pending && self.never_released()
    }

    /// The tag as text, as the job carries it.
    pub fn tag_text(&self) -> String {
        self.tag.text()
    }

    /// Still held, or ended while held: a job that never ran (see [`TaggedJob::never_ran`]).
    pub fn never_released(&self) -> bool {
        self.never_ran
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

/// The `sacct` fields of the accounting search: the comment and the command line last (free
/// text; sacct keeps comments only with `AccountingStoreFlags=job_comment`, so the tag is also
/// looked for in the `sbatch` command line, which sacct always keeps).
/// Every job state `sacct -s` knows (short names).
const ALL_STATES: &str = "BF,CA,CD,DL,F,NF,OOM,PD,PR,R,RQ,RS,RV,S,TO";

const ACCOUNTING_FIELDS: &str = "JobID,Submit,State,Reason,NodeList,JobName,Comment,SubmitLine";

impl Slurm {
    /// This user's jobs in accounting submitted since `since` (`sacct --starttime`, e.g.
    /// `now-7days`) that carry a sweep tag, every job each ID ever named (`--duplicates`), in
    /// sacct's order: one `sacct` call. `None` when
    /// accounting is disabled. A dependency is read from the command line
    /// (`--dependency=afternotok:41`).
    pub fn tagged_in_accounting(&self, since: &str) -> Result<Option<Vec<TaggedJob>>, Unreachable> {
        // --duplicates: sacct otherwise shows only the newest job of each ID, and after a
        // controller's state was rebuilt that is someone else's. Every state, with an end:
        // without a state list a window selects jobs by the time they became eligible, which
        // accounting may lack for a job submitted held (Eligible "Unknown"); with one, an
        // ended job is selected by its end (checked on Slurm 22.05).
        let args = [
            "-n",
            "-X",
            "-P",
            "-D",
            "-S",
            since,
            "-E",
            "now",
            "-s",
            ALL_STATES,
            "-o",
            ACCOUNTING_FIELDS,
        ]
        .map(String::from);
        let text = match self.call(&self.sacct, &args) {
            Ok(text) => text,
            Err(e) if e.0.contains("accounting storage is disabled") => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            text.lines().filter_map(parse_accounting_row).collect(),
        ))
    }
}

/// One line of [`ACCOUNTING_FIELDS`] output; `None` when it carries no sweep tag.
fn parse_accounting_row(line: &str) -> Option<TaggedJob> {
    let [id, submitted, state, reason, nodes, name, rest] =
        line.splitn(7, '|').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    let nodes = nodes.trim();
    // The comment holds no `|` when it is a tag; the command line follows it.
    let (comment, command) = rest.split_once('|').unwrap_or((rest, ""));
    let tag = tag::parse(comment).or_else(|| comment_in_command(command).and_then(tag::parse))?;
    let dependency = command
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--dependency="))
        .map(|d| d.trim_matches(['\'', '"']).to_string());
    let reason = reason.trim();
    Some(TaggedJob {
        tag,
        job_id: id.trim().to_string(),
        submitted: parse_time(submitted),
        dependency,
        state: JobState::from_slurm(state),
        reason: Some(reason)
            .filter(|r| !r.is_empty() && *r != "None")
            .map(String::from),
        name: name.trim().to_string(),
        // Ended without a node: cancelled while held (or before it ever started). One still
        // pending there may have run (its records lost with a controller's state): not this.
        never_ran: (nodes.is_empty() || nodes == "None assigned")
            && JobState::from_slurm(state).is_final(),
        source: "sacct",
    })
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
        never_ran: reason.starts_with("JobHeld"),
        source: "squeue",
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

    #[test]
    fn accounting_rows_find_the_tag_in_the_comment_or_the_command_line() {
        let row = parse_accounting_row(
            "41|2026-01-01T10:00:05|COMPLETED|JobHeldUser|gpu-001|j_sweep3|sweep:k:id:3|sbatch --comment=sweep:k:id:3 j.sh",
        )
        .unwrap();
        assert_eq!((row.tag.index, row.state.clone()), (3, JobState::Completed));
        assert!(!row.never_released(), "it ran, whatever its reason says");
        let row = parse_accounting_row(
            "42|2026-01-01T10:00:05|CANCELLED by 0|None|None assigned|j|  |sbatch --parsable --hold --comment=sweep:k:id:4 --dependency=afternotok:41 j.sh",
        )
        .unwrap();
        assert_eq!(row.tag.index, 4);
        assert_eq!(row.dependency.as_deref(), Some("afternotok:41"));
        assert!(row.never_released());
        assert_eq!(
            parse_accounting_row("43|t|COMPLETED|None|n|j|colleague|sbatch x.sh"),
            None
        );
        assert_eq!(
            parse_accounting_row("44|t|COMPLETED|None|n|j||sbatch --wrap=true"),
            None
        );
    }
}
