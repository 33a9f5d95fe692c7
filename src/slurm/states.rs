//! Job states for many job IDs in a few batched `squeue` and `sacct` calls, and whose job
//! each ID names.
//!
//! `squeue -t all` is asked first: it is right the moment a job changes state, but forgets a
//! job `MinJobAge` (300 s by default) after it ends. `sacct` (accounting) remembers ended jobs
//! but lags a few seconds behind the controller (right after a job ends it still shows the
//! job `PENDING`). So: squeue for every job, then one sacct pass for the jobs squeue no longer
//! knows, for the ended ones (whose exit code only sacct has), and for those whose ID squeue
//! shows on another job. Each call takes up to `batch` job IDs; never one call per job.
//!
//! **A job is ours only if Slurm says it carries our tag.** Job IDs are reused: they restart
//! at 1 when a controller's state is rebuilt and wrap at `MaxJobId`, so on a shared,
//! long-lived cluster an ID from a journal or a manifest may name a colleague's job. Each
//! [`JobRef`] names the tag its job must carry, and [`Answers::of`] gives Slurm's answer for
//! it only when the job Slurm knows by that ID carries it ([`JobInfo::carries`]); sacct is
//! asked with `--duplicates`, so that an ended job of ours is found even when its ID has
//! since been given to another job.

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
    /// The tag (`sbatch --comment`) the job was submitted with; `None` when the record that
    /// names the job has none (then Slurm's answer cannot be checked: [`Seen::Unchecked`]).
    pub tag: Option<String>,
}

impl JobRef {
    /// Job `job_id` of the default cluster (or `cluster`), which must carry `tag`.
    pub fn new(cluster: Option<&str>, job_id: &str, tag: Option<&str>) -> JobRef {
        JobRef {
            cluster: cluster.map(String::from),
            job_id: job_id.to_string(),
            tag: tag.map(String::from),
        }
    }
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
    /// The job's comment (our tag, on our jobs), if Slurm shows one.
    pub comment: Option<String>,
    /// The `sbatch` command line that made it (sacct's `SubmitLine`): where the tag is found
    /// when accounting keeps no comments (`AccountingStoreFlags` without `job_comment`).
    pub submit_line: Option<String>,
    /// When it was submitted, as Slurm prints it (`2026-01-01T10:00:05`): tells two jobs that
    /// had the same ID apart.
    pub submitted: Option<String>,
    /// The job's time limit, `[D-]HH:MM:SS` (or Slurm's word: `UNLIMITED`).
    pub time_limit: Option<String>,
    /// When the job ended, as Slurm prints it (`2026-12-07T18:31:25`, the controller's local
    /// time); `None` while it has not.
    pub ended_at: Option<String>,
    /// Who cancelled it (sacct's `CANCELLED by UID`): the user's name, else `uid N`.
    pub cancelled_by: Option<String>,
    /// `squeue` or `sacct`.
    pub source: &'static str,
}

impl JobInfo {
    /// True when Slurm shows this job carrying `tag`: its comment is the tag, or its comment
    /// is empty in accounting (a site that keeps no comments there) and the `sbatch` command
    /// line that made it gave the tag (`--comment=TAG`). An empty comment in squeue, or any
    /// other comment, is someone else's job.
    pub fn carries(&self, tag: &str) -> bool {
        match (&self.comment, &self.submit_line) {
            (Some(comment), _) => comment == tag,
            (None, Some(line)) => comment_in_command(line).is_some_and(|c| c == tag),
            (None, None) => false,
        }
    }
}

impl JobInfo {
    /// `12 (comment "x")`, `12 (no comment)`: job `id`, this one, named as someone else's.
    pub fn as_foreign(&self, id: &str) -> String {
        match self.comment.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => format!("{id} (comment {c:?})"),
            None => format!("{id} (no comment)"),
        }
    }
}

