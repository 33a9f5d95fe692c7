//! sweep-expand: reads a sweep YAML file (path or `-` for stdin), validates all of it, and
//! writes one JSON record per combination of its values to stdout, in the seed's order.
//!
//! ```text
//! set -o pipefail
//! sweep-expand sweep.yaml | jq -c 'select(.parameters.slurm.prefill_nodes == 6)' | sweep-render --out-dir sweeps/tpt
//! ```

mod id;
mod linked;
mod odometer;
mod sweepfile;
mod yaml;

use anyhow::Context;
use clap::Parser;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// Expand a sweep file into one JSON record per combination.
#[derive(Parser)]
#[command(
    name = "sweep-expand",
    version,
    after_help = "Reads the sweep YAML (sections slurm, sglang, and optionally prefill, decode, \
        linked), checks all of it, then writes one compact JSON object per line: index, id, \
        mode, total_nodes, parameters {slurm, sglang}, role_parameters, sweep_file. Order: \
        slurm keys outermost, then sglang, prefill, decode; the last key varies fastest.\n\n\
        Example:\n  set -o pipefail\n  sweep-expand --count sweep.yaml\n  \
        sweep-expand sweep.yaml | jq -c 'select(.parameters.sglang[\"mem-fraction-static\"] >= 0.82)' \\\n    \
        | sweep-render --out-dir sweeps/tpt"
)]
struct Args {
    /// The sweep file; `-` reads it from stdin
    file: PathBuf,
    /// Print only the number of combinations (the file is checked; no limit applies)
    #[arg(long)]
    count: bool,
    /// Refuse sweeps of more combinations than N (0: no limit)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_jobs: u64,
}

fn main() -> ExitCode {
    sweep::cli::main("sweep-expand", run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (name, text) = read_sweep(&args.file)?;
    let sweep = load(&text).map_err(|issue| anyhow::anyhow!(position(&name, &text, issue)))?;
    let count = sweep
        .count()
        .with_context(|| format!("{name}: more than {} combinations", u64::MAX))?;
    let mut out = sweep::jsonl::Writer::stdout();
    if args.count {
        out.write(&count)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.max_jobs != 0 && count > args.max_jobs {
        anyhow::bail!(
            "{name}: {count} combinations, more than --max-jobs {} (raise it with --max-jobs {count}, or 0 for no limit)",
            args.max_jobs
        );
    }
    let sweep_file = match args.file.to_str() {
        Some("-") => None,
        _ => Some(sweep::fsutil::utf8(&sweep::fsutil::absolute(&args.file)?)?),
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
fn load(text: &str) -> Result<sweepfile::Sweep, sweepfile::Issue> {
    let doc = yaml::parse(text).map_err(|e| sweepfile::Issue {
        path: Vec::new(),
        msg: e.msg,
        pos: e.pos,
    })?;
    let sweep = sweepfile::build(doc)?;
    odometer::check_divisible(&sweep)?;
    Ok(sweep)
}

/// `name:line:col: msg`, the position from the parser (none when the issue is about the whole
/// file, or the node cannot be found).
fn position(name: &str, text: &str, issue: sweepfile::Issue) -> String {
    match issue.pos.or_else(|| yaml::locate(text, &issue.path)) {
        Some((line, col)) => format!("{name}:{line}:{col}: {}", issue.msg),
        None => format!("{name}: {}", issue.msg),
    }
}
