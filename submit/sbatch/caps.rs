//! Which limits on queued jobs govern a job, and how high they are: with `--max-queued N`,
//! N of the user's jobs in the job's account; with `--max-queued auto`, Slurm's own per-user
//! limits on the job's association (`MaxSubmitJobs`, `MaxJobs`) and QOS
//! (`MaxSubmitJobsPerUser`, `MaxJobsPerUser`), read once per run.

use super::queue::MaxQueued;
use crate::prepare::options::JobOptions;
use std::collections::BTreeMap;
use sweep::cli::warn;
use sweep::slurm::{AccountingConfig, Association, QosLimits, QueuedJob, Slurm};

/// What a job is charged to, as its options say (an `--sbatch-arg` beats the script's
/// header, as it does for `sbatch`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Class {
    pub account: String,
    pub partition: String,
    /// Given with `--sbatch-arg=--qos=...`; else the association's default, found by `auto`.
    pub qos: Option<String>,
}

impl Class {
    pub fn of(options: &JobOptions) -> Class {
        let args = &options.sbatch_args;
        Class {
            account: last_value(args, "--account", "-A").unwrap_or_else(|| options.account.clone()),
            partition: last_value(args, "--partition", "-p")
                .unwrap_or_else(|| options.partition.clone()),
            qos: last_value(args, "--qos", "-q"),
        }
    }
}

/// The value of the last `--long=V`, `--long V`, `-s V` or `-sV` among raw sbatch options.
fn last_value(args: &[String], long: &str, short: &str) -> Option<String> {
    let mut found = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if a == long || a == short {
            found = it.next().cloned().or(found);
        } else if let Some(v) = a.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix(short).filter(|v| !v.is_empty()) {
            found = Some(v.trim_start_matches('=').to_string());
        }
    }
    found
}

/// Which of the user's queued jobs one limit counts; `None` fields match any job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: Option<String>,
    pub partition: Option<String>,
    pub qos: Option<String>,
}

impl Scope {
    /// Whether `job` counts against this limit (Slurm keeps account and QOS names in lower
    /// case; a pending job may list several partitions).
    pub fn counts(&self, job: &QueuedJob) -> bool {
        let same = |want: &Option<String>, have: &str| {
            want.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        same(&self.account, &job.account)
            && same(&self.qos, &job.qos)
            && self
                .partition
                .as_ref()
                .is_none_or(|p| job.partition.split(',').any(|j| j == p))
    }

    /// `account capacct`, `QOS capqos`, `account a, partition p`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("account", &self.account),
            ("partition", &self.partition),
            ("QOS", &self.qos),
        ]
        .into_iter()
        .filter_map(|(what, v)| v.as_ref().map(|v| format!("{what} {v}")))
        .collect();
        parts.join(", ")
    }
}

/// One limit on queued jobs, and how many of the user's jobs it counts now.
#[derive(Debug, Clone)]
pub struct Limit {
    pub scope: Scope,
    pub max: u32,
    /// Where it comes from: `--max-queued 5`, `MaxSubmitJobs=5 of association root/capacct`.
    pub source: String,
    /// Jobs counted: from the last poll, plus the ones submitted since.
    pub count: usize,
}

/// A class of jobs resolved: what its jobs are charged to, and the limits that count them.
#[derive(Debug, Clone)]
pub struct Charged {
    pub charge: QueuedJob,
    /// Indices into [`Caps::limits`].
    pub limits: Vec<usize>,
}

/// What Slurm said once for `auto`.
struct Known {
    user: String,
    config: AccountingConfig,
    associations: Vec<Association>,
    qos: Vec<QosLimits>,
}

/// The limits of this run, found per class of job the first time it is seen.
pub struct Caps {
    mode: MaxQueued,
    sacctmgr: String,
    known: Option<Known>,
    classes: BTreeMap<Class, Charged>,
    pub limits: Vec<Limit>,
}

impl Caps {
    pub fn new(mode: MaxQueued, sacctmgr: String) -> Caps {
        Caps {
            mode,
            sacctmgr,
            known: None,
            classes: BTreeMap::new(),
            limits: Vec::new(),
        }
    }

