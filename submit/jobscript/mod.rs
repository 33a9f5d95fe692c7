//! The job script: what runs on the nodes.
//!
//! [`Builder::new`] checks the options once (scripts directory, profiler spec, custom
//! template); [`Builder::check`] looks at one record before it is submitted (launch script
//! present, node counts usable, swept flags that the launch script would override);
//! [`Builder::render`] writes the script of one job: the built-in layout ([`builtin`]) or the
//! user's Jinja template ([`template`]). docs/jobscript.md ("What a job does on the nodes")
//! is the user-facing description of both.

mod builtin;
mod checks;
mod layout;
mod overrides;
mod profiler;
mod quote;
mod template;

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use sweep::{Mode, Record};

pub use layout::Layout;
pub use profiler::Profiler;

pub use crate::prepare::options::JobOptions;

/// Everything about one job that is not in the record.
pub struct Job<'a> {
    /// The record.
    pub record: &'a Record,
    /// `{job-name}_sweep{index}`.
    pub job_name: &'a str,
    /// Absolute sweep directory.
    pub sweep_dir: &'a Path,
    /// Absolute log directory of this job (exists before submission).
    pub log_dir: &'a Path,
    /// Where the script is saved.
    pub script_path: &'a Path,
    /// The job's tag (`--comment`).
    pub tag: &'a str,
}

/// Validated options, ready to render scripts (templates compiled, paths resolved).
pub struct Builder {
    args: JobOptions,
    /// `--scripts-dir`, absolute.
    scripts_dir: PathBuf,
    model_dir: PathBuf,
    config_dir: PathBuf,
    profiler: Option<Profiler>,
    template: Option<template::Custom>,
}

/// Checks the options given on the command line on their own, before any record is read: a
/// bad value is an error even when no record needs it, or when a re-submission takes the
/// other options from the sweep.
pub fn check_given(g: &crate::prepare::options::Layer) -> Result<()> {
    let usage = |e: anyhow::Error| sweep::cli::UsageError(format!("{e:#}"));
    checks::values(&checks::Values {
        job_name: g.job_name.as_deref(),
        account: g.account.as_deref(),
        partition: g.partition.as_deref(),
        time_limit: g.time_limit.as_deref(),
        gpu_type: g.gpu_type.as_deref(),
        script_variant: g.script_variant.as_deref(),
        network_interface: g.network_interface.as_deref(),
    })
    .map_err(usage)?;
    if let Some(args) = &g.sbatch_args {
        let retries = g.retries.unwrap_or_default();
        crate::prepare::refused::check(args, retries).map_err(sweep::cli::UsageError)?;
    }
    let scripts_dir = g
        .scripts_dir
        .as_deref()
        .map(checks::scripts_dir)
        .transpose()?;
    if let Some(Some(spec)) = &g.profiler {
        let profiler = Profiler::parse(spec).map_err(usage)?;
        if let (Some(p), Some(dir)) = (&profiler, &scripts_dir) {
            p.check_script(dir)?;
        }
    }
    if let Some(Some(path)) = &g.template {
        template::Custom::load(path)?;
    }
    Ok(())
}

impl Builder {
    /// Checks the options once, before anything is submitted.
    pub fn new(args: &JobOptions) -> Result<Builder> {
        checks::options(args).map_err(|e| sweep::cli::UsageError(format!("{e:#}")))?;
        // Given ones were checked on their own (check_given): these came with the sweep,
        // saved by a version that took them, or became refused with --retries.
        crate::prepare::refused::check(&args.sbatch_args, args.retries).map_err(|e| {
            anyhow::anyhow!(
                "{e} (the sweep's saved options have it: give --sbatch-arg to replace them)"
            )
        })?;
        let scripts_dir = checks::scripts_dir(&args.scripts_dir)?;
        let model_dir = sweep::fsutil::absolute(&args.model_dir)?;
        let config_dir = sweep::fsutil::absolute(&args.config_dir)?;
        if args.container_image.is_some() {
            quote::check_mount_source("--model-dir", &model_dir)?;
            quote::check_mount_source("--config-dir", &config_dir)?;
            quote::check_mount_source("--scripts-dir", &scripts_dir)?;
        }
        if args.enable_multiple_frontends && !scripts_dir.join("nginx.conf.j2").is_file() {
            bail!(
                "--enable-multiple-frontends: {} not found (the job renders nginx's \
                 configuration from it)",
                scripts_dir.join("nginx.conf.j2").display()
            );
        }
        let profiler = match &args.profiler {
            Some(spec) => {
                Profiler::parse(spec).map_err(|e| sweep::cli::UsageError(format!("{e:#}")))?
            }
            None => None,
        };
        if let Some(p) = &profiler {
            p.check_script(&scripts_dir)?;
        }
        let template = match &args.template {
            Some(path) => Some(template::Custom::load(path)?),
            None => None,
        };
        Ok(Builder {
            args: args.clone(),
            scripts_dir,
            model_dir,
            config_dir,
            profiler,
            template,
        })
    }

