//! Feeding the queue under a cap (`--max-queued N|auto`): before each `sbatch`, wait until
//! the limits that count the job have room; count locally between polls (+1 per job
//! submitted) and ask Slurm only when the count says the queue is full: one `squeue` per poll
//! for all of the user's jobs, pausing between polls as the queue drains (longer while it
//! stays full). A refusal for a limit on queued jobs is waited out and retried, never a
//! failure; without `--max-queued` it fails the record, saying which option would have helped.

use super::caps::{Caps, Charged, Class};
use super::pacing::{Pacer, MAX_PAUSE, MIN_PAUSE};
use super::retry::{Done, Submitter};
use crate::prepare::options::JobOptions;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};
use sweep::cli::warn;

/// `--max-queued`: a number of jobs, or Slurm's own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxQueued {
    Jobs(u32),
    Auto,
}

impl FromStr for MaxQueued {
    type Err = String;

    fn from_str(s: &str) -> Result<MaxQueued, String> {
        match (s, s.parse::<u32>()) {
            ("auto", _) => Ok(MaxQueued::Auto),
            (_, Ok(n)) if n > 0 => Ok(MaxQueued::Jobs(n)),
            _ => Err("expected a number of jobs (1 or more) or auto".to_string()),
        }
    }
}

/// The queue of this run: its limits, their counts, and when to look again.
pub struct Queue {
    /// `None`: no `--max-queued`: nothing is counted or waited for.
    caps: Option<Caps>,
    /// Polls that may fail in a row (Slurm restarting) before the record fails.
    attempts: u32,
    /// The counts come from a poll (false at first, and after a refusal or new limits).
    polled: bool,
    /// When to poll again.
    pacer: Pacer,
    /// Pause before submitting again after Slurm refused a job for a limit.
    refusal_pause: Duration,
    said_refusal: bool,
    submitted: usize,
}

impl Queue {
    /// `sacctmgr` (for `auto`) is taken next to `sbatch`, else from PATH.
    pub fn new(max_queued: Option<MaxQueued>, sbatch_path: &Path, attempts: u32) -> Queue {
        let sacctmgr = sweep::slurm::program_beside(sbatch_path, "sacctmgr")
            .map_or_else(|| "sacctmgr".to_string(), |p| p.display().to_string());
        Queue {
            caps: max_queued.map(|m| Caps::new(m, sacctmgr)),
            attempts,
            polled: false,
            pacer: Pacer::new(),
            refusal_pause: MIN_PAUSE,
            said_refusal: false,
            submitted: 0,
        }
    }

    /// One `sbatch` (`call`) for a job with `options`, once the queue has room for `room`
    /// jobs (a record's job asks room for its `--retries` follow-ups too, so that they never
    /// wait half-submitted). Slurm refusing it for a limit on queued jobs is waited out and
    /// retried with `--max-queued`, and fails the record with a hint without it.
    pub fn submit(
        &mut self,
        sub: &mut Submitter,
        options: &JobOptions,
        room: usize,
        mut call: impl FnMut(&mut Submitter) -> Done,
    ) -> Done {
        let class = Class::of(options);
        loop {
            if let Some(done) = crate::interrupt::stopped() {
                return done;
            }
            let charged = match self.wait_for_room(sub, &class, room) {
                Ok(c) => c,
                Err(failed) => return failed,
            };
            let done = call(sub);
            match &done {
                Done::Submitted { job_id, .. } => {
                    self.submitted(job_id, charged.as_ref());
                    return done;
                }
                Done::Failed {
                    message,
                    transient: false,
                } => {
                    let Some(reason) = super::answer::submit_limit(message) else {
                        return done;
                    };
                    if self.caps.is_none() {
                        return Done::Failed {
                            message: format!("{message} (a limit on your queued jobs: --max-queued auto submits each job as room frees)"),
                            transient: false,
                        };
                    }
                    let reason = reason.to_string();
                    self.refused(sub, charged.as_ref(), &reason);
                }
                Done::Failed { .. } => return done,
            }
        }
    }

