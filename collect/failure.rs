//! Why a job ended without completing: the `failure` of a record, read from the job's own
//! files and from what Slurm says of its end, so that `NonZeroExitCode 1:0` comes with its
//! cause (`CUDA out of memory`), and a timeout reads as a timeout.
//!
//! The built-in job script writes `<log_dir>/<job ID>/failed_step` when a step fails: one
//! line, `NAME STATUS LOG` (`prefill_w0_r0 1 gpu-001_prefill_w0`), `LOG` being the base name
//! of the step's `.out`/`.err` in the same directory. For `FAILED`, the cause is the last
//! meaningful line of that `.err`, or of the job's own `<log_dir>/<job ID>.err` (then `.out`)
//! when the step's file is missing or says nothing (srun refused the step before it could
//! create the file). For an end Slurm caused (`TIMEOUT`, `CANCELLED`, `NODE_FAIL`,
//! `OUT_OF_MEMORY`, `PREEMPTED`, ...) the cause is Slurm's verdict first, with what it knows
//! (the time limit, who cancelled, when, which node), then the last meaningful line the job
//! left, whether or not the job script lived to name a step. `file` always names the file a
//! line came from, and only a file that exists.
//!
//! A step that pyxis could not start in its container (`--container-image`) leaves pyxis'
//! error, enroot's log and Slurm's aftermath in the step's `.err`; the cause is then the
//! line that says why ([`container_cause`]), not the last one.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use sweep::record::{Failure, JobStatus};
use sweep::{JobState, Record};

/// The name of the file the job script writes when a step fails, in the job's own directory.
pub const FAILED_STEP: &str = "failed_step";

/// Bytes read from the end of a log: a step's stderr can be gigabytes of warnings.
const TAIL: u64 = 64 * 1024;

/// Adds `failure` to every record whose job ended without completing and has none yet.
pub fn fill(records: &mut [Record]) {
    for r in records.iter_mut().filter(|r| r.status.failure.is_none()) {
        r.status.failure = of_record(r);
    }
}

/// The failure of the job a record's state describes (its current attempt), if it failed.
pub fn of_record(r: &Record) -> Option<Failure> {
    let job = r.status.state_job_id.as_deref().or(r.job_id.as_deref())?;
    of_job(r.log_dir.as_deref(), job, &r.status)
}

/// The failure of job `job_id` of a combination whose jobs log under `log_dir`, as Slurm
/// describes its end in `status`; `None` while it runs, once it completed, and for a job whose
/// state is unknown and that left no failed step.
///
/// - `FAILED` (and any end Slurm gives no verdict for): the failed step's last meaningful
///   stderr line, else the job's own `.err`, else its `.out`.
/// - `TIMEOUT`, `CANCELLED`, `NODE_FAIL`, `OUT_OF_MEMORY`, `PREEMPTED`, ...: Slurm's verdict
///   first (the time limit, who cancelled, when), then the last meaningful line the job left:
///   of the failed step's stderr, else of the job's own `.err`, else of its steps' stderr.
///
/// `file` names the file the line came from; a message that came from no file says which
/// files were looked at and why they said nothing.
pub fn of_job(log_dir: Option<&str>, job_id: &str, status: &JobStatus) -> Option<Failure> {
    let state = status.state.as_ref()?;
    if *state == JobState::Completed || !state.is_final() {
        return None;
    }
    let files = log_dir.map(|d| JobFiles::new(Path::new(d), job_id));
    let step = files.as_ref().and_then(JobFiles::failed_step);
    if let Some(verdict) = verdict(state, status) {
        let line = files.as_ref().and_then(|f| f.last_words(step.as_ref()));
        let (file, message) = match line {
            Some((file, line)) => (Some(file), format!("{verdict}; last line: {line}")),
            None => (None, verdict),
        };
        return Some(Failure {
            step: step.as_ref().map(|s| s.name.clone()),
            exit_status: step.as_ref().and_then(|s| s.status),
            file: file.map(|f| f.display().to_string()),
            message,
        });
    }
    let Some(files) = files.filter(|_| *state != JobState::Unknown || step.is_some()) else {
        if *state == JobState::Unknown {
            return None;
        }
        return Some(Failure {
            message: format!("{state}: the record has no log_dir to look in"),
            ..Failure::default()
        });
    };
    if let Some(step) = step {
        return Some(files.step_failure(step));
    }
    if *state == JobState::Unknown {
        return None;
    }
    match files.own_words() {
        Some((file, line)) => Some(Failure {
            file: Some(file.display().to_string()),
            message: line,
            ..Failure::default()
        }),
        None => Some(Failure {
            message: format!(
                "{state}: no step failed, and {}",
                files.silence(&[&files.err, &files.out])
            ),
            ..Failure::default()
        }),
    }
}

