//! Pass 1, read, check, place: the records of a run, read once and kept on disk, so that
//! memory does not grow with their number (a 100,000-combination sweep on a login node whose
//! memory is shared).
//!
//! The first pass reads every input, checks every record (nothing is submitted until all are
//! good), gives each its sweep directory and its number there, and writes it (as JSON, with
//! those two fields set) to an unnamed temporary file. What stays in memory per record is
//! [`Slim`]: where it came from and its sweep directory. Later passes read the records again,
//! in order, from the temporary file, each as a [`Placed`] record.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use sweep::jsonl::Input;
use sweep::state::{LockKind, Numbers};
use sweep::Record;

/// What a run keeps in memory of one record: where it came from, for messages, and its
/// sweep directory.
#[derive(Debug, Clone)]
pub struct Slim {
    /// Which input (an index into [`Spool::inputs`]).
    input: u32,
    /// Its line there.
    line: u32,
    dir: DirId,
}

/// A sweep directory of the run: its position in [`Spool::dirs`] (and in
/// `crate::sweeps::Sweeps`, which opens them in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirId(pub u32);

/// A record read back in a later pass: placed in its sweep directory and numbered there.
pub struct Placed {
    /// Where it came from (`<stdin>:7`), for messages.
    pub origin: String,
    /// Its sweep directory (the record's `sweep_dir`).
    pub dir: DirId,
    pub record: Record,
}

/// How a run places its records in their sweep directories.
#[derive(Debug, Clone)]
pub struct Placing {
    /// A real run: new numbers are written down, directories made. Else (a plan, a dry run)
    /// nothing is: numbers are given in memory as a real run would give them, and a new
    /// sweep directory is only named.
    pub writes: bool,
    /// The run renders the records' configs itself (`--sweep-config`), but does not this
    /// time (a plan, a dry run): a record with SGLang values gets the `config_path`
    /// sweep-render would give it, `<sweep dir>/sglang_config_<index>.yaml`.
    pub configs_unrendered: bool,
    /// The records are `--sweep-config`'s, made from this sweep file: messages name a record
    /// `s.yaml (combination N)`, never a file of a sweep directory that may be removed
    /// before the message is read.
    pub made_from: Option<String>,
}

/// What submission needs from a record beyond its shape: an id fit for a tag, an absolute
/// sweep directory, and the config file of its SGLang values (unless `config_coming`: the run
/// gives it the one it will render).
pub fn check(r: &Record, config_coming: bool) -> Result<()> {
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
    if let Some(c) = &r.concurrencies {
        sweep::concurrencies::check(c).map_err(anyhow::Error::msg)?;
    }
    if r.has_sglang() && r.config_path.is_none() && !config_coming {
        bail!(
            "index {}: the record has SGLang values but no config_path, so every job would run the same engine config; pipe the records through sweep-render first (sweep-expand FILE | sweep-render --out-dir DIR | sweep-submit ...)",
            r.index
        );
    }
    Ok(())
}

/// The records of a run, on disk, in input order.
pub struct Spool {
    file: File,
    /// The inputs' names, for messages.
    inputs: Vec<String>,
    /// The sweep directories, in order of first appearance ([`DirId`] is a position here).
    pub dirs: Vec<String>,
    /// One per record, in order.
    slims: Vec<Slim>,
    /// Job IDs the records name (their own job, follow-ups, history): Slurm is asked about
    /// them before anything is submitted.
    pub named_jobs: BTreeSet<String>,
    /// See [`Placing::made_from`].
    made_from: Option<String>,
}

/// A sweep directory being numbered in the first pass.
struct Numbering {
    numbers: Numbers,
    /// Held while the records are numbered (a sweep-render into the same directory waits);
    /// none in a run that writes nothing.
    _lock: Option<sweep::state::Lock>,
}

