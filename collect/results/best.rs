//! The best load under the SLO of one combination in one workload shape, and the bracket
//! that holds its SLO boundary: the answer a sweep is run for, and what an adaptive search
//! narrows (issue 22). Plain data in, plain data out: no records, no printing.
//!
//! A combination's measurements in one shape are its [`Level`]s, one per load (concurrency,
//! or request rate), sorted by load; repeats of a load are folded into means
//! ([`super::stats::Estimate`]) and a load is judged on its means. Given the `--slo` limits,
//! [`boundary`] finds:
//!
//! - `best`: the highest load whose means meet every limit;
//! - `fails_at`: the lowest load above it that misses one (the next load: `best` is the
//!   highest that passes), or the lowest load of all when none passes. The SLO boundary lies
//!   between the two: that is the bracket;
//! - `binding`: the limit that binds first, the one that reaches its value at the lowest load
//!   inside the bracket (each limit's metric interpolated linearly in load between the two
//!   ends); when every load passes, the limit closest to its value at `best`; when none
//!   passes, the one missed by the most at the lowest load;
//! - `peak`: the passing load with the most output tokens/s per GPU (`best` itself unless
//!   throughput fell while latency still held);
//! - `inversions`: loads below `best` that miss the SLO (noisy or non-monotonic
//!   measurements: the bracket is then less certain than it looks).

use super::frontier::Limit;
use super::stats::Estimate;

/// A point of the results (record position, point position in its `results.points`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PointAt {
    pub record: usize,
    pub point: usize,
}

/// One measured load of one combination in one workload shape.
#[derive(Clone, Debug)]
pub struct Level {
    /// Concurrency or request rate; `None` for runs with neither (unlimited, trace): then
    /// the combination has one level.
    pub load: Option<f64>,
    /// Output tokens/s per GPU over the repeats.
    pub per_gpu: Estimate,
    /// Output tokens/s per user over the repeats.
    pub per_user: Estimate,
    /// Each `--slo` limit's metric over the repeats that have it, in the limits' order;
    /// `None` when no repeat has it (which misses the limit).
    pub limits: Vec<Option<Estimate>>,
    /// The valid points measured at this load (the repeats).
    pub points: Vec<PointAt>,
}

impl Level {
    /// Whether the means meet every limit.
    pub fn meets(&self, slo: &[Limit]) -> bool {
        slo.iter()
            .zip(&self.limits)
            .all(|(l, e)| e.is_some_and(|e| l.holds(e.mean)))
    }

    /// How much of limit `k` the mean uses (infinite without a value): above 1 misses.
    fn utilisation(&self, slo: &[Limit], k: usize) -> f64 {
        match self.limits.get(k).copied().flatten() {
            Some(e) => slo[k].utilisation(e.mean),
            None => f64::INFINITY,
        }
    }
}

/// Where a combination's SLO boundary is, in one shape (see the module docs). Indices are
/// into the levels given to [`boundary`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Boundary {
    /// The highest load that meets every limit.
    pub best: Option<usize>,
    /// The lowest load above `best` that misses (or the lowest load, when none passes).
    pub fails_at: Option<usize>,
    /// The passing load with the most output tokens/s per GPU.
    pub peak: Option<usize>,
    /// Loads below `best` that miss the SLO.
    pub inversions: Vec<usize>,
    /// The limit that binds first, when there are limits and loads.
    pub binding: Option<Binding>,
}

/// Which limit binds, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// Index into the limits.
    pub limit: usize,
    /// The level where it is judged: `fails_at` when some load fails, else `best`.
    pub level: usize,
    /// Its metric's mean there (`None`: no run there has it).
    pub value: Option<f64>,
    /// True when it misses there; false when every load passed (then it is the limit
    /// closest to its value at `best`).
    pub misses: bool,
    /// The load at which it reaches its value, interpolated linearly between `best` and
    /// `fails_at` (when both are known and the metric changes between them): an estimate
    /// of the boundary.
    pub crossing: Option<f64>,
}

