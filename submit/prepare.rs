//! Everything before the first `sbatch`: find the record files (or make them from
//! `--sweep-config`), read and check every record, then give each one its sweep directory,
//! job name, log directory, tag and rendered job script; the scripts are saved in order, each
//! before its own `sbatch`.

use crate::jobscript::{Builder, Job};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use sweep::jsonl::Input;
use sweep::record::{JobStatus, Submission};
use sweep::Record;

/// The record files to read: `paths`, or with `--sweep-config` the records that sweep-expand
/// and sweep-render made in the sweep directory (which `output_dir` then names).
pub fn inputs(
    paths: &[PathBuf],
    sweep_config: Option<&Path>,
    output_dir: &mut Option<PathBuf>,
) -> Result<Vec<PathBuf>> {
    let Some(file) = sweep_config else {
        return Ok(paths.to_vec());
    };
    let dir = match output_dir.take() {
        Some(d) => d,
        None => new_sweep_dir()?,
    };
    *output_dir = Some(dir.clone());
    Ok(vec![crate::sweepconfig::expand_and_render(file, &dir)?])
}

/// A record and where it came from (`<stdin>:7`), for messages.
pub struct Sourced {
    pub origin: String,
    pub record: Record,
}

/// Reads every record of every input and checks it; nothing is written and nothing submitted
/// until all are good. `output_dir` is the sweep directory of records without one (None: a new
/// one will be created), used here to catch two records that would share a job script.
pub fn read_all(
    paths: &[PathBuf],
    builder: &Builder,
    output_dir: Option<&Path>,
) -> Result<Vec<Sourced>> {
    let mut all = Vec::new();
    let mut seen: BTreeMap<(String, u64), String> = BTreeMap::new();
    for input in Input::open_all(paths)? {
        let name = input.name.clone();
        for item in input.records::<Record>() {
            let (line, record) = item?;
            let origin = format!("{name}:{line}");
            check(&record).with_context(|| format!("{origin}: invalid record"))?;
            for warning in builder.check(&record).with_context(|| origin.clone())? {
                sweep::cli::warn(format_args!("{origin}: warning: {warning}"));
            }
            let dir = record
                .sweep_dir
                .clone()
                .or_else(|| output_dir.map(|d| d.display().to_string()))
                .unwrap_or_default();
            if let Some(first) = seen.insert((dir, record.index), origin.clone()) {
                bail!(
                    "{origin}: record index {} appears twice for the same sweep directory (first at {first}): it would be submitted twice",
                    record.index
                );
            }
            all.push(Sourced { origin, record });
        }
    }
    Ok(all)
}

/// Gives every record without a sweep_dir `--output-dir`, or one new directory for the run.
pub fn set_sweep_dirs(records: &mut [Sourced], output_dir: Option<PathBuf>) -> Result<()> {
    if records.iter().all(|s| s.record.sweep_dir.is_some()) {
        return Ok(());
    }
    let dir = match output_dir {
        Some(d) => d,
        None => new_sweep_dir()?,
    };
    let dir = dir.display().to_string();
    for s in records.iter_mut().filter(|s| s.record.sweep_dir.is_none()) {
        s.record.sweep_dir = Some(dir.clone());
    }
    Ok(())
}

/// A new `./sweep_YYYYMMDD_HHMMSS`, never shared with another run.
fn new_sweep_dir() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    sweep::fsutil::create_sweep_dir(&cwd)
}

/// What submission needs from a record beyond its shape: an id fit for a tag, an absolute
/// sweep directory.
fn check(r: &Record) -> Result<()> {
    if r.id.is_empty()
        || !r
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("id {:?} must be letters, digits, '_' or '-'", r.id);
    }
    if let Some(dir) = &r.sweep_dir {
        if !Path::new(dir).is_absolute() {
            bail!("sweep_dir {dir:?} is not an absolute path");
        }
    }
    Ok(())
}

/// Fixed for the whole run: how jobs are named and laid out, and the `sbatch` command.
pub struct Plan<'a> {
    pub builder: &'a Builder,
    /// `--job-name`: jobs are `{job_name}_sweep{index}`.
    pub job_name: &'a str,
    /// `--log-dir`, absolute.
    pub log_dir: Option<PathBuf>,
    /// The `sbatch` program, as it will be called.
    pub sbatch: String,
    /// `--sbatch-arg`s, in order.
    pub sbatch_args: &'a [String],
}