/// Slurm's verdict on an end it caused, with what it knows of it (the time limit, who
/// cancelled, when, on which nodes); `None` for `FAILED`, whose cause is the job's own.
fn verdict(state: &JobState, st: &JobStatus) -> Option<String> {
    let at = st
        .ended_at
        .as_deref()
        .map_or(String::new(), |t| format!(" at {t}"));
    let nodes = st
        .node_list
        .as_deref()
        .map_or(String::new(), |n| format!(" ({n})"));
    let ran = match st.elapsed.as_deref() {
        Some(e) if st.node_list.is_some() && !is_zero(e) => format!(", after running {e}"),
        _ if st.node_list.is_none() => ", before it started".to_string(),
        _ => String::new(),
    };
    let what = match state {
        JobState::Timeout => match st.time_limit.as_deref() {
            Some(limit) => format!("the job reached its time limit of {limit}{at}"),
            None => format!("the job reached its time limit{at}"),
        },
        JobState::Cancelled => match st.cancelled_by.as_deref() {
            Some(who) => format!("the job was cancelled by {who}{at}{ran}"),
            None => format!("the job was cancelled{at}{ran}"),
        },
        JobState::NodeFail => format!("a node of the job failed{nodes}{at}"),
        JobState::Preempted => format!("the job was preempted{at}{ran}"),
        JobState::OutOfMemory => format!(
            "a process of the job used more memory than the job was given, and was killed{at}"
        ),
        JobState::BootFail => format!("a node of the job failed to boot{nodes}{at}"),
        JobState::Deadline => format!("the job reached its deadline{at}"),
        JobState::Revoked => {
            "the job was revoked (it ran on another cluster of the federation)".to_string()
        }
        _ => return None,
    };
    Some(format!("{state}: {what}"))
}

/// `00:00:00`, `0:00`: no time at all.
fn is_zero(elapsed: &str) -> bool {
    elapsed.chars().all(|c| matches!(c, '0' | ':' | '-'))
}

/// What `<job dir>/failed_step` says: the step, its status, and its stderr file.
struct FailedStep {
    name: String,
    status: Option<i64>,
    /// `<job dir>/<LOG>.err`, when the line names a plain file name.
    err: Option<PathBuf>,
}

/// Where a job's files are: `<log_dir>/<job ID>/` (its steps' files) and sbatch's
/// `<log_dir>/<job ID>.err` and `.out`.
struct JobFiles {
    dir: PathBuf,
    err: PathBuf,
    out: PathBuf,
}

impl JobFiles {
    fn new(log_dir: &Path, job_id: &str) -> JobFiles {
        JobFiles {
            dir: log_dir.join(job_id),
            err: log_dir.join(format!("{job_id}.err")),
            out: log_dir.join(format!("{job_id}.out")),
        }
    }

    /// The step `failed_step` names, if the job script wrote one.
    fn failed_step(&self) -> Option<FailedStep> {
        // Opened only when it is a regular file (a FIFO would hang the read).
        let file = sweep::fsutil::open_regular(&self.dir.join(FAILED_STEP)).ok()?;
        let text = std::io::read_to_string(file).ok()?;
        let line = text.lines().find(|l| !l.trim().is_empty())?;
        let mut words = line.split_whitespace();
        let name = words.next()?.to_string();
        let status = words.next().and_then(|s| s.parse::<i64>().ok());
        let err = words
            .next()
            .filter(|l| !l.contains('/') && *l != ".." && *l != ".")
            .map(|l| self.dir.join(format!("{l}.err")));
        Some(FailedStep { name, status, err })
    }

