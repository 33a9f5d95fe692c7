//! When to look at a full queue again. Polling blindly trades Slurm calls for idle places
//! in the queue; this looks when a job should have left: the jobs of this run that already
//! left tell how long a job stays in the queue (from its `sbatch` to its end), so the next
//! poll comes shortly before the oldest job still queued reaches that age, then in small
//! steps. When nothing can be predicted (no job has left yet, or the oldest is long overdue,
//! or the queue is full of other jobs of the user), the pause grows by half at each poll
//! that finds no room, from a quarter second to 30 s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Shortest pause between two polls.
pub const MIN_PAUSE: Duration = Duration::from_millis(250);
/// Longest pause: a queue of hour-long jobs is looked at twice a minute.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The first poll for a job comes at this share of the typical time in the queue (jobs
/// that take less are noticed, and the estimate follows them down) ...
const EARLY: f64 = 0.8;
/// ... then polls follow in steps of this share of it ...
const STEP: f64 = 0.05;
/// ... until the job is this many times overdue: then it is no guide, and the pause backs off.
const OVERDUE: f64 = 2.0;
/// Weight of the newest job's time in the estimate.
const WEIGHT: f64 = 0.3;

/// What the polls have taught, and the jobs of this run still queued.
#[derive(Debug)]
pub struct Pacer {
    /// Jobs this run submitted that were still queued at the last poll, with when.
    ours: BTreeMap<String, Instant>,
    /// Typical seconds from `sbatch` to leaving the queue.
    lifetime: Option<f64>,
    /// The pause when nothing can be predicted.
    backoff: Duration,
    last_poll: Option<Instant>,
}

impl Pacer {
    pub fn new() -> Pacer {
        Pacer {
            ours: BTreeMap::new(),
            lifetime: None,
            backoff: MIN_PAUSE,
            last_poll: None,
        }
    }

    /// A job of this run entered the queue at `at`.
    pub fn submitted(&mut self, job_id: &str, at: Instant) {
        self.ours.insert(job_id.to_string(), at);
    }

    /// A poll at `now` listed `active` (the IDs of the user's jobs still queued) and found
    /// room or not. Each job of ours that is gone left since the last poll: half way between
    /// counts as its time in the queue (the upper bound alone would add the polling delay to
    /// every estimate, and delay the polls that follow by as much again).
    pub fn polled(&mut self, active: &BTreeSet<&str>, now: Instant, room: bool) {
        let gone: Vec<String> = self
            .ours
            .keys()
            .filter(|id| !active.contains(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            let at = self.ours.remove(&id).expect("listed");
            let seen = self.last_poll.filter(|&l| l > at).unwrap_or(at);
            let took = (seen.duration_since(at) + now.duration_since(at)).as_secs_f64() / 2.0;
            self.lifetime = Some(match self.lifetime {
                None => took,
                Some(l) => l + WEIGHT * (took - l),
            });
        }
        self.backoff = match room {
            true => MIN_PAUSE,
            false => self.backoff.mul_f64(1.5).min(MAX_PAUSE),
        };
        self.last_poll = Some(now);
    }

    /// How long to wait at `now` before the next poll.
    pub fn delay(&self, now: Instant) -> Duration {
        let Some(last) = self.last_poll else {
            return Duration::ZERO;
        };
        let next = match (self.lifetime, self.ours.values().min()) {
            (Some(l), Some(&oldest)) if now.duration_since(oldest).as_secs_f64() < OVERDUE * l => {
                let step = Duration::from_secs_f64(STEP * l).clamp(MIN_PAUSE, MAX_PAUSE);
                let due = oldest + Duration::from_secs_f64(EARLY * l);
                (last + step).max(due).min(last + MAX_PAUSE)
            }
            _ => last + self.backoff,
        };
        next.saturating_duration_since(now)
    }

    #[cfg(test)]
    fn lifetime(&self) -> Option<f64> {
        self.lifetime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn active<'a>(ids: &[&'a str]) -> BTreeSet<&'a str> {
        ids.iter().copied().collect()
    }

    #[test]
    fn without_knowledge_the_pause_backs_off_by_half_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        assert_eq!(p.delay(t0), Duration::ZERO, "never polled: look now");
        let mut now = t0;
        let mut pauses = Vec::new();
        for _ in 0..14 {
            p.polled(&active(&[]), now, false);
            let d = p.delay(now);
            pauses.push(d);
            now += d;
        }
        assert_eq!(pauses[0], secs(0.375));
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*pauses.last().unwrap(), MAX_PAUSE);
        p.polled(&active(&[]), now, true);
        assert_eq!(p.delay(now), MIN_PAUSE, "room: back to the shortest pause");
    }

    #[test]
    fn the_next_poll_comes_shortly_before_the_oldest_job_should_leave() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        p.submitted("1", t0);
        p.polled(&active(&["1"]), t0 + secs(0.5), true);
        // Job 1 was there 0.5 s after its sbatch, gone at 19.5 s: 10 s, half way.
        p.polled(&active(&[]), t0 + secs(19.5), true);
        assert_eq!(p.lifetime(), Some(10.0));
        let t1 = t0 + secs(19.6);
        p.submitted("2", t1);
        p.submitted("3", t1 + secs(0.1));
        p.polled(&active(&["2", "3"]), t1 + secs(0.2), false);
        // At 80 % of 10 s after job 2's sbatch.
        assert_eq!(p.delay(t1 + secs(0.2)), secs(7.8));
        // Still there at 8 s: steps of 5 % (0.5 s).
        p.polled(&active(&["2", "3"]), t1 + secs(8.0), false);
        assert_eq!(p.delay(t1 + secs(8.0)), secs(0.5));
        // Long overdue (twice the typical time): back off instead.
        let late = t1 + secs(20.5);
        p.polled(&active(&["2", "3"]), late, false);
        assert!(
            p.delay(late) > secs(0.5) && p.delay(late) < secs(1.0),
            "{:?}",
            p.delay(late)
        );
        // Longer jobs pull the estimate up (by a share: one job is not the rule).
        p.polled(&active(&[]), t1 + secs(21.5), true);
        let l = p.lifetime().unwrap();
        assert!(l > 10.0 && l < 21.0, "{l}");
    }
}
