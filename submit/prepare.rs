//! Everything before the first `sbatch`: find the record files (or make them from
//! `--sweep-config`), read and check every record, give each one its sweep directory and its
//! number there, then its job name, log directory, tag and rendered job script; the scripts
//! are saved in order, each before its own `sbatch`.

use crate::jobscript::{Builder, Job};
use crate::options::JobOptions;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use sweep::record::{JobStatus, Submission};
use sweep::Record;

/// A record and where it came from (`<stdin>:7`), for messages.
pub struct Sourced {
    pub origin: String,
    pub record: Record,
}

/// What submission needs from a record beyond its shape: an id fit for a tag, an absolute
/// sweep directory, and the config file of its SGLang values.
pub fn check(r: &Record) -> Result<()> {
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
    if r.has_sglang() && r.config_path.is_none() {
        bail!(
            "index {}: the record has SGLang values but no config_path, so every job would run the same engine config; pipe the records through sweep-render first (sweep-expand FILE | sweep-render --out-dir DIR | sweep-submit ...)",
            r.index
        );
    }
    Ok(())
}

/// Where a record's job script is saved: `<sweep dir>/job_{index}.sh`, the seed's name. A dry
/// run never replaces the script of a submitted job: it writes `job_{index}.dry-run.sh` when
/// the combination was submitted before.
pub fn script_path(sweep_dir: &Path, index: u64, dry_run_beside_a_job: bool) -> PathBuf {
    if dry_run_beside_a_job {
        sweep_dir.join(format!("job_{index}.dry-run.sh"))
    } else {
        sweep_dir.join(format!("job_{index}.sh"))
    }
}

/// Where a replaced job script is kept: `<sweep dir>/history/job_{index}.{job_id}.sh`.
pub fn kept_script_path(sweep_dir: &Path, index: u64, job_id: &str) -> PathBuf {
    sweep_dir
        .join("history")
        .join(format!("job_{index}.{job_id}.sh"))
}

/// Fixed for the whole run: the `sbatch` command.
pub struct Plan {
    /// The `sbatch` program, as it will be called.
    pub sbatch: String,
}

impl Plan {
    /// Fills in the submit fields of `r` (whose `sweep_dir` is set) for a job made with
    /// `options` by `builder`, and creates its log directory when `make_dirs`;
    /// `sbatch_command` is the command that submits it. Returns the job script to save (see
    /// [`Saver`]).
    pub fn prepare(
        &self,
        r: &mut Record,
        options: &JobOptions,
        builder: &Builder,
        dry_run_beside_a_job: bool,
        make_dirs: bool,
    ) -> Result<Script> {
        let sweep_dir = PathBuf::from(r.sweep_dir.as_deref().expect("sweep_dir set"));
        let job_name = format!("{}_sweep{}", options.job_name, r.index);
        let log_dir = match &options.log_dir {
            // A shared --log-dir gets one folder per sweep, so sweeps never mix their logs.
            Some(base) => base
                .join(sweep_dir.file_name().unwrap_or_default())
                .join(&job_name),
            None => sweep_dir.join("logs").join(&job_name),
        };
        // The checking pass renders without creating anything; the submission pass creates
        // the log directory before the job script is saved (and so before its sbatch).
        for dir in [&sweep_dir, &log_dir].into_iter().filter(|_| make_dirs) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create directory {}", dir.display()))?;
        }
        let script_path = script_path(&sweep_dir, r.index, dry_run_beside_a_job);
        let tag = sweep::tag::format(
            &sweep::tag::sweep_key(&sweep_dir.display().to_string()),
            &r.id,
            r.index,
        );
        start_over(r);
        // The script this one replaces belongs to the latest earlier submission: it is kept,
        // and that submission's history entry says where.
        let mut keep_old = None;
        if let Some(h) = r.history.last_mut() {
            if !dry_run_beside_a_job && h.job_script.is_none() && script_path.is_file() {
                let kept = kept_script_path(&sweep_dir, r.index, &h.job_id);
                h.job_script = Some(kept.display().to_string());
                keep_old = Some(kept);
            }
        }
        let text = builder.render(&Job {
            record: r,
            job_name: &job_name,
            sweep_dir: &sweep_dir,
            log_dir: &log_dir,
            script_path: &script_path,
            tag: &tag,
        })?;
        let argv = self.argv(options, &tag, &[], &script_path.display().to_string());
        r.job_name = Some(job_name);
        r.job_script = Some(script_path.display().to_string());
        r.log_dir = Some(log_dir.display().to_string());
        // Recorded so that results can be put per GPU (sweep-collect --results).
        r.gpus_per_node = Some(u64::from(options.gpus_per_node));
        r.tag = Some(tag);
        r.sbatch_command = Some(argv);
        Ok(Script {
            path: script_path,
            text,
            keep_old,
        })
    }

    /// `sbatch --parsable --hold --comment=TAG [dependency] SBATCH_ARGS... SCRIPT`. Every job
    /// is submitted held and released once this run knows its ID (see docs/sweep-submit.md,
    /// "Nothing lost, never twice"). A `--retries` follow-up runs only if every job in `after_not_ok` failed, and
    /// Slurm cancels it (`--kill-on-invalid-dep=yes`) as soon as one of them succeeds, instead
    /// of leaving it pending forever with `DependencyNeverSatisfied`.
    pub fn argv(
        &self,
        options: &JobOptions,
        tag: &str,
        after_not_ok: &[String],
        script: &str,
    ) -> Vec<String> {
        let mut argv = vec![
            self.sbatch.clone(),
            "--parsable".to_string(),
            "--hold".to_string(),
            format!("--comment={tag}"),
        ];
        if !after_not_ok.is_empty() {
            argv.push(format!(
                "--dependency=afternotok:{}",
                after_not_ok.join(":")
            ));
            argv.push("--kill-on-invalid-dep=yes".to_string());
        }
        argv.extend(options.sbatch_args.iter().cloned());
        argv.push(script.to_string());
        argv
    }
}