impl Spool {
    /// Reads and checks every record of every input (`output_dir`: the sweep directory of
    /// records without one; a new one is made, and named on stderr, if some record needs it).
    pub fn read(paths: &[PathBuf], output_dir: Option<PathBuf>, how: &Placing) -> Result<Spool> {
        let file = anonymous_file()?;
        let mut out = BufWriter::with_capacity(256 * 1024, file.try_clone()?);
        let mut spool = Spool {
            file,
            inputs: Vec::new(),
            dirs: Vec::new(),
            slims: Vec::new(),
            named_jobs: BTreeSet::new(),
            made_from: how.made_from.clone(),
        };
        let mut output_dir = output_dir;
        let mut dir_index: BTreeMap<String, u32> = BTreeMap::new();
        let mut numbering: BTreeMap<u32, Numbering> = BTreeMap::new();
        // First sighting of each combination per sweep directory: the same one twice would be
        // submitted twice.
        let mut seen: BTreeMap<(u32, String), (u32, u32)> = BTreeMap::new();
        for input in Input::open_all(paths)? {
            let input_no = u32::try_from(spool.inputs.len()).context("too many inputs")?;
            spool.inputs.push(input.name.clone());
            for item in input.records::<Record>() {
                let (line, mut record) = item?;
                let line = u32::try_from(line).context("more than 4 billion lines")?;
                let origin = spool.origin_of(input_no, line);
                check(&record, how.configs_unrendered)
                    .with_context(|| format!("{origin}: invalid record"))?;
                // One spelling per directory (`D/` is `D`): its tags and its locks are its path's.
                let dir = match &record.sweep_dir {
                    Some(d) => sweep::fsutil::utf8(&sweep::fsutil::normal(Path::new(d)))?,
                    None => sweep::fsutil::utf8(&new_dir(&mut output_dir, how.writes)?)?,
                };
                let d = match dir_index.get(&dir) {
                    Some(&d) => d,
                    None => {
                        let next =
                            u32::try_from(dir_index.len()).context("too many sweep directories")?;
                        same_directory(&dir, &spool.dirs, how.writes)
                            .with_context(|| format!("{origin}: invalid record"))?;
                        dir_index.insert(dir.clone(), next);
                        spool.dirs.push(dir.clone());
                        next
                    }
                };
                if let Some((i, l)) = seen.insert((d, record.id.clone()), (input_no, line)) {
                    bail!(
                        "{origin}: combination {} (index {}) appears twice for the same sweep directory (first at {}): it would be submitted twice",
                        record.id,
                        record.index,
                        spool.origin_of(i, l)
                    );
                }
                let n = match numbering.entry(d) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(open_numbering(Path::new(&dir), how.writes)?)
                    }
                };
                record.index = n.numbers.number(&record.id, record.index)?;
                if how.configs_unrendered && record.has_sglang() && record.config_path.is_none() {
                    let config =
                        Path::new(&dir).join(format!("sglang_config_{}.yaml", record.index));
                    record.config_path = Some(sweep::fsutil::utf8(&config)?);
                }
                record.sweep_dir = Some(dir);
                spool.name_jobs(&record);
                serde_json::to_writer(&mut out, &record)?;
                out.write_all(b"\n")?;
                spool.slims.push(Slim {
                    input: input_no,
                    line,
                    dir: DirId(d),
                });
            }
        }
        out.flush()
            .context("failed to write the records' temporary file")?;
        Ok(spool)
    }

    fn name_jobs(&mut self, r: &Record) {
        self.named_jobs.extend(r.every_job().cloned());
    }

    /// `name:line` of record `i`.
    pub fn origin(&self, i: usize) -> String {
        let s = &self.slims[i];
        self.origin_of(s.input, s.line)
    }

    /// `name:line`, or `s.yaml (combination N)` for `--sweep-config`'s records.
    fn origin_of(&self, input: u32, line: u32) -> String {
        match &self.made_from {
            Some(file) => format!("{file} (combination {})", line.saturating_sub(1)),
            None => format!("{}:{line}", self.inputs[input as usize]),
        }
    }

    /// The records again, in order, each with its position: a new pass over the file.
    pub fn records(&self) -> Result<Records<'_>> {
        let mut file = self.file.try_clone()?;
        file.rewind()?;
        Ok(Records {
            spool: self,
            reader: BufReader::with_capacity(256 * 1024, file),
            next: 0,
            buf: String::new(),
        })
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.slims.len()
    }
}

