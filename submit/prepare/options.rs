//! The options that shape a job, and how they travel with the sweep.
//!
//! Every submission saves the options it used in the sweep directory
//! ([`sweep::state::save_options`]). When a record is submitted again (a failure re-submitted,
//! the same pipeline run again, a sweep extended), each option is, in this order: the one
//! given on the command line; else the one the combination's last submission used; else the
//! one the sweep directory's last submission used; else the seed's default. So re-submitting
//! with `--account` and `--partition` alone never silently changes a job's name, time limit
//! or benchmark, and an option given again wins.
//!
//! Each source is a [`Layer`] (every option optional); a job's options are
//! `given.or(saved).or(Layer::defaults())`, resolved once into [`JobOptions`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// One source of job options (the command line, an earlier submission, the defaults): each
/// option is `None` when this source does not say. An option whose absence means something
/// (`--container-image ''`: no container) is `Some(None)` when the source says "none".
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub account: Option<String>,
    pub partition: Option<String>,
    pub job_name: Option<String>,
    pub time_limit: Option<String>,
    pub model_dir: Option<PathBuf>,
    pub config_dir: Option<PathBuf>,
    pub container_image: Option<Option<String>>,
    pub gpu_type: Option<String>,
    pub script_variant: Option<String>,
    pub gpus_per_node: Option<u32>,
    pub network_interface: Option<String>,
    pub log_dir: Option<Option<PathBuf>>,
    /// When no layer says: found next to the sweep file ([`default_scripts_dir`]).
    pub scripts_dir: Option<PathBuf>,
    pub use_init_location: Option<bool>,
    pub disable_config_dump: Option<bool>,
    pub use_dynamo_whls: Option<bool>,
    pub enable_multiple_frontends: Option<bool>,
    pub num_additional_frontends: Option<u32>,
    pub profiler: Option<Option<String>>,
    pub template: Option<Option<PathBuf>>,
    pub pass_config_key: Option<bool>,
    pub retries: Option<u32>,
    pub sbatch_args: Option<Vec<String>>,
    /// A check of this run only: never taken from an earlier submission.
    pub strict_overrides: Option<bool>,
}

/// Why a job's options could not be resolved.
#[derive(Debug, PartialEq)]
pub enum Unresolved {
    /// Required options no layer gives, as their flags (`--account`), in this order.
    Missing(Vec<&'static str>),
    /// No layer gives `--scripts-dir` and none was found ([`default_scripts_dir`]).
    ScriptsDir(String),
}

impl Layer {
    /// The seed's defaults: the one place they are written (the `--help` texts name them; a
    /// test checks that they agree). The required options have none.
    pub fn defaults() -> Layer {
        Layer {
            job_name: Some("sweep_job".to_string()),
            time_limit: Some("04:00:00".to_string()),
            container_image: Some(None),
            gpus_per_node: Some(8),
            network_interface: Some("eth3".to_string()),
            log_dir: Some(None),
            use_init_location: Some(false),
            disable_config_dump: Some(false),
            use_dynamo_whls: Some(false),
            enable_multiple_frontends: Some(false),
            num_additional_frontends: Some(9),
            profiler: Some(None),
            template: Some(None),
            pass_config_key: Some(false),
            retries: Some(0),
            sbatch_args: Some(Vec::new()),
            strict_overrides: Some(false),
            ..Layer::default()
        }
    }

    /// The options an earlier submission used, as a layer (every option but this run's own
    /// checks).
    pub fn saved(o: &JobOptions) -> Layer {
        let o = o.clone();
        Layer {
            account: Some(o.account),
            partition: Some(o.partition),
            job_name: Some(o.job_name),
            time_limit: Some(o.time_limit),
            model_dir: Some(o.model_dir),
            config_dir: Some(o.config_dir),
            container_image: Some(o.container_image),
            gpu_type: Some(o.gpu_type),
            script_variant: Some(o.script_variant),
            gpus_per_node: Some(o.gpus_per_node),
            network_interface: Some(o.network_interface),
            log_dir: Some(o.log_dir),
            scripts_dir: Some(o.scripts_dir),
            use_init_location: Some(o.use_init_location),
            disable_config_dump: Some(o.disable_config_dump),
            use_dynamo_whls: Some(o.use_dynamo_whls),
            enable_multiple_frontends: Some(o.enable_multiple_frontends),
            num_additional_frontends: Some(o.num_additional_frontends),
            profiler: Some(o.profiler),
            template: Some(o.template),
            pass_config_key: Some(o.pass_config_key),
            retries: Some(o.retries),
            sbatch_args: Some(o.sbatch_args),
            strict_overrides: None,
        }
    }

