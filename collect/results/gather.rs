//! Where a record's results are: the directories of its jobs (`<log_dir>/<job_id>/`,
//! `<log_dir>/<retry id>/`, and those of earlier submissions), and every file in them, each with what
//! is to be done with it. Nothing below a job's directory is passed over in silence: a file is
//! read for results, read for what it says about them (AIPerf's completion marker, the job's
//! benchmark request), or listed as not a result with the reason.
//!
//! A job's directory is walked depth first, each directory's entries in name order (which is
//! the order of their paths), with the directory open: files are opened relative to it
//! (`openat`, by [`rustix`]), so that a sweep of 10,000 jobs does not resolve 10,000 deep
//! paths from the root, and no directory is ever stat'ed.

use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags};
use std::borrow::Cow;
use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use sweep::Record;

/// How deep below a job's directory files are looked for; a deeper directory is listed as
/// not searched.
const MAX_DEPTH: usize = 16;

/// What the job script writes into the job's directory: the benchmark it asked for.
pub const BENCHMARK_FILE: &str = "sweep_benchmark.json";

/// AIPerf's marker, written last, next to `profile_export_aiperf.json`.
pub const AIPERF_MARKER: &str = ".aiperf_results_ready.json";

/// The jobs of the record with their directories: with `history`, every earlier
/// submission's jobs first (oldest first, each job then its `--retries` follow-ups: their runs
/// are repeats of the combination's loads), then the current submission's job and its
/// follow-ups.
pub fn job_dirs(r: &Record, history: bool) -> Vec<(String, PathBuf)> {
    let Some(log_dir) = &r.log_dir else {
        return Vec::new();
    };
    let mut ids: Vec<&String> = Vec::new();
    if history {
        for h in &r.history {
            ids.push(&h.job_id);
            ids.extend(&h.retry_job_ids);
        }
    }
    // A record whose last submission failed has no job of its own: its earlier ones count.
    ids.extend(&r.job_id);
    ids.extend(&r.retry_job_ids);
    let mut out: Vec<(String, PathBuf)> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.iter().any(|(j, _)| j == id) {
            out.push((id.clone(), Path::new(log_dir).join(id)));
        }
    }
    out
}

/// What is done with a file.
pub enum Kind {
    /// A `.json` or `.jsonl` file: read, and its values classified by their keys.
    Json,
    /// AIPerf's `.aiperf_results_ready.json`: read for the run next to it.
    AiperfMarker,
    /// The job's `sweep_benchmark.json` (at the top of its directory): read for requested
    /// counts and the workload shape.
    Benchmark,
    /// Not read: the reason.
    NotResult(Cow<'static, str>),
    /// Could not be looked at (a directory that cannot be listed, a link to nothing): the
    /// error.
    Unreadable(String),
}

/// A file below a job's directory, handed to [`visit`]'s callback.
pub struct Item<'a> {
    /// Its absolute path.
    pub path: &'a Path,
    pub kind: Kind,
    /// The directory it is in, open, and its name there (for [`Item::read`]).
    dir: Option<BorrowedFd<'a>>,
    name: &'a CString,
}

impl Item<'_> {
    /// The whole file into `buf`, refusing one larger than `limit` (checked while reading:
    /// a file can grow). Opened without following a link's target blindly, and never
    /// blocking (a FIFO put in its place reads as empty).
    pub fn read(&self, limit: u64, buf: &mut Vec<u8>) -> Result<(), String> {
        let io = |e: std::io::Error| format!("cannot read: {e}");
        let Some(dir) = self.dir else {
            return Err("cannot read: its directory is gone".to_string());
        };
        let fd = openat(
            dir,
            self.name.as_c_str(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| io(e.into()))?;
        buf.clear();
        // Reading one byte past the limit tells a file that is too large without reading it
        // all.
        let n = std::fs::File::from(fd)
            .take(limit + 1)
            .read_to_end(buf)
            .map_err(io)? as u64;
        if n > limit {
            return Err(too_large(limit));
        }
        Ok(())
    }
}

/// The message for a file larger than `--max-result-bytes`.
pub fn too_large(limit: u64) -> String {
    format!("file too large (more than --max-result-bytes {limit} bytes)")
}

/// Calls `each` for every file below the job's directory `root` (a missing directory has
/// none), in path order; in each directory, first `each(item, true)` for the files to be read
/// before the others (the job's benchmark, AIPerf's markers), then `each(item, false)` for
/// every file, those included.
pub fn visit(root: &Path, each: &mut dyn FnMut(&Item, bool)) {
    let dir = match openat(
        rustix::fs::CWD,
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOENT => return,
        Err(e) => {
            let name = CString::default();
            each(
                &Item {
                    path: root,
                    kind: Kind::Unreadable(format!(
                        "cannot list the job's directory: {}",
                        std::io::Error::from(e)
                    )),
                    dir: None,
                    name: &name,
                },
                false,
            );
            return;
        }
    };
    walk(root, dir, true, 0, each);
}

