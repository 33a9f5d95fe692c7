//! `--sweep-config PATH`, the seed's one-command usage: runs the sibling programs
//! `sweep-expand PATH | sweep-render --out-dir DIR` and submits what they produce. Their
//! records are saved first as `DIR/records.jsonl`, so they are read and checked whole before
//! anything is submitted, exactly like records piped in. Like the seed, it leaves the sweep's
//! manifest in `DIR/sweep_manifest.json`, made by the sibling `sweep-collect` from the records
//! as they are written; on a terminal the records are not printed, the table of the manifest
//! is shown instead.
//!
//! A sweep directory this run made is removed again when anything fails before the
//! submission pass begins (a bad sweep file, a missing option, a launch script not found:
//! every check comes before it): a failed start leaves nothing behind.

use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use sweep::cli::warn;

/// What `--sweep-config` passes on to sweep-expand and sweep-render.
pub struct Passed {
    /// `--max-jobs N` for sweep-expand.
    pub max_jobs: Option<u64>,
    /// `--force` for sweep-render.
    pub force: bool,
}

/// The sweep directory of a `--sweep-config` run, removed on drop while it is `armed` (made by
/// this run, nothing submitted yet).
pub struct SweepDir {
    pub dir: PathBuf,
    armed: bool,
}

impl SweepDir {
    /// `dir` (`--output-dir`); else the sweep directory an earlier `--sweep-config` run of the
    /// same sweep file made here (the latest, when several: the same command again carries
    /// the sweep on and never doubles it); else a new `./sweep_YYYYMMDD_HHMMSS`. Said on
    /// stderr.
    pub fn open(output_dir: Option<PathBuf>, sweep_file: &Path) -> Result<SweepDir> {
        let (dir, made) = match output_dir {
            Some(d) => {
                let made = !d.exists();
                (d, made)
            }
            None => {
                let cwd =
                    std::env::current_dir().context("failed to read the current directory")?;
                match earlier(&cwd, sweep_file) {
                    Some(d) => {
                        warn(format_args!(
                            "sweep directory: {} (made by an earlier run of {}: carrying that sweep on, only what has no pending, running or completed job is submitted; --output-dir DIR starts a new sweep)",
                            d.display(),
                            sweep_file.display()
                        ));
                        return Ok(SweepDir {
                            dir: d,
                            armed: false,
                        });
                    }
                    None => (sweep::fsutil::create_sweep_dir(&cwd)?, true),
                }
            }
        };
        warn(format_args!("sweep directory: {}", dir.display()));
        Ok(SweepDir { dir, armed: made })
    }

    /// From now on the directory stays, whatever happens (a job may exist).
    pub fn keep(&mut self) {
        self.armed = false;
    }
}

impl Drop for SweepDir {
    fn drop(&mut self) {
        if self.armed && std::fs::remove_dir_all(&self.dir).is_ok() {
            warn(format_args!(
                "removed {} (nothing was submitted)",
                self.dir.display()
            ));
        }
    }
}

/// The latest sweep directory under `parent` that a `--sweep-config` run made from
/// `sweep_file`: a `sweep_YYYYMMDD_HHMMSS[_N]` whose `records.jsonl` (saved by that run)
/// names the same sweep file, by its absolute path. A sweep file read from stdin has none.
fn earlier(parent: &Path, sweep_file: &Path) -> Option<PathBuf> {
    if sweep_file == Path::new("-") {
        return None;
    }
    let wanted = sweep::fsutil::absolute(sweep_file).ok()?;
    let wanted = wanted.to_str()?;
    let mut found: Vec<(String, u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(parent).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((stamp, n)) = sweep_dir_name(&name) else {
            continue;
        };
        let records = entry.path().join("records.jsonl");
        let Ok(file) = std::fs::File::open(&records) else {
            continue;
        };
        let mut first = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut first);
        let named = serde_json::from_str::<serde_json::Value>(&first)
            .ok()
            .and_then(|v| v.get("sweep_file")?.as_str().map(String::from));
        if named.as_deref() == Some(wanted) {
            found.push((stamp, n, entry.path()));
        }
    }
    found.into_iter().max().map(|(_, _, dir)| dir)
}

/// `sweep_20251113_123456` -> its stamp and 1; `..._3` -> 3; anything else: `None`.
fn sweep_dir_name(name: &str) -> Option<(String, u64)> {
    let rest = name.strip_prefix("sweep_")?;
    let stamp: String = rest.chars().take(15).collect();
    let ok = stamp.len() == 15
        && stamp.chars().enumerate().all(|(i, c)| match i {
            8 => c == '_',
            _ => c.is_ascii_digit(),
        });
    if !ok {
        return None;
    }
    let n = match &rest[15..] {
        "" => 1,
        suffix => suffix.strip_prefix('_')?.parse().ok()?,
    };
    Some((stamp, n))
}