    /// Each option of this layer, else `lower`'s.
    pub fn or(self, lower: Layer) -> Layer {
        Layer {
            account: self.account.or(lower.account),
            partition: self.partition.or(lower.partition),
            job_name: self.job_name.or(lower.job_name),
            time_limit: self.time_limit.or(lower.time_limit),
            model_dir: self.model_dir.or(lower.model_dir),
            config_dir: self.config_dir.or(lower.config_dir),
            container_image: self.container_image.or(lower.container_image),
            gpu_type: self.gpu_type.or(lower.gpu_type),
            script_variant: self.script_variant.or(lower.script_variant),
            gpus_per_node: self.gpus_per_node.or(lower.gpus_per_node),
            network_interface: self.network_interface.or(lower.network_interface),
            log_dir: self.log_dir.or(lower.log_dir),
            scripts_dir: self.scripts_dir.or(lower.scripts_dir),
            use_init_location: self.use_init_location.or(lower.use_init_location),
            disable_config_dump: self.disable_config_dump.or(lower.disable_config_dump),
            use_dynamo_whls: self.use_dynamo_whls.or(lower.use_dynamo_whls),
            enable_multiple_frontends: self
                .enable_multiple_frontends
                .or(lower.enable_multiple_frontends),
            num_additional_frontends: self
                .num_additional_frontends
                .or(lower.num_additional_frontends),
            profiler: self.profiler.or(lower.profiler),
            template: self.template.or(lower.template),
            pass_config_key: self.pass_config_key.or(lower.pass_config_key),
            retries: self.retries.or(lower.retries),
            sbatch_args: self.sbatch_args.or(lower.sbatch_args),
            strict_overrides: self.strict_overrides.or(lower.strict_overrides),
        }
    }

    /// The options of a job whose record came from `sweep_file`: this layer over the
    /// defaults, the scripts directory found when no layer gives one
    /// ([`default_scripts_dir`]). `Err` names the required options no layer gives.
    pub fn resolve(self, sweep_file: Option<&str>) -> Result<JobOptions, Unresolved> {
        let l = self.or(Layer::defaults());
        let required = [
            ("--account", l.account.is_none()),
            ("--partition", l.partition.is_none()),
            ("--model-dir", l.model_dir.is_none()),
            ("--config-dir", l.config_dir.is_none()),
            ("--gpu-type", l.gpu_type.is_none()),
            ("--script-variant", l.script_variant.is_none()),
        ];
        let missing: Vec<&'static str> = required
            .into_iter()
            .filter_map(|(flag, absent)| absent.then_some(flag))
            .collect();
        if !missing.is_empty() {
            return Err(Unresolved::Missing(missing));
        }
        let scripts_dir = match l.scripts_dir {
            Some(dir) => dir,
            None => default_scripts_dir(sweep_file).map_err(Unresolved::ScriptsDir)?,
        };
        // Every other option has a default: unwrap_or_default never decides anything here.
        Ok(JobOptions {
            account: l.account.unwrap_or_default(),
            partition: l.partition.unwrap_or_default(),
            job_name: l.job_name.unwrap_or_default(),
            time_limit: l.time_limit.unwrap_or_default(),
            model_dir: l.model_dir.unwrap_or_default(),
            config_dir: l.config_dir.unwrap_or_default(),
            container_image: l.container_image.flatten(),
            gpu_type: l.gpu_type.unwrap_or_default(),
            script_variant: l.script_variant.unwrap_or_default(),
            gpus_per_node: l.gpus_per_node.unwrap_or_default(),
            network_interface: l.network_interface.unwrap_or_default(),
            log_dir: l.log_dir.flatten(),
            scripts_dir,
            use_init_location: l.use_init_location.unwrap_or_default(),
            disable_config_dump: l.disable_config_dump.unwrap_or_default(),
            use_dynamo_whls: l.use_dynamo_whls.unwrap_or_default(),
            enable_multiple_frontends: l.enable_multiple_frontends.unwrap_or_default(),
            num_additional_frontends: l.num_additional_frontends.unwrap_or_default(),
            profiler: l.profiler.flatten(),
            template: l.template.flatten(),
            pass_config_key: l.pass_config_key.unwrap_or_default(),
            retries: l.retries.unwrap_or_default(),
            sbatch_args: l.sbatch_args.unwrap_or_default(),
            strict_overrides: l.strict_overrides.unwrap_or_default(),
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

impl JobOptions {
    /// As saved in the sweep directory.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("options serialize")
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

    fn given(args: &[(&str, &str)]) -> Layer {
        let mut g = Layer {
            scripts_dir: Some(PathBuf::from("/scripts")),
            ..Layer::default()
        };
        for (k, v) in args {
            match *k {
                "account" => g.account = Some(v.to_string()),
                "partition" => g.partition = Some(v.to_string()),
                "model" => g.model_dir = Some(PathBuf::from(v)),
                "config" => g.config_dir = Some(PathBuf::from(v)),
                "gpu" => g.gpu_type = Some(v.to_string()),
                "variant" => g.script_variant = Some(v.to_string()),
                "time" => g.time_limit = Some(v.to_string()),
                "image" => g.container_image = Some(Some(v.to_string()).filter(|v| !v.is_empty())),
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
        let saved = || Layer::saved(&first);
        let again = given(&[("account", "b")])
            .or(saved())
            .resolve(None)
            .unwrap();
        assert_eq!(again.account, "b");
        assert_eq!(again.time_limit, "00:10:00", "kept from the saved options");
        assert_eq!(again.container_image.as_deref(), Some("img"));
        assert_eq!(again.changes_from(&first), ["--account b (was a)"]);
        let none = given(&[("image", "")]).or(saved()).resolve(None).unwrap();
        assert_eq!(none.container_image, None, "'' turns it off");
        assert_eq!(
            given(&[("account", "a")]).resolve(None).unwrap_err(),
            Unresolved::Missing(vec![
                "--partition",
                "--model-dir",
                "--config-dir",
                "--gpu-type",
                "--script-variant"
            ])
        );
    }
}
