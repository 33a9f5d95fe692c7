//! The options that shape a job, and how they travel with the sweep.
//!
//! Every submission saves the options it used in the sweep directory
//! ([`sweep::state::save_options`]). When a record is submitted again (a failure re-submitted,
//! the same pipeline run again, a sweep extended), each option is, in this order: the one
//! given on the command line; else the one the combination's last submission used; else the
//! one the sweep directory's last submission used; else the seed's default. So re-submitting
//! with `--account` and `--partition` alone never silently changes a job's name, time limit
//! or benchmark, and an option given again wins.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Options that shape the job (the seed's names and defaults), as given on the command line:
/// each is optional here, because a re-submission takes what is not given from the sweep.
// The field docs are the --help text, where `<scripts-dir>` reads right and backticks would not.
// Value names are the seed README's (`--network-interface IFACE`), short enough that --help
// keeps every description beside its option.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScriptArgs {
    /// Slurm account (#SBATCH --account); required for a sweep's first submission
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm partition (#SBATCH --partition); required for a sweep's first submission
    #[arg(long)]
    pub partition: Option<String>,
    /// Base job name; each job is named {job-name}_sweep{index} [default: sweep_job]
    #[arg(long, value_name = "NAME")]
    pub job_name: Option<String>,
    /// Time limit, HH:MM:SS (#SBATCH --time) [default: 04:00:00]
    #[arg(long, value_name = "TIME")]
    pub time_limit: Option<String>,
    /// Model directory (mounted at /model/ in the container); required for a sweep's first
    /// submission
    #[arg(long, value_name = "PATH")]
    pub model_dir: Option<PathBuf>,
    /// Config directory (mounted at /configs/ in the container); required for a sweep's
    /// first submission
    #[arg(long, value_name = "PATH")]
    pub config_dir: Option<PathBuf>,
    /// Container image (pyxis); without it the layout runs on the bare nodes ('' for none
    /// when re-submitting a sweep that had one)
    #[arg(long, value_name = "IMAGE")]
    pub container_image: Option<String>,
    /// GPU type (gb200-fp8, gb200-fp4, ...): selects <scripts-dir>/<gpu-type>/; required for
    /// a sweep's first submission
    #[arg(long, value_name = "TYPE")]
    pub gpu_type: Option<String>,
    /// Script variant (max-tpt, 1p_4d, ...): selects <gpu-type>/<agg|disagg>/<variant>.sh;
    /// required for a sweep's first submission
    #[arg(long, value_name = "VARIANT")]
    pub script_variant: Option<String>,
    /// GPUs per node [default: 8]
    #[arg(long, value_name = "N")]
    pub gpus_per_node: Option<u32>,
    /// Network interface whose address is the master IP [default: eth3]
    #[arg(long, value_name = "IFACE")]
    pub network_interface: Option<String>,
    /// Log directory [default: <sweep dir>/logs]
    #[arg(long, value_name = "PATH")]
    pub log_dir: Option<PathBuf>,
    /// Directory with worker_setup.py and <gpu-type>/<mode>/<variant>.sh, resolved to an
    /// absolute path at submit time [default: scripts next to the sweep file, else ./scripts]
    #[arg(long, value_name = "PATH")]
    pub scripts_dir: Option<PathBuf>,
    /// Use init expert locations
    #[arg(long)]
    pub use_init_location: bool,
    /// Turn off --use-init-location that a re-submitted sweep had
    #[arg(long, hide = true, conflicts_with = "use_init_location")]
    pub no_use_init_location: bool,
    /// Disable config dump
    #[arg(long)]
    pub disable_config_dump: bool,
    /// Turn off --disable-config-dump that a re-submitted sweep had
    #[arg(long, hide = true, conflicts_with = "disable_config_dump")]
    pub no_disable_config_dump: bool,
    /// Use dynamo wheels
    #[arg(long)]
    pub use_dynamo_whls: bool,
    /// Turn off --use-dynamo-whls that a re-submitted sweep had
    #[arg(long, hide = true, conflicts_with = "use_dynamo_whls")]
    pub no_use_dynamo_whls: bool,
    /// Enable multiple frontends (nginx on node 0, frontends behind it)
    #[arg(long)]
    pub enable_multiple_frontends: bool,
    /// Turn off --enable-multiple-frontends that a re-submitted sweep had
    #[arg(long, hide = true, conflicts_with = "enable_multiple_frontends")]
    pub no_enable_multiple_frontends: bool,
    /// Number of additional frontends [default: 9]
    #[arg(long, value_name = "N")]
    pub num_additional_frontends: Option<u32>,
    /// Benchmark spec: "type=...; isl=...; osl=...; concurrencies=AxBxC; req-rate=..."
    /// ("type=manual": none)
    #[arg(long, value_name = "CONFIG")]
    pub profiler: Option<String>,
    /// Jinja job template to use instead of the built-in job script ('' for the built-in one
    /// when re-submitting a sweep that had a template)
    #[arg(long, value_name = "PATH")]
    pub template: Option<PathBuf>,
    /// Make it an error (not a warning) when the launch script sets a flag that the sweep
    /// also sets (the launch script's command line would override the swept value)
    #[arg(long)]
    pub strict_overrides: bool,
    /// Also pass `--config-key <role>` to worker_setup.py (its parser must accept it; the
    /// key is always in the environment as SGLANG_CONFIG_KEY)
    #[arg(long)]
    pub pass_config_key: bool,
    /// Turn off --pass-config-key that a re-submitted sweep had
    #[arg(long, hide = true, conflicts_with = "pass_config_key")]
    pub no_pass_config_key: bool,
}

