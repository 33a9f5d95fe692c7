//! The parts of sweep-collect's command line that become one value each below clap: the
//! pace of `--wait` ([`WaitArgs`]) and the Slurm commands ([`SlurmArgs`]), flattened into
//! `main.rs`'s `Args` where they stand in `--help`.

use crate::wait;
use anyhow::Result;
use std::time::Duration;
use sweep::cli::{seconds, usage};
use sweep::slurm::Slurm;

/// How `--wait` polls.
#[derive(clap::Args)]
pub struct WaitArgs {
    /// Seconds before the second poll of --wait; doubles each poll up to --max-interval.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub poll_interval: f64,
    /// Longest pause between polls of --wait, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub max_interval: f64,
    /// Stop waiting after SECS seconds (exit 1; the output is still written).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

impl WaitArgs {
    /// The pace of the wait, checked.
    pub fn options(&self) -> Result<wait::Options> {
        let intervals = (
            seconds(self.poll_interval, true),
            seconds(self.max_interval, true),
        );
        let (Some(first), Some(max)) = intervals else {
            return usage("--poll-interval and --max-interval must be positive numbers");
        };
        // Any finite time is a time to wait; one longer than a Duration holds is forever.
        let timeout = match self.timeout {
            Some(t) if !t.is_finite() || t < 0.0 => {
                return usage("--timeout must be a non-negative number")
            }
            Some(t) => Some(seconds(t, false).unwrap_or(Duration::MAX)),
            None => None,
        };
        Ok(wait::Options {
            first,
            max,
            timeout,
        })
    }
}

/// The Slurm commands sweep-collect asks.
#[derive(clap::Args)]
pub struct SlurmArgs {
    /// Job IDs per squeue or sacct call.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    batch_size: usize,
    /// The squeue program.
    #[arg(long, value_name = "PROGRAM", default_value = "squeue")]
    squeue: String,
    /// The sacct program.
    #[arg(long, value_name = "PROGRAM", default_value = "sacct")]
    sacct: String,
    /// The scancel program (--cancel).
    #[arg(long, value_name = "PROGRAM", default_value = "scancel")]
    scancel: String,
    /// Longest wait for one squeue or sacct call, in seconds (a hung one is killed and counts
    /// as Slurm unreachable)
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    slurm_timeout: f64,
}

impl SlurmArgs {
    /// The Slurm commands, checked.
    pub fn slurm(&self) -> Result<Slurm> {
        if self.batch_size == 0 {
            return usage("--batch-size must be at least 1");
        }
        let Some(timeout) = seconds(self.slurm_timeout, true) else {
            return usage("--slurm-timeout must be a positive number");
        };
        Ok(Slurm {
            squeue: self.squeue.clone(),
            sacct: self.sacct.clone(),
            scancel: self.scancel.clone(),
            batch: self.batch_size,
            ..Slurm::new(timeout, "--slurm-timeout")
        })
    }
}
