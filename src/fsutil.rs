//! Files that are complete or absent: write to a temporary name in the same directory, then
//! rename over the target.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: readers see the old file, or the new one whole, never a
/// prefix. On any error the temporary file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_renamed(path, bytes, true)
}

/// [`write_atomic`] without the `fsync`: still complete or absent for every other process,
/// after a crash of this one and on a full disk, but a power loss before the kernel writes the
/// data back may leave the file empty. For many small files that can be regenerated, where an
/// `fsync` each (about 1 ms on a local disk, a server round trip on NFS) would cost more than
/// all the other work together.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    write_renamed(path, bytes, false)
}

fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("failed to write {}", path.display()));
    }
    Ok(())
}

/// [`write_atomic`] for content too large to hold in memory at once: `fill` writes it into a
/// buffered temporary file, which is synced and renamed over `path` only if `fill` succeeds.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        let file = fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(fs::rename(&tmp, path)?)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("failed to write {}", path.display()));
    }
    Ok(())
}

/// `dir/.name.tmp.<pid>`: hidden, in the same directory (rename must not cross file systems),
/// unique per process.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

/// Makes `path` absolute against the current directory without touching the file system
/// (no symlink resolution, the path need not exist), spelled one way ([`normal`]). Records
/// carry absolute paths so that a record alone, read later from another directory, still
/// finds its files.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path)
        .with_context(|| format!("failed to resolve {}", path.display()))?;
    Ok(normal(&abs))
}

/// `path` spelled one way, by its text alone: no trailing `/`, no `//`, no `.` component
/// (`/a/b/`, `/a//b` and `/a/./b` are `/a/b`). A sweep directory is keyed (its tags) and
/// locked by its path: two spellings of one directory in one run would be two sweeps, each
/// waiting for the other's lock. `..` is kept (`a/link/..` is not `a` when `link` is a
/// symbolic link); such aliases are told apart by the directory itself (see sweep-submit).
pub fn normal(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Opens `path` for reading only when it is a regular file (a symbolic link to one too): a
/// FIFO, socket or device that a job left where a log or a result is expected is an error
/// (`InvalidInput`), never opened (opening a FIFO waits for a writer; a device may act on
/// being opened). Checked before the open and again on what was opened (non-blocking).
pub fn open_regular(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device)",
        )
    };
    if !fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nonblock)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// `path` as a string for a record: records carry paths as JSON strings, so a path that is
/// not UTF-8 is an error rather than a lossy copy that names some other file.
pub fn utf8(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("path {} is not valid UTF-8", path.display()))
}

/// Creates a new sweep directory `sweep_YYYYMMDD_HHMMSS` (local time, as the seed names them)
/// under `parent`. Two sweeps started in the same second never share one: creation is atomic
/// (`create_dir` fails if the directory exists) and a taken name gets a `_2`, `_3`... suffix.
pub fn create_sweep_dir(parent: &Path) -> Result<PathBuf> {
    let stamp = chrono::Local::now()
        .format("sweep_%Y%m%d_%H%M%S")
        .to_string();
    fs::create_dir_all(parent)
        .with_context(|| format!("failed to create directory {}", parent.display()))?;
    for n in 1..10_000 {
        let name = if n == 1 {
            stamp.clone()
        } else {
            format!("{stamp}_{n}")
        };
        let dir = parent.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return absolute(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to create directory {}", dir.display()))
            }
        }
    }
    anyhow::bail!(
        "failed to create a sweep directory under {}: every name is taken",
        parent.display()
    )
}
