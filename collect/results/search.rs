//! The adaptive search's rules (issue 22): from what one combination measured in one workload
//! shape (its levels, and the bracket [`super::best::boundary`] found), what it needs next.
//! Plain data in, plain data out, like `best.rs`; `plan.rs` applies it to a sweep's records.
//!
//! With `b` the highest load that meets the SLO and `f` the lowest load above it that misses
//! (the bracket), and `K` loads per follow-up job:
//!
//! - **resolved**: `f` is within the tolerance of `b` (`(f - b) / b <= tolerance`, or no
//!   whole load lies between them); or every load passed and the highest gave less than
//!   `1 + saturation` times the output tokens/s per GPU of the best load below it
//!   (**saturation**: more load buys no throughput, only latency); or every load passed up to
//!   `--max-load`; or concurrency 1 already misses;
//! - **pruned**: its output tokens/s per GPU cannot beat the best another combination of its
//!   sweep and shape already measured within the SLO, even at the best figure its bracket
//!   allows: throughput grows with load, so no load below `f` gives more than `f` did (the
//!   highest of `b`'s and `f`'s figures is the bound; with nothing passing, `f`'s);
//! - **open**: the loads to measure next. **Bisection** between `b` and `f`: `K` loads that
//!   split the bracket into `K + 1` equal ratios (`b * (f / b)^(i / (K + 1))`, whole, each
//!   once); with every load passing, **step up** geometrically from the highest
//!   (`top * step^i`, up to `--max-load`); with none passing, **step down** from the lowest
//!   (`f / step^i`, down to 1).
//!
//! Loads are concurrencies: only shapes driven by concurrency are searched (a request-rate
//! run takes one rate per job).

use super::best::{Boundary, Level};

/// The rules' settings (the `--next-round` options).
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// The bracket's width, as a share of its lower end, at which a boundary is known
    /// (`--tolerance`).
    pub tolerance: f64,
    /// Loads per follow-up job (`--loads-per-round`).
    pub loads: usize,
    /// The factor of a geometric step up or down (`--step`).
    pub step: f64,
    /// The least rise of output tokens/s per GPU at the highest load that is not saturation
    /// (`--saturation`).
    pub saturation: f64,
    /// The highest load ever measured (`--max-load`).
    pub max_load: Option<u64>,
    /// Prune (`--no-prune`: every boundary is located).
    pub prune: bool,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            tolerance: 0.10,
            loads: 3,
            step: 2.0,
            saturation: 0.05,
            max_load: None,
            prune: true,
        }
    }
}

/// Why a combination needs nothing more.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// The boundary lies between two loads within the tolerance (or with no whole load
    /// between them).
    Bracket { below: f64, above: f64 },
    /// Every load passed and the highest bought less than the saturation threshold.
    Saturated {
        top: f64,
        gpu: f64,
        below: f64,
        below_gpu: f64,
    },
    /// Every load passed, up to `--max-load`.
    MaxLoad { top: f64 },
    /// Concurrency 1 misses the SLO: no load meets it.
    FailsAtOne,
}

/// The best figure a pruned combination could still reach, and what beats it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pruned {
    /// The bound: output tokens/s per GPU.
    pub bound: f64,
    /// The load whose figure is the bound.
    pub bound_load: f64,
    /// The best within the SLO of another combination: its series, load and figure.
    pub best_series: usize,
    pub best_load: f64,
    pub best_gpu: f64,
}

/// How an open combination's next loads were chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Move {
    /// Between the highest passing and the lowest failing load.
    Bisect { below: f64, above: f64 },
    /// Above the highest load: every load passed and throughput still rises.
    StepUp { top: f64 },
    /// Below the lowest load: no load passed.
    StepDown { lowest: f64 },
}

/// What the search makes of one combination in one shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Resolved(Resolved),
    Pruned(Pruned),
    Open { loads: Vec<u64>, how: Move },
}

/// The best within the SLO of the other combinations of a sweep and shape: (series, load,
/// output tokens/s per GPU).
pub type Rival = (usize, f64, f64);

