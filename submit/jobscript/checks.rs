//! Checks made before anything is submitted: option values, the scripts directory, the
//! record's config file.

use super::quote;
use super::JobOptions;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use sweep::Record;

/// Option values that are wrong whatever the file system holds (usage errors).
pub fn options(args: &JobOptions) -> Result<()> {
    values(&Values {
        job_name: Some(&args.job_name),
        account: Some(&args.account),
        partition: Some(&args.partition),
        time_limit: Some(&args.time_limit),
        gpu_type: Some(&args.gpu_type),
        script_variant: Some(&args.script_variant),
        network_interface: Some(&args.network_interface),
    })
}

/// The option values [`values`] checks; `None`: not given.
pub struct Values<'a> {
    pub job_name: Option<&'a str>,
    pub account: Option<&'a str>,
    pub partition: Option<&'a str>,
    pub time_limit: Option<&'a str>,
    pub gpu_type: Option<&'a str>,
    pub script_variant: Option<&'a str>,
    pub network_interface: Option<&'a str>,
}

/// Checks the values that are there (usage errors).
pub fn values(v: &Values) -> Result<()> {
    for (flag, value) in [
        ("--job-name", v.job_name),
        ("--account", v.account),
        ("--partition", v.partition),
        ("--time-limit", v.time_limit),
    ] {
        if let Some(value) = value {
            quote::check_header_value(flag, value)?;
        }
    }
    for (flag, value) in [
        ("--gpu-type", v.gpu_type),
        ("--script-variant", v.script_variant),
    ] {
        if let Some(value) = value {
            path_component(flag, value)?;
        }
    }
    if v.network_interface == Some("") {
        bail!("--network-interface must not be empty");
    }
    Ok(())
}

/// `--scripts-dir` made absolute; it must hold `worker_setup.py`.
pub fn scripts_dir(dir: &Path) -> Result<PathBuf> {
    let abs = sweep::fsutil::absolute(dir)?;
    let setup = abs.join("worker_setup.py");
    if !abs.is_dir() {
        bail!("--scripts-dir {}: not a directory", abs.display());
    }
    if !setup.is_file() {
        bail!(
            "--scripts-dir {}: worker_setup.py not found (every node runs it)",
            abs.display()
        );
    }
    Ok(abs)
}

/// A value used as one path component (`--gpu-type`, `--script-variant`).
fn path_component(flag: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if !ok {
        bail!("{flag} {value:?}: expected a name made of letters, digits, '.', '_', '-' or '+'");
    }
    Ok(())
}

/// "available: demo/agg/max-tpt.sh, demo/disagg/max-tpt.sh" (sorted), or "no launch scripts
/// found under DIR".
pub fn available_scripts(scripts_dir: &Path) -> String {
    let mut found = Vec::new();
    for gpu in read_dir_sorted(scripts_dir) {
        for mode in ["agg", "disagg"] {
            for file in read_dir_sorted(&scripts_dir.join(&gpu).join(mode)) {
                if file.ends_with(".sh") {
                    found.push(format!("{gpu}/{mode}/{file}"));
                }
            }
        }
    }
    if found.is_empty() {
        format!(
            "no <gpu-type>/<agg|disagg>/<variant>.sh under {}",
            scripts_dir.display()
        )
    } else {
        format!("available: {}", found.join(", "))
    }
}

fn read_dir_sorted(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The record's config file, when it has one, must be an existing absolute path: the job
/// reads it on the nodes, long after this process is gone.
pub fn config_path(record: &Record) -> Result<()> {
    let Some(path) = record.config_path.as_deref() else {
        return Ok(());
    };
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("config_path {path:?} is not an absolute path");
    }
    if !p.is_file() {
        bail!("config_path {path}: no such file");
    }
    Ok(())
}
