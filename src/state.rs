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
//! | `submissions.jsonl` | one [`Submitted`] per `sbatch` that created a job (a later line for the same `job_id` adds its `--retries` follow-ups) |
//! | `options/<hash>.json` | the job options a submission used, by content hash |
//! | `names.lock`, `submit.lock` | advisory locks (see [`lock`]) |

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

/// One submission, as `submissions.jsonl` keeps it: written as soon as `sbatch` returned a
/// job (before the record reaches stdout), and again with each `--retries` follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// When `sbatch` returned the job (RFC 3339).
    pub at: String,
    /// The combination's id.
    pub id: String,
    /// Its number in the sweep directory.
    pub index: u64,
    /// The job.
    pub job_id: String,
    /// `sbatch -M` cluster, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `--retries` follow-ups submitted so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_job_ids: Vec<String>,
    /// The job's `--comment` tag.
    pub tag: String,
    /// Slurm job name.
    pub job_name: String,
    /// The job script as submitted (where it was saved then).
    pub job_script: String,
    /// The job's log directory.
    pub log_dir: String,
    /// Hash of the job options (`options/<hash>.json`).
    pub options: String,
}

/// The submissions of a sweep directory, by combination id, oldest first.
#[derive(Debug, Default)]
pub struct Submissions {
    /// Per id, in the order they were made; one entry per job (the last line for a job wins).
    pub by_id: BTreeMap<String, Vec<Submitted>>,
}

impl Submissions {
    /// Every submission recorded in `sweep_dir` (none for a new directory).
    pub fn load(sweep_dir: &Path) -> Result<Submissions> {
        let path = submissions_path(sweep_dir);
        let mut by_id: BTreeMap<String, Vec<Submitted>> = BTreeMap::new();
        read_lines(&path, |s: Submitted| {
            let list = by_id.entry(s.id.clone()).or_default();
            match list.iter_mut().find(|e| e.job_id == s.job_id) {
                Some(e) => *e = s,
                None => list.push(s),
            }
        })?;
        Ok(Submissions { by_id })
    }

    /// The latest submission of `id`.
    pub fn latest(&self, id: &str) -> Option<&Submitted> {
        self.by_id.get(id).and_then(|l| l.last())
    }

    /// Every job ID any submission of `id` created (jobs and follow-ups).
    pub fn job_ids(&self, id: &str) -> Vec<String> {
        self.by_id
            .get(id)
            .into_iter()
            .flatten()
            .flat_map(|s| std::iter::once(&s.job_id).chain(&s.retry_job_ids))
            .cloned()
            .collect()
    }

    /// The options hash of the latest submission in the whole directory.
    pub fn latest_options(&self) -> Option<&str> {
        self.by_id
            .values()
            .flatten()
            .max_by(|a, b| a.at.cmp(&b.at))
            .map(|s| s.options.as_str())
    }
}

fn submissions_path(sweep_dir: &Path) -> PathBuf {
    state_dir(sweep_dir).join("submissions.jsonl")
}

/// Appends submissions to a sweep directory's journal. Hold the [`LockKind::Submit`] lock.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating) the journal of `sweep_dir`.
    pub fn open(sweep_dir: &Path) -> Result<Journal> {
        create_state_dir(sweep_dir)?;
        let path = submissions_path(sweep_dir);
        let file = open_append(&path)?;
        Ok(Journal { path, file })
    }

    /// Writes one submission down (not synced: it survives the process, like every other
    /// file of the sweep; a crash of the machine may lose the last lines, and the jobs they
    /// named are then found in Slurm by their tag).
    pub fn append(&mut self, s: &Submitted) -> Result<()> {
        append_line(&mut self.file, &self.path, s)
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

/// The options saved under `hash` in `sweep_dir`.
pub fn load_options(sweep_dir: &Path, hash: &str) -> Result<Value> {
    if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("invalid options hash {hash:?} in the sweep state");
    }
    let path = state_dir(sweep_dir)
        .join("options")
        .join(format!("{hash}.json"));
    let text = fs::read_to_string(&path)
        .with_context(|| format!("failed to read the saved job options {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: damaged saved job options", path.display()))
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
        let mut s = Submitted {
            at: "2026-01-01T00:00:00+00:00".into(),
            id: "a".into(),
            index: 0,
            job_id: "10".into(),
            cluster: None,
            retry_job_ids: vec![],
            tag: "sweep:k:a:0".into(),
            job_name: "j".into(),
            job_script: "/s".into(),
            log_dir: "/l".into(),
            options: "00".into(),
        };
        j.append(&s).unwrap();
        s.retry_job_ids.push("11".into());
        j.append(&s).unwrap();
        let loaded = Submissions::load(&d).unwrap();
        assert_eq!(loaded.by_id["a"].len(), 1);
        assert_eq!(loaded.job_ids("a"), ["10", "11"]);
    }

    #[test]
    fn options_are_saved_once_by_content() {
        let d = tmp("options");
        let o = serde_json::json!({"account": "a", "time_limit": "00:10:00"});
        let h = save_options(&d, &o).unwrap();
        assert_eq!(save_options(&d, &o).unwrap(), h);
        assert_eq!(load_options(&d, &h).unwrap(), o);
        assert!(load_options(&d, "../x").is_err());
    }
}
