//! The whole collection: read and merge the inputs, optionally reconcile with Slurm, add job
//! states (once, or polling until every job ended) and the cause of each failure, or cancel
//! every job; then write the manifest (to `--output`, or back into the one manifest read) and
//! show the table, one job, the manifest or the JSON Lines on stdout.

use crate::{
    cancel, failure, input, manifest, merge, onejob, reconcile, results, status, table, validate,
    wait,
};
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::slurm::{Slurm, Unreachable};
use sweep::Record;

/// What stdout gets (and, for json and jsonl, what --output gets).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// The human view: a table (or one job's details with --job); files get the manifest.
    Table,
    /// The manifest, pretty-printed JSON.
    Json,
    /// The merged records, JSON Lines.
    Jsonl,
}

/// What to collect and how (sweep-collect's options, checked).
pub struct Options {
    /// Record streams and manifests; none or `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// Write here atomically instead of stdout.
    pub output: Option<PathBuf>,
    /// What stdout gets.
    pub format: Format,
    /// Add each job's state once.
    pub status: bool,
    /// Cancel every job the inputs name, then show their states.
    pub cancel: bool,
    /// Show this job only.
    pub job: Option<String>,
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

impl Options {
    /// True when this run asks Slurm or reads results: what updates a manifest in place.
    fn updates(&self) -> bool {
        self.status
            || self.cancel
            || self.wait.is_some()
            || self.reconcile_since.is_some()
            || self.results.is_some()
    }
}

/// Where the data goes besides stdout: `--output`, or the one manifest read, updated in place.
struct Target {
    path: PathBuf,
    /// The manifest given as the only input: always written as a manifest, and said.
    in_place: bool,
}

/// Collects; the exit code is --wait's or --cancel's verdict (success otherwise).
pub fn run(opts: Options) -> Result<ExitCode> {
    let mut read = input::read_all(&inputs(&opts)?)?;
    if let Some(dir) = &opts.sweep_dir {
        for r in read.records.iter_mut().filter(|r| r.sweep_dir.is_none()) {
            r.sweep_dir = Some(dir.clone());
        }
    }
    if opts.status || opts.cancel || opts.wait.is_some() || opts.reconcile_since.is_some() {
        validate::for_slurm(&read)?;
    }
    let target = target(&opts, &read);
    let mut records = merge::merge(read.records);
    if records.is_empty() && opts.format != Format::Jsonl {
        anyhow::bail!("no records to collect: the input is empty");
    }
    if let Some(id) = &opts.job {
        onejob::find(&records, id)?;
    }
    if let Some(since) = &opts.reconcile_since {
        let reconciled = reconcile::run(&opts.slurm, records.clone(), since);
        records = tolerate(&opts, reconciled, records)?;
    }
    let stamps = &read.manifest_timestamps;
    let mut code = ExitCode::SUCCESS;
    if opts.cancel {
        let cancelled = cancel::run(&opts.slurm, &mut records, opts.wait.as_ref());
        code = tolerate(&opts, cancelled, ExitCode::FAILURE)?;
        failure::fill(&mut records);
    } else if let Some(wait_opts) = &opts.wait {
        // The file follows the wait: rewritten (atomically) at each change.
        let update = |r: &[Record]| match &target {
            Some(t) => write_file(&opts, t, r, stamps, &|_| None),
            None => Ok(()),
        };
        let waited = wait::run(&opts.slurm, &mut records, wait_opts, update);
        code = tolerate(&opts, waited, ExitCode::FAILURE)?;
        failure::fill(&mut records);
    } else if opts.status {
        let refreshed = status::refresh(&opts.slurm, &mut records, status::Scope::All)
            .map(|r| status::note_unknowable(r.unknowable));
        tolerate(&opts, refreshed, ())?;
        failure::fill(&mut records);
    }
    let found = match &opts.results {
        Some((args, results_opts)) => Some(results::apply(args, results_opts, &records)?),
        None => None,
    };
    let written = (|| -> Result<()> {
        let attach = |i: usize| found.as_ref().and_then(|f| f.results_of(i));
        if let Some(t) = &target {
            write_file(&opts, t, &records, stamps, &attach)?;
            if t.in_place {
                sweep::cli::warn(format_args!("updated {}", t.path.display()));
            }
        }
        // The frontier or the table may take stdout.
        if opts.results.as_ref().is_some_and(|(a, _)| a.takes_stdout()) {
            let bytes = found.as_ref().and_then(|f| f.stdout.as_deref());
            let mut out = std::io::stdout().lock();
            out.write_all(bytes.unwrap_or_default())?;
            return Ok(out.flush()?);
        }
        match (&opts.job, opts.format) {
            (Some(id), format) => onejob::show(&records, id, format == Format::Table),
            (None, Format::Table) => table::show(&records),
            // --output takes the data; stdout gets it only without one.
            (None, _) if opts.output.is_some() => Ok(()),
            (None, _) => write_stdout(&opts, &records, stamps, &attach),
        }
    })();
    match written {
        // --wait's verdict is the point of the exit status: a reader that went away
        // (`| head -c1`) does not turn "3 of 3 jobs did not complete" into success.
        Err(e) if (opts.wait.is_some() || opts.cancel) && sweep::cli::is_broken_pipe(&e) => {
            Ok(code)
        }
        other => other.map(|()| code),
    }
}

/// `--output`, or the manifest that is the only input when this run updates it: exactly one
/// input, a file holding one manifest and nothing else, no `--output`, and not JSON Lines.
fn target(opts: &Options, read: &input::Collected) -> Option<Target> {
    if let Some(path) = &opts.output {
        return Some(Target {
            path: path.clone(),
            in_place: false,
        });
    }
    let [only] = opts.inputs.as_slice() else {
        return None;
    };
    // JSON Lines on stdout are records piped onward (`| jq | sweep-submit | sweep-collect M -
    // --output M`): the pipeline's last stage writes the manifest, and a second writer of M
    // in the same pipeline would race it.
    let piped_on = opts.format == Format::Jsonl;
    (opts.updates() && !piped_on && read.sole_manifest && only.as_os_str() != "-").then(|| Target {
        path: only.clone(),
        in_place: true,
    })
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

/// The manifest or the JSON Lines, one record at a time (with results, a sweep's output can
/// be larger than memory should hold twice); `extra` gives the `results` of record `i`, if any.
fn emit(
    w: &mut dyn Write,
    jsonl: bool,
    records: &[Record],
    stamps: &[String],
    extra: &dyn Fn(usize) -> Option<serde_json::Value>,
) -> Result<()> {
    if !jsonl {
        return manifest::write(w, records, stamps, extra);
    }
    for (i, r) in records.iter().enumerate() {
        let line = crate::job::Line::of(r, extra(i));
        serde_json::to_writer(&mut *w, &line).map_err(std::io::Error::from)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Atomically into the target: JSON Lines with `--output` and `--format jsonl`, else the
/// manifest (a manifest updated in place stays a manifest).
fn write_file(
    opts: &Options,
    target: &Target,
    records: &[Record],
    stamps: &[String],
    extra: &dyn Fn(usize) -> Option<serde_json::Value>,
) -> Result<()> {
    let jsonl = opts.format == Format::Jsonl && !target.in_place;
    sweep::fsutil::write_atomic_with(&target.path, |w| emit(w, jsonl, records, stamps, extra))
}

/// The manifest or the JSON Lines on stdout.
fn write_stdout(
    opts: &Options,
    records: &[Record],
    stamps: &[String],
    extra: &dyn Fn(usize) -> Option<serde_json::Value>,
) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    emit(
        &mut out,
        opts.format == Format::Jsonl,
        records,
        stamps,
        extra,
    )?;
    Ok(out.flush()?)
}