/// True when the user asked for the jobs to stay held (`--sbatch-arg=--hold`): this run then
/// never releases them.
pub fn user_holds(options: &JobOptions) -> bool {
    options
        .sbatch_args
        .iter()
        .any(|a| a == "--hold" || a == "-H")
}

/// A job script to be saved.
pub struct Script {
    pub path: PathBuf,
    pub text: String,
    /// Where the script it replaces (a re-submitted combination's) is kept first.
    pub keep_old: Option<PathBuf>,
}

/// Saves job scripts in order on a thread of its own, each atomically (complete or absent,
/// synced to disk), while the run goes on: a sync can cost as much as an `sbatch` call, so
/// saving runs ahead, overlapped with the calls. At most [`Saver::AHEAD`] scripts wait to be
/// saved, so memory does not grow with the number of records.
pub struct Saver {
    tx: Option<mpsc::SyncSender<Script>>,
    rx: mpsc::Receiver<Result<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Saver {
    /// Scripts handed over and not yet saved, at most.
    pub const AHEAD: usize = 32;

    pub fn new() -> Saver {
        let (tx, scripts) = mpsc::sync_channel::<Script>(Self::AHEAD);
        let (done, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            for s in scripts {
                let saved =
                    keep(&s).and_then(|()| sweep::fsutil::write_atomic(&s.path, s.text.as_bytes()));
                if done.send(saved).is_err() {
                    return; // nobody waits any more
                }
            }
        });
        Saver {
            tx: Some(tx),
            rx,
            thread: Some(thread),
        }
    }

    /// Hands a script over (waits while [`Saver::AHEAD`] are waiting).
    pub fn save(&self, script: Script) -> Result<()> {
        self.tx
            .as_ref()
            .expect("open")
            .send(script)
            .map_err(|_| anyhow::anyhow!("the job-script writer stopped"))
    }

    /// The result of the next script handed over, in order.
    pub fn saved(&self) -> Result<()> {
        self.rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the job-script writer stopped"))?
    }

    /// Lets the writer finish the scripts handed over (a run that stopped early): every
    /// record's job script exists, and no temporary file is left behind.
    pub fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the script a re-submission replaces to where its job's history entry says.
fn keep(s: &Script) -> Result<()> {
    let Some(kept) = &s.keep_old else {
        return Ok(());
    };
    if !s.path.is_file() || kept.exists() {
        return Ok(());
    }
    let dir = kept.parent().expect("in history/");
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;
    std::fs::rename(&s.path, kept)
        .with_context(|| format!("failed to keep {} as {}", s.path.display(), kept.display()))
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
            job_script: None,
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
    // sweep-collect --results' points: they were the old jobs' results.
    r.extra.shift_remove("results");
}