impl Plan<'_> {
    /// Fills in the submit fields of `r` (whose `sweep_dir` is set) and creates its log
    /// directory; `sbatch_command` is the command that submits it. Returns the job script to
    /// save (see [`save_in_order`]).
    pub fn prepare(&self, r: &mut Record) -> Result<Script> {
        let sweep_dir = PathBuf::from(r.sweep_dir.as_deref().expect("sweep_dir set"));
        let job_name = format!("{}_sweep{}", self.job_name, r.index);
        let log_dir = match &self.log_dir {
            // A shared --log-dir gets one folder per sweep, so sweeps never mix their logs.
            Some(base) => base
                .join(sweep_dir.file_name().unwrap_or_default())
                .join(&job_name),
            None => sweep_dir.join("logs").join(&job_name),
        };
        for dir in [&sweep_dir, &log_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create directory {}", dir.display()))?;
        }
        let script_path = sweep_dir.join(format!("job_{}.sh", r.index));
        let tag = sweep::tag::format(
            &sweep::tag::sweep_key(&sweep_dir.display().to_string()),
            &r.id,
            r.index,
        );
        start_over(r);
        let text = self.builder.render(&Job {
            record: r,
            job_name: &job_name,
            sweep_dir: &sweep_dir,
            log_dir: &log_dir,
            script_path: &script_path,
            tag: &tag,
        })?;
        let argv = self.argv(&tag, &[], &script_path.display().to_string());
        r.job_name = Some(job_name);
        r.job_script = Some(script_path.display().to_string());
        r.log_dir = Some(log_dir.display().to_string());
        r.tag = Some(tag);
        r.sbatch_command = Some(argv);
        Ok(Script {
            path: script_path,
            text,
        })
    }

    /// `sbatch --parsable --comment=TAG [dependency] SBATCH_ARGS... SCRIPT`. A `--retries`
    /// follow-up runs only if every job in `after_not_ok` failed, and Slurm cancels it
    /// (`--kill-on-invalid-dep=yes`) as soon as one of them succeeds, instead of leaving it
    /// pending forever with `DependencyNeverSatisfied`.
    pub fn argv(&self, tag: &str, after_not_ok: &[String], script: &str) -> Vec<String> {
        let mut argv = vec![
            self.sbatch.clone(),
            "--parsable".to_string(),
            format!("--comment={tag}"),
        ];
        if !after_not_ok.is_empty() {
            argv.push(format!(
                "--dependency=afternotok:{}",
                after_not_ok.join(":")
            ));
            argv.push("--kill-on-invalid-dep=yes".to_string());
        }
        argv.extend(self.sbatch_args.iter().cloned());
        argv.push(script.to_string());
        argv
    }
}

/// A job script to be saved.
pub struct Script {
    pub path: PathBuf,
    pub text: String,
}

/// One result per saved job script, in order (see [`save_in_order`]).
pub type Saved = mpsc::Receiver<Result<()>>;

/// Saves the scripts in order on a thread of its own, each atomically (complete or absent,
/// synced to disk); the receiver yields one result per script, in order. Submission waits for
/// a script's result before its `sbatch`, so saving runs ahead, overlapped with the `sbatch`
/// calls: a sync can cost as much as the `sbatch` call itself.
pub fn save_in_order(scripts: Vec<Script>) -> Saved {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in scripts {
            if tx
                .send(sweep::fsutil::write_atomic(&s.path, s.text.as_bytes()))
                .is_err()
            {
                return; // nobody waits any more
            }
        }
    });
    rx
}

/// A record submitted before (it has a `job_id`, from a manifest) keeps that submission in
/// `history`; the fields of the old submission and its collected state are cleared.
fn start_over(r: &mut Record) {
    if let Some(job_id) = r.job_id.take() {
        r.history.push(Submission {
            job_id,
            submitted_at: r.submitted_at.take(),
            retry_job_ids: std::mem::take(&mut r.retry_job_ids),
            state: r.status.state.take(),
        });
    }
    r.status = JobStatus::default();
    r.submitted_at = None;
    r.retry_job_ids.clear();
    r.cluster = None;
    r.submit_status = None;
    r.submit_error = None;
    // sweep-collect --reconcile's mark: it was about the old submission.
    r.extra.shift_remove("reconciled");
}