/// One directory (open as `fd`), and below it.
fn walk(path: &Path, fd: OwnedFd, top: bool, depth: usize, each: &mut dyn FnMut(&Item, bool)) {
    let mut names: Vec<(CString, FileType)> = Vec::new();
    let listed = Dir::new(fd).and_then(|mut d| {
        while let Some(e) = d.read() {
            let e = e?;
            let name = e.file_name();
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                names.push((name.to_owned(), e.file_type()));
            }
        }
        Ok(d)
    });
    let d = match listed {
        Ok(d) => d,
        Err(e) => {
            let name = CString::default();
            let error = format!("cannot list directory: {}", std::io::Error::from(e));
            each(
                &Item {
                    path,
                    kind: Kind::Unreadable(error),
                    dir: None,
                    name: &name,
                },
                false,
            );
            return;
        }
    };
    let Ok(fd) = d.fd() else { return };
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let classified: Vec<(PathBuf, Kind, bool)> = names
        .iter()
        .map(|(name, t)| {
            let child = path.join(OsStr::from_bytes(name.to_bytes()));
            let (kind, is_dir) = what(fd, name, *t, top, path, &child);
            (child, kind, is_dir)
        })
        .collect();
    // First the files that judge the others (the job's benchmark, AIPerf's markers).
    for ((path, kind, _), (name, _)) in classified.iter().zip(&names) {
        let kind = match kind {
            Kind::AiperfMarker => Kind::AiperfMarker,
            Kind::Benchmark => Kind::Benchmark,
            _ => continue,
        };
        each(
            &Item {
                path,
                kind,
                dir: Some(fd),
                name,
            },
            true,
        );
    }
    // Then every entry in name order, which is path order: a directory's files where its
    // name sorts.
    let none = CString::default();
    for ((child, kind, is_dir), (name, _)) in classified.into_iter().zip(&names) {
        if !is_dir {
            let item = Item {
                path: &child,
                kind,
                dir: Some(fd),
                name,
            };
            each(&item, false);
            continue;
        }
        if depth + 1 >= MAX_DEPTH {
            let why = format!("a directory more than {MAX_DEPTH} levels down, not searched");
            let item = Item {
                path: &child,
                kind: Kind::NotResult(why.into()),
                dir: None,
                name: &none,
            };
            each(&item, false);
            continue;
        }
        match openat(
            fd,
            name.as_c_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(sub) => walk(&child, sub, false, depth + 1, each),
            Err(e) => {
                let error = format!("cannot list directory: {}", std::io::Error::from(e));
                let item = Item {
                    path: &child,
                    kind: Kind::Unreadable(error),
                    dir: None,
                    name: &none,
                };
                each(&item, false);
            }
        }
    }
}

/// What an entry is, and whether it is a directory to walk. Directories are followed only
/// when they are real ones (no symlink loops); a link is read as what it points to when that
/// is a regular file; nothing else is ever opened (a FIFO would block).
fn what(
    dir: BorrowedFd,
    name: &CString,
    t: FileType,
    top: bool,
    path: &Path,
    child: &Path,
) -> (Kind, bool) {
    let t = if t == FileType::Unknown {
        // Some filesystems do not say in the listing.
        statat(dir.as_fd(), name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_or(FileType::Unknown, |s| FileType::from_raw_mode(s.st_mode))
    } else {
        t
    };
    match t {
        FileType::Directory => (Kind::Json, true),
        FileType::RegularFile => (classify(top, path, child), false),
        FileType::Symlink => match statat(dir, name.as_c_str(), AtFlags::empty()) {
            Ok(s) => match FileType::from_raw_mode(s.st_mode) {
                FileType::RegularFile => (classify(top, path, child), false),
                FileType::Directory => (
                    Kind::NotResult("a symbolic link to a directory (not followed)".into()),
                    false,
                ),
                _ => (
                    Kind::NotResult("a symbolic link to something not a file".into()),
                    false,
                ),
            },
            Err(e) => (
                Kind::Unreadable(format!("cannot read: {}", std::io::Error::from(e))),
                false,
            ),
        },
        _ => (
            Kind::NotResult("not a regular file (a FIFO, socket or device)".into()),
            false,
        ),
    }
}

/// What to do with the regular file `path` in `dir` (`top`: the job's own directory).
fn classify(top: bool, dir: &Path, path: &Path) -> Kind {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Kind::NotResult("a file name that is not UTF-8".into());
    };
    if name == AIPERF_MARKER {
        return Kind::AiperfMarker;
    }
    if name == BENCHMARK_FILE && top {
        return Kind::Benchmark;
    }
    if !(name.ends_with(".json") || name.ends_with(".jsonl")) {
        return Kind::NotResult(match name {
            "profile_export_aiperf.csv" => {
                "AIPerf's CSV copy of profile_export_aiperf.json (read from the JSON)".into()
            }
            _ => "not a JSON file (results are read from .json and .jsonl files)".into(),
        });
    }
    // AIPerf 0.13 writes each phase's metrics again under phases/<phase>/: the run is the
    // top-level profile_export_aiperf.json, counted once.
    if name == "profile_export_aiperf.json" {
        let phase = dir.file_name().and_then(|n| n.to_str());
        let phases = dir.parent().and_then(|p| p.file_name()) == Some("phases".as_ref());
        if let (Some(phase), true) = (phase, phases) {
            return Kind::NotResult(
                format!("AIPerf's copy of its {phase} phase (the run is read once, from ../../profile_export_aiperf.json)").into(),
            );
        }
    }
    Kind::Json
}