impl Boundary {
    /// The bracket's ends as loads: (highest passing, lowest failing above it).
    pub fn bracket(&self, levels: &[Level]) -> (Option<f64>, Option<f64>) {
        let load = |i: Option<usize>| i.and_then(|i| levels[i].load);
        let upper = self.fails_at.filter(|&f| self.best.is_none_or(|b| f > b));
        (load(self.best), load(upper))
    }
}

/// The boundary of one combination in one shape; `levels` sorted by load, ascending.
pub fn boundary(levels: &[Level], slo: &[Limit]) -> Boundary {
    let pass: Vec<bool> = levels.iter().map(|l| l.meets(slo)).collect();
    let best = pass.iter().rposition(|&p| p);
    let fails_at = match best {
        Some(b) => (b + 1 < levels.len()).then_some(b + 1),
        None => (!levels.is_empty()).then_some(0),
    };
    let peak = (0..levels.len()).filter(|&i| pass[i]).max_by(|&a, &b| {
        levels[a]
            .per_gpu
            .mean
            .total_cmp(&levels[b].per_gpu.mean)
            // Equal throughput: the higher load.
            .then(a.cmp(&b))
    });
    let inversions = match best {
        Some(b) => (0..b).filter(|&i| !pass[i]).collect(),
        None => Vec::new(),
    };
    let binding = if slo.is_empty() || levels.is_empty() {
        None
    } else {
        Some(binding(levels, slo, best, fails_at))
    };
    Boundary {
        best,
        fails_at,
        peak,
        inversions,
        binding,
    }
}

