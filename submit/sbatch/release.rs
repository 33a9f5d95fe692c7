//! Releasing held jobs, batched, on a thread of its own: every job is submitted held
//! (`sbatch --hold`) and released once this run has its ID in hand and in the journal. A job
//! that a stalled controller created after `sbatch` gave up (a ghost) is never released by
//! anyone, so at most one job of a submission ever runs.
//!
//! `scontrol release` takes a list of jobs but asks the controller about each one (about 1 ms
//! a job here), so releasing runs beside the submission, overlapped with the `sbatch` calls:
//! one call for up to [`BATCH`] jobs, or for whatever waited [`MAX_WAIT`], and everything
//! before the run pauses (a held job must not wait through a pause) and at its end.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use sweep::slurm::Slurm;

/// Jobs per `scontrol release` call when submitting fast.
const BATCH: usize = 128;
/// Longest a submitted job waits for its release while the run goes on.
const MAX_WAIT: Duration = Duration::from_millis(500);

enum Msg {
    /// Release these (after the journal has them).
    Add(Vec<String>),
    /// Release everything waiting now; answer true when nothing is left.
    Flush(mpsc::Sender<bool>),
}

/// The jobs submitted and not released yet, handed to the releasing thread.
pub struct Releaser {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<Left>>,
}

/// What the releasing thread could not do.
#[derive(Default)]
struct Left {
    /// Jobs still held, with the last error.
    pending: Vec<String>,
    last_error: Option<String>,
    /// Jobs Slurm no longer knew when they were released (cancelled meanwhile).
    unknown: Vec<String>,
}

impl Left {
    /// One `scontrol release` of everything pending; false (jobs kept) on failure.
    fn release(&mut self, slurm: &Slurm) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        match slurm.release(&self.pending) {
            Ok(refused) => {
                self.unknown.extend(refused.unknown);
                self.pending.clear();
                self.last_error = None;
                true
            }
            Err(e) => {
                self.last_error = Some(e.0);
                false
            }
        }
    }
}

impl Releaser {
    /// Starts the releasing thread.
    pub fn new(slurm: Slurm) -> Releaser {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::spawn(move || {
            let mut left = Left::default();
            let mut since: Option<Instant> = None;
            loop {
                let wait = since.map_or(Duration::from_secs(3600), |t| {
                    MAX_WAIT.saturating_sub(t.elapsed())
                });
                match rx.recv_timeout(wait) {
                    Ok(Msg::Add(ids)) => {
                        since.get_or_insert_with(Instant::now);
                        left.pending.extend(ids);
                        if left.pending.len() < BATCH {
                            continue;
                        }
                    }
                    Ok(Msg::Flush(answer)) => {
                        let done = left.release(&slurm);
                        since = (!done).then(Instant::now);
                        let _ = answer.send(done);
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return left,
                }
                // A full batch, or one that waited long enough; on failure, retried later.
                let done = left.release(&slurm);
                since = (!done).then(Instant::now);
            }
        });
        Releaser {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Queues jobs for release.
    pub fn add(&mut self, jobs: impl IntoIterator<Item = String>) {
        let jobs: Vec<String> = jobs.into_iter().collect();
        if !jobs.is_empty() {
            if let Some(tx) = &self.tx {
                let _ = tx.send(Msg::Add(jobs));
            }
        }
    }

    /// Releases everything queued now, and waits for it (before the run pauses). True when
    /// nothing is left held; on failure the jobs stay queued for the next try (they stay held,
    /// so nothing runs twice meanwhile).
    pub fn flush(&mut self) -> bool {
        let (answer, done) = mpsc::channel();
        match &self.tx {
            Some(tx) if tx.send(Msg::Flush(answer)).is_ok() => done.recv().unwrap_or(false),
            _ => false,
        }
    }

    /// At the end of the run: releases what is left, trying `attempts` times with `backoff`
    /// doubling between them. Returns the jobs Slurm no longer knew, and the jobs still held
    /// after that with the last error.
    pub fn finish(
        &mut self,
        attempts: u32,
        backoff: Duration,
    ) -> (Vec<String>, Option<(Vec<String>, String)>) {
        for attempt in 1..=attempts.max(1) {
            if attempt > 1 {
                std::thread::sleep(backoff.saturating_mul(2u32.saturating_pow(attempt - 2)));
            }
            if self.flush() {
                break;
            }
        }
        drop(self.tx.take());
        let left = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let held =
            (!left.pending.is_empty()).then(|| (left.pending, left.last_error.unwrap_or_default()));
        (left.unknown, held)
    }
}
