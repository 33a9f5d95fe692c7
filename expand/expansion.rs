//! The expansion: read the sweep file, check all of it, then write its count or one record per
//! combination.

use crate::{divisible, model, odometer, sweepfile, yaml_reader};
use anyhow::Context;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// What to expand and how (sweep-expand's options).
pub struct Options {
    /// The sweep file; `-` is stdin.
    pub file: PathBuf,
    /// Print only the number of combinations.
    pub count: bool,
    /// Refuse sweeps of more combinations than this (`None`: no limit).
    pub max_jobs: Option<u64>,
}

/// Expands the sweep file to stdout.
pub fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let (name, text) = read_sweep(&opts.file)?;
    let sweep = load(&text).map_err(|issue| anyhow::anyhow!(position(&name, &text, issue)))?;
    let count = sweep
        .count()
        .with_context(|| format!("{name}: more than {} combinations", u64::MAX))?;
    let mut out = sweep::jsonl::Writer::stdout();
    if opts.count {
        out.write(&count)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(max) = opts.max_jobs.filter(|max| count > *max) {
        anyhow::bail!(
            "{name}: {count} combinations, more than --max-jobs {max} (raise it with --max-jobs {count}, or 0 for no limit)"
        );
    }
    let sweep_file = match opts.file.to_str() {
        Some("-") => None,
        _ => Some(sweep::fsutil::utf8(&sweep::fsutil::absolute(&opts.file)?)?),
    };
    odometer::write_all(&sweep, sweep_file, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The sweep's name in messages (the path as given, or `<stdin>`) and its text.
fn read_sweep(path: &PathBuf) -> anyhow::Result<(String, String)> {
    let mut text = String::new();
    if path.to_str() == Some("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read the sweep file from stdin")?;
        return Ok(("<stdin>".to_string(), text));
    }
    let name = path.display().to_string();
    text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read sweep file {name}"))?;
    Ok((name, text))
}

/// Parses and validates the whole file.
fn load(text: &str) -> Result<model::Sweep, model::Issue> {
    let doc = yaml_reader::parse(text).map_err(|e| model::Issue {
        path: Vec::new(),
        msg: e.msg,
        pos: e.pos,
    })?;
    let sweep = sweepfile::build(doc)?;
    divisible::check(&sweep)?;
    Ok(sweep)
}

/// `name:line:col: msg`, the position from the parser (none when the issue is about the whole
/// file, or the node cannot be found).
fn position(name: &str, text: &str, issue: model::Issue) -> String {
    match issue.pos.or_else(|| yaml_reader::locate(text, &issue.path)) {
        Some((line, col)) => format!("{name}:{line}:{col}: {}", issue.msg),
        None => format!("{name}: {}", issue.msg),
    }
}
