//! Running one external command (`sbatch`, `squeue`, `sacct`) with a deadline: a hung Slurm
//! client must not hang the program that called it.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What one finished (or killed) command left behind.
pub struct Finished {
    /// Exit status; `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Everything it printed on stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything it printed on stderr (lossy UTF-8).
    pub stderr: String,
}

/// Runs `argv` (its first element is the program) and waits at most `timeout`. At the deadline
/// the command's whole process group is killed (sites wrap `sbatch` in scripts whose children
/// would otherwise live on) and `status` is `None`.
pub fn run(argv: &[String], timeout: Duration) -> std::io::Result<Finished> {
    run_until(argv, timeout, &|| false)
}

/// [`run`], also killed (the same way, `status` `None`) as soon as `stop` says so: asked
/// every 50 ms (a run interrupted by a signal does not wait for a hung command).
pub fn run_until(
    argv: &[String],
    timeout: Duration,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<Finished> {
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    // One waiter thread reads both pipes and reaps the child; this thread only waits for it,
    // so a normal call costs no polling delay.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let finished = |o: Output, status| Finished {
        status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    let deadline = std::time::Instant::now() + timeout;
    let waited = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(done) => break Some(done),
            Err(mpsc::RecvTimeoutError::Timeout) if left > Duration::ZERO && !stop() => {}
            Err(_) => break None,
        }
    };
    match waited {
        Some(done) => done.map(|o| {
            let status = o.status;
            finished(o, Some(status))
        }),
        None => {
            // The group id is the child's pid (process_group(0)): this reaches its children.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
            // Whatever it printed before it was killed, once the waiter has reaped it.
            Ok(match rx.recv_timeout(Duration::from_secs(2)) {
                Ok(Ok(o)) => finished(o, None),
                _ => Finished {
                    status: None,
                    stdout: String::new(),
                    stderr: String::new(),
                },
            })
        }
    }
}
