//! sweep-submit: records in, one job script per record, records out.
//!
//! TEMPORARY: replaced by the submit branch at merge. This stand-in implements only what the
//! job-script tests need: `--dry-run` writes each record's script to
//! `<sweep dir>/job_{index}.sh` and prints the record with `job_script`, `log_dir`,
//! `job_name` and `tag` set, exactly the fields the real sweep-submit fills in.

mod jobscript;

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::jsonl::{Input, Writer};
use sweep::record::SubmitStatus;
use sweep::Record;

/// Writes one job script per record (TEMPORARY stand-in: dry runs only).
#[derive(Parser)]
#[command(
    name = "sweep-submit",
    version,
    after_help = "Example:\n  set -o pipefail\n  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt \\\n    | sweep-submit --dry-run --output-dir sweeps/tpt --account acct --partition batch ..."
)]
struct Args {
    #[command(flatten)]
    script: jobscript::ScriptArgs,
    /// Directory for the job scripts (and the default sweep directory)
    #[arg(long)]
    output_dir: PathBuf,
    /// Write the scripts, submit nothing
    #[arg(long)]
    dry_run: bool,
}

fn main() -> ExitCode {
    sweep::cli::main("sweep-submit", run)
}

fn run(args: Args) -> Result<ExitCode> {
    if !args.dry_run {
        return sweep::cli::usage("this build only supports --dry-run");
    }
    let builder = jobscript::Builder::new(&args.script)?;
    let out_dir = sweep::fsutil::absolute(&args.output_dir)?;
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("failed to create {}", out_dir.display()))?;
    let input = Input::stdin();
    let name = input.name.clone();
    let mut records = Vec::new();
    for item in input.records::<Record>() {
        let (line, record) = item?;
        let origin = format!("{name}:{line}");
        for w in builder.check(&record).with_context(|| origin.clone())? {
            eprintln!("sweep-submit: {origin}: warning: {w}");
        }
        records.push(record);
    }
    let mut out = Writer::stdout();
    for mut record in records {
        write_script(&builder, &args, &out_dir, &mut record)?;
        out.write(&record)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_script(
    builder: &jobscript::Builder,
    args: &Args,
    out_dir: &std::path::Path,
    record: &mut Record,
) -> Result<()> {
    let sweep_dir = record
        .sweep_dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.to_path_buf());
    let job_name = format!("{}_sweep{}", args.script.job_name, record.index);
    let log_base = match &args.script.log_dir {
        Some(d) => sweep::fsutil::absolute(d)?,
        None => sweep_dir.join("logs"),
    };
    let log_dir = match &args.script.log_dir {
        // As the real sweep-submit: a shared --log-dir gets one folder per sweep.
        Some(_) => log_base
            .join(sweep_dir.file_name().unwrap_or_default())
            .join(&job_name),
        None => log_base.join(&job_name),
    };
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("failed to create {}", log_dir.display()))?;
    let script_path = sweep_dir.join(format!("job_{}.sh", record.index));
    let sweep_dir_s = sweep_dir.display().to_string();
    let tag = sweep::tag::format(
        &sweep::tag::sweep_key(&sweep_dir_s),
        &record.id,
        record.index,
    );
    let text = builder.render(&jobscript::Job {
        record,
        job_name: &job_name,
        sweep_dir: &sweep_dir,
        log_dir: &log_dir,
        script_path: &script_path,
        tag: &tag,
    })?;
    sweep::fsutil::write_atomic(&script_path, text.as_bytes())?;
    record.job_script = Some(script_path.display().to_string());
    record.log_dir = Some(log_dir.display().to_string());
    record.job_name = Some(job_name);
    record.tag = Some(tag);
    record.submit_status = Some(SubmitStatus::DryRun);
    Ok(())
}
