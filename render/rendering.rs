//! The rendering: one SGLang config file per record that has SGLang values, each record passed
//! on with its paths.

use crate::config::{self, OutDir};
use anyhow::{anyhow, Result};
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::jsonl::{Input, Writer};
use sweep::Record;

/// What to render and where (sweep-render's options).
pub struct Options {
    /// Record files; none or `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// Directory for the config files (default: a new one, made when the first file is written).
    pub out_dir: Option<PathBuf>,
    /// Replace an existing config file whose content differs.
    pub force: bool,
}

/// Renders every record to its config file and writes the records to stdout.
pub fn run(opts: Options) -> Result<ExitCode> {
    let inputs = Input::open_all(&opts.inputs)?;
    let mut out_dir = OutDir::new(opts.out_dir.as_deref(), opts.force)?;
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