    /// A failed step's cause: its stderr's last meaningful line, else the job's own `.err`'s
    /// (srun writes a step's files only once the step starts: a step it refused, such as
    /// `--container-image` without pyxis, left its reason there), else its `.out`'s.
    fn step_failure(&self, step: FailedStep) -> Failure {
        let status = step
            .status
            .map_or("a non-zero status".to_string(), |s| s.to_string());
        let found = step
            .err
            .as_deref()
            .and_then(|f| Some((f.to_path_buf(), cause_line(f)?)))
            .or_else(|| self.own_words());
        let (file, message) = match found {
            Some((f, line)) => (Some(f), line),
            None => {
                let mut looked: Vec<&Path> = step.err.iter().map(PathBuf::as_path).collect();
                looked.extend([self.err.as_path(), self.out.as_path()]);
                let message = format!(
                    "{} exited with status {status}, and {}",
                    step.name,
                    self.silence(&looked)
                );
                (None, message)
            }
        };
        Failure {
            step: Some(step.name),
            exit_status: step.status,
            file: file.map(|f| f.display().to_string()),
            message,
        }
    }

    /// The last meaningful line of the job's own `.err`, else of its `.out`.
    fn own_words(&self) -> Option<(PathBuf, String)> {
        [&self.err, &self.out]
            .into_iter()
            .find_map(|f| Some((f.clone(), cause_line(f)?)))
    }

    /// After Slurm's verdict, the last meaningful line the job left (Slurm's own notice of
    /// the end, `*** JOB 12 ON gpu-001 CANCELLED AT ... ***`, only repeats the verdict): of
    /// the failed step's stderr, else of the job's own `.err`, else of the first of its
    /// steps' stderr files (by name) that has one.
    fn last_words(&self, step: Option<&FailedStep>) -> Option<(PathBuf, String)> {
        let said = |f: &Path| Some((f.to_path_buf(), last_line(f, false)?));
        if let Some(found) = step.and_then(|s| s.err.as_deref()).and_then(said) {
            return Some(found);
        }
        if let Some(found) = said(&self.err) {
            return Some(found);
        }
        let mut steps: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "err") && p.is_file())
            .collect();
        steps.sort();
        steps.iter().find_map(|f| said(f))
    }

    /// Why these files said nothing: `gpu-003_agg_w1.err was never written, 17.err says
    /// nothing` (file names relative to the log directory).
    fn silence(&self, files: &[&Path]) -> String {
        let base = self.err.parent();
        let said: Vec<String> = files
            .iter()
            .map(|f| {
                let name = base
                    .and_then(|b| f.strip_prefix(b).ok())
                    .unwrap_or(f)
                    .display();
                match f.is_file() {
                    true => format!("{name} says nothing"),
                    false => format!("{name} was never written"),
                }
            })
            .collect();
        said.join(", ")
    }
}

/// The line of a log that says why it failed: pyxis' cause when the log has pyxis errors
/// ([`container_cause`]), else the last meaningful line of its last 64 KiB: not blank, not a
/// bash `+` trace, not only punctuation (`----`, `^^^^`, `}`), not srun's own notes (`task N:
/// Exited with exit code`, `Job step aborted`, `Try "srun --help"`) nor the job script's
/// `sweep job: NAME failed with status N`; the text after the last carriage return (progress
/// bars redraw with `\r`), without terminal colour codes. `None` when the file cannot be read
/// or has no such line.
pub fn cause_line(path: &Path) -> Option<String> {
    last_line(path, true)
}

/// [`cause_line`]; Slurm's notice of a job's or step's end (`*** STEP 12.0 ON gpu-001
/// CANCELLED AT ... DUE TO TIME LIMIT ***`) counts only when `notices` is true, and then only
/// when nothing else does.
fn last_line(path: &Path, notices: bool) -> Option<String> {
    let lines = tail_lines(path)?;
    container_cause(&lines)
        .or_else(|| lines.iter().rev().find(|l| meaningful(l)).cloned())
        .or_else(|| {
            let notice = lines.iter().rev().find(|l| slurm_notice(l));
            notice.filter(|_| notices).cloned()
        })
}

/// Generic lines pyxis prints around the one that matters (after `pyxis: `).
const PYXIS_AFTERMATH: [&str; 4] = [
    "child ",
    "printing ",
    "container was not started successfully",
    "container start failed with error code",
];

