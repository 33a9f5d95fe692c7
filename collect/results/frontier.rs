//! The Pareto frontier of output tokens/s per GPU against output tokens/s per user, and the
//! latency limits (`--slo`) that decide which points may be on it.

use anyhow::{bail, Result};

/// One limit of `--slo`: `NAME<=VALUE` or `NAME>=VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub name: String,
    pub at_most: bool,
    pub value: f64,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.at_most { "<=" } else { ">=" };
        write!(f, "{}{op}{}", self.name, self.value)
    }
}

/// Parses `ttft_p99_ms<=2000,itl_p99_ms<=50`; `known` says whether a name is a point metric.
pub fn parse_slo(text: &str, known: impl Fn(&str) -> bool) -> Result<Vec<Limit>> {
    let mut limits = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (name, at_most, value) = if let Some((n, v)) = part.split_once("<=") {
            (n, true, v)
        } else if let Some((n, v)) = part.split_once(">=") {
            (n, false, v)
        } else {
            bail!("--slo: {part:?} is not NAME<=VALUE or NAME>=VALUE (for example ttft_p99_ms<=2000,itl_p99_ms<=50)");
        };
        let name = name.trim();
        if !known(name) {
            bail!("--slo: {name:?} is not a result metric (for example ttft_p99_ms, itl_p99_ms, e2e_median_ms, output_tps_per_user)");
        }
        let value: f64 = match value.trim().parse() {
            Ok(v) if f64::is_finite(v) => v,
            _ => bail!("--slo: {part:?}: {:?} is not a number", value.trim()),
        };
        limits.push(Limit {
            name: name.to_string(),
            at_most,
            value,
        });
    }
    Ok(limits)
}

impl Limit {
    /// Whether `v` is within the limit.
    pub fn holds(&self, v: f64) -> bool {
        if self.at_most {
            v <= self.value
        } else {
            v >= self.value
        }
    }

    /// How much of the limit `v` uses: above 1 it misses (`v / limit` for `<=`, `limit / v`
    /// for `>=`), so that limits of different metrics compare.
    pub fn utilisation(&self, v: f64) -> f64 {
        let (num, den) = if self.at_most {
            (v, self.value)
        } else {
            (self.value, v)
        };
        if den > 0.0 {
            num / den
        } else if self.holds(v) {
            // A limit of 0 met exactly (or a non-positive value meeting a >= 0 limit).
            1.0
        } else {
            f64::INFINITY
        }
    }
}

/// True when every limit holds; a point without the metric does not meet it.
pub fn meets(limits: &[Limit], get: impl Fn(&str) -> Option<f64>) -> bool {
    limits
        .iter()
        .all(|l| get(&l.name).is_some_and(|v| l.holds(v)))
}

/// For each `(x, y)` (both to be maximised), whether no other point is at least as good on
/// both and better on one. O(n log n): sort by x descending; a point is on the frontier when
/// its y beats every y of a larger x and is the best y of its own x.
pub fn pareto(points: &[(f64, f64)]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (points[a], points[b]);
        pb.0.total_cmp(&pa.0).then(pb.1.total_cmp(&pa.1))
    });
    let mut on = vec![false; points.len()];
    let mut best_y = f64::NEG_INFINITY;
    let mut i = 0;
    while i < order.len() {
        let x = points[order[i]].0;
        let group_best = points[order[i]].1; // sorted: the group's first has its best y
        let mut j = i;
        while j < order.len() && points[order[j]].0 == x {
            let y = points[order[j]].1;
            on[order[j]] = y > best_y && y == group_best;
            j += 1;
        }
        best_y = best_y.max(group_best);
        i = j;
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(points: &[(f64, f64)]) -> Vec<bool> {
        points
            .iter()
            .map(|&(x, y)| {
                !points
                    .iter()
                    .any(|&(a, b)| a >= x && b >= y && (a > x || b > y))
            })
            .collect()
    }

    #[test]
    fn frontier_matches_brute_force_on_many_random_sets() {
        // A small deterministic generator: many ties, duplicates and collinear points.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let n = (next() % 40) as usize + (round % 3);
            let span = 1 + next() % 12;
            let pts: Vec<(f64, f64)> = (0..n)
                .map(|_| ((next() % span) as f64, (next() % span) as f64 * 0.5))
                .collect();
            assert_eq!(pareto(&pts), brute(&pts), "{pts:?}");
        }
    }

    #[test]
    fn slo_syntax() {
        let known = |n: &str| n.ends_with("_ms") || n == "output_tps_per_user";
        let l = parse_slo(
            "ttft_p99_ms<=2000, itl_p99_ms<=50,output_tps_per_user>=20",
            known,
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].to_string(), "ttft_p99_ms<=2000");
        assert_eq!(l[2].to_string(), "output_tps_per_user>=20");
        assert!(meets(&l[..2], |n| Some(if n == "ttft_p99_ms" {
            2000.0
        } else {
            10.0
        })));
        assert!(!meets(&l[..2], |n| Some(if n == "ttft_p99_ms" {
            2000.5
        } else {
            10.0
        })));
        assert!(
            !meets(&l[..1], |_| None),
            "a missing metric does not meet a limit"
        );
        for bad in [
            "ttft_p99_ms<2000",
            "nope<=1",
            "ttft_p99_ms<=x",
            "ttft_p99_ms<=inf",
        ] {
            assert!(parse_slo(bad, known).is_err(), "{bad}");
        }
    }
}
