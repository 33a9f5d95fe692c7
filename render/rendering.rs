//! The rendering: each record gets its number and sweep directory, and one SGLang config file
//! when it has SGLang values; each record is passed on with its paths.

use crate::config::{self, OutDir};
use anyhow::{anyhow, Result};
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
    // The sweep directory is let go before the last records leave: the sweep-submit reading
    // them takes the same lock as soon as it has read them all.
    drop(out_dir);
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
        for item in input.records::<Record>() {
            let (n, mut record) = item?;
            render_one(&mut record, out_dir, &format!("{name}:{n}"))?;
            writer.write(&record)?;
        }
    }
    Ok(())
}

/// Gives the record its number and `sweep_dir` in the sweep directory and, when it has SGLang
/// values, writes its config file and adds `config_path`.
fn render_one(record: &mut Record, out_dir: &mut OutDir, at: &str) -> Result<()> {
    out_dir.place(record)?;
    if record.has_sglang() {
        let text = config::render(record).map_err(|e| anyhow!("{at}: invalid record: {e}"))?;
        record.config_path = Some(out_dir.write(record.index, &text, at)?.path);
    }
    Ok(())
}
