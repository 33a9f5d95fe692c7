//! Which node does what, computed once at submit time from the record's node and worker
//! counts: the seed's layout, with one frontend stride for nginx and the launches alike.

use super::JobOptions;
use anyhow::{bail, Result};
use sweep::{Mode, Record, Role, SlurmKey};

/// Workers of one role, on consecutive nodes.
#[derive(Debug, Clone)]
pub struct Group {
    /// `--worker_type`: `prefill`, `decode` or `aggregated`.
    pub worker_type: &'static str,
    /// The config section (`--config-key`) for this role; `None` for aggregated (flat config).
    pub config_key: Option<&'static str>,
    /// Short name in log file names: `prefill`, `decode`, `agg`.
    pub log_name: &'static str,
    /// Nodes of this role.
    pub nodes: u64,
    /// Workers of this role.
    pub workers: u64,
    /// Nodes per worker (`nodes / workers`).
    pub per_worker: u64,
    /// Index (in the job's node list) of this role's first node.
    pub first: u64,
}

impl Group {
    /// Node index of worker `i`'s leader.
    pub fn leader(&self, i: u64) -> u64 {
        self.first + i * self.per_worker
    }
}

/// The whole job's layout.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Disaggregated or aggregated.
    pub mode: Mode,
    /// Nodes the job allocates.
    pub total_nodes: u64,
    /// Prefill then decode (disagg), or the aggregated workers alone.
    pub groups: Vec<Group>,
    /// With multiple frontends: the node of each additional frontend (frontend 0 is on node
    /// 1, nginx on node 0).
    pub extra_frontends: Vec<u64>,
    /// Things worth telling the user (frontends that did not fit).
    pub warnings: Vec<String>,
}

impl Layout {
    /// The layout of `record`'s job; an error says which count is missing or unusable.
    pub fn of(record: &Record, args: &JobOptions) -> Result<Layout> {
        let groups = match record.mode {
            Mode::Disagg => {
                let p = role_group(record, Role::Prefill, 0)?;
                let d = role_group(record, Role::Decode, p.nodes)?;
                vec![p, d]
            }
            Mode::Agg => {
                let keys = (SlurmKey::AggNodes, SlurmKey::AggWorkers);
                vec![group(record, keys, "agg", "aggregated", None, 0)?]
            }
        };
        let total_nodes: u64 = groups.iter().map(|g| g.nodes).sum();
        if let Some(t) = record.total_nodes {
            if t != total_nodes {
                bail!("total_nodes is {t} but the slurm counts add up to {total_nodes} nodes");
            }
        }
        let mut layout = Layout {
            mode: record.mode,
            total_nodes,
            groups,
            extra_frontends: Vec::new(),
            warnings: Vec::new(),
        };
        if args.enable_multiple_frontends {
            layout.place_frontends(args.num_additional_frontends)?;
        }
        Ok(layout)
    }

    /// Additional frontends go on nodes 2, 2+s, 2+2s, ... with one stride
    /// s = ceil((total - 2) / n), used for nginx's upstream list and for the launches alike
    /// (the seed computed two different strides).
    fn place_frontends(&mut self, n: u32) -> Result<()> {
        let total = self.total_nodes;
        if total < 2 {
            bail!("--enable-multiple-frontends needs at least 2 nodes (nginx on node 0, the first frontend on node 1); this job has {total}");
        }
        let n = u64::from(n);
        let candidates = total - 2;
        if n == 0 || candidates == 0 {
            if n > 0 {
                self.warnings.push(format!("only 0 of {n} additional frontends fit: they go on nodes 2 and up, and this job has {total} nodes"));
            }
            return Ok(());
        }
        let stride = candidates.div_ceil(n);
        self.extra_frontends = (0..n)
            .map(|k| 2 + k * stride)
            // Increasing: stop at the first past the end instead of trying all n.
            .take_while(|&i| i < total)
            .collect();
        let placed = self.extra_frontends.len() as u64;
        if placed < n {
            self.warnings.push(format!("only {placed} of {n} additional frontends fit: they go on nodes 2 and up, one per node, and this job has {total} nodes"));
        }
        Ok(())
    }

    /// Index of the master node (NATS/etcd, the first frontend): node 1 with multiple
    /// frontends (node 0 runs nginx), node 0 otherwise.
    pub fn master(&self, multiple_frontends: bool) -> u64 {
        if multiple_frontends {
            1
        } else {
            0
        }
    }
}

/// Largest node or worker count of one role. Far beyond any Slurm cluster, and it keeps the
/// sum of the counts and the job script (one line per node) bounded.
const MAX_COUNT: u64 = 100_000;

/// A disaggregated role's group: named, and configured, after the role.
fn role_group(record: &Record, role: Role, first: u64) -> Result<Group> {
    let name = role.as_str();
    group(record, role.counts(), name, name, Some(name), first)
}

/// One group's counts from `parameters.slurm`: its (nodes, workers) keys.
fn group(
    record: &Record,
    (nodes_key, workers_key): (SlurmKey, SlurmKey),
    log_name: &'static str,
    worker_type: &'static str,
    config_key: Option<&'static str>,
    first: u64,
) -> Result<Group> {
    let count = |key: SlurmKey| -> Result<u64> {
        match record.slurm_count(key) {
            Some(n) if n > MAX_COUNT => {
                bail!("parameters.slurm.{key} is {n}, more than the {MAX_COUNT} a job can use")
            }
            Some(n) if n > 0 => Ok(n),
            _ => bail!(
                "parameters.slurm.{key} must be a positive integer, found {}",
                record
                    .parameters
                    .slurm
                    .get(key.as_str())
                    .map_or("nothing".to_string(), |v| v.to_string())
            ),
        }
    };
    let nodes = count(nodes_key)?;
    let workers = count(workers_key)?;
    if nodes % workers != 0 {
        bail!("{nodes_key} ({nodes}) must be divisible by {workers_key} ({workers})");
    }
    Ok(Group {
        worker_type,
        config_key,
        log_name,
        nodes,
        workers,
        per_worker: nodes / workers,
        first,
    })
}
