//! The check that nodes are divisible by workers in every combination of slurm values, done
//! per pair of axes: its cost is the number of values, never the size of the product (a sweep
//! of 10,000 node counts by 10 worker counts is checked in microseconds, and `--count` stays
//! instant whatever the product).

use crate::model::{key_path, Issue, Result, Sweep};
use sweep::SlurmKey;

/// Every combination's nodes are a multiple of its workers. The error names the first
/// combination, in expansion order, where one is not (and its index, when that fits in a
/// u64).
pub fn check(sweep: &Sweep) -> Result<()> {
    // The earliest failure over all pairs; on a tie the pair listed first (prefill) wins.
    let mut first: Option<Failure> = None;
    for &(nodes, workers) in sweep.mode.node_worker_keys() {
        if let Some(f) = first_failure(sweep, nodes, workers) {
            if first.as_ref().is_none_or(|g| f.pos < g.pos) {
                first = Some(f);
            }
        }
    }
    let Some(f) = first else { return Ok(()) };
    let at = match index(sweep, &f.pos) {
        Some(index) => format!(" (combination index {index})"),
        None => String::new(),
    };
    Err(Issue::new(
        key_path(&["slurm", f.nodes.as_str()]),
        format!(
            "slurm: {}={} is not divisible by {}={}{at}",
            f.nodes, f.n, f.workers, f.w
        ),
    ))
}

/// A combination where nodes are not a multiple of workers.
struct Failure {
    /// Position on every axis (axes without the pair at 0): ordered as the expansion is.
    pos: Vec<usize>,
    nodes: SlurmKey,
    workers: SlurmKey,
    n: u64,
    w: u64,
}

/// The first combination, in expansion order, where `nodes` is not a multiple of `workers`.
fn first_failure(sweep: &Sweep, nodes: SlurmKey, workers: SlurmKey) -> Option<Failure> {
    let (an, ns) = axis_and_values(sweep, nodes);
    let (aw, ws) = axis_and_values(sweep, workers);
    let fails = |i: usize, j: usize| !ns[i].is_multiple_of(ws[j]);
    let (i, j) = if an == aw {
        // Linked: the values pair up element by element.
        let p = (0..ns.len()).find(|&p| fails(p, p))?;
        (p, p)
    } else if an < aw {
        // Nodes vary slower: the first node count that some worker count does not divide,
        // i.e. that is not a multiple of their least common multiple.
        let l = ws.iter().try_fold(1u64, |l, &w| lcm(l, w));
        let i = (0..ns.len()).find(|&i| l.is_none_or(|l| !ns[i].is_multiple_of(l)))?;
        (i, (0..ws.len()).find(|&j| fails(i, j))?)
    } else {
        // Workers vary slower: the first worker count that does not divide every node
        // count, i.e. their greatest common divisor.
        let g = ns.iter().fold(0u64, |g, &n| gcd(g, n));
        let j = (0..ws.len()).find(|&j| !g.is_multiple_of(ws[j]))?;
        ((0..ns.len()).find(|&i| fails(i, j))?, j)
    };
    let mut pos = vec![0; sweep.axes.len()];
    pos[an] = i;
    pos[aw] = j;
    Some(Failure {
        pos,
        nodes,
        workers,
        n: ns[i],
        w: ws[j],
    })
}

/// The axis that holds slurm key `key`, and its values (validated positive integers; the
/// mode's keys are all there).
fn axis_and_values(sweep: &Sweep, key: SlurmKey) -> (usize, Vec<u64>) {
    let Some((k, axis)) = sweep.slurm_key(key.as_str()) else {
        return (0, vec![1]);
    };
    let values = sweep
        .param(k)
        .values
        .iter()
        .map(|v| v.as_u64().unwrap_or(1))
        .collect();
    (axis, values)
}

