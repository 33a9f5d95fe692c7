//! Sweeps compared: at given levels of output tokens/s per user, each sweep's output tokens/s
//! per GPU read off its frontier (within the SLO), and the ratio to the first sweep.
//!
//! A frontier is a set of measured loads, sorted by tokens/s per user; between two of them it
//! is read by linear interpolation (marked as such), outside them it says nothing. With
//! repeats, each frontier point has a 95% interval; an interpolated value's interval is the
//! interpolation of its neighbours' half-widths, and two values whose intervals overlap are
//! "within the intervals": the difference may be noise.

use super::analysis::Analysis;
use super::stats::Estimate;

/// One point of a frontier: tokens/s per user (its mean) and tokens/s per GPU.
#[derive(Clone, Copy, Debug)]
pub struct Knot {
    pub per_user: f64,
    pub per_gpu: Estimate,
}

/// A frontier read at one level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    /// A measured load is at exactly this level.
    Measured(Estimate),
    /// Between two measured loads.
    Interpolated(Estimate),
    /// Outside the frontier's range.
    Outside,
}

impl Reading {
    pub fn estimate(&self) -> Option<Estimate> {
        match self {
            Reading::Measured(e) | Reading::Interpolated(e) => Some(*e),
            Reading::Outside => None,
        }
    }
}

/// Reads a frontier (sorted by `per_user`, ascending) at `x` tokens/s per user.
pub fn read(frontier: &[Knot], x: f64) -> Reading {
    if let Some(k) = frontier
        .iter()
        .filter(|k| k.per_user == x)
        .max_by(|a, b| a.per_gpu.mean.total_cmp(&b.per_gpu.mean))
    {
        return Reading::Measured(k.per_gpu);
    }
    let Some(i) = frontier
        .windows(2)
        .position(|w| w[0].per_user < x && x < w[1].per_user)
    else {
        return Reading::Outside;
    };
    let (a, b) = (frontier[i], frontier[i + 1]);
    let t = (x - a.per_user) / (b.per_user - a.per_user);
    let lerp = |u: f64, v: f64| u + t * (v - u);
    let half_width = match (a.per_gpu.half_width, b.per_gpu.half_width) {
        (Some(u), Some(v)) => Some(lerp(u, v)),
        _ => None,
    };
    Reading::Interpolated(Estimate {
        mean: lerp(a.per_gpu.mean, b.per_gpu.mean),
        n: a.per_gpu.n.min(b.per_gpu.n),
        half_width,
    })
}

/// Levels spread over the range where every frontier says something (the overlap of their
/// tokens/s-per-user ranges): round numbers, 3 to 6 of them; empty when they do not overlap.
pub fn default_levels(frontiers: &[&[Knot]]) -> Vec<f64> {
    let ranges: Vec<(f64, f64)> = frontiers
        .iter()
        .filter_map(|f| Some((f.first()?.per_user, f.last()?.per_user)))
        .collect();
    if ranges.len() != frontiers.len() || ranges.is_empty() {
        return Vec::new();
    }
    let lo = ranges.iter().map(|r| r.0).fold(f64::NEG_INFINITY, f64::max);
    let hi = ranges.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    if lo > hi {
        return Vec::new();
    }
    if hi - lo <= hi.abs() * 1e-9 {
        return vec![lo];
    }
    let step = nice_step((hi - lo) / 5.0);
    let eps = (hi - lo) * 1e-9;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let mut out: Vec<f64> = (first..=last)
        .map(|k| (k as f64 * step).clamp(lo, hi))
        .filter(|v| *v >= lo - eps && *v <= hi + eps)
        .collect();
    out.dedup();
    if out.len() < 2 {
        out = vec![lo, hi];
    }
    out
}

/// The smallest 1, 2, 2.5 or 5 x 10^n that is at least `v`.
fn nice_step(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&s| s >= v)
        .unwrap_or(10.0 * p)
}

/// The comparison of one shape.
#[derive(Debug)]
pub struct Comparison {
    pub shape: usize,
    /// Tokens/s per user.
    pub levels: Vec<f64>,
    /// Per level, per sweep.
    pub readings: Vec<Vec<Reading>>,
    /// Why there is no comparison, when `levels` is empty.
    pub none_because: Option<String>,
    /// Whether `levels` came from `--at`.
    pub given: bool,
}

impl Comparison {
    /// Per level, per sweep after the first: the ratio of its tokens/s per GPU to the first
    /// sweep's, and whether the difference is within the 95% intervals (`None`: no intervals).
    pub fn ratio(&self, level: usize, sweep: usize) -> Option<(f64, Option<bool>)> {
        let base = self.readings[level][0].estimate()?;
        let this = self.readings[level][sweep].estimate()?;
        if base.mean <= 0.0 {
            return None;
        }
        Some((this.mean / base.mean, this.overlaps(&base)))
    }
}

/// The frontier of one sweep in one shape as knots.
pub fn knots(a: &Analysis, shape: usize, sweep: usize) -> Vec<Knot> {
    a.frontier(shape, sweep)
        .into_iter()
        .map(|(_, l)| Knot {
            per_user: l.per_user.mean,
            per_gpu: l.per_gpu,
        })
        .collect()
}

