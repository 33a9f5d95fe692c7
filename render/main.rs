//! sweep-render: reads records (JSON Lines), writes one SGLang config file per record that has
//! SGLang values (`sglang_config_{index}.yaml`, the file `dynamo.sglang --config` reads), and
//! writes each record on with `sweep_dir` and `config_path` added.
//!
//! ```text
//! sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ...
//! ```

mod config;
mod yaml;

use anyhow::{anyhow, Result};
use clap::Parser;
use config::OutDir;
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::jsonl::{Input, Writer};
use sweep::Record;

/// Write one SGLang config file per record and pass the records on with its path
#[derive(Parser)]
#[command(
    name = "sweep-render",
    version,
    after_help = "For each record with SGLang values, writes sglang_config_{index}.yaml into the \
        output directory: prefill: and decode: sections for disaggregated records (common values \
        plus that role's own), a flat mapping for aggregated ones; this is the file that \
        `python -m dynamo.sglang --config FILE [--config-key prefill|decode]` reads. The record \
        is then written to stdout with sweep_dir and config_path (absolute) added. Records \
        without SGLang values get no file and pass through unchanged. Re-rendering a record into \
        the same directory is a no-op when the file is identical; a different existing file is \
        an error unless --force.\n\n\
        Example:\n  \
        set -o pipefail\n  \
        sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ..."
)]
struct Args {
    /// Record files (JSON Lines) to read in order; `-` or none means stdin
    #[arg(value_name = "RECORDS")]
    inputs: Vec<PathBuf>,

    /// Directory for the config files, created if missing [default: a new
    /// sweep_YYYYMMDD_HHMMSS in the current directory, made when the first file is written]
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Replace an existing config file whose content differs (by default that is an error)
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    sweep::cli::main("sweep-render", run)
}

fn run(args: Args) -> Result<ExitCode> {
    let inputs = Input::open_all(&args.inputs)?;
    let mut out_dir = OutDir::new(args.out_dir.as_deref(), args.force)?;
    let mut writer = Writer::stdout();
    let result = render_all(inputs, &mut out_dir, &mut writer);
    // Records rendered before a failure reach stdout before the error exit: their files are
    // complete, and whoever reads the stream must learn about them.
    let flushed = writer.flush();
    result?;
    flushed?;
    Ok(ExitCode::SUCCESS)
}

/// Renders every record of every input, in order.
fn render_all<W: Write>(
    inputs: Vec<Input>,
    out_dir: &mut OutDir,
    writer: &mut Writer<W>,
) -> Result<()> {
    for input in inputs {
        let name = input.name.clone();
        // Read as a plain JSON object first: a record without SGLang values passes through
        // exactly as it came.
        for item in input.records::<Value>() {
            let (n, value) = item?;
            let at = format!("{name}:{n}");
            let mut record =
                Record::deserialize(&value).map_err(|e| anyhow!("{at}: invalid record: {e}"))?;
            if render_one(&mut record, out_dir, &at)? {
                writer.write(&record)?;
            } else {
                writer.write(&value)?;
            }
        }
    }
    Ok(())
}

/// Writes the record's config file and adds its paths to the record; false (and nothing done)
/// when the record has no SGLang values: it then passes through as it came (not even the
/// contract's default fields are added).
fn render_one(record: &mut Record, out_dir: &mut OutDir, at: &str) -> Result<bool> {
    if !record.has_sglang() {
        return Ok(false);
    }
    let text = config::render(record).map_err(|e| anyhow!("{at}: invalid record: {e}"))?;
    let written = out_dir.write(record.index, &text, at)?;
    record.sweep_dir = Some(written.dir);
    record.config_path = Some(written.path);
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn args_are_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