/// The verdict for one combination: its levels (sorted by load, each load a concurrency),
/// their boundary, and the best other combination's (`rival`).
pub fn verdict(levels: &[Level], b: &Boundary, rival: Option<Rival>, rules: &Rules) -> Verdict {
    let load = |i: usize| levels[i].load.unwrap_or(0.0);
    let gpu = |i: usize| levels[i].per_gpu.mean;
    let upper = b.fails_at.filter(|&f| b.best.is_none_or(|x| f > x));
    // Resolved?
    match (b.best, upper) {
        (Some(x), Some(f)) => {
            let (lo, hi) = (load(x), load(f));
            if hi <= lo * (1.0 + rules.tolerance) || hi - lo <= 1.0 {
                return Verdict::Resolved(Resolved::Bracket {
                    below: lo,
                    above: hi,
                });
            }
        }
        (Some(x), None) => {
            let top = load(x);
            let below = (0..x).max_by(|&a, &c| gpu(a).total_cmp(&gpu(c)).then(a.cmp(&c)));
            if let Some(p) = below.filter(|&p| gpu(x) < gpu(p) * (1.0 + rules.saturation)) {
                return Verdict::Resolved(Resolved::Saturated {
                    top,
                    gpu: gpu(x),
                    below: load(p),
                    below_gpu: gpu(p),
                });
            }
            if rules.max_load.is_some_and(|m| top >= m as f64) {
                return Verdict::Resolved(Resolved::MaxLoad { top });
            }
        }
        (None, Some(f)) if load(f) <= 1.0 => return Verdict::Resolved(Resolved::FailsAtOne),
        _ => {}
    }
    // Pruned? The bound: what the bracket allows at most.
    if rules.prune {
        if let (Some(f), Some((series, best_load, best_gpu))) = (upper, rival) {
            let (bound, bound_load) = match b.best {
                Some(x) if gpu(x) > gpu(f) => (gpu(x), load(x)),
                _ => (gpu(f), load(f)),
            };
            if bound <= best_gpu {
                return Verdict::Pruned(Pruned {
                    bound,
                    bound_load,
                    best_series: series,
                    best_load,
                    best_gpu,
                });
            }
        }
    }
    let measured = |c: u64| levels.iter().any(|l| l.load == Some(c as f64));
    let (loads, how) = match (b.best, upper) {
        (Some(x), Some(f)) => {
            let (lo, hi) = (load(x), load(f));
            (
                bisect(lo, hi, rules.loads),
                Move::Bisect {
                    below: lo,
                    above: hi,
                },
            )
        }
        (Some(x), None) => {
            let top = load(x);
            let cap = rules.max_load.map_or(f64::INFINITY, |m| m as f64);
            let loads = (1..=rules.loads)
                .map(|i| (top * rules.step.powi(i as i32)).round().min(cap) as u64)
                .filter(|&c| c as f64 > top)
                .collect();
            (loads, Move::StepUp { top })
        }
        (None, Some(f)) => {
            let lowest = load(f);
            let loads = (1..=rules.loads)
                .map(|i| (lowest / rules.step.powi(i as i32)).floor().max(1.0) as u64)
                .filter(|&c| (c as f64) < lowest)
                .collect();
            (loads, Move::StepDown { lowest })
        }
        (None, None) => (Vec::new(), Move::StepUp { top: 0.0 }),
    };
    let mut loads: Vec<u64> = loads;
    loads.retain(|&c| c > 0 && !measured(c));
    loads.sort_unstable();
    loads.dedup();
    Verdict::Open { loads, how }
}

/// `k` whole loads strictly between `lo` and `hi` that split the bracket into `k + 1` equal
/// ratios (fewer when fewer whole loads lie between them), each once, ascending.
pub fn bisect(lo: f64, hi: f64, k: usize) -> Vec<u64> {
    let ratio = hi / lo;
    let mut loads: Vec<u64> = (1..=k)
        .map(|i| (lo * ratio.powf(i as f64 / (k + 1) as f64)).round() as u64)
        .filter(|&c| (c as f64) > lo && (c as f64) < hi)
        .collect();
    loads.dedup();
    if loads.is_empty() {
        // Rounding took every load onto an end: the whole load nearest the middle.
        let mid = (lo * hi)
            .sqrt()
            .round()
            .clamp(lo.floor() + 1.0, hi.ceil() - 1.0);
        if mid > lo && mid < hi {
            loads.push(mid as u64);
        }
    }
    loads
}

#[cfg(test)]
mod tests {
    use super::super::frontier::Limit;
    use super::super::stats::Estimate;
    use super::*;

    /// Levels at `loads` under the law tpot = a + b x c (ms), tokens/s per GPU = c x 1000 /
    /// tpot / gpus; the SLO tpot <= 50.
    fn law(loads: &[u64], a: f64, b: f64, gpus: f64) -> (Vec<Level>, Boundary) {
        let slo = [Limit {
            name: "tpot_median_ms".into(),
            at_most: true,
            value: 50.0,
        }];
        let levels: Vec<Level> = loads
            .iter()
            .map(|&c| {
                let c = c as f64;
                let tpot = a + b * c;
                Level {
                    load: Some(c),
                    per_gpu: Estimate::one(c * 1000.0 / tpot / gpus),
                    per_user: Estimate::one(1000.0 / tpot),
                    limits: vec![Some(Estimate::one(tpot))],
                    points: Vec::new(),
                }
            })
            .collect();
        let b = super::super::best::boundary(&levels, &slo);
        (levels, b)
    }

    #[test]
    fn bisection_splits_the_bracket_into_equal_ratios() {
        assert_eq!(bisect(16.0, 256.0, 3), [32, 64, 128]);
        assert_eq!(bisect(16.0, 64.0, 1), [32]);
        assert_eq!(bisect(64.0, 256.0, 3), [91, 128, 181]);
        // Few whole loads between: each once.
        assert_eq!(bisect(10.0, 13.0, 3), [11, 12]);
        assert_eq!(bisect(10.0, 12.0, 3), [11]);
        assert_eq!(bisect(1.0, 3.0, 3), [2]);
    }

