//! Where a record's results are: the directories of its current submission's jobs
//! (`<log_dir>/<job_id>/`, `<log_dir>/<retry id>/`), and in them the files that are benchmark
//! results, recognised by content.

use std::io::Read;
use std::path::{Path, PathBuf};
use sweep::Record;

/// How deep below a job's directory result files are looked for (sa-bench writes one level
/// down, `sa-bench_isl_*_osl_*/`).
const MAX_DEPTH: usize = 4;

/// Bytes of a file's start looked at to recognise a result.
const HEAD: usize = 64 * 1024;

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

/// A result file: its path, and its whole content when recognising it already read it all
/// (small files, the usual case: one open and one read per file).
pub struct ResultFile {
    pub path: PathBuf,
    pub content: Option<Vec<u8>>,
}

/// The result files under `dir`, sorted by path (a missing directory has none).
pub fn result_files(dir: &Path) -> Vec<ResultFile> {
    let mut found = Vec::new();
    walk(dir, 0, &mut found);
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<ResultFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        // Directories are followed only when they are real ones (no symlink loops).
        if kind.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(&path, depth + 1, found);
            }
        } else if let Some(content) = recognise(&path) {
            found.push(ResultFile { path, content });
        }
    }
}

/// Whether `path` is a result file: a `.json` or `.jsonl` file that starts with an object
/// mentioning `"output_throughput"` (both tools write it early), or that sa-bench named
/// `results_*.json` (then even an empty or broken one is reported). Other JSON files (config
/// dumps, the demo's node reports, vLLM's `.pytorch.json`, which is an array) are not
/// results. `Some(Some(content))` when the look at its start read the whole file.
fn recognise(path: &Path) -> Option<Option<Vec<u8>>> {
    let name = path.file_name()?.to_str()?;
    if !(name.ends_with(".json") || name.ends_with(".jsonl")) || name.starts_with('.') {
        return None;
    }
    if name.starts_with("results_") && name.ends_with(".json") && !name.ends_with(".pytorch.json") {
        return Some(None);
    }
    let file = std::fs::File::open(path).ok()?;
    let mut head = Vec::with_capacity(8 * 1024);
    // One byte more than the look needs tells whether the file ended within it.
    file.take(HEAD as u64 + 1).read_to_end(&mut head).ok()?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    let seen = &head[..head.len().min(HEAD)];
    if first != Some(&b'{') || !contains(seen, b"\"output_throughput\"") {
        return None;
    }
    Some((head.len() <= HEAD).then_some(head))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
