//! A sweep directory's own state, shared by sweep-render, sweep-submit and sweep-collect.
//!
//! Two facts about a sweep outlive any one run, and neither can be read back from the records
//! a user happens to pipe in:
//!
//! - **Which number each combination has in the directory.** Extending a sweep (one more
//!   value in a list) shifts the expansion's indices; a combination that already has a config
//!   file, a job script and a job keeps its number, and a new one gets a number no other
//!   combination of the directory ever had. So no two combinations of one sweep share a file
//!   or a job name, and a fresh sweep keeps the seed's names (`index` = position).
//! - **What was submitted for each combination, when, and with which options.** So running
//!   the same pipeline again submits only what has no pending, running or completed job, and
//!   a re-submission uses the options of the combination's earlier submission unless an
//!   option is given again.
//!
//! Layout, under `<sweep dir>/.sweep/` (append-only JSON Lines, one small `write` per line,
//! so a process killed at any point leaves whole lines). A line cut short (a full disk, a
//! crash of the machine mid-write) is never glued to: the writer that opens the file next,
//! under its lock, sets the partial line aside into `<file>.damaged` (said on stderr) and
//! appends after the last whole line. A line of the journal that cannot be read is set
//! aside the same way, and the sweep's jobs are then also looked up in Slurm by their tag
//! (see sweep-submit's judge): a damaged journal is never the cause of a second job.
//!
//! | file | holds |
//! |---|---|
//! | `numbers.jsonl` | `{"id":…,"index":N}`: the number given to each combination |
//! | `submissions.jsonl` | one line per `sbatch` that created a job, with everything its record had ([`Journal`], read back as [`Submission`]s; a later line for the same `job_id` adds its `--retries` follow-ups) |
//! | `options/<hash>.json` | the job options a submission used, by content hash |
//! | `names.lock`, `submit.lock` | advisory locks (see [`lock`]) |

use crate::{Submission, Timestamp};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The state directory inside a sweep directory.
pub const STATE_DIR: &str = ".sweep";

/// `<sweep dir>/.sweep`.
pub fn state_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join(STATE_DIR)
}

fn create_state_dir(sweep_dir: &Path) -> Result<PathBuf> {
    let dir = state_dir(sweep_dir);
    fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;
    Ok(dir)
}

// ------------------------------------------------------------------------------- locks

/// What a lock protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Giving combinations their numbers and writing their config files (sweep-render, and
    /// sweep-submit for records that never went through sweep-render). Held briefly.
    Names,
    /// Submitting into the sweep (sweep-submit, for its whole run): two runs into one sweep
    /// directory would each decide that a combination still needs a job.
    Submit,
}

impl LockKind {
    fn file_name(self) -> &'static str {
        match self {
            LockKind::Names => "names.lock",
            LockKind::Submit => "submit.lock",
        }
    }
}

/// An advisory lock (`flock`) on a sweep directory, released when dropped (or when the
/// process dies, whatever kills it: the kernel drops it with the file descriptor).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// How long a lock is tried quietly before saying whom it waits for: in a pipeline
/// (`sweep-render | sweep-submit`) the stage before may still be exiting when the next one
/// wants the directory.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Tries the lock for up to `grace`, every 20 ms.
fn try_lock_for(file: &File, grace: std::time::Duration) -> Result<(), fs::TryLockError> {
    let start = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < grace => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Takes the `kind` lock of `sweep_dir` (creating `.sweep/` if needed). When another process
/// holds it, one line on stderr says who (program, pid, since when, as the holder wrote them
/// into the lock file), then this waits for it.
pub fn lock(sweep_dir: &Path, kind: LockKind) -> Result<Lock> {
    let path = create_state_dir(sweep_dir)?.join(kind.file_name());
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    match try_lock_for(&file, LOCK_GRACE) {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_string()
            } else {
                holder.to_string()
            };
            crate::cli::warn(format!(
                "waiting for {who}, which holds {} (one at a time per sweep directory)",
                path.display()
            ));
            file.lock()
                .with_context(|| format!("failed to lock {}", path.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("failed to lock {}", path.display()))
        }
    }
    // Who holds it, for the next one that has to wait. Best effort: the lock is what counts.
    let since = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
    let _ = file.set_len(0).and_then(|()| {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))?;
        writeln!(
            file,
            "{} (pid {}, since {since})",
            crate::cli::program(),
            std::process::id()
        )
    });
    Ok(Lock { _file: file })
}

