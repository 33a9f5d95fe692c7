//! The common `main` wrapper: one-line errors, exit codes, and a quiet exit on a closed pipe.

use std::io;
use std::process::ExitCode;

/// Exit code for runtime failures (bad input, Slurm refused, I/O error).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage errors (bad or conflicting options); clap uses it too.
pub const EXIT_USAGE: u8 = 2;

/// An error in how the program was called rather than in what it was given: exits 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for `Err(UsageError(..).into())`.
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// Parses `A` with clap (usage errors exit 2, `--help` exits 0), runs `run`, and maps its
/// result to an exit code.
///
/// A broken pipe anywhere in the error chain means the reader went away (`| head -1`): that is
/// success, silently. Any other error is printed once as `name: <chain>` on stderr.
pub fn main<A: clap::Parser>(name: &str, run: fn(A) -> anyhow::Result<ExitCode>) -> ExitCode {
    let args = A::parse();
    finish(name, run(args))
}

/// Maps the result of a program's `run` to its exit code, printing the error if there is one.
pub fn finish(name: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let code = if err.downcast_ref::<UsageError>().is_some() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            };
            use std::io::Write as _;
            // If stderr itself is gone there is nobody left to tell.
            let _ = writeln!(io::stderr().lock(), "{name}: {err:#}");
            ExitCode::from(code)
        }
    }
}

/// True when any error in the chain is an I/O error of kind `BrokenPipe`.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind())
                .is_some_and(|k| k == io::ErrorKind::BrokenPipe)
    })
}