/// A sibling program of this one (`sweep-expand` next to `sweep-submit`).
fn sibling(name: &str) -> Result<PathBuf> {
    let here = std::env::current_exe().context("failed to find this program's directory")?;
    Ok(here.with_file_name(name))
}

/// Runs the pipeline into `dir` (created if missing) and returns the saved records file.
pub fn expand_and_render(sweep_file: &Path, dir: &Path, passed: &Passed) -> Result<PathBuf> {
    let expand = sibling("sweep-expand")?;
    let render = sibling("sweep-render")?;
    // sweep-collect makes the manifest once jobs exist: found now, before anything is made.
    let collect = sibling("sweep-collect")?;
    if !collect.is_file() {
        bail!(
            "{} not found: --sweep-config writes the sweep's manifest with it (install the four programs together)",
            collect.display()
        );
    }
    let mut expand_args: Vec<String> = Vec::new();
    if let Some(n) = passed.max_jobs {
        expand_args.extend(["--max-jobs".to_string(), n.to_string()]);
    }
    let mut render_args = vec!["--out-dir".to_string(), dir.display().to_string()];
    if passed.force {
        render_args.push("--force".to_string());
    }
    let words = |program: &Path, args: &[String]| {
        std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut expand_all = expand_args.clone();
    expand_all.push(sweep_file.display().to_string());
    let pipeline = format!(
        "{} | {}",
        words(&expand, &expand_all),
        words(&render, &render_args)
    );
    // The programs' own one-line errors go straight to our stderr; every hint in them names
    // an option this form takes too (--max-jobs, --force).
    let mut first = Command::new(&expand)
        .args(&expand_args)
        .arg(sweep_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to run {}", expand.display()))?;
    let piped = first.stdout.take().expect("piped");
    let second = Command::new(&render)
        .args(&render_args)
        .stdin(piped)
        .stdout(Stdio::piped())
        .spawn();
    let second = match second {
        Ok(c) => c,
        Err(e) => {
            let _ = first.kill();
            let _ = first.wait();
            return Err(e).with_context(|| format!("failed to run {}", render.display()));
        }
    };
    let out = second.wait_with_output()?;
    let status = first.wait()?;
    for (name, st) in [("sweep-expand", status), ("sweep-render", out.status)] {
        if !st.success() {
            bail!("{pipeline} failed: {name} exited with {st}");
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;
    let saved = dir.join("records.jsonl");
    sweep::fsutil::write_atomic(&saved, &out.stdout)?;
    Ok(saved)
}

/// The records sweep-expand made for a plan or a dry run, in a file outside any sweep
/// directory, removed when dropped.
pub struct Expanded {
    pub path: PathBuf,
}

impl Drop for Expanded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// For a plan or a dry run, which make no sweep directory: runs `sweep-expand PATH` alone
/// (the configs are not rendered) into a temporary file.
pub fn expand_only(sweep_file: &Path, passed: &Passed) -> Result<Expanded> {
    let expand = sibling("sweep-expand")?;
    let mut args: Vec<String> = Vec::new();
    if let Some(n) = passed.max_jobs {
        args.extend(["--max-jobs".to_string(), n.to_string()]);
    }
    let out = Command::new(&expand)
        .args(&args)
        .arg(sweep_file)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to run {}", expand.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: sweep-expand exited with {}",
            expand.display(),
            sweep_file.display(),
            out.status
        );
    }
    let path = std::env::temp_dir().join(format!(
        "sweep-submit-records-{}-{}.jsonl",
        std::process::id(),
        chrono::Local::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
    ));
    let expanded = Expanded { path };
    sweep::fsutil::write_atomic(&expanded.path, &out.stdout)?;
    Ok(expanded)
}

/// Where the records of a `--sweep-config` run go: stdout (unless it is a terminal), and the
/// sibling `sweep-collect M - --output M` that keeps the sweep's manifest.
pub struct Tee {
    stdout: Option<std::io::StdoutLock<'static>>,
    manifest: Option<Manifest>,
}

/// The `sweep-collect` making the manifest (or, for a dry run on a terminal, showing the
/// records' table), fed the records one by one.
struct Manifest {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The manifest it writes; `None`: it only shows the table.
    path: Option<PathBuf>,
    /// Why it could not be fed, when it could not.
    broken: Option<String>,
}

impl Tee {
    /// Records to stdout only (the pipeline form).
    pub fn stdout() -> Tee {
        Tee {
            stdout: Some(std::io::stdout().lock()),
            manifest: None,
        }
    }

    /// Records to stdout unless it is a terminal, and into `<dir>/sweep_manifest.json`.
    pub fn with_manifest(dir: &Path) -> Result<Tee> {
        let path = dir.join("sweep_manifest.json");
        let collect = sibling("sweep-collect")?;
        // In a process group of its own: a Ctrl-C on the terminal stops the submission (which
        // then ends the manifest's input), not the writing of the manifest.
        let mut child = Command::new(&collect)
            .arg(&path)
            .arg("-")
            .arg("--output")
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("failed to run {}", collect.display()))?;
        let stdin = child.stdin.take();
        let out = std::io::stdout();
        Ok(Tee {
            stdout: (!out.is_terminal()).then(|| out.lock()),
            manifest: Some(Manifest {
                child,
                stdin,
                path: Some(path),
                broken: None,
            }),
        })
    }

    /// A dry run of `--sweep-config`, which makes no manifest: the records to stdout, or on
    /// a terminal their table (the sibling `sweep-collect --format table -`).
    pub fn table_on_terminal() -> Result<Tee> {
        if !std::io::stdout().is_terminal() {
            return Ok(Tee::stdout());
        }
        let collect = sibling("sweep-collect")?;
        let mut child = Command::new(&collect)
            .args(["--format", "table", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to run {}", collect.display()))?;
        let stdin = child.stdin.take();
        Ok(Tee {
            stdout: None,
            manifest: Some(Manifest {
                child,
                stdin,
                path: None,
                broken: None,
            }),
        })
    }

    /// Ends the manifest's input and waits for it to be written; says where it is. On a
    /// terminal, shows the manifest's table. A manifest that could not be made is a warning:
    /// the jobs exist, and the records went to stdout (or `sweep-collect --reconcile` finds
    /// them).
    pub fn finish(&mut self, dry_run: bool) {
        let Some(mut m) = self.manifest.take() else {
            return;
        };
        drop(m.stdin.take());
        let status = m.child.wait();
        let Some(path) = m.path.clone() else {
            if let Some(why) = &m.broken {
                warn(format_args!(
                    "warning: the table could not be shown ({why})"
                ));
            }
            return;
        };
        let failed = match (&m.broken, status) {
            (Some(why), _) => Some(why.clone()),
            (None, Ok(st)) if st.success() => None,
            (None, Ok(st)) => Some(format!("sweep-collect exited with {st}")),
            (None, Err(e)) => Some(format!("failed to wait for sweep-collect: {e}")),
        };
        if let Some(why) = failed {
            warn(format_args!(
                "warning: the manifest {} was not written ({why}); make it with: sweep-collect --reconcile {}/records.jsonl --output {}",
                path.display(),
                path.parent().unwrap_or(Path::new(".")).display(),
                path.display()
            ));
            return;
        }
        warn(format_args!("manifest: {}", path.display()));
        if self.stdout.is_none() {
            let _ = std::io::stdout().flush();
            let shown = sibling("sweep-collect").and_then(|collect| {
                // With the jobs' first states (the manifest keeps them).
                let status: &[&str] = match dry_run {
                    true => &[],
                    false => &["--status", "--allow-missing-status"],
                };
                Ok(Command::new(collect)
                    .args(["--format", "table"])
                    .args(status)
                    .arg(&path)
                    .status()?)
            });
            if let Err(e) = shown {
                warn(format_args!("warning: the table could not be shown: {e:#}"));
            }
        }
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(out) = &mut self.stdout {
            out.write_all(buf)?;
        }
        if let Some(m) = &mut self.manifest {
            if let Some(stdin) = &mut m.stdin {
                // A manifest that cannot be fed must not stop the submission: said at the end.
                if let Err(e) = stdin.write_all(buf) {
                    m.broken = Some(format!("its sweep-collect stopped reading: {e}"));
                    m.stdin = None;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(m) = &mut self.manifest {
            if let Some(stdin) = &mut m.stdin {
                if let Err(e) = stdin.flush() {
                    m.broken = Some(format!("its sweep-collect stopped reading: {e}"));
                    m.stdin = None;
                }
            }
        }
        match &mut self.stdout {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_directory_names_sort_by_time_then_number() {
        assert_eq!(
            sweep_dir_name("sweep_20251113_123456"),
            Some(("20251113_123456".to_string(), 1))
        );
        assert_eq!(
            sweep_dir_name("sweep_20251113_123456_12"),
            Some(("20251113_123456".to_string(), 12))
        );
        for other in [
            "sweep_2025",
            "sweep_20251113-123456",
            "sweep_20251113_123456x",
            "tpt",
        ] {
            assert_eq!(sweep_dir_name(other), None, "{other}");
        }
        assert!(
            sweep_dir_name("sweep_20251113_123456_2") > sweep_dir_name("sweep_20251113_123456")
        );
    }
}