/// Who holds the `kind` lock of `sweep_dir` now, as the holder wrote it into the lock file,
/// when someone does; `None` when nobody does or the lock file does not exist. Creates
/// nothing and never waits: for a run that writes nothing (`sweep-submit --plan`), to say
/// that what it shows may change under it.
pub fn busy(sweep_dir: &Path, kind: LockKind) -> Option<String> {
    let path = state_dir(sweep_dir).join(kind.file_name());
    let file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            Some(match holder.trim() {
                "" => "another process".to_string(),
                h => h.to_string(),
            })
        }
        _ => None,
    }
}

// ------------------------------------------------------------------------------- JSON Lines

/// What reading a state file found that was not a whole, readable line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Damage {
    /// The last line, cut short (no newline): a write that never completed.
    pub torn: Option<String>,
    /// Whole lines that are not what the file holds, with their line numbers (1-based).
    pub bad: Vec<(usize, String)>,
}

impl Damage {
    /// True when the file held nothing but whole, readable lines.
    pub fn is_empty(&self) -> bool {
        self.torn.is_none() && self.bad.is_empty()
    }

    /// `line 5 (cut short)`, `lines 2, 7`: where the damage is, for messages.
    fn lines(&self, total: usize) -> String {
        let mut at: Vec<String> = self.bad.iter().map(|(n, _)| n.to_string()).collect();
        if self.torn.is_some() {
            at.push(format!("{} (cut short)", total));
        }
        match at.len() {
            1 => format!("line {}", at[0]),
            _ => format!("lines {}", at.join(", ")),
        }
    }
}

/// Reads every whole line of `path` as a `T`; a missing file is empty. A last line without
/// its newline (a write cut short) and any line that is not a `T` are returned as [`Damage`],
/// never guessed at, and never the reason the rest is not read.
fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<(Damage, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Damage::default(), 0)),
        Err(e) => return Err(e).with_context(|| format!("failed to open {}", path.display())),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut n = 0;
    let mut damage = Damage::default();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("failed to read {}", path.display()))?;
        if read == 0 {
            return Ok((damage, n));
        }
        n += 1;
        let text = String::from_utf8_lossy(&line).into_owned();
        if !line.ends_with(b"\n") {
            damage.torn = Some(text);
            return Ok((damage, n));
        }
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(value) => each(value),
            Err(_) => damage
                .bad
                .push((n, text.trim_end_matches('\n').to_string())),
        }
    }
}

/// Sets the damaged lines of `path` aside (appended to `<path>.damaged`, as they were) and
/// rewrites `path` (atomically) with its whole, readable lines only; says so on stderr. Run
/// under the file's lock, before the first line is appended: nothing is ever glued to a
/// partial line. `what` says what the damage means for the sweep.
fn set_aside(path: &Path, damage: &Damage, total: usize, what: &str) -> Result<()> {
    let text = fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let bad: BTreeSet<usize> = damage.bad.iter().map(|(n, _)| *n).collect();
    let mut kept: Vec<u8> = Vec::with_capacity(text.len());
    let mut aside: Vec<u8> = Vec::new();
    for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let whole = line.ends_with(b"\n");
        if whole && !bad.contains(&(i + 1)) {
            kept.extend_from_slice(line);
        } else {
            aside.extend_from_slice(line);
            if !whole {
                aside.push(b'\n');
            }
        }
    }
    let side = PathBuf::from(format!("{}.damaged", path.display()));
    let mut f = open_append(&side)?;
    f.write_all(&aside)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("failed to write {}", side.display()))?;
    crate::fsutil::write_atomic(path, &kept)?;
    crate::cli::warn(format_args!(
        "warning: {}: {} damaged, set aside in {}; {what}",
        path.display(),
        damage.lines(total),
        side.display()
    ));
    Ok(())
}

