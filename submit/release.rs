//! Releasing held jobs, batched: every job is submitted held (`sbatch --hold`) and released
//! once this run has its ID in hand and in the journal. A job that a stalled controller
//! created after `sbatch` gave up (a ghost) is never released by anyone, so at most one job
//! of a submission ever runs. Releasing in batches (one `scontrol release` for up to
//! [`BATCH`] jobs, or for whatever is waiting after [`MAX_WAIT`]) keeps the cost per job far
//! below one Slurm call.

use std::time::{Duration, Instant};
use sweep::slurm::Slurm;

/// Jobs per `scontrol release` call when submitting fast.
const BATCH: usize = 64;
/// Longest a submitted job waits for its release while the run goes on.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// Jobs submitted and not released yet.
pub struct Releaser {
    slurm: Slurm,
    pending: Vec<String>,
    since: Option<Instant>,
    /// The last failure, while jobs wait for a retry.
    pub last_error: Option<String>,
    /// Jobs Slurm no longer knew when they were released (cancelled meanwhile).
    pub unknown: Vec<String>,
}

impl Releaser {
    pub fn new(slurm: Slurm) -> Releaser {
        Releaser {
            slurm,
            pending: Vec::new(),
            since: None,
            last_error: None,
            unknown: Vec::new(),
        }
    }

    /// Queues jobs for release.
    pub fn add(&mut self, jobs: impl IntoIterator<Item = String>) {
        let before = self.pending.len();
        self.pending.extend(jobs);
        if before == 0 && !self.pending.is_empty() {
            self.since = Some(Instant::now());
        }
    }

    /// Releases what is queued when a batch is full or has waited long enough.
    pub fn tick(&mut self) {
        let due =
            self.pending.len() >= BATCH || self.since.is_some_and(|t| t.elapsed() >= MAX_WAIT);
        if due {
            self.flush();
        }
    }

    /// Releases everything queued now (before the run pauses, and at its end). On failure
    /// (controller unreachable) the jobs stay queued for the next try; they stay held, so
    /// nothing runs twice meanwhile. True when nothing is left.
    pub fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        match self.slurm.release(&self.pending) {
            Ok(refused) => {
                self.unknown.extend(refused.unknown);
                self.pending.clear();
                self.since = None;
                self.last_error = None;
                true
            }
            Err(e) => {
                self.last_error = Some(e.0);
                false
            }
        }
    }

    /// At the end of the run: releases what is left, trying `attempts` times with `backoff`
    /// doubling between them. The jobs still held after that, with the last error.
    pub fn finish(&mut self, attempts: u32, backoff: Duration) -> Option<(Vec<String>, String)> {
        for attempt in 1..=attempts.max(1) {
            if attempt > 1 {
                std::thread::sleep(backoff.saturating_mul(2u32.saturating_pow(attempt - 2)));
            }
            if self.flush() {
                return None;
            }
        }
        Some((
            std::mem::take(&mut self.pending),
            self.last_error.take().unwrap_or_default(),
        ))
    }
}