    /// The limits that govern jobs of `class`. The first time a class is seen, its limits are
    /// found (asking Slurm, for `auto`) and said on stderr; the second value is then true
    /// (their counts are unknown until the next poll). Err: Slurm's limits could not be read.
    pub fn charged(&mut self, slurm: &Slurm, class: &Class) -> Result<(Charged, bool), String> {
        if let Some(c) = self.classes.get(class) {
            return Ok((c.clone(), false));
        }
        let (charge, found) = match self.mode {
            MaxQueued::Jobs(n) => explicit(class, n),
            MaxQueued::Auto => self.auto(slurm, class)?,
        };
        let mut limits = Vec::new();
        for (scope, max, source) in found {
            let at = match self.limits.iter().position(|l| l.scope == scope) {
                Some(i) => i,
                None => {
                    self.limits.push(Limit {
                        scope,
                        max,
                        source,
                        count: 0,
                    });
                    self.limits.len() - 1
                }
            };
            limits.push(at);
        }
        let charged = Charged { charge, limits };
        self.classes.insert(class.clone(), charged.clone());
        Ok((charged, true))
    }

    /// `auto`: the tightest per-user limits Slurm reports for the class's association and QOS.
    fn auto(&mut self, slurm: &Slurm, class: &Class) -> Result<(QueuedJob, Vec<Found>), String> {
        if self.known.is_none() {
            self.known = Some(self.ask(slurm).map_err(|e| {
                format!(
                    "--max-queued auto: could not read Slurm's limits ({e}); give --max-queued N"
                )
            })?);
        }
        let known = self.known.as_ref().expect("asked");
        let (charge, found) = auto_limits(known, class);
        let said = found
            .iter()
            .map(|(scope, max, source)| {
                format!("at most {max} queued in {} ({source})", scope.describe())
            })
            .collect::<Vec<String>>()
            .join("; ");
        let jobs = format!("account {}, QOS {}", charge.account, charge.qos);
        warn(format_args!(
            "note: --max-queued auto: jobs of {jobs}: {}",
            match (known.config.enforces_limits(), said.is_empty()) {
                (false, _) => format!(
                    "Slurm enforces no limits (AccountingStorageEnforce={}): not waiting for room",
                    known.config.enforce
                ),
                (true, true) => {
                    "no limit on queued jobs applies (sacctmgr): not waiting for room".to_string()
                }
                (true, false) => said,
            }
        ));
        Ok((charge, found))
    }

    /// One `scontrol show config`, and with limits enforced, two `sacctmgr` calls.
    fn ask(&self, slurm: &Slurm) -> Result<Known, String> {
        let config = slurm.accounting_config().map_err(|e| e.0)?;
        let user = user_name()?;
        let (associations, qos) = match config.enforces_limits() {
            false => (Vec::new(), Vec::new()),
            true => (
                slurm
                    .associations(&self.sacctmgr, &user, &config.cluster)
                    .map_err(|e| e.0)?,
                slurm.qos_limits(&self.sacctmgr).map_err(|e| e.0)?,
            ),
        };
        Ok(Known {
            user,
            config,
            associations,
            qos,
        })
    }
}

/// A limit found: what it counts, how many, where it comes from.
type Found = (Scope, u32, String);

/// `--max-queued N`: N of the user's jobs in the class's account.
fn explicit(class: &Class, n: u32) -> (QueuedJob, Vec<Found>) {
    let charge = QueuedJob {
        job_id: String::new(),
        account: class.account.clone(),
        partition: class.partition.clone(),
        qos: class.qos.clone().unwrap_or_default(),
    };
    let scope = Scope {
        account: Some(class.account.clone()),
        partition: None,
        qos: None,
    };
    (charge, vec![(scope, n, format!("--max-queued {n}"))])
}