/// One pass over the spooled records: `(position, record)`.
pub struct Records<'a> {
    spool: &'a Spool,
    reader: BufReader<File>,
    next: usize,
    buf: String,
}

impl Iterator for Records<'_> {
    type Item = Result<(usize, Placed)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.spool.slims.len() {
            return None;
        }
        let i = self.next;
        self.next += 1;
        self.buf.clear();
        let read = self
            .reader
            .read_line(&mut self.buf)
            .context("failed to read the records' temporary file");
        Some(read.and_then(|_| {
            let record: Record = serde_json::from_str(&self.buf)
                .context("the records' temporary file was changed under us")?;
            Ok((
                i,
                Placed {
                    origin: self.spool.origin(i),
                    dir: self.spool.slims[i].dir,
                    record,
                },
            ))
        }))
    }
}

/// `--output-dir`, or one new `./sweep_YYYYMMDD_HHMMSS` for the run (said on stderr: it is
/// where the sweep's state and scripts are), made only when the run `writes`.
fn new_dir(output_dir: &mut Option<PathBuf>, writes: bool) -> Result<PathBuf> {
    if let Some(d) = output_dir {
        return Ok(d.clone());
    }
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let d = match writes {
        true => sweep::fsutil::create_sweep_dir(&cwd)?,
        false => sweep::fsutil::new_sweep_dir_name(&cwd)?,
    };
    let made = if writes { "" } else { " (a real run makes it)" };
    sweep::cli::warn(format_args!("sweep directory: {}{made}", d.display()));
    *output_dir = Some(d.clone());
    Ok(d)
}

/// Creates the sweep directory `dir` if needed (when the run `writes`), and fails when it is
/// one of `dirs` under another name (a symbolic link, `..`): one directory would be two
/// sweeps of one run, with two sweep keys, each waiting for the other's lock.
fn same_directory(dir: &str, dirs: &[String], writes: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if writes {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create directory {dir}"))?;
    }
    let id = |d: &str| std::fs::metadata(d).ok().map(|m| (m.dev(), m.ino()));
    let me = id(dir);
    if let Some(other) = dirs.iter().find(|o| me.is_some() && id(o) == me) {
        bail!(
            "sweep_dir {dir:?} is the directory {other:?} under another name (a symbolic link, or ..): give every record of one sweep the same sweep_dir"
        );
    }
    Ok(())
}

/// Locks a sweep directory's names and reads its numbers; for a run that writes nothing,
/// only reads them (a new number is then only given in memory).
fn open_numbering(dir: &Path, writes: bool) -> Result<Numbering> {
    if !writes {
        return Ok(Numbering {
            numbers: Numbers::peek(dir)?,
            _lock: None,
        });
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;
    let lock = sweep::state::lock(dir, LockKind::Names)?;
    Ok(Numbering {
        numbers: Numbers::load(dir)?,
        _lock: Some(lock),
    })
}

/// A temporary file that has no name: removed as soon as it is made, so nothing is left
/// behind whatever ends the process.
fn anonymous_file() -> Result<File> {
    let dir = std::env::temp_dir();
    for n in 0..100u32 {
        let path = dir.join(format!(
            ".sweep-submit-{}-{}-{n}",
            std::process::id(),
            chrono::Local::now()
                .timestamp_nanos_opt()
                .unwrap_or_default()
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                let _ = std::fs::remove_file(&path);
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("failed to make a temporary file in {}", dir.display())
                })
            }
        }
    }
    bail!("failed to make a temporary file in {}", dir.display())
}