/// The options of one job, resolved: what its script is made from, saved with each
/// submission (absolute paths, every default filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    pub account: String,
    pub partition: String,
    pub job_name: String,
    pub time_limit: String,
    pub model_dir: PathBuf,
    pub config_dir: PathBuf,
    pub container_image: Option<String>,
    pub gpu_type: String,
    pub script_variant: String,
    pub gpus_per_node: u32,
    pub network_interface: String,
    pub log_dir: Option<PathBuf>,
    pub scripts_dir: PathBuf,
    pub use_init_location: bool,
    pub disable_config_dump: bool,
    pub use_dynamo_whls: bool,
    pub enable_multiple_frontends: bool,
    pub num_additional_frontends: u32,
    pub profiler: Option<String>,
    pub template: Option<PathBuf>,
    pub pass_config_key: bool,
    /// `--retries`: follow-up jobs per record.
    pub retries: u32,
    /// `--sbatch-arg`s, in order.
    pub sbatch_args: Vec<String>,
    /// A check of this run, not part of the job (never saved).
    #[serde(skip)]
    pub strict_overrides: bool,
}

/// Everything the command line gave that shapes a job.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub script: ScriptArgs,
    pub retries: Option<u32>,
    /// Empty when none was given.
    pub sbatch_args: Vec<String>,
}

/// The options without which no job can be made.
const REQUIRED: [&str; 6] = [
    "--account",
    "--partition",
    "--model-dir",
    "--config-dir",
    "--gpu-type",
    "--script-variant",
];