/// The limits Slurm reports for a class: its association's (the one for its partition, else
/// the account's) and its QOS's (the one given, else the association's default, else its
/// only one, else `normal`, as slurmctld picks it). Of two limits on the same jobs, the lower.
fn auto_limits(known: &Known, class: &Class) -> (QueuedJob, Vec<Found>) {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let of_account = |a: &&Association| same(&a.account, &class.account);
    let assoc = known
        .associations
        .iter()
        .filter(of_account)
        .find(|a| a.partition.as_deref() == Some(class.partition.as_str()))
        .or_else(|| {
            known
                .associations
                .iter()
                .filter(of_account)
                .find(|a| a.partition.is_none())
        });
    let qos = class
        .qos
        .clone()
        .or_else(|| assoc.and_then(|a| a.default_qos.clone()))
        .or_else(|| assoc.filter(|a| a.qos.len() == 1).map(|a| a.qos[0].clone()))
        .unwrap_or_else(|| "normal".to_string());
    let charge = QueuedJob {
        job_id: String::new(),
        account: class.account.clone(),
        partition: class.partition.clone(),
        qos: qos.clone(),
    };
    let mut found = Vec::new();
    if let Some(a) = assoc {
        let scope = Scope {
            account: Some(class.account.clone()),
            partition: a.partition.clone(),
            qos: None,
        };
        let name = match &a.partition {
            Some(p) => format!("{}/{}/{p}", known.user, a.account),
            None => format!("{}/{}", known.user, a.account),
        };
        let limits = [
            ("MaxSubmitJobs", a.max_submit_jobs),
            ("MaxJobs", a.max_jobs),
        ];
        push_lowest(
            &mut found,
            scope,
            &limits,
            &format!("of association {name}"),
        );
    }
    if let Some(q) = known.qos.iter().find(|q| same(&q.name, &qos)) {
        let scope = Scope {
            account: None,
            partition: None,
            qos: Some(qos.clone()),
        };
        let limits = [
            ("MaxSubmitJobsPerUser", q.max_submit_jobs_per_user),
            ("MaxJobsPerUser", q.max_jobs_per_user),
        ];
        push_lowest(&mut found, scope, &limits, &format!("of QOS {}", q.name));
    }
    (charge, found)
}

/// The lowest of `limits` that are set, as one limit on `scope`.
fn push_lowest(found: &mut Vec<Found>, scope: Scope, limits: &[(&str, Option<u32>)], of: &str) {
    let lowest = limits
        .iter()
        .filter_map(|(name, v)| v.map(|v| (v, *name)))
        .min();
    if let Some((max, name)) = lowest {
        found.push((scope, max, format!("{name}={max} {of}")));
    }
}

