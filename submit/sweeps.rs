//! The sweep directories of a run, each locked for submission for the whole run: what every
//! pass after the first reads and writes there goes through [`Sweeps`] (the journal of
//! submissions, the saved job options), and the layout of a directory's state stays in
//! [`sweep::state`].

use crate::prepare::options::JobOptions;
use crate::read::{DirId, Spool};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use sweep::state::{self, Journal, Lock, LockKind, Submissions};
use sweep::Submission;

/// The sweep directories of a run, in the spool's order (a [`DirId`] is a position here).
pub struct Sweeps {
    dirs: Vec<Dir>,
}

/// One sweep directory, locked.
pub struct Dir {
    pub path: PathBuf,
    /// The sweep key of its tags: the one its journal's latest job carries (a sweep keeps
    /// its tags, however its directory is spelled now), else the key of its path.
    pub key: String,
    /// Every sweep key its jobs carry: `key`, and those of the tags in its journal (a sweep
    /// whose directory was spelled otherwise when it began, `D/`, kept its tags).
    pub keys: BTreeSet<String>,
    /// None in a run that writes nothing (it takes no lock).
    _lock: Option<Lock>,
    /// A sweep-submit ran here before (see [`state::submitted_before`]).
    pub submitted_before: bool,
    /// The journal may not name every job of the sweep: it is missing or empty although
    /// jobs were submitted here (its lock file, or job scripts, say so: moved away, deleted,
    /// a sweep made by an earlier version), or some line of it was damaged. Then the sweep's
    /// jobs are looked up in Slurm by their tag (squeue, and accounting over `--since`), and
    /// those that ran are adopted into the journal. A new directory needs none of that.
    pub rebuild: bool,
    journal: Journal,
    /// Saved options read so far, by hash.
    options: BTreeMap<String, JobOptions>,
}

impl Dir {
    /// The submissions its journal knows (this run's included).
    pub fn submissions(&self) -> &Submissions {
        self.journal.submissions()
    }

    /// Writes one submission of combination `id` (number `index`) into the journal.
    pub fn journal(&mut self, id: &str, index: u64, s: &Submission) -> Result<()> {
        self.journal.append(id, index, s)
    }
}

impl Sweeps {
    /// Locks every sweep directory of `spool` (in name order, so two runs cannot deadlock)
    /// and reads its journal. A second sweep-submit into the same directory waits here. A run
    /// that does not `write` (a plan, a dry run) takes no lock and makes nothing: it reads
    /// the journal (keeping what it is given in memory), and says when a sweep-submit is
    /// submitting into the directory meanwhile.
    pub fn open(spool: &Spool, writes: bool) -> Result<Sweeps> {
        let mut order: Vec<usize> = (0..spool.dirs.len()).collect();
        order.sort_by(|&a, &b| spool.dirs[a].cmp(&spool.dirs[b]));
        let mut opened: BTreeMap<usize, Dir> = BTreeMap::new();
        for i in order {
            let name = &spool.dirs[i];
            let path = PathBuf::from(name);
            let submitted_before = state::submitted_before(&path);
            let (lock, journal) = match writes {
                true => (
                    Some(state::lock(&path, LockKind::Submit)?),
                    Journal::open(&path)?,
                ),
                false => {
                    if let Some(who) = state::busy(&path, LockKind::Submit) {
                        sweep::cli::warn(format_args!(
                            "note: {who} is submitting into {} now: what this run shows may be out of date when it ends",
                            path.display()
                        ));
                    }
                    (None, Journal::peek(&path)?)
                }
            };
            let subs = journal.submissions();
            let mut keys: BTreeSet<String> = subs
                .all()
                .filter_map(|s| s.tag.as_deref().and_then(sweep::tag::parse))
                .map(|t| t.sweep_key)
                .collect();
            let latest = subs
                .all()
                .filter(|s| s.tag.is_some())
                .max_by(|a, b| a.submitted_at.cmp(&b.submitted_at))
                .and_then(|s| s.tag.as_deref().and_then(sweep::tag::parse));
            let key = latest.map_or_else(|| sweep::tag::sweep_key(name), |t| t.sweep_key);
            keys.insert(key.clone());
            keys.insert(sweep::tag::sweep_key(name));
            let lost = subs.is_empty() && (submitted_before || scripts_saved(&path));
            let rebuild = lost || subs.incomplete();
            opened.insert(
                i,
                Dir {
                    key,
                    keys,
                    path,
                    _lock: lock,
                    submitted_before,
                    rebuild,
                    journal,
                    options: BTreeMap::new(),
                },
            );
        }
        Ok(Sweeps {
            dirs: opened.into_values().collect(),
        })
    }

    /// Every directory.
    pub fn iter(&self) -> impl Iterator<Item = &Dir> {
        self.dirs.iter()
    }

    /// The sweep keys of this run's directories.
    pub fn keys(&self) -> BTreeSet<String> {
        self.dirs
            .iter()
            .flat_map(|d| d.keys.iter().cloned())
            .collect()
    }

    /// Every job ID the journals know now (this run's included).
    pub fn journal_jobs(&self) -> BTreeSet<String> {
        self.dirs
            .iter()
            .flat_map(|d| d.submissions().all())
            .flat_map(Submission::jobs)
            .cloned()
            .collect()
    }

    /// True when some directory's journal may lack jobs of its sweep ([`Dir::rebuild`]).
    pub fn rebuilding(&self) -> bool {
        self.dirs.iter().any(|d| d.rebuild)
    }

    /// The options of the combination's last submission in its sweep directory, else of the
    /// directory's last submission; `None` for a sweep never submitted.
    pub fn saved_options(&mut self, dir: DirId, id: &str) -> Result<Option<JobOptions>> {
        let dir = &mut self[dir];
        let subs = dir.submissions();
        let hash = match subs.latest(id) {
            Some(s) => s.options.clone(),
            None => subs.latest_options().map(str::to_string),
        };
        let Some(hash) = hash else {
            return Ok(None);
        };
        if !dir.options.contains_key(&hash) {
            let options = state::load_options(&dir.path, &hash)?;
            dir.options.insert(hash.clone(), options);
        }
        Ok(dir.options.get(&hash).cloned())
    }

    /// True when the combination itself (not only its directory) was submitted before.
    pub fn was_submitted(&self, dir: DirId, id: &str) -> bool {
        self[dir].submissions().latest(id).is_some()
    }

    /// Saves job options in the sweep directory; returns their hash.
    pub fn save_options(&mut self, dir: DirId, options: &JobOptions) -> Result<String> {
        state::save_options(&self[dir].path, &options.to_value())
    }
}

/// True when a job script sweep-submit saves (`job_{index}.sh`) is in `dir`: jobs were
/// submitted from it (or a dry run made it), though its journal may be gone.
fn scripts_saved(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.strip_prefix("job_")
            .and_then(|n| n.strip_suffix(".sh"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

impl std::ops::Index<DirId> for Sweeps {
    type Output = Dir;
    fn index(&self, d: DirId) -> &Dir {
        &self.dirs[d.0 as usize]
    }
}

impl std::ops::IndexMut<DirId> for Sweeps {
    fn index_mut(&mut self, d: DirId) -> &mut Dir {
        &mut self.dirs[d.0 as usize]
    }
}