impl Given {
    /// The options of a job: each given one, else `saved`'s (an earlier submission's), else
    /// the default. Relative paths are made absolute against the current directory. `Err`
    /// lists the required options that are in neither.
    pub fn resolve(&self, saved: Option<&JobOptions>) -> Result<JobOptions, Vec<&'static str>> {
        let a = &self.script;
        let abs = |p: &PathBuf| sweep::fsutil::absolute(p).unwrap_or_else(|_| p.clone());
        let pick =
            |given: Option<String>, saved: Option<String>, i: usize, missing: &mut Vec<_>| {
                given.or(saved).unwrap_or_else(|| {
                    missing.push(REQUIRED[i]);
                    String::new()
                })
            };
        let mut missing = Vec::new();
        let s = saved;
        let account = pick(
            a.account.clone(),
            s.map(|s| s.account.clone()),
            0,
            &mut missing,
        );
        let partition = pick(
            a.partition.clone(),
            s.map(|s| s.partition.clone()),
            1,
            &mut missing,
        );
        let model_dir = pick_path(a.model_dir.as_ref().map(abs), s.map(|s| &s.model_dir));
        if model_dir.is_none() {
            missing.push(REQUIRED[2]);
        }
        let config_dir = pick_path(a.config_dir.as_ref().map(abs), s.map(|s| &s.config_dir));
        if config_dir.is_none() {
            missing.push(REQUIRED[3]);
        }
        let gpu_type = pick(
            a.gpu_type.clone(),
            s.map(|s| s.gpu_type.clone()),
            4,
            &mut missing,
        );
        let script_variant = pick(
            a.script_variant.clone(),
            s.map(|s| s.script_variant.clone()),
            5,
            &mut missing,
        );
        if !missing.is_empty() {
            return Err(missing);
        }
        let or = |given: Option<String>, saved: Option<&String>, default: &str| {
            given
                .or_else(|| saved.cloned())
                .unwrap_or_else(|| default.to_string())
        };
        // '' means "none" for the options whose absence means something.
        let none_if_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
        Ok(JobOptions {
            account,
            partition,
            job_name: or(a.job_name.clone(), s.map(|s| &s.job_name), "sweep_job"),
            time_limit: or(a.time_limit.clone(), s.map(|s| &s.time_limit), "04:00:00"),
            model_dir: model_dir.expect("checked"),
            config_dir: config_dir.expect("checked"),
            container_image: match &a.container_image {
                Some(given) => none_if_empty(Some(given.clone())),
                None => s.and_then(|s| s.container_image.clone()),
            },
            gpu_type,
            script_variant,
            gpus_per_node: a.gpus_per_node.or(s.map(|s| s.gpus_per_node)).unwrap_or(8),
            network_interface: or(
                a.network_interface.clone(),
                s.map(|s| &s.network_interface),
                "eth3",
            ),
            log_dir: a
                .log_dir
                .as_ref()
                .map(abs)
                .or_else(|| s.and_then(|s| s.log_dir.clone())),
            scripts_dir: a
                .scripts_dir
                .as_ref()
                .map(abs)
                .or_else(|| s.map(|s| s.scripts_dir.clone()))
                .unwrap_or_else(|| abs(&PathBuf::from("scripts"))),
            use_init_location: flag(
                a.use_init_location,
                a.no_use_init_location,
                s.map(|s| s.use_init_location),
            ),
            disable_config_dump: flag(
                a.disable_config_dump,
                a.no_disable_config_dump,
                s.map(|s| s.disable_config_dump),
            ),
            use_dynamo_whls: flag(
                a.use_dynamo_whls,
                a.no_use_dynamo_whls,
                s.map(|s| s.use_dynamo_whls),
            ),
            enable_multiple_frontends: flag(
                a.enable_multiple_frontends,
                a.no_enable_multiple_frontends,
                s.map(|s| s.enable_multiple_frontends),
            ),
            num_additional_frontends: a
                .num_additional_frontends
                .or(s.map(|s| s.num_additional_frontends))
                .unwrap_or(9),
            profiler: match &a.profiler {
                Some(given) => Some(given.clone()),
                None => s.and_then(|s| s.profiler.clone()),
            },
            template: match &a.template {
                Some(p) if p.as_os_str().is_empty() => None,
                Some(p) => Some(abs(p)),
                None => s.and_then(|s| s.template.clone()),
            },
            pass_config_key: flag(
                a.pass_config_key,
                a.no_pass_config_key,
                s.map(|s| s.pass_config_key),
            ),
            retries: self.retries.or(s.map(|s| s.retries)).unwrap_or(0),
            sbatch_args: if self.sbatch_args.is_empty() {
                s.map(|s| s.sbatch_args.clone()).unwrap_or_default()
            } else {
                self.sbatch_args.clone()
            },
            strict_overrides: a.strict_overrides,
        })
    }
}