    /// Waits until every limit that counts jobs of `class` has room for `room` more. The
    /// class's limits (Err: they cannot be read, or can never hold `room` jobs) are returned
    /// for counting the job once submitted.
    fn wait_for_room(
        &mut self,
        sub: &mut Submitter,
        class: &Class,
        room: usize,
    ) -> Result<Option<Charged>, Done> {
        let Some(caps) = self.caps.as_mut() else {
            return Ok(None);
        };
        let (charged, new) = caps
            .charged(sub.slurm(), class)
            .map_err(|message| Done::Failed {
                message,
                transient: true,
            })?;
        self.polled &= !new;
        if charged.limits.is_empty() {
            return Ok(Some(charged));
        }
        if let Some(l) = charged
            .limits
            .iter()
            .map(|&i| &caps.limits[i])
            .find(|l| (l.max as usize) < room)
        {
            return Err(Done::Failed {
                message: format!(
                    "a job and its --retries follow-ups need {room} places in the queue at once, but at most {} may be queued in {} ({})",
                    l.max,
                    l.scope.describe(),
                    l.source
                ),
                transient: false,
            });
        }
        let mut failures = 0;
        loop {
            if let Some(done) = crate::interrupt::stopped() {
                return Err(done);
            }
            if self.polled && self.has_room(&charged, room) {
                return Ok(Some(charged));
            }
            // Full by our own count (right after filling it, typically): look again only
            // when a job may have left.
            let wait = self.pacer.delay(Instant::now());
            if self.polled && !wait.is_zero() {
                self.show_waiting(&charged, wait);
                sub.sleep(wait);
            }
            match self.poll(sub, &charged, room) {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    if failures >= self.attempts {
                        return Err(Done::Failed {
                            message: format!(
                                "could not see the queue while waiting for room in it: {e}"
                            ),
                            transient: true,
                        });
                    }
                    self.polled = false;
                    sub.sleep(
                        MIN_PAUSE
                            .saturating_mul(1 << failures.min(7))
                            .min(MAX_PAUSE),
                    );
                }
            }
        }
    }

    /// Whether each limit of the class can take `room` more jobs.
    fn has_room(&self, charged: &Charged, room: usize) -> bool {
        let caps = self.caps.as_ref().expect("capped");
        charged
            .limits
            .iter()
            .all(|&i| caps.limits[i].count + room <= caps.limits[i].max as usize)
    }

    /// One `squeue` for all of the user's jobs: every limit's count from it.
    fn poll(&mut self, sub: &Submitter, charged: &Charged, room: usize) -> Result<(), String> {
        let jobs = sub.slurm().queued_jobs().map_err(|e| e.0)?;
        let now = Instant::now();
        let caps = self.caps.as_mut().expect("capped");
        for limit in caps.limits.iter_mut() {
            limit.count = jobs.iter().filter(|j| limit.scope.counts(j)).count();
        }
        self.polled = true;
        let active = jobs.iter().map(|j| j.job_id.as_str()).collect();
        let room = self.has_room(charged, room);
        self.pacer.polled(&active, now, room);
        Ok(())
    }

    /// A job is in the queue: every limit that counts it counts one more.
    fn submitted(&mut self, job_id: &str, charged: Option<&Charged>) {
        self.submitted += 1;
        self.refusal_pause = MIN_PAUSE;
        self.pacer.submitted(job_id, Instant::now());
        let (Some(caps), Some(charged)) = (self.caps.as_mut(), charged) else {
            return;
        };
        for limit in caps.limits.iter_mut() {
            if limit.scope.counts(&charged.charge) {
                limit.count += 1;
            }
        }
    }

    /// Slurm refused a job for a limit on queued jobs although the counts had room (a limit
    /// this run does not count, jobs submitted elsewhere meanwhile): pause, growing, then look
    /// again. Said once on stderr, since the wait may be long.
    fn refused(&mut self, sub: &mut Submitter, charged: Option<&Charged>, reason: &str) {
        if !self.said_refusal {
            self.said_refusal = true;
            let counted = match (self.caps.as_ref(), charged) {
                (Some(caps), Some(c)) if !c.limits.is_empty() => c
                    .limits
                    .iter()
                    .map(|&i| {
                        let l = &caps.limits[i];
                        format!("{} of {} in {}", l.count, l.max, l.scope.describe())
                    })
                    .collect::<Vec<String>>()
                    .join(", "),
                _ => "no limit known to this run".to_string(),
            };
            warn(format_args!(
                "note: Slurm refused a job for {reason} with {counted} queued: a limit this run does not count (a group limit counts other users' jobs too); waiting for room and trying again"
            ));
        }
        show_status(format_args!(
            "submitted {}; Slurm refused the next job ({reason}): waiting for room (next try in {:.0}s)",
            self.submitted,
            self.refusal_pause.as_secs_f64().ceil()
        ));
        sub.sleep(self.refusal_pause);
        self.refusal_pause = (self.refusal_pause * 2).clamp(Duration::from_secs(1), MAX_PAUSE);
        self.polled = false;
    }

    /// `submitted 12; queued 5/5 in account capacct: waiting for room (next check in 2s)`.
    fn show_waiting(&mut self, charged: &Charged, wait: Duration) {
        let Some(caps) = self.caps.as_ref() else {
            return;
        };
        let queued: Vec<String> = charged
            .limits
            .iter()
            .map(|&i| {
                let l = &caps.limits[i];
                format!("{}/{} in {}", l.count, l.max, l.scope.describe())
            })
            .collect();
        show_status(format_args!(
            "submitted {}; queued {}: waiting for room (next check in {:.0}s)",
            self.submitted,
            queued.join(", "),
            wait.as_secs_f64().ceil()
        ));
    }
}

/// A wait, shown as the message of submission's progress bar (on a terminal; nothing
/// otherwise: the wait is not a step).
fn show_status(line: std::fmt::Arguments) {
    sweep::progress::show_status(&line.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_queued_values() {
        assert_eq!("auto".parse(), Ok(MaxQueued::Auto));
        assert_eq!("20".parse(), Ok(MaxQueued::Jobs(20)));
        for bad in ["0", "-1", "", "Auto", "1.5", "x"] {
            assert!(bad.parse::<MaxQueued>().is_err(), "{bad}");
        }
    }
}