/// The index of the combination at `pos` (a position on every axis); `None` when it does
/// not fit in a u64 (a sweep too big to count).
fn index(sweep: &Sweep, pos: &[usize]) -> Option<u64> {
    let mut index = 0u64;
    let mut stride = Some(1u64);
    for a in (0..pos.len()).rev() {
        if pos[a] != 0 {
            index = stride?.checked_mul(pos[a] as u64)?.checked_add(index)?;
        }
        stride = stride.and_then(|s| s.checked_mul(sweep.axis_len(a) as u64));
    }
    Some(index)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `None` when it does not fit in a u64 (then no node count is a multiple of it).
fn lcm(a: u64, b: u64) -> Option<u64> {
    (a / gcd(a, b)).checked_mul(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcd_and_lcm() {
        assert_eq!(gcd(0, 6), 6);
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(lcm(4, 6), Some(12));
        assert_eq!(lcm(u64::MAX, 2), None);
    }

    /// The old way: every combination of slurm values, in expansion order.
    fn brute_force(sweep: &Sweep) -> Option<String> {
        let pairs = sweep.mode.node_worker_keys();
        let lens: Vec<usize> = (0..sweep.axes.len()).map(|a| sweep.axis_len(a)).collect();
        let total: usize = lens.iter().product();
        for index in 0..total {
            let mut pos = vec![0; lens.len()];
            let mut rest = index;
            for a in (0..lens.len()).rev() {
                pos[a] = rest % lens[a];
                rest /= lens[a];
            }
            for &(nodes, workers) in pairs {
                let value = |key: SlurmKey| {
                    let (axis, values) = axis_and_values(sweep, key);
                    values[pos[axis]]
                };
                let (n, w) = (value(nodes), value(workers));
                if n % w != 0 {
                    return Some(format!(
                        "slurm: {nodes}={n} is not divisible by {workers}={w} (combination index {index})"
                    ));
                }
            }
        }
        None
    }

    #[test]
    fn per_axis_check_finds_what_walking_every_combination_finds() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut failed = 0;
        for _ in 0..2000 {
            let list = |len: u64, pool: &[u64], next: &mut dyn FnMut(u64) -> u64| -> Vec<u64> {
                let mut v: Vec<u64> = Vec::new();
                while (v.len() as u64) < len {
                    // Small worker counts and node counts with many divisors: about as many
                    // sweeps pass as fail.
                    let x = pool[next(pool.len() as u64) as usize];
                    if !v.contains(&x) {
                        v.push(x);
                    }
                }
                v
            };
            let lens: Vec<u64> = (0..4).map(|_| 1 + next(3)).collect();
            let mut keys = vec![
                (
                    "prefill_nodes",
                    list(lens[0], &[12, 24, 36, 48, 60, 120, 6, 10, 7], &mut next),
                ),
                (
                    "decode_nodes",
                    list(lens[1], &[12, 24, 36, 48, 60, 120, 6, 10, 7], &mut next),
                ),
                (
                    "prefill_workers",
                    list(lens[2], &[1, 2, 3, 4, 6, 12, 1, 2, 5], &mut next),
                ),
                (
                    "decode_workers",
                    list(lens[3], &[1, 2, 3, 4, 6, 12, 1, 2, 5], &mut next),
                ),
            ];
            // Any key order: workers may vary slower than nodes.
            for i in (1..keys.len()).rev() {
                keys.swap(i, next(i as u64 + 1) as usize);
            }
            let mut slurm = serde_json::Map::new();
            for (k, v) in &keys {
                slurm.insert(k.to_string(), serde_json::json!(v));
            }
            let mut doc = serde_json::json!({"slurm": slurm, "sglang": {"a": [1, 2]}});
            // Sometimes link a node count with its worker count, or with an sglang key.
            let pairs = [
                ("prefill_nodes", "prefill_workers"),
                ("decode_nodes", "sglang.a"),
            ];
            let (a, b) = pairs[next(2) as usize];
            if next(3) == 0 {
                let len = |k: &str| keys.iter().find(|(n, _)| *n == k).map(|(_, v)| v.len());
                if b == "sglang.a" && len(a) == Some(2)
                    || b != "sglang.a" && len(a) == len(b) && len(a) > Some(1)
                {
                    let b = if b.contains('.') {
                        b.to_string()
                    } else {
                        format!("slurm.{b}")
                    };
                    doc["linked"] = serde_json::json!([[format!("slurm.{a}"), b]]);
                }
            }
            let sweep = crate::sweepfile::build(doc.clone()).unwrap();
            let ours = check(&sweep).err().map(|e| e.msg);
            assert_eq!(ours, brute_force(&sweep), "{doc}");
            failed += usize::from(ours.is_some());
        }
        assert!((400..1600).contains(&failed), "{failed} of 2000 failed");
    }
}