/// Why pyxis could not start a step's container, from the step's stderr: pyxis prints
/// `slurmstepd-NODE: error: pyxis: ...` lines, enroot's log indented under `pyxis: printing
/// enroot log file:`, then Slurm's generic aftermath (`spank: required plugin spank_pyxis.so:
/// task_init() failed`, `Failed to invoke spank plugin stack`, `pyxis: child N failed`), so
/// the last line is never the cause. In order: enroot's own `[ERROR]` line (`No such file or
/// directory: /images/x.sqsh`), a failing line of enroot's log (`enroot-switchroot: failed to
/// execute: /bin/sh`), pyxis' first specific line (`--container-mounts: source path does not
/// exist: /models/x`), any pyxis line. `None` when pyxis said nothing.
pub fn container_cause(lines: &[String]) -> Option<String> {
    // (the line, the text after "pyxis:", whether it is a line of enroot's log)
    let pyxis: Vec<(&String, &str, bool)> = lines
        .iter()
        .filter_map(|l| {
            let at = l.find("pyxis:")?;
            let rest = &l[at + "pyxis:".len()..];
            Some((l, rest, rest.starts_with("    ")))
        })
        .collect();
    let shown = |(line, rest, _): &(&String, &str, bool)| {
        let head = &line[..line.len() - rest.len()];
        format!("{head} {}", rest.trim())
    };
    let log_error = pyxis
        .iter()
        .rev()
        .find(|(_, rest, log)| *log && rest.contains("[ERROR]"));
    let log_failure = || {
        pyxis.iter().find(|(_, rest, log)| {
            let low = rest.to_ascii_lowercase();
            *log && (low.contains("error") || low.contains("fail"))
        })
    };
    let specific = || {
        pyxis.iter().find(|(_, rest, log)| {
            !*log && !PYXIS_AFTERMATH.iter().any(|g| rest.trim().starts_with(g))
        })
    };
    log_error
        .or_else(log_failure)
        .or_else(specific)
        .or_else(|| pyxis.first())
        .map(shown)
}

