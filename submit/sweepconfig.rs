//! `--sweep-config PATH`, the seed's one-command usage: runs the sibling programs
//! `sweep-expand PATH | sweep-render --out-dir DIR` and submits what they produce. Their
//! records are saved first as `DIR/records.jsonl`, so they are read and checked whole before
//! anything is submitted, exactly like records piped in.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs the pipeline into `dir` (created if missing) and returns the saved records file.
pub fn expand_and_render(sweep_file: &Path, dir: &Path) -> Result<PathBuf> {
    let here = std::env::current_exe().context("failed to find this program's directory")?;
    let expand = here.with_file_name("sweep-expand");
    let render = here.with_file_name("sweep-render");
    let pipeline = format!(
        "{} {} | {} --out-dir {}",
        expand.display(),
        sweep_file.display(),
        render.display(),
        dir.display()
    );
    // The programs' own one-line errors go straight to our stderr.
    let mut first = Command::new(&expand)
        .arg(sweep_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to run {}", expand.display()))?;
    let piped = first.stdout.take().expect("piped");
    let second = Command::new(&render)
        .arg("--out-dir")
        .arg(dir)
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