/// The value of `--comment=VALUE` (or `--comment VALUE`) in an `sbatch` command line, quotes
/// removed.
pub fn comment_in_command(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        let value = match w.strip_prefix("--comment") {
            Some("") => words.next()?,
            Some(rest) => match rest.strip_prefix('=') {
                Some(v) => v,
                None => continue,
            },
            None => continue,
        };
        return Some(value.trim_matches(['\'', '"']));
    }
    None
}

/// Whose job one ID names, as far as Slurm says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen<'a> {
    /// The job carries the tag asked for: Slurm's answer is about our job.
    Ours(&'a JobInfo),
    /// The record that names the job has no tag: Slurm's answer, which nothing checked (used
    /// only where the user asked for it: `sweep-collect --trust-job-ids`).
    Unchecked(&'a JobInfo),
    /// Slurm knows the ID, but not on a job that carries the tag: the ID now names someone
    /// else's job (this is what Slurm shows for it). Never used for a state, never released
    /// or cancelled.
    Foreign(&'a JobInfo),
    /// Neither squeue nor sacct knows the ID.
    Unknown,
}

impl Seen<'_> {
    /// Slurm's answer when it is about our job ([`Seen::Ours`]), or about the only job the
    /// ID can name when `trusted` ([`Seen::Unchecked`] under `--trust-job-ids`).
    pub fn info(&self, trusted: bool) -> Option<&JobInfo> {
        match *self {
            Seen::Ours(info) => Some(info),
            Seen::Unchecked(info) if trusted => Some(info),
            _ => None,
        }
    }
}

/// The answers of one lookup.
#[derive(Debug, Default)]
pub struct Answers {
    /// Every job Slurm showed for each ID (cluster, ID): squeue's first (the job that has the
    /// ID now), then accounting's, newest first.
    rows: BTreeMap<(Option<String>, String), Vec<JobInfo>>,
    /// True when `sacct` said accounting is disabled: jobs squeue no longer knows cannot be
    /// known at all.
    pub accounting_disabled: bool,
}

impl Answers {
    /// Whose job `job.job_id` names, for a job that must carry `job.tag`.
    pub fn of(&self, job: &JobRef) -> Seen<'_> {
        let Some(rows) = self.rows.get(&(job.cluster.clone(), job.job_id.clone())) else {
            return Seen::Unknown;
        };
        let Some(tag) = &job.tag else {
            return rows.first().map_or(Seen::Unknown, Seen::Unchecked);
        };
        match rows.iter().find(|r| r.carries(tag)) {
            Some(ours) => Seen::Ours(ours),
            None => rows.first().map_or(Seen::Unknown, Seen::Foreign),
        }
    }

    /// Adds one job Slurm showed for an ID: squeue's answer first; an accounting row of the
    /// same job (same ID, same submit time) only adds the exit code once accounting has
    /// caught up with the end of the job (squeue's state stays: sacct lags), any other one
    /// is another job that had the ID.
    fn add(&mut self, key: (Option<String>, String), info: JobInfo) {
        let rows = self.rows.entry(key).or_default();
        if info.source == "sacct" {
            let same = rows.iter_mut().find(|r| {
                r.source == "squeue" && r.submitted.is_some() && r.submitted == info.submitted
            });
            if let Some(live) = same {
                if info.state.is_final() && info.exit_code.is_some() {
                    live.exit_code = info.exit_code;
                }
                if live.submit_line.is_none() {
                    live.submit_line = info.submit_line;
                }
                // Once both say the job ended the same way: who cancelled it, and what squeue
                // did not say.
                if info.state == live.state {
                    live.cancelled_by = live.cancelled_by.take().or(info.cancelled_by);
                    live.time_limit = live.time_limit.take().or(info.time_limit);
                    live.ended_at = live.ended_at.take().or(info.ended_at);
                }
                return;
            }
            // Accounting says it pends or runs, but squeue (asked first about every ID) does
            // not list it: it was lost with a controller's state (accounting is never told
            // such a job ended).
            let mut info = info;
            if !info.state.is_final() {
                info.reason = Some(format!(
                    "accounting says {}, but the controller does not know the job (lost with its state)",
                    info.state.as_str()
                ));
                info.state = JobState::Unknown;
            }
            // Newest first among accounting's rows (the time text sorts as the time).
            let at = rows
                .iter()
                .position(|r| r.source == "sacct" && r.submitted < info.submitted)
                .unwrap_or(rows.len());
            rows.insert(at, info);
            return;
        }
        rows.insert(0, info);
    }
}

