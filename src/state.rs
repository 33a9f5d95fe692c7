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
//! so a process killed at any point leaves whole lines; a torn last line from a machine crash
//! is ignored):
//!
//! | file | holds |
//! |---|---|
//! | `numbers.jsonl` | `{"id":…,"index":N}`: the number given to each combination |
//! | `submissions.jsonl` | one line per `sbatch` that created a job ([`Journal`], read back as [`Submission`]s; a later line for the same `job_id` adds its `--retries` follow-ups) |
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

// ------------------------------------------------------------------------------- JSON Lines

/// Reads every whole line of `path` as a `T`. A missing file is empty. A last line without
/// its newline was cut short by a crash of the machine mid-write: it is skipped (the write it
/// belonged to never completed, so nothing depended on it). Any other bad line is an error
/// naming the file and line: the state is not guessed at.
fn read_lines<T: serde::de::DeserializeOwned>(path: &Path, mut each: impl FnMut(T)) -> Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("failed to open {}", path.display())),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .with_context(|| format!("failed to read {}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        if !line.ends_with('\n') {
            return Ok(()); // torn last line: see above
        }
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{n}: damaged sweep state (move the file away to start this sweep's state afresh)",
                path.display()
            )
        })?;
        each(value);
    }
}

/// Appends one JSON line with a single `write` (so a killed process never leaves half a line).
fn append_line<T: Serialize>(file: &mut File, path: &Path, value: &T) -> Result<()> {
    let mut buf = serde_json::to_vec(value)?;
    buf.push(b'\n');
    file.write_all(&buf)
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
}

impl Numbers {
    /// The numbers given so far in `sweep_dir` (none for a new directory).
    pub fn load(sweep_dir: &Path) -> Result<Numbers> {
        let path = state_dir(sweep_dir).join("numbers.jsonl");
        let mut by_id = BTreeMap::new();
        let mut used = BTreeSet::new();
        read_lines(&path, |l: NumberLine| {
            // First number given wins: a later line for the same id can only come from a
            // hand edit, and the files on disk were named by the first.
            by_id.entry(l.id).or_insert(l.index);
            used.insert(l.index);
        })?;
        Ok(Numbers {
            path,
            by_id,
            used,
            file: None,
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
            retry_job_ids: s.retry_job_ids.clone(),
            tag: text(&s.tag),
            job_name: text(&s.job_name),
            job_script: text(&s.job_script),
            log_dir: text(&s.log_dir),
            options: text(&s.options),
        }
    }

    fn into_submission(self) -> (String, Submission) {
        let known = |v: String| Some(v).filter(|v| !v.is_empty());
        let s = Submission {
            submitted_at: known(self.at).map(|t| Timestamp::parse(&t)),
            retry_job_ids: self.retry_job_ids,
            cluster: self.cluster,
            tag: known(self.tag),
            job_name: known(self.job_name),
            job_script: known(self.job_script),
            log_dir: known(self.log_dir),
            options: known(self.options),
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
}

impl Submissions {
    /// Every submission recorded in `sweep_dir` (none for a new directory).
    pub fn load(sweep_dir: &Path) -> Result<Submissions> {
        let path = submissions_path(sweep_dir);
        let mut subs = Submissions::default();
        read_lines(&path, |l: Line| {
            let (id, s) = l.into_submission();
            subs.add(id, s);
        })?;
        Ok(subs)
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
}

impl Journal {
    /// Reads the journal of `sweep_dir` (none yet for a new directory).
    pub fn open(sweep_dir: &Path) -> Result<Journal> {
        Ok(Journal {
            dir: sweep_dir.to_path_buf(),
            subs: Submissions::load(sweep_dir)?,
            file: None,
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
    fn a_torn_last_line_is_ignored_and_a_damaged_one_is_an_error() {
        let d = tmp("torn");
        fs::create_dir_all(state_dir(&d)).unwrap();
        let p = state_dir(&d).join("numbers.jsonl");
        fs::write(&p, "{\"id\":\"a\",\"index\":0}\n{\"id\":\"b\",\"ind").unwrap();
        let n = Numbers::load(&d).unwrap();
        assert_eq!((n.get("a"), n.get("b")), (Some(0), None));
        fs::write(&p, "{\"id\":\"a\",\"index\":0}\nnot json\n").unwrap();
        let err = format!("{:#}", Numbers::load(&d).err().unwrap());
        assert!(
            err.contains("numbers.jsonl:2: damaged sweep state"),
            "{err}"
        );
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
    fn options_are_saved_once_by_content() {
        let d = tmp("options");
        let o = serde_json::json!({"account": "a", "time_limit": "00:10:00"});
        let h = save_options(&d, &o).unwrap();
        assert_eq!(save_options(&d, &o).unwrap(), h);
        assert_eq!(load_options::<Value>(&d, &h).unwrap(), o);
        assert!(load_options::<Value>(&d, "../x").is_err());
    }
}