    /// Warnings (or, in strict mode, an error) about one record before submission: the launch
    /// script for the record's mode must exist, its config file too (unless `config_later`:
    /// a plan or dry run of `--sweep-config`, which renders no config), its node counts must
    /// lay out, and flags that the launch script sets itself are reported.
    pub fn check(&self, record: &Record, config_later: bool) -> Result<Vec<String>> {
        self.profiler_of(record)?;
        let variant = self.variant_script(record.mode)?;
        if !config_later {
            checks::config_path(record)?;
        }
        let layout = Layout::of(record, &self.args)?;
        let mut warnings = layout.warnings.clone();
        let found = overrides::find(record, &variant)?;
        if !found.is_empty() && self.args.strict_overrides {
            bail!("{}", found.join("; "));
        }
        warnings.extend(found);
        Ok(warnings)
    }

    /// The job script text for one job.
    pub fn render(&self, job: &Job) -> Result<String> {
        let layout = Layout::of(job.record, &self.args)?;
        quote::check_header_value("job name", job.job_name)?;
        quote::check_header_path("log directory", job.log_dir)?;
        let config = job.record.config_path.as_deref().map(PathBuf::from);
        if self.args.container_image.is_some() {
            quote::check_mount_source("log directory", job.log_dir)?;
            if let Some(dir) = config.as_deref().and_then(Path::parent) {
                quote::check_mount_source("config directory", dir)?;
            }
        }
        let ctx = Context {
            b: self,
            job,
            layout: &layout,
            config: config.as_deref(),
            profiler: self.profiler_of(job.record)?,
        };
        match &self.template {
            Some(t) => t.render(&ctx),
            None => Ok(builtin::render(&ctx)),
        }
    }

    /// The benchmark of one record's job: `--profiler`'s, measuring the record's own
    /// `concurrencies` when it names them (a follow-up round of the adaptive search). A record
    /// that names concurrencies needs a benchmark to measure them.
    fn profiler_of(&self, record: &Record) -> Result<Option<Profiler>> {
        let Some(c) = &record.concurrencies else {
            return Ok(self.profiler.clone());
        };
        sweep::concurrencies::check(c)
            .map_err(|e| anyhow::anyhow!("index {}: {e}", record.index))?;
        match &self.profiler {
            Some(p) => Ok(Some(p.measuring(c))),
            None => bail!(
                "index {}: the record names concurrencies {} to measure, but its job runs no benchmark (--profiler is type=manual or not given)",
                record.index,
                sweep::concurrencies::text(c)
            ),
        }
    }

    /// `<scripts-dir>/<gpu-type>/<mode>/<variant>.sh`, which must exist; the error lists what
    /// does.
    fn variant_script(&self, mode: Mode) -> Result<PathBuf> {
        let dir = self
            .scripts_dir
            .join(&self.args.gpu_type)
            .join(mode.as_str());
        let path = dir.join(format!("{}.sh", self.args.script_variant));
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "launch script {} not found; {}",
            path.display(),
            checks::available_scripts(&self.scripts_dir)
        )
    }
}

/// What one render needs, shared by the built-in script and the template variables.
pub(crate) struct Context<'a> {
    b: &'a Builder,
    job: &'a Job<'a>,
    layout: &'a Layout,
    /// The record's rendered SGLang config (host path), if it has one.
    config: Option<&'a Path>,
    /// The job's benchmark: `--profiler`'s, at the record's own concurrencies if it names
    /// them.
    profiler: Option<Profiler>,
}

impl Context<'_> {
    fn args(&self) -> &JobOptions {
        &self.b.args
    }

    fn container(&self) -> Option<&str> {
        self.b.args.container_image.as_deref()
    }

    /// Where the config is seen by the worker: `/sweep/<file>` in the container (its
    /// directory is mounted there), the host path on bare nodes.
    fn config_in_worker(&self) -> Option<String> {
        let config = self.config?;
        Some(match self.container() {
            Some(_) => format!(
                "/sweep/{}",
                config
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ),
            None => config.display().to_string(),
        })
    }
}

/// Reads a file for the override check, with the path in the error.
fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
}
