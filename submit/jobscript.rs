//! The job script: what runs on the nodes. (Interface stub: the job-script issue replaces the
//! body of [`Builder::render`] with the seed's real serving layout and custom templates.)

use anyhow::Result;
use std::path::{Path, PathBuf};
use sweep::Record;

/// Options that shape the job script (the seed's names and defaults).
#[derive(clap::Args, Debug, Clone)]
pub struct ScriptArgs {
    /// Slurm account (#SBATCH --account)
    #[arg(long)]
    pub account: String,
    /// Slurm partition (#SBATCH --partition)
    #[arg(long)]
    pub partition: String,
    /// Base job name; each job is named {job-name}_sweep{index}
    #[arg(long, default_value = "sweep_job")]
    pub job_name: String,
    /// Time limit, HH:MM:SS (#SBATCH --time)
    #[arg(long, default_value = "04:00:00")]
    pub time_limit: String,
    /// Model directory
    #[arg(long)]
    pub model_dir: PathBuf,
    /// Config directory
    #[arg(long)]
    pub config_dir: PathBuf,
    /// Container image (pyxis); without it the layout runs on the bare nodes
    #[arg(long)]
    pub container_image: Option<String>,
    /// GPU type (gb200-fp8, gb200-fp4, ...): selects <scripts-dir>/<gpu-type>/
    #[arg(long)]
    pub gpu_type: String,
    /// Script variant (max-tpt, 1p_4d, ...): selects <gpu-type>/<agg|disagg>/<variant>.sh
    #[arg(long)]
    pub script_variant: String,
    /// GPUs per node
    #[arg(long, default_value_t = 8)]
    pub gpus_per_node: u32,
    /// Network interface whose address is the master IP
    #[arg(long, default_value = "eth3")]
    pub network_interface: String,
    /// Log directory (default: <sweep dir>/logs)
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Directory with worker_setup.py and <gpu-type>/<mode>/<variant>.sh, resolved to an
    /// absolute path at submit time
    #[arg(long, default_value = "scripts")]
    pub scripts_dir: PathBuf,
    /// Use init expert locations
    #[arg(long)]
    pub use_init_location: bool,
    /// Disable config dump
    #[arg(long)]
    pub disable_config_dump: bool,
    /// Use dynamo wheels
    #[arg(long)]
    pub use_dynamo_whls: bool,
    /// Enable multiple frontends (nginx on node 0, frontends behind it)
    #[arg(long)]
    pub enable_multiple_frontends: bool,
    /// Number of additional frontends
    #[arg(long, default_value_t = 9)]
    pub num_additional_frontends: u32,
    /// Benchmark spec: "type=...; isl=...; osl=...; concurrencies=AxBxC; req-rate=..."
    #[arg(long)]
    pub profiler: Option<String>,
    /// Jinja job template to use instead of the built-in job script
    #[arg(long)]
    pub template: Option<PathBuf>,
}

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
    args: ScriptArgs,
}

impl Builder {
    /// Checks the options once, before anything is submitted.
    pub fn new(args: &ScriptArgs) -> Result<Builder> {
        Ok(Builder { args: args.clone() })
    }

    /// Warnings (or, in strict mode, an error) about one record before submission.
    pub fn check(&self, _record: &Record) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// The job script text for one job.
    pub fn render(&self, job: &Job) -> Result<String> {
        let a = &self.args;
        let nodes = job.record.total_nodes.unwrap_or(1);
        Ok(format!(
            "#!/bin/bash\n#SBATCH --job-name={}\n#SBATCH --nodes={nodes}\n#SBATCH --ntasks-per-node=1\n\
             #SBATCH --account={}\n#SBATCH --partition={}\n#SBATCH --time={}\n\
             #SBATCH --output={}/%j.out\n#SBATCH --error={}/%j.err\n\necho sweep job {}\n",
            job.job_name,
            a.account,
            a.partition,
            a.time_limit,
            job.log_dir.display(),
            job.log_dir.display(),
            job.record.id
        ))
    }
}
