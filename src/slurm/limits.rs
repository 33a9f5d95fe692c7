//! A user's limits on queued jobs, as Slurm reports them, and the user's jobs still in the
//! queue. Shared clusters cap what one user may queue (`MaxSubmitJobs`, `MaxJobs` on the
//! association; `MaxSubmitJobsPerUser`, `MaxJobsPerUser` on the QOS); past the cap `sbatch`
//! is refused. One call per question, never one per job: the queue is one `squeue` for all
//! of the user's jobs; the limits are one `scontrol show config` and two `sacctmgr` calls.

use super::{Slurm, Unreachable};
use crate::JobState;

/// One of the user's jobs that still counts against a limit (not in a final state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    /// Slurm job ID.
    pub job_id: String,
    /// The job's account, as squeue prints it (Slurm keeps account names in lower case).
    pub account: String,
    /// Its partition, or the comma-separated partitions it may run in while it pends.
    pub partition: String,
    /// Its QOS.
    pub qos: String,
}

/// What `scontrol show config` says about accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingConfig {
    /// `ClusterName`: associations are per cluster.
    pub cluster: String,
    /// `AccountingStorageEnforce`, as written (`associations,limits,qos`, `none`, ...).
    pub enforce: String,
}

impl AccountingConfig {
    /// Whether Slurm enforces association and QOS limits at all (`limits`, or `safe`, which
    /// implies it): without it a `MaxSubmitJobs` is stored but refuses nothing.
    pub fn enforces_limits(&self) -> bool {
        self.enforce
            .split(',')
            .map(|w| w.trim().to_ascii_lowercase())
            .any(|w| w == "limits" || w == "safe")
    }
}

/// One association of the user (user, account, and optionally partition) with its limits.
/// `sacctmgr` shows the limits a user association inherits from its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    pub account: String,
    /// `None` for the association of the whole account.
    pub partition: Option<String>,
    /// `MaxSubmitJobs`: pending and running jobs of the association.
    pub max_submit_jobs: Option<u32>,
    /// `MaxJobs`: running jobs of the association (more pend; they are not refused).
    pub max_jobs: Option<u32>,
    /// `DefaultQOS`, when set.
    pub default_qos: Option<String>,
    /// The QOS the association may use.
    pub qos: Vec<String>,
}

/// The per-user limits of one QOS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QosLimits {
    pub name: String,
    /// `MaxSubmitJobsPerUser` (`MaxSubmitPU`).
    pub max_submit_jobs_per_user: Option<u32>,
    /// `MaxJobsPerUser` (`MaxJobsPU`).
    pub max_jobs_per_user: Option<u32>,
}

/// The `squeue -o` of [`Slurm::queued_jobs`]: job ID, account, partition, QOS, state.
const QUEUE_FORMAT: &str = "%i|%a|%P|%q|%T";

impl Slurm {
    /// The user's jobs that are not finished, in any account: one `squeue --me -t all` call
    /// (`-t all` and the final states left out here, rather than a list of live states that
    /// differs between Slurm versions).
    pub fn queued_jobs(&self) -> Result<Vec<QueuedJob>, Unreachable> {
        let args = ["--me", "-h", "-t", "all", "-o", QUEUE_FORMAT].map(String::from);
        let text = self.call(&self.squeue, &args)?;
        Ok(text.lines().filter_map(parse_queued).collect())
    }

    /// Cluster name and limit enforcement: one `scontrol show config`.
    pub fn accounting_config(&self) -> Result<AccountingConfig, Unreachable> {
        let args = ["show", "config"].map(String::from);
        let text = self.call(&self.scontrol, &args)?;
        parse_config(&text).ok_or_else(|| {
            Unreachable(format!(
                "{}: show config printed no ClusterName",
                self.scontrol
            ))
        })
    }

    /// The associations of `user` on `cluster`: one `sacctmgr show assoc` (needs slurmdbd).
    pub fn associations(
        &self,
        sacctmgr: &str,
        user: &str,
        cluster: &str,
    ) -> Result<Vec<Association>, Unreachable> {
        let args = [
            "-P",
            "-n",
            "show",
            "assoc",
            "where",
            &format!("user={user}"),
            &format!("cluster={cluster}"),
            "format=Account,Partition,MaxSubmitJobs,MaxJobs,DefaultQOS,QOS",
        ]
        .map(String::from);
        let text = self.call(sacctmgr, &args)?;
        Ok(text.lines().filter_map(parse_association).collect())
    }