/// Appends one JSON line with a single `write` (so a killed process never leaves half a line).
/// A write that fails part way (a full disk) is undone: the file is cut back to where it
/// was, so the next line never lands on a partial one.
fn append_line<T: Serialize>(file: &mut File, path: &Path, value: &T) -> Result<()> {
    let mut buf = serde_json::to_vec(value)?;
    buf.push(b'\n');
    let before = file.metadata().map(|m| m.len()).ok();
    file.write_all(&buf)
        .inspect_err(|_| {
            if let Some(len) = before {
                let _ = file.set_len(len);
            }
        })
        .with_context(|| format!("failed to write {}", path.display()))
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open {}", path.display()))
}

// ------------------------------------------------------------------------------- numbers

#[derive(Serialize, Deserialize)]
struct NumberLine {
    id: String,
    index: u64,
}

/// The numbers of a sweep directory's combinations. Load it while holding the
/// [`LockKind::Names`] lock, so that two runs never give one number to two combinations.
pub struct Numbers {
    path: PathBuf,
    by_id: BTreeMap<String, u64>,
    used: BTreeSet<u64>,
    file: Option<File>,
    /// New numbers are written down ([`Numbers::load`]), or kept in memory only
    /// ([`Numbers::peek`]).
    writes: bool,
}

impl Numbers {
    /// The numbers given so far in `sweep_dir` (none for a new directory). Hold the
    /// [`LockKind::Names`] lock: a line cut short is set aside here, before anything is
    /// appended. A whole line that cannot be read is an error naming it (a number lost could
    /// be given to another combination, whose files would then share its names).
    pub fn load(sweep_dir: &Path) -> Result<Numbers> {
        Numbers::read(sweep_dir, true)
    }

    /// The numbers given so far in `sweep_dir`, for a run that writes nothing (a plan, a dry
    /// run): new numbers are given as [`Numbers::number`] would, and kept in memory only; a
    /// line cut short is left out, not set aside. Needs no lock: it only reads.
    pub fn peek(sweep_dir: &Path) -> Result<Numbers> {
        Numbers::read(sweep_dir, false)
    }

    /// [`Numbers::load`], or [`Numbers::peek`] when it `writes` nothing.
    fn read(sweep_dir: &Path, writes: bool) -> Result<Numbers> {
        let path = state_dir(sweep_dir).join("numbers.jsonl");
        let mut by_id = BTreeMap::new();
        let mut used = BTreeSet::new();
        let (damage, total) = read_lines(&path, |l: NumberLine| {
            // First number given wins: a later line for the same id can only come from a
            // hand edit, and the files on disk were named by the first.
            by_id.entry(l.id).or_insert(l.index);
            used.insert(l.index);
        })?;
        if let Some((n, _)) = damage.bad.first() {
            bail!(
                "{}:{n}: damaged sweep state: this line should give a combination its number; fix or delete it (a number lost may be given to another combination, whose config and job script would then take its file names)",
                path.display()
            );
        }
        if damage.torn.is_some() && writes {
            set_aside(
                &path,
                &damage,
                total,
                "the number it was giving was never used (its write did not complete)",
            )?;
        }
        Ok(Numbers {
            path,
            by_id,
            used,
            file: None,
            writes,
        })
    }

    /// The number of combination `id`, whose position in the expansion is `index`: the one it
    /// was given before; else `index` itself when no combination of the directory has used
    /// it (a fresh sweep keeps the seed's names); else the next number after the highest
    /// one used. A new number is written down before it is returned.
    pub fn number(&mut self, id: &str, index: u64) -> Result<u64> {
        if let Some(&n) = self.by_id.get(id) {
            return Ok(n);
        }
        let n = if self.used.contains(&index) {
            match self.used.last() {
                Some(&max) => max
                    .checked_add(1)
                    .context("no combination number left (u64 exhausted)")?,
                None => index,
            }
        } else {
            index
        };
        if self.writes {
            if self.file.is_none() {
                create_state_dir(self.path.parent().expect("in .sweep"))?;
                self.file = Some(open_append(&self.path)?);
            }
            let file = self.file.as_mut().expect("opened above");
            append_line(
                file,
                &self.path,
                &NumberLine {
                    id: id.to_string(),
                    index: n,
                },
            )?;
        }
        self.by_id.insert(id.to_string(), n);
        self.used.insert(n);
        Ok(n)
    }