/// The scripts directory when `--scripts-dir` was never given: `scripts` next to the sweep
/// file (`sweep_file`), else `scripts` in the current directory, whichever first holds
/// `worker_setup.py`; the error names every place looked at.
pub fn default_scripts_dir(sweep_file: Option<&str>) -> Result<PathBuf, String> {
    let mut tried: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(dir) = sweep_file.and_then(|f| Path::new(f).parent()) {
        tried.push((dir.join("scripts"), "next to the sweep file"));
    }
    if let Ok(cwd) = std::env::current_dir() {
        tried.push((cwd.join("scripts"), "in the current directory"));
    }
    if let Some((dir, _)) = tried
        .iter()
        .find(|(d, _)| d.join("worker_setup.py").is_file())
    {
        return Ok(dir.clone());
    }
    let places: Vec<String> = tried
        .iter()
        .map(|(d, why)| format!("{} ({why})", d.display()))
        .collect();
    Err(format!(
        "--scripts-dir not given and no scripts directory with worker_setup.py found: looked at {}; pass --scripts-dir DIR",
        places.join(" and ")
    ))
}

fn pick_path(given: Option<PathBuf>, saved: Option<&PathBuf>) -> Option<PathBuf> {
    given.or_else(|| saved.cloned())
}

/// A flag: `--x` turns it on, `--no-x` off, neither keeps the saved value (else off).
fn flag(on: bool, off: bool, saved: Option<bool>) -> bool {
    match (on, off) {
        (true, _) => true,
        (_, true) => false,
        _ => saved.unwrap_or(false),
    }
}

impl JobOptions {
    /// As saved in the sweep directory.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("options serialize")
    }

    /// Options saved by an earlier submission.
    pub fn from_value(value: serde_json::Value, source: &Path) -> Result<JobOptions> {
        serde_json::from_value(value).map_err(|e| {
            anyhow::anyhow!(
                "{}: saved job options this version cannot read: {e}",
                source.display()
            )
        })
    }

    /// The options that differ from `before`, as `--time-limit 08:00:00 (was 00:10:00)`.
    pub fn changes_from(&self, before: &JobOptions) -> Vec<String> {
        let (now, was) = (self.to_value(), before.to_value());
        let mut changes = Vec::new();
        if let (Some(now), Some(was)) = (now.as_object(), was.as_object()) {
            for (key, value) in now {
                let old = was.get(key).unwrap_or(&serde_json::Value::Null);
                if value != old {
                    let option = match key.as_str() {
                        "sbatch_args" => "--sbatch-arg".to_string(),
                        k => format!("--{}", k.replace('_', "-")),
                    };
                    changes.push(format!("{option} {} (was {})", show(value), show(old)));
                }
            }
        }
        changes
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "none".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(args: &[(&str, &str)]) -> Given {
        let mut g = Given::default();
        for (k, v) in args {
            match *k {
                "account" => g.script.account = Some(v.to_string()),
                "partition" => g.script.partition = Some(v.to_string()),
                "model" => g.script.model_dir = Some(PathBuf::from(v)),
                "config" => g.script.config_dir = Some(PathBuf::from(v)),
                "gpu" => g.script.gpu_type = Some(v.to_string()),
                "variant" => g.script.script_variant = Some(v.to_string()),
                "time" => g.script.time_limit = Some(v.to_string()),
                "image" => g.script.container_image = Some(v.to_string()),
                _ => unreachable!(),
            }
        }
        g
    }

    #[test]
    fn given_beats_saved_beats_default() {
        let first = given(&[
            ("account", "a"),
            ("partition", "p"),
            ("model", "/m"),
            ("config", "/c"),
            ("gpu", "g"),
            ("variant", "v"),
            ("time", "00:10:00"),
            ("image", "img"),
        ])
        .resolve(None)
        .unwrap();
        assert_eq!(first.job_name, "sweep_job");
        assert_eq!(first.time_limit, "00:10:00");
        let again = given(&[("account", "b")]).resolve(Some(&first)).unwrap();
        assert_eq!(again.account, "b");
        assert_eq!(again.time_limit, "00:10:00", "kept from the saved options");
        assert_eq!(again.container_image.as_deref(), Some("img"));
        assert_eq!(again.changes_from(&first), ["--account b (was a)"]);
        let none = given(&[("image", "")]).resolve(Some(&first)).unwrap();
        assert_eq!(none.container_image, None, "'' turns it off");
        assert_eq!(
            given(&[("account", "a")]).resolve(None).unwrap_err(),
            [
                "--partition",
                "--model-dir",
                "--config-dir",
                "--gpu-type",
                "--script-variant"
            ]
        );
    }
}
