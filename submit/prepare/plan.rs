//! A record's job, made ready: its job name, log directory, tag, `sbatch` command line and
//! rendered job script ([`Plan::prepare`] makes a [`PreparedJob`]); the scripts are saved in
//! order by [`Saver`], each before its own `sbatch`.

use crate::jobscript::{Builder, Job};
use crate::prepare::options::JobOptions;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use sweep::Record;

/// Where a record's job script is saved: `<sweep dir>/job_{index}.sh`, the seed's name; in a
/// dry run, which writes nothing into a sweep directory, `<preview>/<sweep key>/job_{index}.sh`.
pub fn script_path(sweep_dir: &Path, index: u64, preview: Option<&Path>) -> PathBuf {
    let name = format!("job_{index}.sh");
    match preview {
        Some(p) => p
            .join(sweep::tag::sweep_key(&sweep_dir.display().to_string()))
            .join(name),
        None => sweep_dir.join(name),
    }
}

/// Where a replaced job script is kept: `<sweep dir>/history/job_{index}.{job_id}.sh`.
pub fn kept_script_path(sweep_dir: &Path, index: u64, job_id: &str) -> PathBuf {
    sweep_dir
        .join("history")
        .join(format!("job_{index}.{job_id}.sh"))
}

/// Fixed for the whole run: the `sbatch` command, and where the scripts go.
pub struct Plan {
    /// The `sbatch` program, as it will be called.
    pub sbatch: String,
    /// `--dry-run`: the directory the job scripts are saved in instead of their sweep
    /// directories (which a dry run leaves as they are), one folder per sweep.
    pub preview: Option<PathBuf>,
    /// The configs are not rendered this time (`--sweep-config` in a plan or a dry run): the
    /// records name the files sweep-render would make.
    pub configs_unrendered: bool,
}

/// What the `sbatch` of one record needs, made from the record and its options (its job
/// script, to be saved before the `sbatch`, comes beside it: see [`Plan::prepare`]).
pub struct PreparedJob {
    /// `sbatch_command`: the command that submits it.
    pub argv: Vec<String>,
    /// The job's `--comment` tag.
    pub tag: String,
    /// Where its job script is saved (the follow-ups' command lines name it too).
    pub script: String,
}

impl Plan {
    /// Fills in the submit fields of `r` (placed in the sweep directory `dir`, whose tags
    /// have its key) for a job made with
    /// `options` by `builder`: job name, job script, log directory, tag, GPUs per node and
    /// `sbatch_command`; the submission it replaces goes to `history`. Creates nothing on
    /// disk (the checking pass prepares every record): the job script comes back with the
    /// job, to be saved by a [`Saver`] after [`Script::make_dirs`].
    pub fn prepare(
        &self,
        r: &mut Record,
        dir: &crate::sweeps::Dir,
        options: &JobOptions,
        builder: &Builder,
    ) -> Result<(PreparedJob, Script)> {
        let (sweep_dir, sweep_key) = (dir.path.as_path(), dir.key.as_str());
        let job_name = format!("{}_sweep{}", options.job_name, r.index);
        let log_dir = match &options.log_dir {
            // A shared --log-dir gets one folder per sweep, so sweeps never mix their logs.
            Some(base) => base
                .join(sweep_dir.file_name().unwrap_or_default())
                .join(&job_name),
            None => sweep_dir.join("logs").join(&job_name),
        };
        let preview = self.preview.as_deref();
        let script_path = script_path(sweep_dir, r.index, preview);
        let tag =
            sweep::tag::format_measured(sweep_key, &r.id, r.index, r.concurrencies.as_deref());
        start_over(r);
        // The script this one replaces belongs to the latest earlier submission: it is kept,
        // and that submission's history entry says where.
        let mut keep_old = None;
        if let Some(h) = r.history.last_mut() {
            if preview.is_none() && h.kept_script.is_none() && script_path.is_file() {
                let kept = kept_script_path(sweep_dir, r.index, &h.job_id);
                h.kept_script = Some(kept.display().to_string());
                keep_old = Some(kept);
            }
        }
        let text = builder.render(&Job {
            record: r,
            job_name: &job_name,
            sweep_dir,
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
        r.tag = Some(tag.clone());
        r.sbatch_command = Some(argv.clone());
        let job = PreparedJob {
            argv,
            tag,
            script: script_path.display().to_string(),
        };
        // A dry run makes nothing in the sweep directory: only its preview's folder.
        let dirs = match preview {
            Some(_) => script_path
                .parent()
                .map(Path::to_path_buf)
                .into_iter()
                .collect(),
            None => vec![sweep_dir.to_path_buf(), log_dir],
        };
        let script = Script {
            path: script_path,
            text,
            keep_old,
            dirs,
        };
        Ok((job, script))
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

/// A job script to be saved.
pub struct Script {
    pub path: PathBuf,
    pub text: String,
    /// Where the script it replaces (a re-submitted combination's) is kept first.
    pub keep_old: Option<PathBuf>,
    /// Directories made before it is saved (the sweep directory and the job's log
    /// directory: they exist before its `sbatch`).
    dirs: Vec<PathBuf>,
}

impl Script {
    /// Creates the directories the job needs, before its script is handed to the [`Saver`].
    pub fn make_dirs(&self) -> Result<()> {
        for dir in &self.dirs {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create directory {}", dir.display()))?;
        }
        Ok(())
    }
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
    r.retire_current();
}