    /// The number of `id`, if it has one.
    pub fn get(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// How many combinations have a number.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no combination has a number yet.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

// ------------------------------------------------------------------------------- submissions

/// One line of `submissions.jsonl`: written as soon as `sbatch` returned a job (before the
/// record reaches stdout), and again with each `--retries` follow-up. The wire form of a
/// journaled [`Submission`] (`""` for a value not known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    /// When `sbatch` returned the job (RFC 3339).
    at: String,
    /// The combination's id.
    id: String,
    /// Its number in the sweep directory.
    index: u64,
    /// The job.
    job_id: String,
    /// `sbatch -M` cluster, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    /// The name of the cluster it was submitted on (lines written before this field, or when
    /// Slurm would not say, have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster_name: Option<String>,
    /// `--retries` follow-ups submitted so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retry_job_ids: Vec<String>,
    /// The job's `--comment` tag.
    tag: String,
    /// Slurm job name.
    job_name: String,
    /// The job script as submitted (where it was saved then).
    job_script: String,
    /// The job's log directory.
    log_dir: String,
    /// Hash of the job options (`options/<hash>.json`).
    options: String,
    /// GPUs per node it asked for (lines written before this field have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gpus_per_node: Option<u64>,
    /// The exact `sbatch` command line (lines written before this field have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sbatch_command: Option<Vec<String>>,
    /// The concurrencies it measures instead of `--profiler`'s (absent: `--profiler`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    concurrencies: Option<Vec<u64>>,
}

impl Line {
    fn new(id: &str, index: u64, s: &Submission) -> Line {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Line {
            at: s
                .submitted_at
                .as_ref()
                .map_or_else(String::new, |t| t.as_str().to_string()),
            id: id.to_string(),
            index,
            job_id: s.job_id.clone(),
            cluster: s.cluster.clone(),
            cluster_name: s.cluster_name.clone(),
            retry_job_ids: s.retry_job_ids.clone(),
            tag: text(&s.tag),
            job_name: text(&s.job_name),
            job_script: text(&s.job_script),
            log_dir: text(&s.log_dir),
            options: text(&s.options),
            gpus_per_node: s.gpus_per_node,
            sbatch_command: s.sbatch_command.clone(),
            concurrencies: s.concurrencies.clone(),
        }
    }

    fn into_submission(self) -> (String, Submission) {
        let known = |v: String| Some(v).filter(|v| !v.is_empty());
        let s = Submission {
            submitted_at: known(self.at).map(|t| Timestamp::parse(&t)),
            retry_job_ids: self.retry_job_ids,
            cluster: self.cluster,
            cluster_name: self.cluster_name,
            tag: known(self.tag),
            job_name: known(self.job_name),
            job_script: known(self.job_script),
            log_dir: known(self.log_dir),
            options: known(self.options),
            gpus_per_node: self.gpus_per_node,
            sbatch_command: self.sbatch_command,
            concurrencies: self.concurrencies,
            ..Submission::of_job(self.job_id)
        };
        (self.id, s)
    }
}

/// The submissions of a sweep directory, by combination id, oldest first.
#[derive(Debug, Default)]
pub struct Submissions {
    /// Per id, in the order they were made; one entry per job (the last line for a job wins).
    pub by_id: BTreeMap<String, Vec<Submission>>,
    /// What could not be read (lines left out). A whole line that could not be read may
    /// have named a job: the journal is then incomplete.
    pub damage: Damage,
}

impl Submissions {
    /// Every submission recorded in `sweep_dir` (none for a new directory), read without
    /// changing anything: damaged lines are left out and said on stderr.
    pub fn load(sweep_dir: &Path) -> Result<Submissions> {
        let (subs, total) = Submissions::read(sweep_dir)?;
        if !subs.damage.is_empty() {
            crate::cli::warn(format_args!(
                "warning: {}: {} damaged (left out; the next sweep-submit into the sweep sets it aside)",
                submissions_path(sweep_dir).display(),
                subs.damage.lines(total)
            ));
        }
        Ok(subs)
    }

