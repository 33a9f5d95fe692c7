//! Files that are complete or absent: write to a temporary name in the same directory, then
//! rename over the target. A target that is a device, FIFO or socket (`--output /dev/null`) is
//! written into instead, never renamed over; a symbolic link is followed.

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
    let real = match target(path)? {
        Target::Stream => return write_stream(path, |w| Ok(w.write_all(bytes)?)),
        Target::Regular(real) => real,
    };
    let tmp = temp_path(&real);
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, &real)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("failed to write {}", path.display()));
    }
    Ok(())
}

/// Where a write to `path` goes. A regular file (or a new one) is replaced by a rename; a
/// symbolic link is followed, so the link stays and the file it names is replaced (a
/// manifest kept as `latest.json -> sweep_3/sweep_manifest.json` stays a link). A device,
/// FIFO or socket (`--output /dev/null`, `--report /dev/stdout`, a named pipe) is written
/// into as it is: renaming a file over it would replace `/dev/null` itself with a regular
/// file, for every program on the machine.
enum Target {
    /// the path to rename onto: `path` itself, or the file a symbolic link names
    Regular(PathBuf),
    Stream,
}

fn target(path: &Path) -> Result<Target> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if !link {
                return Ok(Target::Regular(path.to_path_buf()));
            }
            let real = fs::canonicalize(path)
                .with_context(|| format!("failed to resolve {}", path.display()))?;
            Ok(Target::Regular(real))
        }
        Ok(meta) if meta.is_dir() => Err(anyhow::anyhow!(
            "failed to write {}: it is a directory",
            path.display()
        )),
        Ok(_) => Ok(Target::Stream),
        // absent (or a dangling link, which the rename replaces): a new regular file
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Ok(Target::Regular(path.to_path_buf()))
        }
        Err(err) => Err(err).with_context(|| format!("failed to write {}", path.display())),
    }
}

/// Writes into a device, FIFO or socket that already exists, without creating, truncating
/// or renaming anything.
fn write_stream(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let result = (|| -> Result<()> {
        let file = fs::OpenOptions::new().write(true).open(path)?;
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
        fill(&mut w)?;
        w.flush()?;
        Ok(())
    })();
    result.with_context(|| format!("failed to write {}", path.display()))
}

/// [`write_atomic`] for content too large to hold in memory at once: `fill` writes it into a
/// buffered temporary file, which is synced and renamed over `path` only if `fill` succeeds.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let real = match target(path)? {
        Target::Stream => return write_stream(path, fill),
        Target::Regular(real) => real,
    };
    let tmp = temp_path(&real);
    let result = (|| -> Result<()> {
        let file = fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(fs::rename(&tmp, &real)?)
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

/// The name [`create_sweep_dir`] would give a new sweep directory under `parent` now (the
/// first `sweep_YYYYMMDD_HHMMSS[_N]` not taken), absolute, made nowhere: for a run that
/// writes nothing.
pub fn new_sweep_dir_name(parent: &Path) -> Result<PathBuf> {
    let stamp = chrono::Local::now()
        .format("sweep_%Y%m%d_%H%M%S")
        .to_string();
    for n in 1..10_000 {
        let dir = match n {
            1 => parent.join(&stamp),
            _ => parent.join(format!("{stamp}_{n}")),
        };
        if !dir.exists() {
            return absolute(&dir);
        }
    }
    anyhow::bail!(
        "no name left for a new sweep directory under {}",
        parent.display()
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, FileTypeExt};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sweep-fsutil-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fifo_is_written_into_not_replaced() {
        let dir = scratch("fifo");
        let fifo = dir.join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).unwrap())
        };
        write_atomic(&fifo, b"one\n").unwrap();
        // checked before joining: a reader of a FIFO that was renamed over would wait forever
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"one\n");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).unwrap())
        };
        write_atomic_with(&fifo, |w| Ok(w.write_all(b"two\n")?)).unwrap();
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"two\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pipe"], "no temporary file left beside the FIFO");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_device_stays_a_device() {
        // /dev/null's own kind of file, made where the test may break nothing: as root a copy
        // of it (char 1,3); elsewhere /dev/null itself, which is what a user would name.
        let dir = scratch("dev");
        let copy = dir.join("null");
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            &copy,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        );
        let dev = if made.is_ok() {
            copy
        } else {
            PathBuf::from("/dev/null")
        };
        write_atomic(&dev, b"x").unwrap();
        write_atomic_unsynced(&dev, b"x").unwrap();
        write_atomic_with(&dev, |w| Ok(w.write_all(b"x")?)).unwrap();
        let meta = fs::symlink_metadata(&dev).unwrap();
        assert!(
            meta.file_type().is_char_device(),
            "{} is no longer a device",
            dev.display()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symbolic_link_is_followed_and_kept() {
        let dir = scratch("link");
        fs::write(dir.join("real.json"), "old").unwrap();
        symlink("real.json", dir.join("latest.json")).unwrap();
        write_atomic(&dir.join("latest.json"), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.join("latest.json"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(dir.join("real.json")).unwrap(), "new");
        let err = write_atomic(&dir, b"x").unwrap_err();
        assert!(format!("{err:#}").contains("is a directory"), "{err:#}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
