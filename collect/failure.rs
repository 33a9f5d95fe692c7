//! Why a job ended without completing: the `failure` of a record, read from the job's own
//! files, so that `NonZeroExitCode 1:0` comes with its cause (`CUDA out of memory`).
//!
//! The built-in job script writes `<log_dir>/<job ID>/failed_step` when a step fails: one
//! line, `NAME STATUS LOG` (`prefill_w0_r0 1 gpu-001_prefill_w0`), `LOG` being the base name
//! of the step's `.out`/`.err` in the same directory. The cause is then the last meaningful
//! line of that `.err`, or of the job's own `<log_dir>/<job ID>.err` when the step's file is
//! missing or says nothing (srun refused the step before it could create the file). Without
//! a failed step (the job hit its time limit, a node failed, it was cancelled, or a custom
//! template did not write one), the cause is Slurm's verdict (`TIMEOUT: the job reached its
//! time limit`) or the last meaningful line of the job's own `.err` (sbatch's `--error`,
//! where the script's own messages go).
//!
//! A step that pyxis could not start in its container (`--container-image`) leaves pyxis'
//! error, enroot's log and Slurm's aftermath in the step's `.err`; the cause is then the
//! line that says why ([`container_cause`]), not the last one.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use sweep::record::Failure;
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
    of_job(
        r.log_dir.as_deref(),
        job,
        r.status.state.as_ref()?,
        r.status.state_reason.as_deref(),
    )
}

/// The failure of job `job_id` of a combination whose jobs log under `log_dir`, having ended
/// in `state` (Slurm's `reason`); `None` while it runs, once it completed, and for a job whose
/// state is unknown and that left no failed step.
pub fn of_job(
    log_dir: Option<&str>,
    job_id: &str,
    state: &JobState,
    reason: Option<&str>,
) -> Option<Failure> {
    if *state == JobState::Completed || !state.is_final() {
        return None;
    }
    let log_dir = log_dir.map(Path::new);
    if let Some(f) = log_dir.and_then(|d| failed_step(&d.join(job_id))) {
        return Some(f);
    }
    if *state == JobState::Unknown {
        return None;
    }
    if let Some(what) = verdict(state) {
        let why = reason
            .filter(|r| !r.is_empty() && *r != "None")
            .map_or(String::new(), |r| format!(" (Slurm: {r})"));
        return Some(Failure {
            message: format!("{state}: {what}{why}"),
            ..Failure::default()
        });
    }
    let err = log_dir.map(|d| d.join(format!("{job_id}.err")));
    match err.as_deref().and_then(cause_line) {
        Some(line) => Some(Failure {
            file: err.map(|p| p.display().to_string()),
            message: line,
            ..Failure::default()
        }),
        None => Some(Failure {
            message: match &err {
                Some(p) => format!("{state}: no step failed and {} says nothing", p.display()),
                None => format!("{state}: the record has no log_dir to look in"),
            },
            ..Failure::default()
        }),
    }
}

/// What Slurm's end states mean when no step failed.
fn verdict(state: &JobState) -> Option<&'static str> {
    Some(match state {
        JobState::Timeout => "the job reached its time limit",
        JobState::Cancelled => "the job was cancelled",
        JobState::NodeFail => "a node of the job failed",
        JobState::Preempted => "the job was preempted",
        JobState::BootFail => "a node of the job failed to boot",
        JobState::Deadline => "the job reached its deadline",
        JobState::Revoked => "the job was revoked (it ran on another cluster of the federation)",
        _ => return None,
    })
}