    /// The journal's submissions and its damage, and how many lines it has.
    fn read(sweep_dir: &Path) -> Result<(Submissions, usize)> {
        let path = submissions_path(sweep_dir);
        let mut subs = Submissions::default();
        let (damage, total) = read_lines(&path, |l: Line| {
            let (id, s) = l.into_submission();
            subs.add(id, s);
        })?;
        subs.damage = damage;
        Ok((subs, total))
    }

    /// True when some whole line could not be read: a job it named may be missing.
    pub fn incomplete(&self) -> bool {
        !self.damage.bad.is_empty()
    }

    /// Adds (or, for a job already there, replaces) a submission of combination `id`.
    fn add(&mut self, id: String, s: Submission) {
        let list = self.by_id.entry(id).or_default();
        match list.iter_mut().find(|e| e.job_id == s.job_id) {
            Some(e) => *e = s,
            None => list.push(s),
        }
    }

    /// True when no submission is recorded.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The submissions of `id`, oldest first.
    pub fn of(&self, id: &str) -> &[Submission] {
        self.by_id.get(id).map_or(&[], Vec::as_slice)
    }

    /// The latest submission of `id`.
    pub fn latest(&self, id: &str) -> Option<&Submission> {
        self.of(id).last()
    }

    /// Every submission of every combination.
    pub fn all(&self) -> impl Iterator<Item = &Submission> {
        self.by_id.values().flatten()
    }

    /// Every job ID any submission of `id` created (jobs and follow-ups).
    pub fn job_ids(&self, id: &str) -> Vec<String> {
        self.of(id)
            .iter()
            .flat_map(Submission::jobs)
            .cloned()
            .collect()
    }

    /// The options hash of the latest submission in the whole directory (by time: the
    /// instants, not the text).
    pub fn latest_options(&self) -> Option<&str> {
        self.all()
            .max_by(|a, b| a.submitted_at.cmp(&b.submitted_at))
            .and_then(|s| s.options.as_deref())
    }
}

fn submissions_path(sweep_dir: &Path) -> PathBuf {
    state_dir(sweep_dir).join("submissions.jsonl")
}

/// True when a sweep-submit ran in `sweep_dir` before (it left its lock file), even if its
/// journal is empty: Slurm may hold jobs of it that no journal line names (a run killed
/// between `sbatch` and the line).
pub fn submitted_before(sweep_dir: &Path) -> bool {
    state_dir(sweep_dir)
        .join(LockKind::Submit.file_name())
        .exists()
}

/// The sweep directory's journal of submissions, read at open and appended to: what
/// [`Submissions`] loaded, kept up to date with every line written. Hold the
/// [`LockKind::Submit`] lock.
pub struct Journal {
    dir: PathBuf,
    subs: Submissions,
    /// Opened at the first line written.
    file: Option<File>,
    /// Lines are written down ([`Journal::open`]), or kept in memory only
    /// ([`Journal::peek`]).
    writes: bool,
}

impl Journal {
    /// Reads the journal of `sweep_dir` (none yet for a new directory). Hold the
    /// [`LockKind::Submit`] lock: damaged lines are set aside here (in
    /// `submissions.jsonl.damaged`, said on stderr), before anything is appended;
    /// [`Submissions::incomplete`] then says the journal may lack a job.
    pub fn open(sweep_dir: &Path) -> Result<Journal> {
        let (subs, total) = Submissions::read(sweep_dir)?;
        if !subs.damage.is_empty() {
            let what = match subs.incomplete() {
                true => "the jobs a damaged line named are looked up in Slurm by their tag",
                false => "its job was never released (its write did not complete): a held job nothing names is cancelled",
            };
            set_aside(&submissions_path(sweep_dir), &subs.damage, total, what)?;
        }
        Ok(Journal {
            dir: sweep_dir.to_path_buf(),
            subs,
            file: None,
            writes: true,
        })
    }