/// The lines of the last 64 KiB of `path`, each [`clean`]ed; a line cut at that edge is left
/// out. `None` when the file cannot be read.
fn tail_lines(path: &Path) -> Option<Vec<String>> {
    // A FIFO left where a log is expected is never opened (it would wait for a writer).
    let mut file = sweep::fsutil::open_regular(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(TAIL).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if start > 0 {
        lines.next(); // cut in the middle
    }
    Some(lines.map(clean).collect())
}

/// A line as shown: after its last `\r`, without escape sequences and other control
/// characters, trimmed.
fn clean(line: &str) -> String {
    let line = line.rsplit('\r').next().unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte; other escapes: ESC and one character.
            if chars.next_if_eq(&'[').is_some() {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim().to_string()
}

fn meaningful(line: &str) -> bool {
    !line.is_empty()
        && !line.starts_with('+')
        && !srun_note(line)
        && !slurm_notice(line)
        && !job_script_summary(line)
        && !job_script_progress(line)
        && line.chars().any(char::is_alphanumeric)
}

/// srun's own notes about a step it ran (`srun: error: gpu-001: task 0: Exited with exit
/// code 3`, `... task 0: Terminated`, `srun: Job step aborted: ...`, `srun: got SIGCONT`,
/// `srun: forcing job termination`, `srun: error: Node failure on gpu-004`, `Try "srun --help"`): they say that the step ended, never
/// why.
fn srun_note(line: &str) -> bool {
    let task = line.strip_prefix("srun: error: ").is_some_and(|rest| {
        rest.contains(": task") && {
            let end = rest.rsplit(": ").next().unwrap_or_default();
            end.starts_with("Exited with exit code") || matches!(end, "Terminated" | "Killed")
        }
    });
    task || line.starts_with("srun: Job step aborted: ")
        || line.starts_with("srun: error: Node failure on ")
        || line == "srun: got SIGCONT"
        || line == "srun: forcing job termination"
        || line.starts_with("Try \"srun --help\"")
}

/// Slurm's notice of the end of a job or step, written into its stderr (`slurmstepd-gpu-001:
/// error: *** JOB 12 ON gpu-001 CANCELLED AT 2026-12-07T18:31:25 DUE TO TIME LIMIT ***`):
/// what Slurm's verdict says already.
fn slurm_notice(line: &str) -> bool {
    line.starts_with("slurmstepd")
        && line.trim_end().ends_with("***")
        && (line.contains("*** JOB ") || line.contains("*** STEP "))
}

/// The built-in job script's progress on its stdout (`node 0: gpu-001`, `master: node 0
/// ...`, `launching NAME on NODE: ...`, `NAME exited with status N`, `every step exited 0`):
/// where it was, not why it failed.
fn job_script_progress(line: &str) -> bool {
    let word = |s: &str| !s.is_empty() && !s.contains(' ');
    line == "every step exited 0"
        || line.starts_with("master: node ")
        || line
            .strip_prefix("node ")
            .and_then(|r| r.split_once(": "))
            .is_some_and(|(n, node)| n.parse::<u64>().is_ok() && word(node))
        || line
            .strip_prefix("launching ")
            .and_then(|r| r.split_once(" on "))
            .is_some_and(|(name, rest)| word(name) && rest.contains(": "))
        || line
            .rsplit_once(" exited with status ")
            .is_some_and(|(name, rc)| word(name) && rc.parse::<i64>().is_ok())
}

/// The built-in job script's own "sweep job: NAME failed with status N", which only repeats
/// what failed_step says; its other messages ("sweep job: no IPv4 address ...") are causes.
fn job_script_summary(line: &str) -> bool {
    line.strip_prefix("sweep job: ")
        .and_then(|rest| rest.rsplit_once(" failed with status "))
        .is_some_and(|(name, status)| !name.contains(' ') && status.parse::<i64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_meaningful_line_skips_noise() {
        let dir = std::env::temp_dir().join(format!("sweep-failure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.err");
        std::fs::write(
            &f,
            "Traceback (most recent call last):\n  File \"x.py\", line 3\ntorch.OutOfMemoryError: CUDA out of memory.\x1b[0m\n\n+ exit 1\n   ^^^^^\n----\n}\nsrun: error: gpu-001: task 0: Exited with exit code 1\n\n",
        )
        .unwrap();
        assert_eq!(
            cause_line(&f).as_deref(),
            Some("torch.OutOfMemoryError: CUDA out of memory.")
        );
        std::fs::write(&f, "loading 10%\rloading 100%\r\n").unwrap();
        assert_eq!(cause_line(&f).as_deref(), Some("loading 100%"));
        // Only the last 64 KiB are read, and a line cut at that edge is not taken.
        let mut big = "early cause\n".to_string();
        big.push_str(&"x".repeat(70 * 1024));
        big.push_str("\n\n");
        std::fs::write(&f, &big).unwrap();
        assert_eq!(cause_line(&f), None);
        std::fs::write(&f, "\n \n+ trace\n").unwrap();
        assert_eq!(cause_line(&f), None);
        assert_eq!(cause_line(&dir.join("missing")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A job directory `<tmp>/logs/<job>` holding `failed_step` (`NAME STATUS LOG`), with
    /// the given step and job `.err` files (copies of tests/data/containers/).
    fn job_with(name: &str, step_err: Option<&str>, job_err: Option<&str>) -> PathBuf {
        let logs = std::env::temp_dir()
            .join(format!("sweep-failure-{name}-{}", std::process::id()))
            .join("logs");
        let _ = std::fs::remove_dir_all(&logs);
        let job = logs.join("4");
        std::fs::create_dir_all(&job).unwrap();
        std::fs::write(job.join(FAILED_STEP), "decode_w0_r0 1 gpu-003_decode_w0\n").unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/containers");
        if let Some(f) = step_err {
            std::fs::copy(data.join(f), job.join("gpu-003_decode_w0.err")).unwrap();
        }
        if let Some(f) = job_err {
            std::fs::copy(data.join(f), logs.join("4.err")).unwrap();
        }
        logs
    }

    #[test]
    fn a_container_that_did_not_start_names_pyxis_cause() {
        for (name, step, job, cause) in [
            (
                "image",
                "missing-image.step.err",
                "missing-image.job.err",
                "slurmstepd-gpu-003: error: pyxis: [ERROR] No such file or directory: /nonexistent/image.sqsh",
            ),
            (
                "mount",
                "missing-mount.step.err",
                "missing-image.job.err",
                "slurmstepd-gpu-003: error: pyxis: --container-mounts: source path does not exist: /tmp/sweep25-run2/not-there",
            ),
            (
                "python",
                "no-python.step.err",
                "missing-image.job.err",
                "/usr/bin/env: 'python3': No such file or directory",
            ),
        ] {
            let logs = job_with(name, Some(step), Some(job));
            let f = of_job(logs.to_str(), "4", &ended(JobState::Failed)).unwrap();
            assert_eq!(f.message, cause, "{name}");
            assert_eq!(f.step.as_deref(), Some("decode_w0_r0"));
            let file = logs.join("4/gpu-003_decode_w0.err");
            assert_eq!(f.file.as_deref(), file.to_str(), "{name}");
            let _ = std::fs::remove_dir_all(logs.parent().unwrap());
        }
    }

    #[test]
    fn a_step_srun_refused_takes_its_cause_from_the_jobs_own_err() {
        // No pyxis: srun refuses --container-image before the step's files exist.
        let logs = job_with("nopyxis", None, Some("no-pyxis.job.err"));
        let f = of_job(logs.to_str(), "4", &ended(JobState::Failed)).unwrap();
        assert_eq!(
            f.message,
            "srun: unrecognized option '--container-image=/images/sglang.sqsh'"
        );
        assert_eq!(f.file.as_deref(), logs.join("4.err").to_str());
        assert_eq!(f.exit_status, Some(1));
        // Neither file says anything: the message says which file was never written, and
        // which said nothing; `file` names none.
        std::fs::write(
            logs.join("4.err"),
            "sweep job: decode_w0_r0 failed with status 1\n",
        )
        .unwrap();
        let f = of_job(logs.to_str(), "4", &ended(JobState::Failed)).unwrap();
        assert_eq!(
            f.message,
            "decode_w0_r0 exited with status 1, and 4/gpu-003_decode_w0.err was never written, 4.err says nothing, 4.out was never written"
        );
        assert_eq!(f.file, None);
        // The job script's own causes are kept: only its summary line is noise.
        std::fs::write(logs.join("4.err"), "sweep job: no IPv4 address on interface eth3 (--network-interface) on node gpu-001; its interfaces with one: lo 127.0.0.1/8\nsweep job: decode_w0_r0 failed with status 1\n").unwrap();
        let f = of_job(logs.to_str(), "4", &ended(JobState::Failed)).unwrap();
        assert!(
            f.message.starts_with("sweep job: no IPv4 address"),
            "{}",
            f.message
        );
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }

    /// A status of a job that ended in `state`, as Slurm told it.
    fn ended(state: JobState) -> JobStatus {
        JobStatus {
            state: Some(state),
            ..JobStatus::default()
        }
    }

    /// Slurm's facts of an end: the time limit, who cancelled, when, where.
    fn told(state: JobState, by: Option<&str>, nodes: Option<&str>, elapsed: &str) -> JobStatus {
        JobStatus {
            state: Some(state),
            time_limit: Some("00:01:00".into()),
            ended_at: Some("2026-12-07T18:31:25".into()),
            cancelled_by: by.map(String::from),
            node_list: nodes.map(String::from),
            elapsed: Some(elapsed.into()),
            ..JobStatus::default()
        }
    }

    /// `<tmp>/logs` holding job 3's `3.err` and step file `3/gpu-001_agg_w0.err`, copies of
    /// tests/data/failures/ (real files, see its README), and `failed_step` when given.
    fn ended_job(name: &str, kind: &str, failed_step: Option<&str>) -> PathBuf {
        let logs = std::env::temp_dir()
            .join(format!("sweep-ended-{name}-{}", std::process::id()))
            .join("logs");
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(logs.join("3")).unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/failures");
        std::fs::copy(data.join(format!("{kind}.job.err")), logs.join("3.err")).unwrap();
        let step = data.join(format!("{kind}.step.err"));
        if step.is_file() {
            std::fs::copy(step, logs.join("3/gpu-001_agg_w0.err")).unwrap();
        }
        if let Some(line) = failed_step {
            std::fs::write(logs.join("3").join(FAILED_STEP), line).unwrap();
        }
        logs
    }

    const LOADING: &str = "Loading safetensors checkpoint shards:  40% (2/5) (stand-in hang of aggregated_w0_r0 on gpu-001)";

    #[test]
    fn a_timeout_says_so_first_then_the_last_line_the_job_left() {
        // No step failed (the usual case: the script was killed with its steps), or the
        // script lived long enough to name the killed step (exit 143): Slurm's verdict first,
        // then the engine's last line; never slurmstepd's "*** STEP ... CANCELLED AT" notice.
        for (name, failed_step) in [
            ("plain", None),
            ("step", Some("agg_w0_r0 143 gpu-001_agg_w0\n")),
        ] {
            let logs = ended_job(name, "timeout", failed_step);
            let st = told(JobState::Timeout, None, Some("gpu-001"), "00:01:02");
            let f = of_job(logs.to_str(), "3", &st).unwrap();
            assert_eq!(
                f.message,
                format!("TIMEOUT: the job reached its time limit of 00:01:00 at 2026-12-07T18:31:25; last line: {LOADING}"),
                "{name}"
            );
            assert_eq!(
                f.file.as_deref(),
                logs.join("3/gpu-001_agg_w0.err").to_str()
            );
            assert_eq!(f.exit_status, failed_step.map(|_| 143));
            assert_eq!(f.step.as_deref(), failed_step.map(|_| "agg_w0_r0"));
            let _ = std::fs::remove_dir_all(logs.parent().unwrap());
        }
        // Nothing known but the state: the verdict alone.
        let f = of_job(None, "12", &ended(JobState::Timeout)).unwrap();
        assert_eq!(f.message, "TIMEOUT: the job reached its time limit");
        assert_eq!(of_job(None, "12", &ended(JobState::Completed)), None);
        assert_eq!(of_job(None, "12", &ended(JobState::Running)), None);
        assert_eq!(of_job(None, "12", &ended(JobState::Unknown)), None);
    }

    #[test]
    fn a_cancelled_job_says_who_and_when_never_why_it_pended() {
        let logs = ended_job("cancelled", "cancelled", None);
        let st = told(
            JobState::Cancelled,
            Some("root"),
            Some("gpu-001"),
            "00:00:11",
        );
        let f = of_job(logs.to_str(), "3", &st).unwrap();
        assert_eq!(
            f.message,
            format!("CANCELLED: the job was cancelled by root at 2026-12-07T18:31:25, after running 00:00:11; last line: {}", LOADING)
        );
        // Pending when cancelled: no files, no nodes; Slurm's reason (Priority) is why it
        // pended, not why it ended, and is not shown.
        let st = JobStatus {
            state_reason: Some("Priority".into()),
            ..told(JobState::Cancelled, Some("uid 1234"), None, "00:00:00")
        };
        let f = of_job(Some("/nonexistent"), "9", &st).unwrap();
        assert_eq!(
            f.message,
            "CANCELLED: the job was cancelled by uid 1234 at 2026-12-07T18:31:25, before it started"
        );
        assert_eq!(f.file, None);
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }

    #[test]
    fn a_node_failure_names_the_node() {
        let logs = ended_job("node-fail", "node-fail", None);
        let st = told(JobState::NodeFail, None, Some("gpu-004"), "00:00:04");
        let f = of_job(logs.to_str(), "3", &st).unwrap();
        assert_eq!(
            f.message,
            format!(
                "NODE_FAIL: a node of the job failed (gpu-004) at 2026-12-07T18:31:25; last line: {}",
                LOADING.replace("gpu-001", "gpu-004")
            )
        );
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }

    #[test]
    fn preempted_and_out_of_memory_give_slurms_verdict_then_the_line() {
        // Slurm 22.05's own lines: slurmstepd's notice of preemption, as the local cluster
        // writes it (a real preempted job: tests/daily_slurm.rs), and the cgroup's count of
        // oom-kill events, which the local cluster cannot produce (see
        // tests/data/failures/README.md).
        let logs = ended_job("preempted", "timeout", None);
        std::fs::write(
            logs.join("3.err"),
            "slurmstepd-gpu-002: error: *** JOB 3 ON gpu-002 CANCELLED AT 2026-12-07T18:31:25 DUE TO PREEMPTION ***\n",
        )
        .unwrap();
        std::fs::write(
            logs.join("3/gpu-002_agg_w0.err"),
            "[2026-12-07 18:30:01] Decode batch. #running-req: 64, gen throughput (token/s): 4312.5\nslurmstepd-gpu-002: error: *** STEP 3.1 ON gpu-002 CANCELLED AT 2026-12-07T18:31:25 DUE TO PREEMPTION ***",
        )
        .unwrap();
        std::fs::remove_file(logs.join("3/gpu-001_agg_w0.err")).unwrap();
        let st = told(JobState::Preempted, None, Some("gpu-002"), "00:05:00");
        let f = of_job(logs.to_str(), "3", &st).unwrap();
        assert_eq!(
            f.message,
            "PREEMPTED: the job was preempted at 2026-12-07T18:31:25, after running 00:05:00; last line: [2026-12-07 18:30:01] Decode batch. #running-req: 64, gen throughput (token/s): 4312.5"
        );
        assert_eq!(
            f.file.as_deref(),
            logs.join("3/gpu-002_agg_w0.err").to_str()
        );
        let oom = "slurmstepd-gpu-002: error: Detected 1 oom-kill event(s) in StepId=3.1. Some of your processes may have been killed by the cgroup out-of-memory handler.";
        std::fs::write(
            logs.join("3.err"),
            format!("{oom}\nsrun: error: gpu-002: task 0: Out Of Memory\n"),
        )
        .unwrap();
        let st = told(JobState::OutOfMemory, None, Some("gpu-002"), "00:05:00");
        let f = of_job(logs.to_str(), "3", &st).unwrap();
        assert!(f.message.starts_with("OUT_OF_MEMORY: a process of the job used more memory than the job was given, and was killed at 2026-12-07T18:31:25; last line: "), "{}", f.message);
        assert_eq!(f.file.as_deref(), logs.join("3.err").to_str());
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }

    #[test]
    fn a_step_killed_for_its_memory_is_a_failure_with_slurms_line() {
        // Real: OverMemoryKill ends the job FAILED; no step file, the job's own .err says it.
        let logs = ended_job(
            "over-memory",
            "over-memory",
            Some("agg_w0_r0 137 gpu-001_agg_w0\n"),
        );
        let f = of_job(logs.to_str(), "3", &ended(JobState::Failed)).unwrap();
        assert_eq!(
            f.message,
            "slurmstepd-gpu-001: error: Exceeded job memory limit"
        );
        assert_eq!(f.file.as_deref(), logs.join("3.err").to_str());
        assert_eq!(
            (f.step.as_deref(), f.exit_status),
            (Some("agg_w0_r0"), Some(137))
        );
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }

    #[test]
    fn a_failure_never_names_a_file_that_is_not_there() {
        // Issue 23, item 1: the step's file was never written and the job's own files say
        // nothing; the message says so of each, and `file` names none of them.
        let logs = ended_job("silent", "timeout", Some("agg_w1_r0 255 gpu-003_agg_w1\n"));
        std::fs::write(
            logs.join("3.err"),
            "sweep job: agg_w1_r0 failed with status 255\n",
        )
        .unwrap();
        std::fs::write(logs.join("3.out"), "node 0: gpu-003\nmaster: node 0 gpu-003 (127.0.0.1)\nlaunching agg_w1_r0 on gpu-003: python3 worker_setup.py\nagg_w1_r0 exited with status 255\n").unwrap();
        let f = of_job(logs.to_str(), "3", &ended(JobState::Failed)).unwrap();
        assert_eq!(
            f.message,
            "agg_w1_r0 exited with status 255, and 3/gpu-003_agg_w1.err was never written, 3.err says nothing, 3.out says nothing"
        );
        assert_eq!(f.file, None);
        // The job's .out, when it has more than the job script's progress.
        std::fs::write(logs.join("3.out"), "node 0: gpu-003\nsetup.sh: line 4: /opt/env: No such file or directory\nagg_w1_r0 exited with status 255\n").unwrap();
        let f = of_job(logs.to_str(), "3", &ended(JobState::Failed)).unwrap();
        assert_eq!(
            f.message,
            "setup.sh: line 4: /opt/env: No such file or directory"
        );
        assert_eq!(f.file.as_deref(), logs.join("3.out").to_str());
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }
}