    #[test]
    fn a_bracket_narrows_until_it_is_within_the_tolerance() {
        // tpot = 10 + 0.4 c: the boundary is at c = 100.
        let rules = Rules::default();
        let mut loads = vec![4, 16, 64, 256];
        let mut rounds = 0;
        loop {
            let (levels, b) = law(&loads, 10.0, 0.4, 8.0);
            match verdict(&levels, &b, None, &rules) {
                Verdict::Open { loads: next, how } => {
                    assert!(matches!(how, Move::Bisect { .. }), "{how:?}");
                    loads.extend(next);
                    loads.sort_unstable();
                    rounds += 1;
                }
                Verdict::Resolved(Resolved::Bracket { below, above }) => {
                    assert!(below <= 100.0 && 100.0 < above, "{below} {above}");
                    assert!(above <= below * 1.1);
                    break;
                }
                v => panic!("{v:?}"),
            }
            assert!(rounds < 10);
        }
        // From a ratio of 4 to 1.1, three loads a round: 4^(1/16) < 1.1.
        assert_eq!(rounds, 2, "{loads:?}");
    }

    #[test]
    fn steps_up_until_saturation_and_down_until_something_passes() {
        let rules = Rules::default();
        // tpot = 1 + 0.001 c: everything passes; throughput rises until far out.
        let (levels, b) = law(&[4, 16], 1.0, 0.001, 8.0);
        assert_eq!(
            verdict(&levels, &b, None, &rules),
            Verdict::Open {
                loads: vec![32, 64, 128],
                how: Move::StepUp { top: 16.0 }
            }
        );
        let capped = Rules {
            max_load: Some(50),
            ..Rules::default()
        };
        assert_eq!(
            verdict(&levels, &b, None, &capped),
            Verdict::Open {
                loads: vec![32, 50],
                how: Move::StepUp { top: 16.0 }
            }
        );
        let (levels, b) = law(&[4, 16, 50], 1.0, 0.001, 8.0);
        assert_eq!(
            verdict(&levels, &b, None, &capped),
            Verdict::Resolved(Resolved::MaxLoad { top: 50.0 })
        );
        // tpot = 0.1 + 0.001 c: tokens/s per GPU tends to 1000000 / 8; from 4000 to 8000 it
        // rises less than 5%.
        let (levels, b) = law(&[1000, 2000, 4000, 8000], 0.1, 0.001, 8.0);
        match verdict(&levels, &b, None, &rules) {
            Verdict::Resolved(Resolved::Saturated { top, below, .. }) => {
                assert_eq!((top, below), (8000.0, 4000.0));
            }
            v => panic!("{v:?}"),
        }
        // Nothing passes at 64: step down.
        let (levels, b) = law(&[64, 128], 40.0, 1.0, 8.0);
        assert_eq!(
            verdict(&levels, &b, None, &rules),
            Verdict::Open {
                loads: vec![8, 16, 32],
                how: Move::StepDown { lowest: 64.0 }
            }
        );
        // Nothing passes at 1: resolved, nothing to measure.
        let (levels, b) = law(&[1, 2], 60.0, 1.0, 8.0);
        assert_eq!(
            verdict(&levels, &b, None, &rules),
            Verdict::Resolved(Resolved::FailsAtOne)
        );
    }

    #[test]
    fn a_combination_that_cannot_beat_the_best_is_pruned() {
        let rules = Rules::default();
        // Boundary at 100; its first failing load 256 gives 256000 / 112.4 / 8 = 285 tok/s/GPU.
        let (levels, b) = law(&[4, 16, 64, 256], 10.0, 0.4, 8.0);
        let bound = 256.0 * 1000.0 / (10.0 + 0.4 * 256.0) / 8.0;
        match verdict(&levels, &b, Some((7, 48.0, 300.0)), &rules) {
            Verdict::Pruned(p) => {
                assert!((p.bound - bound).abs() < 1e-9);
                assert_eq!((p.bound_load, p.best_series, p.best_load), (256.0, 7, 48.0));
            }
            v => panic!("{v:?}"),
        }
        // A rival below the bound: it could still win.
        assert!(matches!(
            verdict(&levels, &b, Some((7, 48.0, 280.0)), &rules),
            Verdict::Open { .. }
        ));
        // --no-prune.
        let all = Rules {
            prune: false,
            ..Rules::default()
        };
        assert!(matches!(
            verdict(&levels, &b, Some((7, 48.0, 300.0)), &all),
            Verdict::Open { .. }
        ));
        // Every load passed and throughput rises: no bound, never pruned.
        let (levels, b) = law(&[4, 16], 1.0, 0.001, 8.0);
        assert!(matches!(
            verdict(&levels, &b, Some((7, 48.0, 1e9)), &rules),
            Verdict::Open { .. }
        ));
        // A resolved one stays resolved.
        let (levels, b) = law(&[90, 99, 101], 10.0, 0.4, 8.0);
        assert!(matches!(
            verdict(&levels, &b, Some((7, 48.0, 1e9)), &rules),
            Verdict::Resolved(Resolved::Bracket { .. })
        ));
    }
}