    /// The journal of `sweep_dir` for a run that writes nothing (a plan, a dry run), read as
    /// [`Submissions::load`] reads it (damaged lines left out and said, never set aside):
    /// what [`Journal::append`] is given is kept in memory only.
    pub fn peek(sweep_dir: &Path) -> Result<Journal> {
        Ok(Journal {
            dir: sweep_dir.to_path_buf(),
            subs: Submissions::load(sweep_dir)?,
            file: None,
            writes: false,
        })
    }

    /// What the journal holds, this run's lines included.
    pub fn submissions(&self) -> &Submissions {
        &self.subs
    }

    /// Writes one submission of combination `id` (number `index`) down (not synced: it
    /// survives the process, like every other file of the sweep; a crash of the machine may
    /// lose the last lines, and the jobs they named are then found in Slurm by their tag). A
    /// later line for the same job replaces the earlier one (its follow-ups added).
    pub fn append(&mut self, id: &str, index: u64, s: &Submission) -> Result<()> {
        if !self.writes {
            self.subs.add(id.to_string(), s.clone());
            return Ok(());
        }
        let path = submissions_path(&self.dir);
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                create_state_dir(&self.dir)?;
                self.file.insert(open_append(&path)?)
            }
        };
        append_line(file, &path, &Line::new(id, index, s))?;
        self.subs.add(id.to_string(), s.clone());
        Ok(())
    }
}

// ------------------------------------------------------------------------------- options

/// Saves job options (any JSON object) under their content hash; returns the hash. Saving the
/// same options again is a no-op.
pub fn save_options(sweep_dir: &Path, options: &Value) -> Result<String> {
    let text = serde_json::to_string_pretty(options)? + "\n";
    let hash = options_hash(options)?;
    let dir = create_state_dir(sweep_dir)?.join("options");
    fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;
    let path = dir.join(format!("{hash}.json"));
    if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        crate::fsutil::write_atomic(&path, text.as_bytes())?;
    }
    Ok(hash)
}

/// The options saved under `hash` in `sweep_dir`, read as a `T`.
pub fn load_options<T: serde::de::DeserializeOwned>(sweep_dir: &Path, hash: &str) -> Result<T> {
    if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("invalid options hash {hash:?} in the sweep state");
    }
    let path = state_dir(sweep_dir)
        .join("options")
        .join(format!("{hash}.json"));
    let text = fs::read_to_string(&path)
        .with_context(|| format!("failed to read the saved job options {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: damaged saved job options", path.display()))?;
    serde_json::from_value(value).map_err(|e| {
        anyhow::anyhow!(
            "{}: saved job options this version cannot read: {e}",
            path.display()
        )
    })
}