fn binding(
    levels: &[Level],
    slo: &[Limit],
    best: Option<usize>,
    fails_at: Option<usize>,
) -> Binding {
    let value = |level: usize, k: usize| levels[level].limits.get(k).copied().flatten();
    let most_used = |level: usize, candidates: &mut dyn Iterator<Item = usize>| {
        candidates
            .max_by(|&a, &b| {
                let (ua, ub) = (
                    levels[level].utilisation(slo, a),
                    levels[level].utilisation(slo, b),
                );
                // The first limit wins a tie.
                ua.total_cmp(&ub).then(b.cmp(&a))
            })
            .unwrap_or(0)
    };
    match (best, fails_at) {
        (Some(b), None) => {
            // Every load passed: the limit closest to its value at the highest load.
            let k = most_used(b, &mut (0..slo.len()));
            Binding {
                limit: k,
                level: b,
                value: value(b, k).map(|e| e.mean),
                misses: false,
                crossing: None,
            }
        }
        (Some(b), Some(f)) => {
            // The limits that miss at `f`, each with the load where it crosses its value.
            let missing: Vec<usize> = (0..slo.len())
                .filter(|&k| levels[f].utilisation(slo, k) > 1.0 || value(f, k).is_none())
                .collect();
            let crossing = |k: usize| -> Option<f64> {
                let (l0, l1) = (levels[b].load?, levels[f].load?);
                let (v0, v1) = (value(b, k)?.mean, value(f, k)?.mean);
                if v1 == v0 {
                    return Some(l1);
                }
                let t = ((slo[k].value - v0) / (v1 - v0)).clamp(0.0, 1.0);
                Some(l0 + t * (l1 - l0))
            };
            let k = missing
                .iter()
                .copied()
                .min_by(|&a, &c| {
                    let (ca, cc) = (crossing(a), crossing(c));
                    let key = |x: Option<f64>| x.unwrap_or(f64::NEG_INFINITY);
                    key(ca)
                        .total_cmp(&key(cc))
                        // Same crossing: the one missed by more at `f`, then the first.
                        .then(
                            levels[f]
                                .utilisation(slo, c)
                                .total_cmp(&levels[f].utilisation(slo, a)),
                        )
                        .then(a.cmp(&c))
                })
                .unwrap_or_else(|| most_used(f, &mut (0..slo.len())));
            Binding {
                limit: k,
                level: f,
                value: value(f, k).map(|e| e.mean),
                misses: true,
                crossing: crossing(k),
            }
        }
        (None, Some(f)) => {
            // Nothing passes: the limit missed by the most at the lowest load.
            let k = most_used(f, &mut (0..slo.len()));
            Binding {
                limit: k,
                level: f,
                value: value(f, k).map(|e| e.mean),
                misses: true,
                crossing: None,
            }
        }
        (None, None) => unreachable!("levels is not empty"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, at_most: bool, value: f64) -> Limit {
        Limit {
            name: name.to_string(),
            at_most,
            value,
        }
    }

    /// A level at `load` with per-GPU `gpu` and one value per limit.
    fn level(load: f64, gpu: f64, values: &[Option<f64>]) -> Level {
        Level {
            load: Some(load),
            per_gpu: Estimate::one(gpu),
            per_user: Estimate::one(1000.0 / load),
            limits: values.iter().map(|v| v.map(Estimate::one)).collect(),
            points: Vec::new(),
        }
    }

    #[test]
    fn the_bracket_the_binding_limit_and_its_crossing() {
        let slo = [
            limit("ttft_p99_ms", true, 1000.0),
            limit("itl_p99_ms", true, 50.0),
        ];
        // itl crosses 50 at 16 + (50-40)/(80-40) * 48 = 28; ttft at 16 + (1000-500)/(1100-500)
        // * 48 = 56: itl binds first although ttft also misses at 64.
        let levels = [
            level(4.0, 100.0, &[Some(200.0), Some(20.0)]),
            level(16.0, 300.0, &[Some(500.0), Some(40.0)]),
            level(64.0, 600.0, &[Some(1100.0), Some(80.0)]),
            level(256.0, 700.0, &[Some(3000.0), Some(200.0)]),
        ];
        let b = boundary(&levels, &slo);
        assert_eq!(b.best, Some(1));
        assert_eq!(b.fails_at, Some(2));
        assert_eq!(b.peak, Some(1));
        assert!(b.inversions.is_empty());
        assert_eq!(b.bracket(&levels), (Some(16.0), Some(64.0)));
        let k = b.binding.unwrap();
        assert_eq!((k.limit, k.level, k.misses), (1, 2, true));
        assert_eq!(k.value, Some(80.0));
        assert!((k.crossing.unwrap() - 28.0).abs() < 1e-12);
    }

    #[test]
    fn every_load_passes_or_none_does_or_a_metric_is_missing() {
        let slo = [
            limit("ttft_p99_ms", true, 1000.0),
            limit("output_tps_per_user", false, 10.0),
        ];
        let all = [
            level(1.0, 10.0, &[Some(100.0), Some(100.0)]),
            level(2.0, 20.0, &[Some(900.0), Some(50.0)]),
        ];
        let b = boundary(&all, &slo);
        assert_eq!((b.best, b.fails_at, b.peak), (Some(1), None, Some(1)));
        assert_eq!(b.bracket(&all), (Some(2.0), None));
        let k = b.binding.unwrap();
        // 900 of 1000 is 0.9 of the limit; 10 of 50 is 0.2: ttft is the closest.
        assert_eq!((k.limit, k.misses, k.crossing), (0, false, None));
        let none = [
            level(1.0, 10.0, &[Some(1100.0), Some(5.0)]),
            level(2.0, 20.0, &[Some(1200.0), Some(4.0)]),
        ];
        let b = boundary(&none, &slo);
        assert_eq!((b.best, b.fails_at, b.peak), (None, Some(0), None));
        assert_eq!(b.bracket(&none), (None, Some(1.0)));
        // 1100/1000 = 1.1; 10/5 = 2: the per-user limit is missed by more.
        assert_eq!(b.binding.unwrap().limit, 1);
        let missing = [
            level(1.0, 10.0, &[Some(100.0), Some(100.0)]),
            level(2.0, 20.0, &[None, Some(100.0)]),
        ];
        let b = boundary(&missing, &slo);
        assert_eq!((b.best, b.fails_at), (Some(0), Some(1)));
        let k = b.binding.unwrap();
        assert_eq!((k.limit, k.value, k.crossing), (0, None, None));
        // No limits: every load passes, nothing binds.
        let b = boundary(&all, &[]);
        assert_eq!((b.best, b.fails_at, b.binding), (Some(1), None, None));
        assert_eq!(boundary(&[], &slo), Boundary::default());
    }

    #[test]
    fn inversions_and_a_peak_below_the_highest_passing_load() {
        let slo = [limit("itl_p99_ms", true, 50.0)];
        let levels = [
            level(1.0, 10.0, &[Some(10.0)]),
            level(2.0, 30.0, &[Some(60.0)]), // a noisy miss
            level(4.0, 50.0, &[Some(30.0)]),
            level(8.0, 45.0, &[Some(45.0)]), // saturated: less throughput, still within
            level(16.0, 44.0, &[Some(90.0)]),
        ];
        let b = boundary(&levels, &slo);
        assert_eq!((b.best, b.fails_at, b.peak), (Some(3), Some(4), Some(2)));
        assert_eq!(b.inversions, vec![1]);
    }

    /// A brute-force reading of the definitions over many random ladders.
    #[test]
    fn agrees_with_brute_force_on_random_ladders() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let n_limits = (next() % 3) as usize;
            let slo: Vec<Limit> = (0..n_limits)
                .map(|k| limit(&format!("m{k}"), next() % 2 == 0, (next() % 10) as f64))
                .collect();
            let n = (next() % 7) as usize;
            let levels: Vec<Level> = (0..n)
                .map(|i| {
                    let vals: Vec<Option<f64>> = (0..n_limits)
                        .map(|_| (next() % 8 != 0).then(|| (next() % 12) as f64))
                        .collect();
                    level((1 << i) as f64, (next() % 5) as f64, &vals)
                })
                .collect();
            let ok = |i: usize| {
                slo.iter().zip(&levels[i].limits).all(|(l, v)| match v {
                    Some(e) if l.at_most => e.mean <= l.value,
                    Some(e) => e.mean >= l.value,
                    None => false,
                })
            };
            let b = boundary(&levels, &slo);
            let passing: Vec<usize> = (0..n).filter(|&i| ok(i)).collect();
            let highest = passing
                .iter()
                .copied()
                .max_by(|&a, &c| levels[a].load.unwrap().total_cmp(&levels[c].load.unwrap()));
            assert_eq!(b.best, highest);
            let above = (0..n)
                .filter(|&i| !ok(i) && highest.is_none_or(|h| levels[i].load > levels[h].load))
                .min_by(|&a, &c| levels[a].load.unwrap().total_cmp(&levels[c].load.unwrap()));
            assert_eq!(b.fails_at, above);
            let best_gpu = passing
                .iter()
                .map(|&i| levels[i].per_gpu.mean)
                .fold(f64::NEG_INFINITY, f64::max);
            match b.peak {
                Some(p) => assert_eq!(levels[p].per_gpu.mean, best_gpu),
                None => assert!(passing.is_empty()),
            }
            let inv: Vec<usize> = (0..n)
                .filter(|&i| !ok(i) && highest.is_some_and(|h| i < h))
                .collect();
            assert_eq!(b.inversions, inv);
            if let Some(k) = &b.binding {
                let at = k.level;
                let u = |j: usize| match levels[at].limits[j] {
                    Some(e) => slo[j].utilisation(e.mean),
                    None => f64::INFINITY,
                };
                if k.misses {
                    assert!(u(k.limit) > 1.0, "a binding limit that misses misses");
                } else {
                    assert!((0..n_limits).all(|j| u(j) <= u(k.limit)));
                }
            } else {
                assert!(n_limits == 0 || n == 0);
            }
        }
    }
}
