//! Where a record's results are: the directories of its current submission's jobs
//! (`<log_dir>/<job_id>/`, `<log_dir>/<retry id>/`), and every file in them, each with what
//! is to be done with it. Nothing below a job's directory is passed over in silence: a file is
//! read for results, read for what it says about them (AIPerf's completion marker, the job's
//! benchmark request), or listed as not a result with the reason.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use sweep::Record;

/// How deep below a job's directory files are looked for; a deeper directory is listed as
/// not searched.
const MAX_DEPTH: usize = 16;

/// What the job script writes into the job's directory: the benchmark it asked for.
pub const BENCHMARK_FILE: &str = "sweep_benchmark.json";

/// AIPerf's marker, written last, next to `profile_export_aiperf.json`.
pub const AIPERF_MARKER: &str = ".aiperf_results_ready.json";

/// The jobs of the record's current submission, with their directories: the job, then its
/// `--retries` follow-ups. Earlier submissions (`history`) are not read.
pub fn job_dirs(r: &Record) -> Vec<(String, PathBuf)> {
    let (Some(log_dir), Some(job_id)) = (&r.log_dir, &r.job_id) else {
        return Vec::new();
    };
    std::iter::once(job_id)
        .chain(&r.retry_job_ids)
        .map(|id| (id.clone(), Path::new(log_dir).join(id)))
        .collect()
}

/// A file (or a directory not searched) below a job's directory.
pub struct Entry {
    pub path: PathBuf,
    pub kind: Kind,
}

/// What is done with an [`Entry`].
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
    /// Could not be looked at (a directory that cannot be listed): the error.
    Unreadable(String),
}

/// Every entry below `dir`, sorted by path (a missing directory has none).
pub fn entries(dir: &Path) -> Vec<Entry> {
    let mut found = Vec::new();
    if let Err(e) = walk(dir, dir, 0, &mut found) {
        if e.kind() != std::io::ErrorKind::NotFound {
            found.push(Entry {
                path: dir.to_path_buf(),
                kind: Kind::Unreadable(format!("cannot list the job's directory: {e}")),
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<Entry>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                found.push(Entry {
                    path: dir.to_path_buf(),
                    kind: Kind::Unreadable(format!("cannot list directory: {e}")),
                });
                continue;
            }
        };
        let path = entry.path();
        let kind = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                found.push(Entry {
                    path,
                    kind: Kind::Unreadable(format!("cannot look at it: {e}")),
                });
                continue;
            }
        };
        // Directories are followed only when they are real ones (no symlink loops).
        if kind.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                found.push(not_result(
                    path,
                    format!("a directory more than {MAX_DEPTH} levels down, not searched"),
                ));
            } else if let Err(e) = walk(root, &path, depth + 1, found) {
                found.push(Entry {
                    path,
                    kind: Kind::Unreadable(format!("cannot list directory: {e}")),
                });
            }
            continue;
        }
        let kind = if kind.is_file() {
            classify(root, dir, &path)
        } else if kind.is_symlink() {
            // A link is read as what it points to, when that is a file; never opened blind (a
            // FIFO would block).
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => classify(root, dir, &path),
                Ok(m) if m.is_dir() => {
                    Kind::NotResult("a symbolic link to a directory (not followed)".into())
                }
                Ok(_) => Kind::NotResult("a symbolic link to something not a file".into()),
                Err(e) => Kind::Unreadable(format!("cannot read: {e}")),
            }
        } else {
            Kind::NotResult("not a regular file (a FIFO, socket or device)".into())
        };
        found.push(Entry { path, kind });
    }
    Ok(())
}

fn not_result(path: PathBuf, why: String) -> Entry {
    Entry {
        path,
        kind: Kind::NotResult(why.into()),
    }
}

/// What to do with the regular file `path` in `dir`, below the job's directory `root`.
fn classify(root: &Path, dir: &Path, path: &Path) -> Kind {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Kind::NotResult("a file name that is not UTF-8".into());
    };
    if name == AIPERF_MARKER {
        return Kind::AiperfMarker;
    }
    if name == BENCHMARK_FILE && dir == root {
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