/// The comment last: it is free text (our tags never hold a `|`).
const SQUEUE_FORMAT: &str = "%i|%T|%r|%M|%N|%V|%l|%e|%k";
/// Comment and SubmitLine last: they are free text (our tags never hold a `|`).
const SACCT_FIELDS: &str =
    "JobID,State,ExitCode,Elapsed,NodeList,Reason,Submit,Timelimit,End,Comment,SubmitLine";

impl Slurm {
    /// States of `jobs`: squeue first, then sacct (every job it ever had under each ID) for
    /// the ones squeue does not know, that ended, or whose ID squeue shows on a job that does
    /// not carry the tag asked for.
    pub fn lookup(&self, jobs: &[JobRef]) -> Result<Answers> {
        let mut answers = Answers::default();
        // Names of the users who cancelled jobs, by uid.
        let mut users = BTreeMap::new();
        for (cluster, ids) in by_cluster(jobs) {
            let plain: Vec<&str> = ids.keys().copied().collect();
            for chunk in plain.chunks(self.batch) {
                self.squeue_chunk(&cluster, chunk, &mut answers)?;
            }
            let later: Vec<&str> = ids
                .iter()
                .filter(|(id, tags)| {
                    let k = key(&cluster, id);
                    match answers.rows.get(&k).and_then(|r| r.first()) {
                        None => true,
                        Some(live) => {
                            live.state.is_final() || tags.iter().flatten().any(|t| !live.carries(t))
                        }
                    }
                })
                .map(|(id, _)| *id)
                .collect();
            for chunk in later.chunks(self.batch) {
                if !self.sacct_chunk(&cluster, chunk, &mut answers, &mut users)? {
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
            let f: Vec<&str> = line.splitn(9, '|').collect();
            let [id, state, reason, elapsed, nodes, submitted, limit, end, comment] = f[..] else {
                return Err(anyhow!("unexpected squeue output: {line:?}"));
            };
            let state = JobState::from_slurm(state);
            let info = JobInfo {
                time_limit: time_limit(limit),
                // squeue's end of a job still to end is when it would end.
                ended_at: instant(end).filter(|_| state.is_final()),
                cancelled_by: None,
                state,
                reason: non_empty(reason).filter(|r| *r != "None").map(String::from),
                exit_code: None,
                elapsed: non_empty(elapsed).map(normalise_elapsed),
                node_list: non_empty(nodes).map(String::from),
                // squeue always shows the comment: empty (or `(null)`) there is no comment.
                comment: Some(comment.trim())
                    .map(|c| if c == "(null)" { "" } else { c })
                    .map(String::from),
                submit_line: None,
                submitted: non_empty(submitted).map(String::from),
                source: "squeue",
            };
            out.add(key(cluster, id.trim()), info);
        }
        Ok(())
    }

    /// One sacct call; false when accounting is disabled.
    fn sacct_chunk(
        &self,
        cluster: &Option<String>,
        ids: &[&str],
        out: &mut Answers,
        users: &mut BTreeMap<String, String>,
    ) -> Result<bool> {
        // --duplicates: every job each ID ever named (sacct otherwise shows only the newest,
        // which after a rebuilt controller is someone else's).
        let mut args = vec!["-n".to_string(), "-X".into(), "-P".into(), "-D".into()];
        args.extend(cluster_args(cluster));
        args.extend(["-j".into(), ids.join(","), "-o".into(), SACCT_FIELDS.into()]);
        let text = match self.call(&self.sacct, &args) {
            Ok(text) => text,
            Err(e) if e.0.contains("accounting storage is disabled") => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        for line in text.lines() {
            let f: Vec<&str> = line.splitn(11, '|').collect();
            let [id, state_text, exit, elapsed, nodes, reason, submitted, limit, end, comment, command] =
                f[..]
            else {
                return Err(anyhow!("unexpected sacct output: {line:?}"));
            };
            let state = JobState::from_slurm(state_text);
            let info = JobInfo {
                time_limit: time_limit(limit),
                ended_at: instant(end).filter(|_| state.is_final()),
                cancelled_by: cancelled_by(state_text, users),
                exit_code: Some(exit.to_string()).filter(|_| state.is_final()),
                reason: non_empty(reason).filter(|r| *r != "None").map(String::from),
                elapsed: non_empty(elapsed).map(normalise_elapsed),
                node_list: non_empty(nodes)
                    .filter(|n| *n != "None assigned")
                    .map(String::from),
                // Empty: accounting keeps no comments here, or the job had none; the
                // command line then says (see JobInfo::carries).
                comment: non_empty(comment).map(String::from),
                submit_line: non_empty(command).map(String::from),
                submitted: non_empty(submitted).map(String::from),
                state,
                source: "sacct",
            };
            out.add(key(cluster, base_id(id)), info);
        }
        Ok(true)
    }
}

/// A time limit as squeue (`1:00`, `1-00:00:00`) or sacct (`00:01:00`) print it, as
/// `[D-]HH:MM:SS`; Slurm's words (`UNLIMITED`, `Partition_Limit`) as they are.
fn time_limit(text: &str) -> Option<String> {
    non_empty(text)
        .filter(|t| !matches!(*t, "N/A" | "INVALID" | "NOT_SET"))
        .map(normalise_elapsed)
}

/// A time Slurm printed (`2026-12-07T18:31:25`); `None` for its words for no time.
fn instant(text: &str) -> Option<String> {
    non_empty(text)
        .filter(|t| !matches!(*t, "Unknown" | "N/A" | "None" | "NONE"))
        .map(String::from)
}

/// Who cancelled a job, from sacct's `CANCELLED by UID`: the user's name (looked up once per
/// uid, through `getent passwd`, so directory users are found too), else `uid UID`.
fn cancelled_by(state: &str, names: &mut BTreeMap<String, String>) -> Option<String> {
    let uid = state.strip_prefix("CANCELLED by ")?.trim();
    if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = names.entry(uid.to_string()).or_insert_with(|| {
        std::process::Command::new("getent")
            .args(["passwd", uid])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.split(':').next().map(str::trim).map(String::from)
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("uid {uid}"))
    });
    Some(name.clone())
}

fn key(cluster: &Option<String>, id: &str) -> (Option<String>, String) {
    (cluster.clone(), id.to_string())
}

/// The jobs by cluster: each ID once, with every tag it is asked for.
type ByCluster<'a> = BTreeMap<Option<String>, BTreeMap<&'a str, Vec<Option<&'a str>>>>;

fn by_cluster(jobs: &[JobRef]) -> ByCluster<'_> {
    let mut map: ByCluster = BTreeMap::new();
    for j in jobs {
        let tags = map
            .entry(j.cluster.clone())
            .or_default()
            .entry(j.job_id.as_str())
            .or_default();
        let tag = j.tag.as_deref();
        if !tags.contains(&tag) {
            tags.push(tag);
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

    fn row(source: &'static str, comment: Option<&str>, line: Option<&str>, at: &str) -> JobInfo {
        JobInfo {
            state: JobState::Completed,
            reason: None,
            exit_code: Some("0:0".into()).filter(|_| source == "sacct"),
            elapsed: None,
            node_list: None,
            comment: comment.map(String::from),
            submit_line: line.map(String::from),
            submitted: Some(at.to_string()),
            time_limit: None,
            ended_at: None,
            cancelled_by: None,
            source,
        }
    }

    #[test]
    fn a_job_carries_a_tag_only_when_slurm_says_so() {
        let tag = "sweep:k-1:abc:3";
        assert!(row("squeue", Some(tag), None, "t").carries(tag));
        assert!(
            !row("squeue", Some(""), None, "t").carries(tag),
            "empty is not ours"
        );
        assert!(!row("squeue", Some("colleague"), None, "t").carries(tag));
        assert!(!row("squeue", Some("sweep:k-1:abc:3x"), None, "t").carries(tag));
        // Accounting without comments: the command line says.
        let line = format!("sbatch --parsable --hold --comment={tag} /d/job_3.sh");
        assert!(row("sacct", None, Some(&line), "t").carries(tag));
        assert!(row(
            "sacct",
            None,
            Some(&format!("sbatch --comment '{tag}' j.sh")),
            "t"
        )
        .carries(tag));
        assert!(!row("sacct", None, Some("sbatch --wrap 'sleep 1'"), "t").carries(tag));
        assert!(!row("sacct", None, None, "t").carries(tag));
        // A comment that accounting kept wins over the command line.
        assert!(!row("sacct", Some("other"), Some(&line), "t").carries(tag));
        assert_eq!(
            comment_in_command("sbatch --commentx=a --comment=b s"),
            Some("b")
        );
    }

    #[test]
    fn an_id_reused_by_another_job_is_foreign_and_our_old_job_is_still_found() {
        let tag = "sweep:k-1:abc:3";
        let mut a = Answers::default();
        // squeue: a colleague's job has ID 5 now; accounting: ours, and an older stranger.
        a.add(
            key(&None, "5"),
            row("squeue", Some(""), None, "2026-02-01T00:00:00"),
        );
        a.add(
            key(&None, "5"),
            row("sacct", Some("x"), None, "2025-01-01T00:00:00"),
        );
        a.add(
            key(&None, "5"),
            row("sacct", Some(tag), None, "2026-01-01T00:00:00"),
        );
        let job = JobRef::new(None, "5", Some(tag));
        let Seen::Ours(info) = a.of(&job) else {
            panic!("{:?}", a.of(&job))
        };
        assert_eq!(info.submitted.as_deref(), Some("2026-01-01T00:00:00"));
        let other = JobRef::new(None, "5", Some("sweep:k-1:zzz:4"));
        let Seen::Foreign(live) = a.of(&other) else {
            panic!()
        };
        assert_eq!(
            live.source, "squeue",
            "the job that has the ID now is named"
        );
        assert!(
            matches!(a.of(&JobRef::new(None, "5", None)), Seen::Unchecked(i) if i.source == "squeue")
        );
        assert_eq!(a.of(&JobRef::new(None, "6", Some(tag))), Seen::Unknown);
        assert!(
            a.of(&other).info(true).is_none(),
            "a foreign job is never trusted"
        );
        assert!(a.of(&JobRef::new(None, "5", None)).info(false).is_none());
        // The accounting row of squeue's own job adds its exit code, not a second job.
        let mut b = Answers::default();
        let mut live = row("squeue", Some(tag), None, "2026-01-01T00:00:00");
        live.exit_code = None;
        b.add(key(&None, "7"), live);
        b.add(
            key(&None, "7"),
            row("sacct", Some(tag), None, "2026-01-01T00:00:00"),
        );
        assert_eq!(b.rows[&key(&None, "7")].len(), 1);
        let Seen::Ours(info) = b.of(&JobRef::new(None, "7", Some(tag))) else {
            panic!()
        };
        assert_eq!(
            (info.source, info.exit_code.as_deref()),
            ("squeue", Some("0:0"))
        );
        // Accounting says RUNNING, squeue does not list the job: lost with the controller.
        let mut c = Answers::default();
        let mut lost = row("sacct", Some(tag), None, "2026-01-01T00:00:00");
        lost.state = JobState::Running;
        c.add(key(&None, "8"), lost);
        let Seen::Ours(info) = c.of(&JobRef::new(None, "8", Some(tag))) else {
            panic!()
        };
        assert_eq!(info.state, JobState::Unknown);
        assert!(info
            .reason
            .as_deref()
            .unwrap()
            .contains("accounting says RUNNING"));
    }
}
