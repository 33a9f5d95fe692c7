//! The command line of sweep-submit that shapes a job ([`ScriptArgs`], flattened into
//! `main.rs`'s `Args`) and what it becomes below clap: the given layer of the job options
//! ([`crate::prepare::options::Layer`]).

use crate::prepare::options::Layer;
use std::path::PathBuf;

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

impl ScriptArgs {
    /// The options given, as the top layer of a job's options: paths made absolute against
    /// the current directory, `''` as "none" where absence means something, a flag and its
    /// hidden `--no-` twin as on, off, or not given.
    pub fn layer(self, retries: Option<u32>, sbatch_args: Vec<String>) -> Layer {
        let abs = |p: PathBuf| sweep::fsutil::absolute(&p).unwrap_or(p);
        let flag = |on: bool, off: bool| match (on, off) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        Layer {
            account: self.account,
            partition: self.partition,
            job_name: self.job_name,
            time_limit: self.time_limit,
            model_dir: self.model_dir.map(abs),
            config_dir: self.config_dir.map(abs),
            container_image: self
                .container_image
                .map(|image| Some(image).filter(|i| !i.is_empty())),
            gpu_type: self.gpu_type,
            script_variant: self.script_variant,
            gpus_per_node: self.gpus_per_node,
            network_interface: self.network_interface,
            log_dir: self.log_dir.map(|d| Some(abs(d))),
            scripts_dir: self.scripts_dir.map(abs),
            use_init_location: flag(self.use_init_location, self.no_use_init_location),
            disable_config_dump: flag(self.disable_config_dump, self.no_disable_config_dump),
            use_dynamo_whls: flag(self.use_dynamo_whls, self.no_use_dynamo_whls),
            enable_multiple_frontends: flag(
                self.enable_multiple_frontends,
                self.no_enable_multiple_frontends,
            ),
            num_additional_frontends: self.num_additional_frontends,
            profiler: self.profiler.map(Some),
            template: self
                .template
                .map(|t| Some(t).filter(|t| !t.as_os_str().is_empty()).map(abs)),
            pass_config_key: flag(self.pass_config_key, self.no_pass_config_key),
            retries,
            sbatch_args: Some(sbatch_args).filter(|a| !a.is_empty()),
            strict_overrides: self.strict_overrides.then_some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        script: ScriptArgs,
    }

    /// The defaults are written once, in `Layer::defaults`; the help says them too.
    #[test]
    fn the_help_names_the_defaults_the_code_uses() {
        let d = Layer::defaults();
        let cmd = Wrapper::command();
        let help = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_help().unwrap().to_string()
        };
        for (id, default) in [
            ("job_name", d.job_name.unwrap()),
            ("time_limit", d.time_limit.unwrap()),
            ("gpus_per_node", d.gpus_per_node.unwrap().to_string()),
            ("network_interface", d.network_interface.unwrap()),
            (
                "num_additional_frontends",
                d.num_additional_frontends.unwrap().to_string(),
            ),
        ] {
            let text = help(id);
            assert!(
                text.contains(&format!("[default: {default}]")),
                "{id}: {text}"
            );
        }
    }
}
