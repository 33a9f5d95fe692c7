//! The whole collection: read and merge the inputs, optionally reconcile with Slurm and add job
//! states (once, or polling until every job ended), and write the manifest or JSON Lines.

use crate::{input, manifest, merge, reconcile, results, status, validate, wait};
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::slurm::{Slurm, Unreachable};
use sweep::Record;

/// What to collect and how (sweep-collect's options, checked).
pub struct Options {
    /// Record streams and manifests; none or `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// Write here atomically instead of stdout.
    pub output: Option<PathBuf>,
    /// The merged records as JSON Lines instead of the manifest.
    pub jsonl: bool,
    /// Add each job's state once.
    pub status: bool,
    /// Poll until every job is in a final state (implies `status`).
    pub wait: Option<wait::Options>,
    /// The sweep directory of records that have none.
    pub sweep_dir: Option<String>,
    /// `--reconcile`, searching accounting back to this time (`sacct --starttime`).
    pub reconcile_since: Option<String>,
    /// Slurm unreachable: write the output without states (a warning) instead of failing.
    pub allow_missing_status: bool,
    /// The Slurm commands and their deadline.
    pub slurm: Slurm,
    /// `--results` and its companions, when asked for.
    pub results: Option<(results::ResultsArgs, results::Options)>,
}

/// Collects; the exit code is --wait's verdict (success otherwise).
pub fn run(opts: Options) -> Result<ExitCode> {
    let mut read = input::read_all(&inputs(&opts)?)?;
    if let Some(dir) = &opts.sweep_dir {
        for r in read.records.iter_mut().filter(|r| r.sweep_dir.is_none()) {
            r.sweep_dir = Some(dir.clone());
        }
    }
    if opts.status || opts.wait.is_some() || opts.reconcile_since.is_some() {
        validate::for_slurm(&read)?;
    }
    let mut records = merge::merge(read.records);
    if records.is_empty() && !opts.jsonl {
        anyhow::bail!("no records to collect: the input is empty");
    }
    if let Some(since) = &opts.reconcile_since {
        let reconciled = reconcile::run(&opts.slurm, records.clone(), since);
        records = tolerate(&opts, reconciled, records)?;
    }
    let mut code = ExitCode::SUCCESS;
    if let Some(wait_opts) = &opts.wait {
        // With --output the file follows the wait: rewritten (atomically) at each change.
        let update = |r: &[Record]| match &opts.output {
            Some(_) => write_output(&opts, r, &read.manifest_timestamps, &|_| None),
            None => Ok(()),
        };
        let waited = wait::run(&opts.slurm, &mut records, wait_opts, update);
        code = tolerate(&opts, waited, ExitCode::FAILURE)?;
    } else if opts.status {
        let refreshed = status::refresh(&opts.slurm, &mut records, status::Scope::All)
            .map(|r| status::note_unknowable(r.unknowable));
        tolerate(&opts, refreshed, ())?;
    }
    let found = match &opts.results {
        Some((args, results_opts)) => Some(results::apply(args, results_opts, &records)?),
        None => None,
    };
    // The frontier or the table may take stdout; the manifest then goes only to --output.
    let takes_stdout = opts.results.as_ref().is_some_and(|(a, _)| a.takes_stdout());
    let written = (|| -> Result<()> {
        if !(takes_stdout && opts.output.is_none()) {
            let attach = |i: usize| found.as_ref().and_then(|f| f.results_of(i));
            write_output(&opts, &records, &read.manifest_timestamps, &attach)?;
        }
        if let Some(bytes) = found.as_ref().and_then(|f| f.stdout.as_deref()) {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
        Ok(())
    })();
    match written {
        // --wait's verdict is the point of the exit status: a reader that went away
        // (`| head -c1`) does not turn "3 of 3 jobs did not complete" into success.
        Err(e) if opts.wait.is_some() && sweep::cli::is_broken_pipe(&e) => Ok(code),
        other => other.map(|()| code),
    }
}

/// The inputs to read. The output file named as an input (`sweep-collect M - --output M`) is
/// skipped while it does not exist yet, so the same pipeline line makes the manifest and then
/// keeps it up to date.
fn inputs(opts: &Options) -> Result<Vec<PathBuf>> {
    let Some(output) = &opts.output else {
        return Ok(opts.inputs.clone());
    };
    let same =
        |p: &PathBuf| sweep::fsutil::absolute(p).ok() == sweep::fsutil::absolute(output).ok();
    let kept: Vec<PathBuf> = opts
        .inputs
        .iter()
        .filter(|p| !same(p) || p.exists())
        .cloned()
        .collect();
    if kept.is_empty() && !opts.inputs.is_empty() {
        anyhow::bail!(
            "no records to collect: {} does not exist yet and there is no other input",
            output.display()
        );
    }
    Ok(kept)
}

/// A Slurm failure fails the run, unless --allow-missing-status: then a warning, and `fallback`.
fn tolerate<T>(opts: &Options, result: Result<T>, fallback: T) -> Result<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e) if opts.allow_missing_status && e.is::<Unreachable>() => {
            sweep::cli::warn(format_args!(
                "warning: {e:#}; writing the output without job states"
            ));
            Ok(fallback)
        }
        Err(e) if e.is::<Unreachable>() => Err(e.context(
            "failed to read job states from Slurm (nothing written; --allow-missing-status writes the output without states)",
        )),
        Err(e) => Err(e),
    }
}

/// The manifest or the JSON Lines, to stdout or atomically to --output, one record at a time
/// (with results, a sweep's output can be larger than memory should hold twice); `extra`
/// gives the `results` of record `i`, if any.
fn write_output(
    opts: &Options,
    records: &[Record],
    stamps: &[String],
    extra: &dyn Fn(usize) -> Option<serde_json::Value>,
) -> Result<()> {
    let emit = |w: &mut dyn Write| -> Result<()> {
        if !opts.jsonl {
            return manifest::write(w, records, stamps, extra);
        }
        for (i, r) in records.iter().enumerate() {
            let line = crate::job::Line::of(r, extra(i));
            serde_json::to_writer(&mut *w, &line).map_err(std::io::Error::from)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    };
    match &opts.output {
        Some(path) => sweep::fsutil::write_atomic_with(path, emit),
        None => {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            emit(&mut out)?;
            Ok(out.flush()?)
        }
    }
}