/// The comparison of every shape, when there are two sweeps or more; `at` are `--at` levels.
pub fn compare(a: &Analysis, at: Option<&[f64]>) -> Vec<Comparison> {
    if a.sweeps.len() < 2 {
        return Vec::new();
    }
    (0..a.shapes.len())
        .map(|shape| {
            let frontiers: Vec<Vec<Knot>> =
                (0..a.sweeps.len()).map(|s| knots(a, shape, s)).collect();
            let refs: Vec<&[Knot]> = frontiers.iter().map(Vec::as_slice).collect();
            let (levels, none_because) = match at {
                Some(levels) => (levels.to_vec(), None),
                None => {
                    let levels = default_levels(&refs);
                    let why = if !levels.is_empty() {
                        None
                    } else if let Some(s) = refs.iter().position(|f| f.is_empty()) {
                        Some(format!(
                            "sweep {} has no point within the SLO in this workload",
                            a.sweeps.list[s].label
                        ))
                    } else {
                        let ranges: Vec<String> = refs
                            .iter()
                            .zip(&a.sweeps.list)
                            .map(|(f, s)| {
                                format!(
                                    "{} {}-{}",
                                    s.label,
                                    super::summary::number(f[0].per_user),
                                    super::summary::number(f[f.len() - 1].per_user)
                                )
                            })
                            .collect();
                        Some(format!(
                            "the frontiers do not overlap in output tokens/s per user ({}); give levels with --at",
                            ranges.join(", ")
                        ))
                    };
                    (levels, why)
                }
            };
            let readings = levels
                .iter()
                .map(|&x| refs.iter().map(|f| read(f, x)).collect())
                .collect();
            Comparison {
                shape,
                levels,
                readings,
                none_because,
                given: at.is_some(),
            }
        })
        .collect()
}

/// Parses `--at 50,100,200`: positive numbers, ascending after sorting, no duplicates.
pub fn parse_at(text: &str) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        match part.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => out.push(v),
            _ => anyhow::bail!(
                "--at: {part:?} is not a positive number of output tokens/s per user (for example --at 50,100,200)"
            ),
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knot(x: f64, y: f64) -> Knot {
        Knot {
            per_user: x,
            per_gpu: Estimate::one(y),
        }
    }

    #[test]
    fn reading_a_frontier_measured_interpolated_or_outside() {
        let f = [knot(10.0, 1000.0), knot(20.0, 800.0), knot(40.0, 200.0)];
        assert_eq!(read(&f, 20.0), Reading::Measured(Estimate::one(800.0)));
        match read(&f, 30.0) {
            Reading::Interpolated(e) => assert_eq!(e.mean, 500.0),
            other => panic!("{other:?}"),
        }
        assert_eq!(read(&f, 5.0), Reading::Outside);
        assert_eq!(read(&f, 41.0), Reading::Outside);
        assert_eq!(read(&[], 41.0), Reading::Outside);
        // Scaling a frontier scales every reading: the ratio is the scale, everywhere.
        let g: Vec<Knot> = f
            .iter()
            .map(|k| knot(k.per_user, 1.5 * k.per_gpu.mean))
            .collect();
        for x in [10.0, 12.5, 20.0, 33.0, 40.0] {
            let (a, b) = (
                read(&f, x).estimate().unwrap(),
                read(&g, x).estimate().unwrap(),
            );
            assert!((b.mean / a.mean - 1.5).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn interpolated_intervals_and_default_levels() {
        let a = Knot {
            per_user: 10.0,
            per_gpu: Estimate {
                mean: 100.0,
                n: 3,
                half_width: Some(10.0),
            },
        };
        let b = Knot {
            per_user: 20.0,
            per_gpu: Estimate {
                mean: 50.0,
                n: 2,
                half_width: Some(20.0),
            },
        };
        let r = read(&[a, b], 15.0).estimate().unwrap();
        assert_eq!((r.mean, r.n, r.half_width), (75.0, 2, Some(15.0)));
        let f1 = [knot(12.0, 1.0), knot(97.0, 0.5)];
        let f2 = [knot(20.0, 1.0), knot(130.0, 0.5)];
        assert_eq!(default_levels(&[&f1, &f2]), vec![20.0, 40.0, 60.0, 80.0]);
        let f3 = [knot(100.0, 1.0), knot(130.0, 0.5)];
        assert!(default_levels(&[&f1, &f3]).is_empty(), "no overlap");
        assert!(default_levels(&[&f1, &[]]).is_empty());
        let one = [knot(50.0, 1.0)];
        assert_eq!(default_levels(&[&f1, &one]), vec![50.0]);
        let narrow = [knot(50.1, 1.0), knot(50.2, 0.5)];
        let l = default_levels(&[&narrow]);
        assert!(
            l.len() >= 2 && l[0] >= 50.1 && *l.last().unwrap() <= 50.2,
            "{l:?}"
        );
        assert_eq!(
            parse_at("200, 50,100,50").unwrap(),
            vec![50.0, 100.0, 200.0]
        );
        for bad in ["", "0", "-1", "x", "inf", "1,,2"] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }
}