/// The user Slurm knows this process as (`id -un`: `$USER` may name someone else after `su`).
fn user_name() -> Result<String, String> {
    let argv = ["id".to_string(), "-un".to_string()];
    let out = sweep::slurm::run(&argv, std::time::Duration::from_secs(10))
        .map_err(|e| format!("failed to run id -un: {e}"))?;
    let name = out.stdout.trim().to_string();
    match out.status.is_some_and(|s| s.success()) && !name.is_empty() {
        true => Ok(name),
        false => Err("id -un did not print a user name".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(associations: Vec<Association>, qos: Vec<QosLimits>) -> Known {
        Known {
            user: "me".into(),
            config: AccountingConfig {
                cluster: "c".into(),
                enforce: "associations,limits".into(),
            },
            associations,
            qos,
        }
    }

    fn assoc(
        account: &str,
        partition: Option<&str>,
        submit: Option<u32>,
        jobs: Option<u32>,
    ) -> Association {
        Association {
            account: account.into(),
            partition: partition.map(String::from),
            max_submit_jobs: submit,
            max_jobs: jobs,
            default_qos: None,
            qos: vec!["normal".into(), "high".into()],
        }
    }

    fn class(account: &str, partition: &str, qos: Option<&str>) -> Class {
        Class {
            account: account.into(),
            partition: partition.into(),
            qos: qos.map(String::from),
        }
    }

    #[test]
    fn sbatch_args_beat_the_options() {
        let args: Vec<String> = ["--qos=high", "-A", "other", "-pdebug", "--exclusive"]
            .map(String::from)
            .to_vec();
        assert_eq!(last_value(&args, "--qos", "-q").as_deref(), Some("high"));
        assert_eq!(
            last_value(&args, "--account", "-A").as_deref(),
            Some("other")
        );
        assert_eq!(
            last_value(&args, "--partition", "-p").as_deref(),
            Some("debug")
        );
        let args: Vec<String> = ["--qos", "low", "-q", "top"].map(String::from).to_vec();
        assert_eq!(last_value(&args, "--qos", "-q").as_deref(), Some("top"));
        assert_eq!(last_value(&[], "--qos", "-q"), None);
        let args: Vec<String> = ["--qosx=1"].map(String::from).to_vec();
        assert_eq!(last_value(&args, "--qos", "-q"), None);
    }

    #[test]
    fn auto_takes_the_lowest_limit_of_each_kind() {
        let k = known(
            vec![
                assoc("capacct", None, Some(200), Some(50)),
                assoc("capacct", Some("gpu"), Some(7), None),
                assoc("free", None, None, None),
            ],
            vec![
                QosLimits {
                    name: "normal".into(),
                    max_submit_jobs_per_user: None,
                    max_jobs_per_user: None,
                },
                QosLimits {
                    name: "high".into(),
                    max_submit_jobs_per_user: Some(10),
                    max_jobs_per_user: Some(20),
                },
            ],
        );
        let (charge, found) = auto_limits(&k, &class("CapAcct", "batch", None));
        assert_eq!(charge.qos, "normal");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, 50);
        assert_eq!(found[0].2, "MaxJobs=50 of association me/capacct");
        assert_eq!(found[0].0.describe(), "account CapAcct");

        let (_, found) = auto_limits(&k, &class("capacct", "gpu", Some("high")));
        let got: Vec<(String, u32)> = found.iter().map(|f| (f.0.describe(), f.1)).collect();
        assert_eq!(
            got,
            [
                ("account capacct, partition gpu".to_string(), 7),
                ("QOS high".to_string(), 10)
            ]
        );
        let (_, found) = auto_limits(&k, &class("free", "batch", None));
        assert!(found.is_empty());
        let (_, found) = auto_limits(&k, &class("unknown", "batch", Some("high")));
        assert_eq!(found.len(), 1, "the QOS limit holds without an association");
    }

    #[test]
    fn the_default_qos_is_the_associations() {
        let mut a = assoc("x", None, None, None);
        a.default_qos = Some("high".into());
        let k = known(
            vec![a],
            vec![QosLimits {
                name: "high".into(),
                max_submit_jobs_per_user: Some(3),
                max_jobs_per_user: None,
            }],
        );
        let (charge, found) = auto_limits(&k, &class("x", "batch", None));
        assert_eq!(charge.qos, "high");
        assert_eq!(found[0].2, "MaxSubmitJobsPerUser=3 of QOS high");
        // No default: the only QOS the association may use, else normal.
        let mut only = assoc("y", None, None, None);
        only.qos = vec!["high".into()];
        let k = known(vec![only, assoc("z", None, None, None)], Vec::new());
        assert_eq!(auto_limits(&k, &class("y", "batch", None)).0.qos, "high");
        assert_eq!(auto_limits(&k, &class("z", "batch", None)).0.qos, "normal");
    }

    #[test]
    fn a_scope_counts_its_own_jobs() {
        let job = |a: &str, p: &str, q: &str| QueuedJob {
            job_id: "1".into(),
            account: a.into(),
            partition: p.into(),
            qos: q.into(),
        };
        let by_account = Scope {
            account: Some("CapAcct".into()),
            partition: None,
            qos: None,
        };
        assert!(by_account.counts(&job("capacct", "batch", "normal")));
        assert!(!by_account.counts(&job("other", "batch", "normal")));
        let by_partition = Scope {
            partition: Some("gpu".into()),
            ..by_account.clone()
        };
        assert!(by_partition.counts(&job("capacct", "batch,gpu", "x")));
        assert!(!by_partition.counts(&job("capacct", "batch", "x")));
        let by_qos = Scope {
            account: None,
            partition: None,
            qos: Some("capqos".into()),
        };
        assert!(by_qos.counts(&job("any", "batch", "capqos")));
        assert!(!by_qos.counts(&job("any", "batch", "normal")));
    }
}