/// 16 hex digits of the SHA-256 of the options' compact JSON (keys in the order given: the
/// options are always written by the same code, in the same order).
pub fn options_hash(options: &Value) -> Result<String> {
    let text = serde_json::to_string(options)?;
    let digest = Sha256::digest(text.as_bytes());
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sweep-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn numbers_keep_names_and_never_share_them() {
        let d = tmp("numbers");
        let mut n = Numbers::load(&d).unwrap();
        // A fresh sweep: numbers are the positions.
        assert_eq!(n.number("a", 0).unwrap(), 0);
        assert_eq!(n.number("b", 1).unwrap(), 1);
        assert_eq!(n.number("c", 2).unwrap(), 2);
        drop(n);
        // Extended: positions shifted. Known ids keep theirs, new ones get fresh numbers.
        let mut n = Numbers::load(&d).unwrap();
        assert_eq!(n.number("a", 0).unwrap(), 0);
        assert_eq!(n.number("x", 1).unwrap(), 3, "1 is b's");
        assert_eq!(n.number("b", 2).unwrap(), 1);
        assert_eq!(n.number("c", 3).unwrap(), 2);
        assert_eq!(n.number("y", 7).unwrap(), 7, "7 was never used");
        assert_eq!(n.number("z", 4).unwrap(), 4);
        assert_eq!(n.number("w", 3).unwrap(), 8);
        assert_eq!(Numbers::load(&d).unwrap().len(), 7);
    }

    #[test]
    fn a_torn_last_line_is_set_aside_and_never_glued_to() {
        let d = tmp("torn");
        fs::create_dir_all(state_dir(&d)).unwrap();
        let p = state_dir(&d).join("numbers.jsonl");
        fs::write(&p, "{\"id\":\"a\",\"index\":0}\n{\"id\":\"b\",\"ind").unwrap();
        let mut n = Numbers::load(&d).unwrap();
        assert_eq!((n.get("a"), n.get("b")), (Some(0), None));
        assert_eq!(n.number("c", 1).unwrap(), 1);
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "{\"id\":\"a\",\"index\":0}\n{\"id\":\"c\",\"index\":1}\n"
        );
        assert_eq!(
            fs::read_to_string(state_dir(&d).join("numbers.jsonl.damaged")).unwrap(),
            "{\"id\":\"b\",\"ind\n"
        );
        assert_eq!(Numbers::load(&d).unwrap().len(), 2);
        fs::write(&p, "{\"id\":\"a\",\"index\":0}\nnot json\n").unwrap();
        let err = format!("{:#}", Numbers::load(&d).err().unwrap());
        assert!(
            err.contains("numbers.jsonl:2: damaged sweep state"),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_journal_is_read_past_the_damage_and_repaired_by_the_next_writer() {
        let d = tmp("damaged");
        let mut j = Journal::open(&d).unwrap();
        for (id, job) in [("a", "10"), ("b", "11"), ("c", "12")] {
            let s = Submission {
                tag: Some(format!("sweep:k:{id}:0")),
                ..Submission::of_job(job)
            };
            j.append(id, 0, &s).unwrap();
        }
        drop(j);
        let p = submissions_path(&d);
        let text = fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Line 2 overwritten by junk, then a write cut short.
        fs::write(
            &p,
            format!("{}\ngarbage\n{}\n{{\"at\":\"20", lines[0], lines[2]),
        )
        .unwrap();
        let read = Submissions::load(&d).unwrap();
        assert_eq!(read.by_id.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert!(read.incomplete());
        assert_eq!(read.damage.bad, [(2, "garbage".to_string())]);
        assert!(read.damage.torn.is_some());
        // Reading changed nothing; the next writer sets the damage aside, then appends.
        assert!(!state_dir(&d).join("submissions.jsonl.damaged").exists());
        let mut j = Journal::open(&d).unwrap();
        assert!(j.submissions().incomplete());
        j.append("d", 0, &Submission::of_job("13")).unwrap();
        let now = fs::read_to_string(&p).unwrap();
        assert_eq!(now.lines().count(), 3);
        assert!(
            now.lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok()),
            "{now}"
        );
        let aside = fs::read_to_string(state_dir(&d).join("submissions.jsonl.damaged")).unwrap();
        assert_eq!(aside, "garbage\n{\"at\":\"20\n");
        let again = Submissions::load(&d).unwrap();
        assert!(again.damage.is_empty());
        assert_eq!(again.by_id.len(), 3);
    }

    #[test]
    fn a_later_line_for_a_job_adds_its_follow_ups() {
        let d = tmp("journal");
        let mut j = Journal::open(&d).unwrap();
        let mut s = Submission {
            submitted_at: Some(Timestamp::parse("2026-01-01T00:00:00+00:00")),
            tag: Some("sweep:k:a:0".into()),
            job_name: Some("j".into()),
            job_script: Some("/s".into()),
            log_dir: Some("/l".into()),
            options: Some("00".into()),
            ..Submission::of_job("10")
        };
        j.append("a", 0, &s).unwrap();
        s.retry_job_ids.push("11".into());
        j.append("a", 0, &s).unwrap();
        assert_eq!(j.submissions().job_ids("a"), ["10", "11"]);
        let text = fs::read_to_string(submissions_path(&d)).unwrap();
        assert_eq!(
            text.lines().last().unwrap(),
            r#"{"at":"2026-01-01T00:00:00+00:00","id":"a","index":0,"job_id":"10","retry_job_ids":["11"],"tag":"sweep:k:a:0","job_name":"j","job_script":"/s","log_dir":"/l","options":"00"}"#
        );
        let loaded = Submissions::load(&d).unwrap();
        assert_eq!(loaded.of("a"), [s]);
        assert_eq!(loaded.latest_options(), Some("00"));
    }

    #[test]
    fn the_latest_options_are_the_latest_in_time_not_in_text() {
        let d = tmp("latest");
        let mut j = Journal::open(&d).unwrap();
        for (id, at, options) in [
            ("a", "2026-10-25T02:30:00+02:00", "aa"),
            ("b", "2026-10-25T02:10:00+01:00", "bb"),
        ] {
            let s = Submission {
                submitted_at: Some(Timestamp::parse(at)),
                options: Some(options.into()),
                ..Submission::of_job(id)
            };
            j.append(id, 0, &s).unwrap();
        }
        assert_eq!(Submissions::load(&d).unwrap().latest_options(), Some("bb"));
    }

    #[test]
    fn a_peek_writes_nothing() {
        let d = tmp("peek");
        let mut n = Numbers::load(&d).unwrap();
        assert_eq!(n.number("a", 0).unwrap(), 0);
        drop(n);
        let before = fs::read_to_string(state_dir(&d).join("numbers.jsonl")).unwrap();
        let mut n = Numbers::peek(&d).unwrap();
        assert_eq!(n.number("a", 0).unwrap(), 0);
        assert_eq!(n.number("b", 0).unwrap(), 1, "as a real run would give it");
        assert_eq!(n.number("b", 0).unwrap(), 1);
        let mut j = Journal::peek(&d).unwrap();
        j.append("b", 1, &Submission::of_job("7")).unwrap();
        assert_eq!(j.submissions().job_ids("b"), ["7"]);
        assert_eq!(
            fs::read_to_string(state_dir(&d).join("numbers.jsonl")).unwrap(),
            before
        );
        assert!(!submissions_path(&d).exists());
        // Nobody holds a lock: not busy; a lock held elsewhere: who.
        assert_eq!(busy(&d, LockKind::Submit), None);
        let held = lock(&d, LockKind::Submit).unwrap();
        let who = busy(&d, LockKind::Submit).unwrap();
        assert!(
            who.contains(&format!("pid {}", std::process::id())),
            "{who}"
        );
        drop(held);
        assert_eq!(busy(&d, LockKind::Submit), None);
        let fresh = tmp("peek-fresh");
        assert_eq!(busy(&fresh, LockKind::Submit), None);
        assert!(!state_dir(&fresh).exists(), "nothing made");
        // Damage is read past, never set aside: a real run does that.
        let numbers = state_dir(&d).join("numbers.jsonl");
        let mut torn = fs::read_to_string(&numbers).unwrap();
        torn.push_str("{\"id\":\"c\",\"ind");
        fs::write(&numbers, &torn).unwrap();
        fs::write(submissions_path(&d), "not json\n").unwrap();
        let mut n = Numbers::peek(&d).unwrap();
        assert_eq!(n.number("c", 0).unwrap(), 1);
        let j = Journal::peek(&d).unwrap();
        assert!(j.submissions().incomplete());
        assert_eq!(fs::read_to_string(&numbers).unwrap(), torn);
        assert_eq!(
            fs::read_to_string(submissions_path(&d)).unwrap(),
            "not json\n"
        );
        let names: Vec<String> = fs::read_dir(state_dir(&d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".damaged")), "{names:?}");
    }

    #[test]
    fn options_are_saved_once_by_content() {
        let d = tmp("options");
        let o = serde_json::json!({"account": "a", "time_limit": "00:10:00"});
        let h = save_options(&d, &o).unwrap();
        assert_eq!(save_options(&d, &o).unwrap(), h);
        assert_eq!(load_options::<Value>(&d, &h).unwrap(), o);
        assert!(load_options::<Value>(&d, "../x").is_err());
    }
}
