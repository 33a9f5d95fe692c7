//! Manifest updates that compose: two sweep-collect runs that update the same manifest at
//! the same time (`--wait M` in place while `sweep-collect M - --output M` ends an extending
//! pipeline) keep every job both of them saw.
//!
//! A run that read the manifest it writes (in place, or `--output M` naming an input) writes
//! it under a lock (`flock` on `.<name>.lock` beside it, waited for), and before writing
//! compares the file with the one it read (device, inode, size, modification time: an atomic
//! write always makes a new inode): when another run has written it since, its records are
//! read again and merged with this run's (this run's versions read last, so they win a tie:
//! see `crate::merge`) before the atomic write. Every run keeps what the file it finally
//! replaces knew, so no job any of them saw is lost, whichever writes last. A `--output` that
//! was not an input is replaced, as asked.

use crate::compact::Compact;
use crate::input::{self, Reading};
use crate::merge;
use anyhow::{Context, Result};
use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sweep::Record;

/// What tells one version of a file from another: an atomic write renames a new file in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Identity {
    /// The file at `path` now; `None` when there is none.
    pub fn of(path: &Path) -> Option<Identity> {
        let m = std::fs::metadata(path).ok()?;
        Some(Identity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
        })
    }
}

/// A manifest this run read and writes back: the version it knows.
#[derive(Debug)]
pub struct Watched {
    path: PathBuf,
    /// The file as this run last read or wrote it (`None`: it did not exist).
    known: Cell<Option<Identity>>,
    /// Another run wrote the file since this one read it: every later write of this run
    /// (`--wait` writes at each change) merges with the file again, which holds what the
    /// other run added and this run's records do not.
    merging: Cell<bool>,
}

impl Watched {
    /// `path`, as it is now: call before reading it.
    pub fn now(path: &Path) -> Watched {
        Watched {
            path: path.to_path_buf(),
            known: Cell::new(Identity::of(path)),
            merging: Cell::new(false),
        }
    }

    /// Another hold of what `w` knows.
    pub fn now_as(w: &Watched) -> Watched {
        Watched {
            path: w.path.clone(),
            known: Cell::new(w.known.get()),
            merging: Cell::new(w.merging.get()),
        }
    }
}

/// What a run's records become for an update: the records it writes, and, for each, the
/// position among the run's own of the record whose current job it still is (for what the
/// run attached to it, its results), when it is one.
pub struct Updated<T> {
    pub records: Vec<T>,
    pub own: Vec<Option<usize>>,
    /// The `sweep_timestamp`s of the manifest read again, if it was.
    pub stamps: Vec<String>,
}

/// Records that can be merged with the manifest read again: `Record`s, or their compact text.
pub trait Mergeable: Sized + Clone {
    /// The records of `path`, as this kind.
    fn read(path: &Path, how: &Reading) -> Result<input::Collected<Self>>;
    /// Merged by id ([`crate::merge`]).
    fn merge(all: Vec<Self>) -> Result<Vec<Self>>;
    /// True when `self` (merged) is `own` with the same current job: what the run attached to
    /// `own` still belongs to it.
    fn same_current(&self, own: &Self) -> bool;
    /// The combination's id.
    fn id(&self) -> &str;
}

impl Mergeable for Record {
    fn read(path: &Path, how: &Reading) -> Result<input::Collected<Record>> {
        input::read_all(&[path.to_path_buf()], how, &Ok)
    }
    fn merge(all: Vec<Record>) -> Result<Vec<Record>> {
        Ok(merge::merge(all))
    }
    fn same_current(&self, own: &Record) -> bool {
        self.id == own.id && self.job_id == own.job_id
    }
    fn id(&self) -> &str {
        &self.id
    }
}

impl Mergeable for Compact {
    fn read(path: &Path, how: &Reading) -> Result<input::Collected<Compact>> {
        input::read_all(&[path.to_path_buf()], how, &|r| Compact::of(&r))
    }
    fn merge(all: Vec<Compact>) -> Result<Vec<Compact>> {
        merge::merge_compact(all)
    }
    fn same_current(&self, _own: &Compact) -> bool {
        // A run that only merges attaches nothing to its records.
        false
    }
    fn id(&self) -> &str {
        &self.id
    }
}

/// Writes `watched` with `write`, under its lock: when another run wrote the file since this
/// run read it, `records` are first merged with what it holds now (`write` gets the merged
/// records; otherwise this run's, `own` the identity).
pub fn write<T: Mergeable>(
    watched: &Watched,
    records: &[T],
    how: &Reading,
    write: impl FnOnce(&Updated<T>) -> Result<()>,
) -> Result<()> {
    let _lock = lock(&watched.path)?;
    let now = Identity::of(&watched.path);
    let changed = now.is_some() && now != watched.known.get();
    let updated = if now.is_some() && (changed || watched.merging.get()) {
        let theirs = T::read(&watched.path, how).with_context(|| {
            format!(
                "{} was rewritten by another run meanwhile, and could not be read again to keep its jobs",
                watched.path.display()
            )
        })?;
        let mut all = theirs.records;
        all.extend(records.iter().cloned());
        let merged = T::merge(all)?;
        let by_id: std::collections::HashMap<&str, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id(), i))
            .collect();
        let own = merged
            .iter()
            .map(|m| {
                by_id
                    .get(m.id())
                    .copied()
                    .filter(|&i| m.same_current(&records[i]))
            })
            .collect();
        if changed {
            sweep::cli::warn(format_args!(
                "note: {} was updated by another run since this one read it: merged with it, every job kept",
                watched.path.display()
            ));
        }
        watched.merging.set(true);
        Updated {
            records: merged,
            own,
            stamps: theirs.manifest_timestamps,
        }
    } else {
        Updated {
            records: records.to_vec(),
            own: (0..records.len()).map(Some).collect(),
            stamps: Vec::new(),
        }
    };
    write(&updated)?;
    watched.known.set(Identity::of(&watched.path));
    Ok(())
}

/// How long the lock is tried quietly before saying whom it waits for.
const GRACE: Duration = Duration::from_secs(2);

/// The lock of the manifest `path`: `flock` on `.<name>.lock` in its directory (the manifest
/// itself is replaced by each write, so it cannot hold a lock). Released when dropped, or
/// when the process dies.
fn lock(path: &Path) -> Result<File> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("failed to open {}", lock_path.display()))?;
    let start = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < GRACE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                sweep::cli::warn(format_args!(
                    "waiting for another sweep-collect that is writing {}",
                    path.display()
                ));
                file.lock()
                    .with_context(|| format!("failed to lock {}", lock_path.display()))?;
                return Ok(file);
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("failed to lock {}", lock_path.display()))
            }
        }
    }
}
