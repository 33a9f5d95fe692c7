//! The whole collection: read and merge the inputs, optionally reconcile with Slurm, add job
//! states (once, or polling until every job ended) and the cause of each failure, or cancel
//! every job; then write the manifest (to `--output`, or back into the one manifest read) and
//! show the table, one job, the manifest or the JSON Lines on stdout.
//!
//! A run that only merges holds each record as its compact text ([`Compact`]), from reading
//! to writing: merging a sweep's streams into its manifest keeps less than the manifest's
//! size in memory. A run that looks into the records (Slurm, results, the table, one job)
//! holds them as [`Record`]s, each made text as it is written.

use crate::compact::{Compact, Writable};
use crate::input::{self, Reading};
use crate::update::{self, Mergeable, Watched};
use crate::{cancel, failure, manifest, merge, onejob, overview, reconcile, results, status, wait};
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
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

/// What the run does with Slurm's jobs (one of them).
pub enum Action {
    /// Nothing: merge the inputs.
    Merge,
    /// Add each job's state once (`--status`).
    Status,
    /// Poll until every job is in a final state (`--wait`).
    Wait(wait::Options),
    /// Cancel every job the inputs name, then show their states (`--cancel`); give them
    /// `timeout` to end (default: a minute).
    Cancel { timeout: Option<Duration> },
}

/// What to collect and how (sweep-collect's options, checked).
pub struct Options {
    /// Record streams and manifests; none or `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// Which records stdout and `--output` get (`--state`, `--sweep`); a manifest updated in
    /// place keeps every one.
    pub select: crate::select::Select,
    /// Write here atomically instead of stdout.
    pub output: Option<PathBuf>,
    /// What stdout gets.
    pub format: Format,
    pub action: Action,
    /// Show this job only.
    pub job: Option<String>,
    /// The sweep directory of records that have none.
    pub sweep_dir: Option<String>,
    /// `--reconcile`, searching accounting back to this time (`sacct --starttime`).
    pub reconcile_since: Option<String>,
    /// Slurm unreachable: write the output without states (a warning) instead of failing.
    pub allow_missing_status: bool,
    /// `--trust-job-ids`: records without a tag take the state of, and cancel, whatever job
    /// their job IDs name (Slurm cannot say whose it is).
    pub trust_job_ids: bool,
    /// The Slurm commands and their deadline.
    pub slurm: Slurm,
    /// `--results` and its companions, when asked for.
    pub results: Option<results::Options>,
}

impl Options {
    /// True when this run asks Slurm (what it passes on is checked first).
    fn talks_to_slurm(&self) -> bool {
        !matches!(self.action, Action::Merge) || self.reconcile_since.is_some()
    }

    /// True when this run adds to what the records know (Slurm or results): what updates a
    /// manifest in place.
    fn updates(&self) -> bool {
        self.talks_to_slurm() || self.results.is_some()
    }

    /// True when this run looks into the records beyond merging them.
    fn opens_records(&self) -> bool {
        self.updates()
            || self.job.is_some()
            || self.format == Format::Table
            || !self.select.is_empty()
    }
}

/// Where the data goes besides stdout: `--output`, or the one manifest read, updated in place.
struct Target {
    path: PathBuf,
    /// The manifest given as the only input: always written as a manifest, and said.
    in_place: bool,
    /// The file as this run read it, when it is one of the inputs (in place, or `--output M`
    /// naming an input): written under a lock, merged first with what another run wrote
    /// there meanwhile ([`update`]).
    watched: Option<Watched>,
}

