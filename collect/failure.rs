//! Why a job ended without completing: the `failure` of a record, read from the job's own
//! files, so that `NonZeroExitCode 1:0` comes with its cause (`CUDA out of memory`).
//!
//! The built-in job script writes `<log_dir>/<job ID>/failed_step` when a step fails: one
//! line, `NAME STATUS LOG` (`prefill_w0_r0 1 gpu-001_prefill_w0`), `LOG` being the base name
//! of the step's `.out`/`.err` in the same directory. The cause is then the last meaningful
//! line of that `.err`. Without that file (the job hit its time limit, a node failed, it was
//! cancelled, or a custom template did not write one), the cause is Slurm's verdict
//! (`TIMEOUT: the job reached its time limit`) or the last meaningful line of the job's own
//! `<log_dir>/<job ID>.err` (sbatch's `--error`, where the script's own messages go).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use sweep::record::Failure;
use sweep::slurm::is_final;
use sweep::Record;

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
        r.status.state.as_deref()?,
        r.status.state_reason.as_deref(),
    )
}

/// The failure of job `job_id` of a combination whose jobs log under `log_dir`, having ended
/// in `state` (Slurm's `reason`); `None` while it runs, once it completed, and for a job whose
/// state is unknown and that left no failed step.
pub fn of_job(
    log_dir: Option<&str>,
    job_id: &str,
    state: &str,
    reason: Option<&str>,
) -> Option<Failure> {
    if state == "COMPLETED" || !is_final(state) {
        return None;
    }
    let log_dir = log_dir.map(Path::new);
    if let Some(f) = log_dir.and_then(|d| failed_step(&d.join(job_id))) {
        return Some(f);
    }
    if state == "UNKNOWN" {
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
    match err.as_deref().and_then(last_meaningful_line) {
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
fn verdict(state: &str) -> Option<&'static str> {
    Some(match state {
        "TIMEOUT" => "the job reached its time limit",
        "CANCELLED" => "the job was cancelled",
        "NODE_FAIL" => "a node of the job failed",
        "PREEMPTED" => "the job was preempted",
        "BOOT_FAIL" => "a node of the job failed to boot",
        "DEADLINE" => "the job reached its deadline",
        "REVOKED" => "the job was revoked (it ran on another cluster of the federation)",
        _ => return None,
    })
}

/// The failure named by `<job dir>/failed_step`, if the job script wrote one.
fn failed_step(job_dir: &Path) -> Option<Failure> {
    let text = std::fs::read_to_string(job_dir.join(FAILED_STEP)).ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut words = line.split_whitespace();
    let step = words.next()?.to_string();
    let status = words.next().and_then(|s| s.parse::<i64>().ok());
    let log = words.next();
    let file: Option<PathBuf> = log
        .filter(|l| !l.contains('/') && *l != ".." && *l != ".")
        .map(|l| job_dir.join(format!("{l}.err")));
    let status_text = status.map_or("a non-zero status".to_string(), |s| s.to_string());
    let message = match file.as_deref() {
        Some(f) => last_meaningful_line(f).unwrap_or_else(|| {
            format!(
                "{step} exited with status {status_text}; {} says nothing",
                f.display()
            )
        }),
        None => format!("{step} exited with status {status_text}"),
    };
    Some(Failure {
        step: Some(step),
        exit_status: status,
        file: file.map(|f| f.display().to_string()),
        message,
    })
}

/// The last meaningful line of the last 64 KiB of `path`: not blank, not a bash `+` trace,
/// not only punctuation (`----`, `^^^^`, `}`), not srun's own `task N: Exited with exit code`
/// note; the text after the last carriage return (progress bars redraw with `\r`), without
/// terminal colour codes. `None` when the file cannot be read or has no such line.
pub fn last_meaningful_line(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
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
    lines.rev().map(clean).find(|l| meaningful(l))
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
    let srun_note = line.starts_with("srun: error: ") && line.contains(": Exited with exit code");
    !line.is_empty()
        && !line.starts_with('+')
        && !srun_note
        && line.chars().any(char::is_alphanumeric)
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
            last_meaningful_line(&f).as_deref(),
            Some("torch.OutOfMemoryError: CUDA out of memory.")
        );
        std::fs::write(&f, "loading 10%\rloading 100%\r\n").unwrap();
        assert_eq!(last_meaningful_line(&f).as_deref(), Some("loading 100%"));
        // Only the last 64 KiB are read, and a line cut at that edge is not taken.
        let mut big = "early cause\n".to_string();
        big.push_str(&"x".repeat(70 * 1024));
        big.push_str("\n\n");
        std::fs::write(&f, &big).unwrap();
        assert_eq!(last_meaningful_line(&f), None);
        std::fs::write(&f, "\n \n+ trace\n").unwrap();
        assert_eq!(last_meaningful_line(&f), None);
        assert_eq!(last_meaningful_line(&dir.join("missing")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_verdict_without_a_failed_step() {
        let f = of_job(None, "12", "TIMEOUT", Some("TimeLimit")).unwrap();
        assert_eq!(
            f.message,
            "TIMEOUT: the job reached its time limit (Slurm: TimeLimit)"
        );
        assert_eq!(of_job(None, "12", "COMPLETED", None), None);
        assert_eq!(of_job(None, "12", "RUNNING", None), None);
        assert_eq!(of_job(None, "12", "UNKNOWN", None), None);
    }
}
