//! What goes into a record's config file, and where it goes: the output directory, created on
//! first use, and files that are written once, complete, and never silently replaced.

use crate::yaml_writer;
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use sweep::state::{self, Lock, LockKind, Numbers};
use sweep::{Mode, Record, Role};

/// The config text for `record`: `prefill:` and `decode:` sections (common values, then that
/// role's own) for disagg, a flat mapping for agg. The error says what is wrong with the
/// record, without position.
pub fn render(record: &Record) -> Result<String, String> {
    let mut out = String::with_capacity(512);
    match record.mode {
        Mode::Disagg => {
            let _ = writeln!(
                out,
                "# sglang_config_{}.yaml (disaggregated): dynamo.sglang --config FILE --config-key prefill|decode",
                record.index
            );
            let mut roles = Map::new();
            for role in Role::ALL {
                roles.insert(
                    role.as_str().into(),
                    Value::Object(record.sglang_for_role(role)),
                );
            }
            yaml_writer::document(&roles, &mut out)?;
        }
        Mode::Agg => {
            if record.role_parameters.is_some() {
                return Err("role_parameters are for disagg records, this one is agg".into());
            }
            let _ = writeln!(
                out,
                "# sglang_config_{}.yaml (aggregated): dynamo.sglang --config FILE",
                record.index
            );
            yaml_writer::document(&record.parameters.sglang, &mut out)?;
        }
    }
    Ok(out)
}

/// The sweep directory the configs go to: given (`--out-dir`) or a new
/// `sweep_YYYYMMDD_HHMMSS`, created at the first record so that an empty input leaves nothing
/// behind. While a run uses it, it holds the directory's names lock: a second sweep-render (or
/// a sweep-submit giving numbers) into the same directory waits, so two runs never give one
/// number, or one file, to two combinations.
pub struct OutDir {
    requested: Option<PathBuf>,
    force: bool,
    /// Once opened: the directory, its lock and its numbers.
    open: Option<Opened>,
    /// Numbers the records of this run have claimed (kept only under `--force`, where the disk
    /// no longer tells an earlier run's file from one this run wrote for another record).
    written: BTreeSet<u64>,
}

struct Opened {
    dir: PathBuf,
    /// The same as a string, for records.
    text: String,
    numbers: Numbers,
    _lock: Lock,
}

/// Where a record's config went.
pub struct Written {
    /// Absolute path of the config file.
    pub path: String,
}

impl OutDir {
    /// `requested` is made absolute now (the process could not find it again after a `cd`);
    /// nothing is created yet.
    pub fn new(requested: Option<&Path>, force: bool) -> Result<OutDir> {
        let requested = requested.map(sweep::fsutil::absolute).transpose()?;
        Ok(OutDir {
            requested,
            force,
            open: None,
            written: BTreeSet::new(),
        })
    }

    /// Gives `record` its number in the sweep directory (see [`sweep::state::Numbers`]: the
    /// number it had, else its index when free, else a fresh one) and its `sweep_dir`.
    pub fn place(&mut self, record: &mut Record) -> Result<()> {
        let open = self.open()?;
        record.index = open.numbers.number(&record.id, record.index)?;
        record.sweep_dir = Some(open.text.clone());
        Ok(())
    }

    /// Writes `text` as `sglang_config_{index}.yaml`. An identical existing file is left alone;
    /// a different one is an error unless `--force` (and never when this run wrote it).
    /// `at` is the record's position, `name:N`, for errors caused by the record.
    pub fn write(&mut self, index: u64, text: &str, at: &str) -> Result<Written> {
        let force = self.force;
        let dir = self.open()?.dir.clone();
        let path = dir.join(format!("sglang_config_{index}.yaml"));
        let written = Written {
            path: sweep::fsutil::utf8(&path)?,
        };
        // Every number a record of this run has claimed, whether its file was written now or
        // was already there, identical: a later record must not take the file from it.
        let claimed = force && !self.written.insert(index);
        match fs::read(&path) {
            Ok(existing) if existing == text.as_bytes() => return Ok(written),
            Ok(_) if claimed => bail!(
                "{at}: index {index} was already rendered in this run with a different config ({})",
                path.display()
            ),
            Ok(_) if !force => bail!(
                "{at}: {} already exists with different content: the record's values no longer match its id, or the file was edited (--force replaces it, and the job that used it then no longer matches it)",
                path.display()
            ),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
        }
        // No fsync per file: see docs/sweep-render.md (Durability).
        sweep::fsutil::write_atomic_unsynced(&path, text.as_bytes())?;
        Ok(written)
    }

    /// The directory, created, locked and its numbers loaded on first call.
    fn open(&mut self) -> Result<&mut Opened> {
        if self.open.is_none() {
            let dir = match &self.requested {
                Some(dir) => {
                    fs::create_dir_all(dir)
                        .with_context(|| format!("failed to create directory {}", dir.display()))?;
                    dir.clone()
                }
                None => {
                    let cwd =
                        std::env::current_dir().context("failed to find the current directory")?;
                    sweep::fsutil::create_sweep_dir(&cwd)?
                }
            };
            let text = sweep::fsutil::utf8(&dir)?;
            let lock = state::lock(&dir, LockKind::Names)?;
            let numbers = Numbers::load(&dir)?;
            self.open = Some(Opened {
                dir,
                text,
                numbers,
                _lock: lock,
            });
        }
        Ok(self.open.as_mut().expect("set above"))
    }
}