/// Collects; the exit code is --wait's or --cancel's verdict (success otherwise).
pub fn run(opts: Options) -> Result<ExitCode> {
    let paths = inputs(&opts)?;
    let reading = Reading {
        sweep_dir: opts.sweep_dir.clone(),
        for_slurm: opts.talks_to_slurm(),
    };
    // The files this run may write back, as they are before it reads them.
    let watched: Vec<Watched> = paths.iter().map(|p| Watched::now(p)).collect();
    let target = |sole_manifest| with_watch(target(&opts, sole_manifest), &paths, &watched);
    if !opts.opens_records() {
        // Merging only: each record kept as its text, from reading to writing.
        let read = input::read_all(&paths, &reading, &|r| Compact::of(&r))?;
        let target = target(read.sole_manifest);
        let records = merge::merge_compact(read.records)?;
        not_empty(&opts, records.len())?;
        let stamps = &read.manifest_timestamps;
        return output(&opts, &target, &records, stamps, None, None).map(|()| ExitCode::SUCCESS);
    }
    let read = input::read_all(&paths, &reading, &Ok)?;
    let target = target(read.sole_manifest);
    // The sweeps in the order the inputs name them: the first is the baseline of comparisons.
    let mut sweep_order: Vec<Option<String>> = Vec::new();
    if opts.results.is_some() {
        for r in &read.records {
            if !sweep_order.contains(&r.sweep_dir) {
                sweep_order.push(r.sweep_dir.clone());
            }
        }
    }
    let mut records = merge::merge(read.records);
    not_empty(&opts, records.len())?;
    let stamps = &read.manifest_timestamps;
    let mut code = act(&opts, &mut records, &target, stamps)?;
    if matches!(opts.action, Action::Wait(_))
        && opts
            .results
            .as_ref()
            .is_some_and(|r| r.next_round.is_some())
    {
        // A search waits for its round to end; a job that failed is part of its answer (its
        // combination is reported), not a failure of the run. Only a timeout is.
        code = match records.iter().all(status::settled) {
            true => ExitCode::SUCCESS,
            false => ExitCode::FAILURE,
        };
    }
    let found = match &opts.results {
        Some(results_opts) => Some(results::apply(results_opts, &records, &sweep_order)?),
        None => None,
    };
    let written = output(
        &opts,
        &target,
        &records,
        stamps,
        found.as_ref(),
        Some(&records),
    );
    let verdict = matches!(opts.action, Action::Wait(_) | Action::Cancel { .. });
    match written {
        // --wait's verdict is the point of the exit status: a reader that went away
        // (`| head -c1`) does not turn "3 of 3 jobs did not complete" into success.
        Err(e) if verdict && sweep::cli::is_broken_pipe(&e) => Ok(code),
        other => other.map(|()| code),
    }
}

/// An empty input is an error, but for JSON Lines (an empty stream out).
fn not_empty(opts: &Options, records: usize) -> Result<()> {
    if records == 0 && opts.format != Format::Jsonl {
        anyhow::bail!("no records to collect: the input is empty");
    }
    Ok(())
}

/// Writes the target file, then stdout: the frontier or the table of `--results` when they
/// take it, one job or the table of `views` (the records of a run that looked into them),
/// or the manifest or JSON Lines (unless `--output` took them).
fn output<T: Writable + Mergeable>(
    opts: &Options,
    target: &Option<Target>,
    records: &[T],
    stamps: &[String],
    found: Option<&results::Applied>,
    views: Option<&[Record]>,
) -> Result<()> {
    let attach = |i: usize| found.and_then(|f| f.results_of(i));
    // --state, --sweep: the records stdout and --output get (a manifest updated in place
    // keeps them all). They are chosen among the records this run looked into.
    let chosen: Vec<usize> = match views {
        Some(v) if !opts.select.is_empty() => {
            (0..v.len()).filter(|&i| opts.select.keeps(&v[i])).collect()
        }
        _ => (0..records.len()).collect(),
    };
    let subset: Vec<&T> = chosen.iter().map(|&i| &records[i]).collect();
    let attach_chosen = |j: usize| attach(chosen[j]);
    if let Some(t) = target {
        match opts.select.is_empty() || t.in_place {
            true => write_file(opts, t, records, stamps, &attach)?,
            // Chosen records to an --output that is no input (one that is, is refused with
            // --state and --sweep): written as they are, with nothing to merge first.
            false => {
                let jsonl = opts.format == Format::Jsonl;
                sweep::fsutil::write_atomic_with(&t.path, |w| {
                    emit(w, jsonl, &subset, stamps, &attach_chosen)
                })?
            }
        }
        if t.in_place {
            sweep::cli::warn(format_args!("updated {}", t.path.display()));
        }
    }
    if opts
        .results
        .as_ref()
        .is_some_and(results::Options::takes_stdout)
    {
        let bytes = found.and_then(|f| f.stdout.as_deref());
        let mut out = std::io::stdout().lock();
        out.write_all(bytes.unwrap_or_default())?;
        return Ok(out.flush()?);
    }
    let views = views.unwrap_or_default();
    match (&opts.job, opts.format) {
        (Some(id), format) => onejob::show(views, id, format == Format::Table),
        (None, Format::Table) => {
            let shown: Vec<&Record> = match views.len() == records.len() {
                true => chosen.iter().map(|&i| &views[i]).collect(),
                false => views.iter().collect(),
            };
            overview::show(&shown)
        }
        // --output takes the data; stdout gets it only without one.
        (None, _) if opts.output.is_some() => Ok(()),
        (None, _) => write_stdout(opts, &subset, stamps, &attach_chosen),
    }
}