/// The failure named by `<job dir>/failed_step`, if the job script wrote one.
fn failed_step(job_dir: &Path) -> Option<Failure> {
    let text =
        std::io::read_to_string(sweep::fsutil::open_regular(&job_dir.join(FAILED_STEP)).ok()?)
            .ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut words = line.split_whitespace();
    let step = words.next()?.to_string();
    let status = words.next().and_then(|s| s.parse::<i64>().ok());
    let log = words.next();
    let file: Option<PathBuf> = log
        .filter(|l| !l.contains('/') && *l != ".." && *l != ".")
        .map(|l| job_dir.join(format!("{l}.err")));
    let status_text = status.map_or("a non-zero status".to_string(), |s| s.to_string());
    // srun writes a step's files only once the step starts: a step it refused (an option it
    // does not know, such as --container-image without pyxis) left its reason in the job's
    // own .err, beside the job's directory.
    let job_err = job_dir
        .file_name()
        .map(|id| job_dir.with_file_name(format!("{}.err", id.to_string_lossy())));
    let found = file
        .as_deref()
        .and_then(|f| cause_line(f).map(|line| (f.to_path_buf(), line)))
        .or_else(|| {
            let e = job_err?;
            cause_line(&e).map(|line| (e, line))
        });
    let (file, message) = match (found, file) {
        (Some((f, line)), _) => (Some(f), line),
        (None, Some(f)) => {
            let message = format!(
                "{step} exited with status {status_text}; {} says nothing",
                f.display()
            );
            (Some(f), message)
        }
        (None, None) => (None, format!("{step} exited with status {status_text}")),
    };
    Some(Failure {
        step: Some(step),
        exit_status: status,
        file: file.map(|f| f.display().to_string()),
        message,
    })
}

/// The line of a log that says why it failed: pyxis' cause when the log has pyxis errors
/// ([`container_cause`]), else the last meaningful line of its last 64 KiB: not blank, not a
/// bash `+` trace, not only punctuation (`----`, `^^^^`, `}`), not srun's own notes (`task N:
/// Exited with exit code`, `Job step aborted`, `Try "srun --help"`) nor the job script's
/// `sweep job: NAME failed with status N`; the text after the last carriage return (progress
/// bars redraw with `\r`), without terminal colour codes. `None` when the file cannot be read
/// or has no such line.
pub fn cause_line(path: &Path) -> Option<String> {
    let lines = tail_lines(path)?;
    container_cause(&lines).or_else(|| lines.into_iter().rev().find(|l| meaningful(l)))
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
    let srun_note = (line.starts_with("srun: error: ") && line.contains(": Exited with exit code"))
        || line.starts_with("srun: Job step aborted: ")
        || line.starts_with("Try \"srun --help\"");
    !line.is_empty()
        && !line.starts_with('+')
        && !srun_note
        && !job_script_summary(line)
        && line.chars().any(char::is_alphanumeric)
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
            let f = of_job(logs.to_str(), "4", &JobState::Failed, Some("NonZeroExitCode")).unwrap();
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
        let f = of_job(logs.to_str(), "4", &JobState::Failed, None).unwrap();
        assert_eq!(
            f.message,
            "srun: unrecognized option '--container-image=/images/sglang.sqsh'"
        );
        assert_eq!(f.file.as_deref(), logs.join("4.err").to_str());
        assert_eq!(f.exit_status, Some(1));
        // Neither file says anything: the step's (missing) file is named.
        std::fs::write(
            logs.join("4.err"),
            "sweep job: decode_w0_r0 failed with status 1\n",
        )
        .unwrap();
        let f = of_job(logs.to_str(), "4", &JobState::Failed, None).unwrap();
        let step_err = logs.join("4/gpu-003_decode_w0.err");
        assert_eq!(
            f.message,
            format!(
                "decode_w0_r0 exited with status 1; {} says nothing",
                step_err.display()
            )
        );
        // The job script's own causes are kept: only its summary line is noise.
        std::fs::write(logs.join("4.err"), "sweep job: no IPv4 address on interface eth3 (--network-interface) on node gpu-001; its interfaces with one: lo 127.0.0.1/8\nsweep job: decode_w0_r0 failed with status 1\n").unwrap();
        let f = of_job(logs.to_str(), "4", &JobState::Failed, None).unwrap();
        assert!(
            f.message.starts_with("sweep job: no IPv4 address"),
            "{}",
            f.message
        );
        let _ = std::fs::remove_dir_all(logs.parent().unwrap());
    }

    #[test]
    fn a_verdict_without_a_failed_step() {
        let f = of_job(None, "12", &JobState::Timeout, Some("TimeLimit")).unwrap();
        assert_eq!(
            f.message,
            "TIMEOUT: the job reached its time limit (Slurm: TimeLimit)"
        );
        assert_eq!(of_job(None, "12", &JobState::Completed, None), None);
        assert_eq!(of_job(None, "12", &JobState::Running, None), None);
        assert_eq!(of_job(None, "12", &JobState::Unknown, None), None);
    }
}
