//! The common `main` wrapper: one-line errors, exit codes, and a quiet exit on a closed pipe;
//! and [`warn`], the one place that prints warnings and notes.

use std::io;
use std::process::ExitCode;
use std::sync::OnceLock;

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

/// A number of seconds from the command line as a `Duration`: `None` when it is negative,
/// not finite, too large for a `Duration`, or not above 0 when `positive` is asked. The one
/// check of every duration option (each program says which rule its option breaks).
pub fn seconds(value: f64, positive: bool) -> Option<std::time::Duration> {
    if positive && value <= 0.0 {
        return None;
    }
    std::time::Duration::try_from_secs_f64(value).ok()
}

/// The running program's name, set once by [`main`].
static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// The running program's name (`sweep-collect`), as given to [`main`]; `sweep` before that.
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("sweep")
}

/// Prints one warning or note on stderr, prefixed with the program's name:
/// `sweep-submit: <stdin>:3: warning: ...`. Every diagnostic that is not the final error goes
/// through here (the final error through [`finish`]), so every line names its program.
pub fn warn(msg: impl std::fmt::Display) {
    use std::io::Write as _;
    // If stderr itself is gone there is nobody left to tell. A progress bar being drawn is
    // moved below the line, not written through.
    crate::progress::suspended(|| {
        let _ = writeln!(io::stderr().lock(), "{}: {msg}", program());
    });
}

/// Prints text for people (a table, several lines) on stderr as it is, above a progress bar
/// being drawn: the one way besides [`warn`] that a program writes to stderr.
pub fn show(text: &str) {
    use std::io::Write as _;
    crate::progress::suspended(|| {
        let _ = io::stderr().lock().write_all(text.as_bytes());
    });
}

/// Parses `A` with clap (usage errors exit 2, `--help` exits 0), runs `run`, and maps its
/// result to an exit code.
///
/// A broken pipe anywhere in the error chain means the reader went away (`| head -1`): that is
/// success, silently. Any other error is printed once as `name: <chain>` on stderr.
///
/// Every program also answers `--completions SHELL` (bash, zsh, fish, elvish, powershell) and
/// `--man`, generated from its own clap definition, so they never drift from `--help`.
pub fn main<A: clap::Parser>(
    name: &'static str,
    run: fn(A) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    let _ = PROGRAM.set(name);
    // Looked at before the real parse: a required argument must not block `--man`.
    let wants_doc = std::env::args_os().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == "--man" || a == "--completions" || a.starts_with("--completions=")
    });
    if wants_doc {
        let doc = with_doc_options(A::command())
            .ignore_errors(true)
            .get_matches();
        if let Some(code) = doc_output::<A>(name, &doc) {
            return code;
        }
    }
    let matches = with_doc_options(A::command()).get_matches();
    match A::from_arg_matches(&matches) {
        Ok(args) => finish(name, run(args)),
        Err(err) => err.exit(),
    }
}

/// An error when the program was started with its stdout closed (`prog >&-`): a program that
/// changes the world (sweep-submit) calls it before it does anything.
///
/// Rust's runtime reopens a closed stdout on `/dev/null` before `main` (read-write, where a
/// shell's `> /dev/null` opens it write-only), so writes "succeed": every job would be
/// submitted and every record lost, with exit 0. Linux only (`/proc`); elsewhere it cannot
/// tell and says nothing.
pub fn stdout_must_be_open() -> anyhow::Result<()> {
    let target = std::fs::read_link("/proc/self/fd/1");
    let info = std::fs::read_to_string("/proc/self/fdinfo/1").unwrap_or_default();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
    const O_ACCMODE: u32 = 0o3;
    const O_RDWR: u32 = 0o2;
    let reopened = target.is_ok_and(|t| t == std::path::Path::new("/dev/null"))
        && flags.is_some_and(|f| f & O_ACCMODE == O_RDWR);
    if reopened {
        anyhow::bail!("stdout is closed: the records of submitted jobs would be lost; nothing was submitted (use > /dev/null to discard them on purpose)");
    }
    Ok(())
}

/// Adds the `--completions` and `--man` options to a program's command.
fn with_doc_options(cmd: clap::Command) -> clap::Command {
    use clap::{Arg, ArgAction};
    cmd.arg(
        Arg::new("completions")
            .long("completions")
            .value_name("SHELL")
            .value_parser(clap::value_parser!(clap_complete::Shell))
            .help("Print a shell completion script for SHELL and exit")
            .display_order(10_000),
    )
    .arg(
        Arg::new("man")
            .long("man")
            .action(ArgAction::SetTrue)
            .help("Print a man page (roff) and exit")
            .display_order(10_001),
    )
}

/// Prints completions or the man page when asked; `None` when neither was asked.
fn doc_output<A: clap::Parser>(name: &str, matches: &clap::ArgMatches) -> Option<ExitCode> {
    let shell = matches
        .get_one::<clap_complete::Shell>("completions")
        .copied();
    let man = matches.get_flag("man");
    if shell.is_none() && !man {
        return None;
    }
    let mut cmd = A::command();
    let mut out = Vec::new();
    let result = match shell {
        Some(shell) => {
            clap_complete::generate(shell, &mut cmd, name, &mut out);
            Ok(())
        }
        None => clap_mangen::Man::new(cmd).render(&mut out),
    };
    use std::io::Write as _;
    let result = result.and_then(|()| {
        let mut stdout = io::stdout().lock();
        stdout.write_all(&out)?;
        stdout.flush()
    });
    Some(finish(
        name,
        result
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
    ))
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
            let msg = one_line(&format!("{err:#}"));
            // If stderr itself is gone there is nobody left to tell.
            let _ = writeln!(io::stderr().lock(), "{name}: {msg}");
            ExitCode::from(code)
        }
    }
}

/// `msg` with its control characters escaped (`\n`, `\u{1b}`): an error is one line on
/// stderr even when it quotes a key or value of the input that holds a newline.
fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
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