/// What the run does to the records before they are written: `--job` looked up, then
/// `--reconcile`, then the action, each failure's cause added after it. The exit code is
/// `--wait`'s or `--cancel`'s verdict.
fn act(
    opts: &Options,
    records: &mut Vec<Record>,
    target: &Option<Target>,
    stamps: &[String],
) -> Result<ExitCode> {
    if let Some(id) = &opts.job {
        onejob::find(records, id)?;
        onejob::note_reused(records, id);
    }
    if let Some(since) = &opts.reconcile_since {
        let reconciled = reconcile::run(&opts.slurm, records.clone(), since);
        *records = tolerate(opts, reconciled, std::mem::take(records))?;
    }
    let code = match &opts.action {
        Action::Merge => return Ok(ExitCode::SUCCESS),
        Action::Cancel { timeout } => {
            let cancelled = cancel::run(&opts.slurm, records, *timeout, opts.trust_job_ids);
            tolerate(opts, cancelled, ExitCode::FAILURE)?
        }
        Action::Wait(wait_opts) => {
            // The file follows the wait: rewritten (atomically) at each change.
            let update = |r: &[Record]| match target {
                Some(t) => write_file(opts, t, r, stamps, &|_| None),
                None => Ok(()),
            };
            let waited = wait::run(&opts.slurm, records, wait_opts, opts.trust_job_ids, update);
            tolerate(opts, waited, ExitCode::FAILURE)?
        }
        Action::Status => {
            let refreshed =
                status::refresh(&opts.slurm, records, status::Scope::All, opts.trust_job_ids)
                    .map(|r| r.note());
            tolerate(opts, refreshed, ())?;
            ExitCode::SUCCESS
        }
    };
    failure::fill(records);
    Ok(code)
}

/// The target with the version of it this run read, when it is one of the inputs `paths`.
fn with_watch(target: Option<Target>, paths: &[PathBuf], watched: &[Watched]) -> Option<Target> {
    let mut t = target?;
    let abs = |p: &PathBuf| sweep::fsutil::absolute(p).ok();
    let me = abs(&t.path);
    t.watched = paths
        .iter()
        .position(|p| p.as_os_str() != "-" && abs(p) == me)
        .map(|i| Watched::now_as(&watched[i]));
    Some(t)
}

/// `--output`, or the manifest that is the only input when this run updates it: exactly one
/// input, a file holding one manifest and nothing else, no `--output`, and not JSON Lines.
fn target(opts: &Options, sole_manifest: bool) -> Option<Target> {
    if let Some(path) = &opts.output {
        return Some(Target {
            path: path.clone(),
            in_place: false,
            watched: None,
        });
    }
    let [only] = opts.inputs.as_slice() else {
        return None;
    };
    // JSON Lines on stdout are records piped onward (`| jq | sweep-submit | sweep-collect M -
    // --output M`): the pipeline's last stage writes the manifest, and a second writer of M
    // in the same pipeline would race it.
    let piped_on = opts.format == Format::Jsonl;
    (opts.updates() && !piped_on && sole_manifest && only.as_os_str() != "-").then(|| Target {
        path: only.clone(),
        in_place: true,
        watched: None,
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
fn emit<T: Writable>(
    w: &mut dyn Write,
    jsonl: bool,
    records: &[T],
    stamps: &[String],
    extra: &dyn Fn(usize) -> Option<serde_json::Value>,
) -> Result<()> {
    if !jsonl {
        return manifest::write(w, records, stamps, extra);
    }
    for (i, r) in records.iter().enumerate() {
        r.compact()?.write_line(w, extra(i).as_ref())?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Atomically into the target: JSON Lines with `--output` and `--format jsonl`, else the
/// manifest (a manifest updated in place stays a manifest). A target that was an input is
/// written under its lock, merged first with what another run wrote there meanwhile.
fn write_file<T: Writable + Mergeable>(
    opts: &Options,
    target: &Target,
    records: &[T],
    stamps: &[String],
    extra: &dyn Fn(usize) -> Option<serde_json::Value>,
) -> Result<()> {
    let jsonl = opts.format == Format::Jsonl && !target.in_place;
    let Some(watched) = &target.watched else {
        return sweep::fsutil::write_atomic_with(&target.path, |w| {
            emit(w, jsonl, records, stamps, extra)
        });
    };
    let how = Reading {
        sweep_dir: opts.sweep_dir.clone(),
        for_slurm: false,
    };
    update::write(watched, records, &how, |u| {
        let mut all_stamps = stamps.to_vec();
        all_stamps.extend(u.stamps.iter().cloned());
        let extra = |i: usize| u.own[i].and_then(extra);
        sweep::fsutil::write_atomic_with(&target.path, |w| {
            emit(w, jsonl, &u.records, &all_stamps, &extra)
        })
    })
}

/// The manifest or the JSON Lines on stdout.
fn write_stdout<T: Writable>(
    opts: &Options,
    records: &[T],
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