    /// Every QOS with its per-user limits: one `sacctmgr show qos`.
    pub fn qos_limits(&self, sacctmgr: &str) -> Result<Vec<QosLimits>, Unreachable> {
        let args = [
            "-P",
            "-n",
            "show",
            "qos",
            "format=Name,MaxSubmitJobsPerUser,MaxJobsPerUser",
        ]
        .map(String::from);
        let text = self.call(sacctmgr, &args)?;
        Ok(text.lines().filter_map(parse_qos).collect())
    }
}

/// One line of [`QUEUE_FORMAT`]; `None` for a job that ended or a line that is not a row.
fn parse_queued(line: &str) -> Option<QueuedJob> {
    let [job_id, account, partition, qos, state] = line.splitn(5, '|').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    if JobState::from_slurm(state).is_final() {
        return None;
    }
    Some(QueuedJob {
        job_id: job_id.trim().to_string(),
        account: account.trim().to_string(),
        partition: partition.trim().to_string(),
        qos: qos.trim().to_string(),
    })
}

/// `Key = value` lines of `scontrol show config`.
fn parse_config(text: &str) -> Option<AccountingConfig> {
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    Some(AccountingConfig {
        cluster: value("ClusterName")?,
        enforce: value("AccountingStorageEnforce").unwrap_or_default(),
    })
}

/// A limit column: empty (or anything that is not a count) is no limit.
fn limit(field: &str) -> Option<u32> {
    field.trim().parse().ok()
}

fn non_empty(field: &str) -> Option<String> {
    Some(field.trim())
        .filter(|f| !f.is_empty())
        .map(String::from)
}

fn parse_association(line: &str) -> Option<Association> {
    let [account, partition, submit, jobs, default_qos, qos] =
        line.splitn(6, '|').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    Some(Association {
        account: non_empty(account)?,
        partition: non_empty(partition),
        max_submit_jobs: limit(submit),
        max_jobs: limit(jobs),
        default_qos: non_empty(default_qos),
        qos: qos
            .split(',')
            .filter_map(non_empty)
            .collect::<Vec<String>>(),
    })
}

fn parse_qos(line: &str) -> Option<QosLimits> {
    let [name, submit, jobs] = line.splitn(3, '|').collect::<Vec<_>>()[..] else {
        return None;
    };
    Some(QosLimits {
        name: non_empty(name)?,
        max_submit_jobs_per_user: limit(submit),
        max_jobs_per_user: limit(jobs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_jobs_leave_out_ended_ones() {
        let rows: Vec<QueuedJob> = "1|capacct|batch|normal|PENDING\n\
             2|capacct|batch,debug|capqos|RUNNING\n\
             3|capacct|batch|normal|COMPLETED\n\
             4|capacct|batch|normal|CANCELLED by 0\n\
             5|x|batch|normal|COMPLETING\n\
             garbage\n"
            .lines()
            .filter_map(parse_queued)
            .collect();
        let accounts: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.account.as_str(), r.qos.as_str()))
            .collect();
        assert_eq!(
            accounts,
            [
                ("capacct", "normal"),
                ("capacct", "capqos"),
                ("x", "normal")
            ]
        );
        assert_eq!(rows[1].partition, "batch,debug");
        assert_eq!(rows[2].job_id, "5");
    }

    #[test]
    fn config_and_enforcement() {
        let c = parse_config(
            "Configuration data as of 2026-01-01T10:00:00\nAccountingStorageEnforce = associations,limits,qos\nClusterName             = sweep\n",
        )
        .unwrap();
        assert_eq!(c.cluster, "sweep");
        assert!(c.enforces_limits());
        let none = AccountingConfig {
            cluster: "c".into(),
            enforce: "associations".into(),
        };
        assert!(!none.enforces_limits());
        assert!(parse_config("nothing here\n").is_none());
    }

    #[test]
    fn associations_and_qos_rows() {
        let a = parse_association("capacct||5|||capqos,normal").unwrap();
        assert_eq!(
            a,
            Association {
                account: "capacct".into(),
                partition: None,
                max_submit_jobs: Some(5),
                max_jobs: None,
                default_qos: None,
                qos: vec!["capqos".into(), "normal".into()],
            }
        );
        let p = parse_association("acct|gpu|200|50|high|high").unwrap();
        assert_eq!(
            (p.partition.as_deref(), p.max_jobs, p.default_qos.as_deref()),
            (Some("gpu"), Some(50), Some("high"))
        );
        assert!(parse_association("||5|||").is_none());
        let q = parse_qos("capqos|5|").unwrap();
        assert_eq!(
            (q.max_submit_jobs_per_user, q.max_jobs_per_user),
            (Some(5), None)
        );
    }
}
