//! Feeding a capped queue (issue 15) on the real local cluster: `--max-queued N|auto` under
//! association and QOS limits that slurmctld enforces, short single-node jobs that really run,
//! the queue sampled from squeue while it is fed, a run killed with SIGKILL and started
//! again. Each test has an account (or QOS) of its own, made here with sacctmgr, so that the
//! queues it counts hold no other test's jobs.

use crate::common::{
    bin, eventually, fresh_dir, json_lines, sh, slurm_available, slurm_shared, stderr, Cancel,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether this test can run: Slurm answers and we may change its accounts (root).
fn ready(test: &str) -> bool {
    if !slurm_available(test) {
        return false;
    }
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root && std::env::var("SWEEP_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("{test}: SWEEP_REQUIRE_SLURM=1 but setting limits with sacctmgr needs root");
    }
    if !root {
        eprintln!("SKIP {test}: setting limits with sacctmgr needs root");
    }
    root
}

fn me() -> String {
    String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

/// Runs `sacctmgr -i ARGS`; "already exists" and "nothing new" are fine (idempotent).
fn sacctmgr(args: &[&str]) {
    let _ = Command::new("sacctmgr")
        .arg("-i")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
}

/// One setup at a time: sacctmgr changes are pushed to slurmctld one by one.
static SETUP: Mutex<()> = Mutex::new(());

/// Waits (30 s at most) until one record of `scontrol show assoc_mgr ARGS` holds every
/// string of `want`.
fn until_slurmctld_shows(args: &[&str], want: &[&str]) {
    eventually(Duration::from_secs(30), Duration::from_millis(100), || {
        let out = Command::new("scontrol")
            .args(["show", "assoc_mgr"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut records = text.split("ClusterName=").chain(text.split("QOS="));
        match records.any(|r| want.iter().all(|w| r.contains(w))) {
            true => Ok(()),
            false => Err(format!(
                "slurmctld never showed {want:?} for {args:?}: {text}"
            )),
        }
    })
}

/// An account with an association for this user, `MaxSubmitJobs` = `max` (none: no limit),
/// as slurmctld enforces it before this returns.
fn account(name: &str, max: Option<u32>) {
    let _one = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let user = me();
    sacctmgr(&[
        "add",
        "account",
        name,
        "Description=sweep-tests",
        "Organization=sweep",
    ]);
    sacctmgr(&["add", "user", &user, &format!("Account={name}")]);
    let limit = max.map_or("-1".to_string(), |m| m.to_string());
    sacctmgr(&[
        "modify",
        "user",
        "where",
        &format!("name={user}"),
        &format!("account={name}"),
        "set",
        &format!("MaxSubmitJobs={limit}"),
    ]);
    let want = match max {
        Some(m) => format!("MaxSubmitJobs={m}("),
        None => "MaxSubmitJobs= ".to_string(),
    };
    until_slurmctld_shows(
        &[
            &format!("users={user}"),
            &format!("accounts={name}"),
            "flags=assoc",
        ],
        &[&format!("UserName={user}("), &want],
    );
}

/// A QOS with `MaxSubmitJobsPerUser` = `max`, that this user may use on every account; back
/// once a job can be submitted with it.
fn qos(name: &str, max: u32) {
    let _one = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let user = me();
    sacctmgr(&["add", "qos", name]);
    sacctmgr(&[
        "modify",
        "qos",
        "where",
        &format!("name={name}"),
        "set",
        &format!("MaxSubmitJobsPerUser={max}"),
    ]);
    sacctmgr(&[
        "modify",
        "user",
        "where",
        &format!("name={user}"),
        "set",
        &format!("QOS+={name}"),
    ]);
    // The QOS's user limits show only once it has been used: ask sbatch instead.
    eventually(Duration::from_secs(30), Duration::from_millis(100), || {
        let usable = Command::new("sbatch")
            .args(["--test-only", "-N1", "-n1", "-A", "sweepacct"])
            .arg(format!("--qos={name}"))
            .args(["--wrap", "true"])
            .output()
            .unwrap()
            .status
            .success();
        usable
            .then_some(())
            .ok_or(format!("QOS {name} never usable"))
    });
    // The limit travels with the QOS record slurmctld now has.
    until_slurmctld_shows(
        &["flags=qos", &format!("qos={name}")],
        &[&format!("{name}(")],
    );
}

/// `n` combinations rendered into `dir/sweep`, saved as `dir/records.jsonl`, and a job
/// template: one node, one task, `sleep 2`; with `fail_first`, each combination's first job
/// exits 3 (a follow-up of `--retries` then succeeds).
fn sweep(dir: &Path, n: usize, fail_first: bool) {
    let values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    std::fs::write(
        dir.join("sweep.yaml"),
        format!(
            "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  max-running-requests: [{}]\n",
            values.join(", ")
        ),
    )
    .unwrap();
    let fail = match fail_first {
        true => "if mkdir {{ log_dir | sh }}/first-attempt 2>/dev/null; then exit 3; fi\n",
        false => "",
    };
    std::fs::write(
        dir.join("job.j2"),
        format!(
            "#!/bin/bash\n#SBATCH --job-name={{{{ job_name }}}}\n#SBATCH --nodes=1\n#SBATCH --ntasks=1\n\
             #SBATCH --account={{{{ account }}}}\n#SBATCH --partition={{{{ partition }}}}\n#SBATCH --time=00:05:00\n\
             #SBATCH --output={{{{ log_dir }}}}/%j.out\n{fail}sleep 2\n"
        ),
    )
    .unwrap();
    let out = sh(
        "sweep-expand sweep.yaml | sweep-render --out-dir sweep > records.jsonl",
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// sweep-submit's arguments for the records of [`sweep`], in `account`.
fn submit_args(dir: &Path, account: &str, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--account",
        account,
        "--partition",
        "batch",
        "--model-dir",
        "/m",
        "--config-dir",
        "/c",
        "--gpu-type",
        "demo",
        "--script-variant",
        "max-tpt",
        "--scripts-dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo-scripts"),
        "--template",
    ]
    .map(String::from)
    .to_vec();
    args.push(dir.join("job.j2").display().to_string());
    args.extend(more.iter().map(|s| s.to_string()));
    args.push(dir.join("records.jsonl").display().to_string());
    args
}

/// An `sbatch` that counts its calls in `dir/sbatch_calls` and runs the real one.
fn counting_sbatch(dir: &Path) -> String {
    let real = String::from_utf8(Command::new("which").arg("sbatch").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let path = dir.join("bin/sbatch");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho x >> {}/sbatch_calls\nexec {real} \"$@\"\n",
            dir.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    path.display().to_string()
}

fn sbatch_calls(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("sbatch_calls"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// Samples the queue every 0.1 s (`squeue --me` with `filter`: pending, running and
/// completing jobs) until dropped; `max` is the most jobs seen at once.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, usize)>>,
}

impl Sampler {
    fn start(filter: &[&str]) -> Sampler {
        let filter: Vec<String> = filter.iter().map(|s| s.to_string()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                let out = Command::new("squeue")
                    .args(["--me", "-h", "-o", "%i"])
                    .args(&filter)
                    .output()
                    .unwrap();
                if out.status.success() {
                    max = max.max(String::from_utf8_lossy(&out.stdout).lines().count());
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (max, samples)
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    /// The most jobs seen queued at once (and the number of samples, at least 20).
    fn max(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let (max, samples) = self.thread.take().unwrap().join().unwrap();
        assert!(samples >= 20, "only {samples} samples of the queue");
        max
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Every job Slurm has (or just had) for the sweep in `dir/sweep`, by combination index:
/// `(job ID, state, reason)`, from one `squeue -t all` (jobs stay listed for MinJobAge, 300 s).
fn jobs_by_index(dir: &Path) -> BTreeMap<u64, Vec<(String, String, String)>> {
    let key = sweep::tag::sweep_key(dir.join("sweep").to_str().unwrap());
    let out = Command::new("squeue")
        .args(["--me", "-h", "-t", "all", "-o", "%i|%T|%r|%k"])
        .output()
        .unwrap();
    let mut by_index: BTreeMap<u64, Vec<(String, String, String)>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.splitn(4, '|').collect();
        if let Some(tag) = sweep::tag::parse(f[3]).filter(|t| t.sweep_key == key) {
            by_index.entry(tag.index).or_default().push((
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
            ));
        }
    }
    by_index
}

/// `sweep-collect --wait` on the records in `files`: the manifest's jobs, after asserting
/// its verdict (exit 0: every combination COMPLETED).
fn wait_all_completed(dir: &Path, files: &[&str]) -> Vec<Value> {
    let out = sh(
        &format!(
            "sweep-collect --wait --poll-interval 0.5 --max-interval 2 --timeout 300 --output manifest.json {}",
            files.join(" ")
        ),
        dir,
    );
    assert!(out.status.success(), "not all COMPLETED: {}", stderr(&out));
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let jobs = m["jobs"].as_array().unwrap().clone();
    assert!(jobs.iter().all(|j| j["state"] == "COMPLETED"), "{jobs:?}");
    jobs
}

fn job_ids(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .flat_map(|r| {
            r["job_id"].as_str().map(String::from).into_iter().chain(
                r["retry_job_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|j| j.as_str().map(String::from)),
            )
        })
        .collect()
}

#[test]
fn auto_reads_the_association_limit_and_feeds_30_jobs_through_5_places() {
    let name = "auto_reads_the_association_limit_and_feeds_30_jobs_through_5_places";
    if !ready(name) {
        return;
    }
    let _lock = slurm_shared();
    account("capauto", Some(5));
    let dir = fresh_dir("queue_auto_assoc");
    sweep(&dir, 30, false);
    let sbatch = counting_sbatch(&dir);
    let sampler = Sampler::start(&["-A", "capauto"]);
    let out = Command::new(bin("sweep-submit"))
        .args(submit_args(
            &dir,
            "capauto",
            &["--sbatch", &sbatch, "--max-queued", "auto"],
        ))
        .stdout(std::fs::File::create(dir.join("submitted.jsonl")).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let recs = json_lines(&dir.join("submitted.jsonl"));
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        crate::common::without_summary(&stderr(&out)),
        "sweep-submit: note: --max-queued auto: jobs of account capauto, QOS normal: at most 5 queued in account capauto (MaxSubmitJobs=5 of association root/capauto)\n"
            .replace("root", &me())
    );
    assert_eq!(recs.len(), 30);
    assert!(recs.iter().all(|r| r["submit_status"] == "submitted"));
    // The limit was read, not hit: one sbatch per job, none refused.
    assert_eq!(sbatch_calls(&dir), 30);
    let jobs = wait_all_completed(&dir, &["submitted.jsonl"]);
    let max = sampler.max();
    assert!(max <= 5, "{max} queued at once");
    assert_eq!(max, 5, "the room was used");
    assert_eq!(jobs.len(), 30);
    let by_index = jobs_by_index(&dir);
    assert_eq!(by_index.len(), 30);
    for (index, jobs) in &by_index {
        assert_eq!(jobs.len(), 1, "index {index}: {jobs:?}");
        assert_eq!(jobs[0].1, "COMPLETED", "index {index}: {jobs:?}");
    }
}

#[test]
fn max_queued_n_caps_an_uncapped_account_and_a_killed_run_resumes() {
    let name = "max_queued_n_caps_an_uncapped_account_and_a_killed_run_resumes";
    if !ready(name) {
        return;
    }
    let _lock = slurm_shared();
    // No Slurm limit here: only --max-queued keeps the queue at 5.
    account("capfeed", None);
    let dir = fresh_dir("queue_kill9");
    sweep(&dir, 30, false);
    let sampler = Sampler::start(&["-A", "capfeed"]);
    let run = |out: &str| {
        Command::new(bin("sweep-submit"))
            .args(submit_args(&dir, "capfeed", &["--max-queued", "5"]))
            .stdout(std::fs::File::create(dir.join(out)).unwrap())
            .stderr(std::fs::File::create(dir.join(format!("{out}.err"))).unwrap())
            .spawn()
            .unwrap()
    };
    let mut cancel = Cancel(Vec::new());
    let mut first = run("first.jsonl");
    // Killed once it is well into feeding: 8 or more jobs submitted, most of them waited for.
    eventually(Duration::from_secs(120), Duration::from_millis(50), || {
        let written = json_lines(&dir.join("first.jsonl")).len();
        (written >= 8)
            .then_some(())
            .ok_or(format!("no progress: {written} records"))
    });
    first.kill().unwrap();
    let _ = first.wait();
    let killed = json_lines(&dir.join("first.jsonl"));
    cancel.0.extend(job_ids(&killed));
    assert!(killed.len() < 30, "killed before the end");
    // The same command again.
    let second = run("second.jsonl").wait().unwrap();
    let resumed = json_lines(&dir.join("second.jsonl"));
    cancel.0.extend(job_ids(&resumed));
    assert_eq!(
        second.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(dir.join("second.jsonl.err")).unwrap()
    );
    assert_eq!(resumed.len(), 30);
    let kept = resumed
        .iter()
        .filter(|r| r["submit_status"] == "already_submitted")
        .count();
    let new = resumed
        .iter()
        .filter(|r| r["submit_status"] == "submitted")
        .count();
    assert_eq!(kept + new, 30);
    assert!(
        kept >= killed.len(),
        "every job the killed run handed on is kept"
    );
    for r in &killed {
        let again = resumed.iter().find(|x| x["id"] == r["id"]).unwrap();
        assert_eq!(again["job_id"], r["job_id"], "nothing submitted twice");
    }
    let jobs = wait_all_completed(&dir, &["first.jsonl", "second.jsonl"]);
    assert_eq!(jobs.len(), 30);
    let max = sampler.max();
    assert!(max <= 5, "{max} queued at once");
    // Exactly one job of each combination ran; a job the kill caught between its sbatch and
    // the journal stayed held and was cancelled by the second run.
    let by_index = jobs_by_index(&dir);
    assert_eq!(by_index.len(), 30);
    for (index, jobs) in &by_index {
        let ran: Vec<_> = jobs.iter().filter(|j| j.1 == "COMPLETED").collect();
        assert_eq!(ran.len(), 1, "index {index}: {jobs:?}");
        assert!(
            jobs.iter()
                .all(|j| j.1 == "COMPLETED" || j.2.starts_with("JobHeld")),
            "index {index}: {jobs:?}"
        );
    }
}

#[test]
fn retries_count_against_the_cap() {
    let name = "retries_count_against_the_cap";
    if !ready(name) {
        return;
    }
    let _lock = slurm_shared();
    account("capretry", None);
    let dir = fresh_dir("queue_retries");
    // Each combination's first job fails; its follow-up runs and completes.
    sweep(&dir, 8, true);
    let sampler = Sampler::start(&["-A", "capretry"]);
    let out = Command::new(bin("sweep-submit"))
        .args(submit_args(
            &dir,
            "capretry",
            &["--max-queued", "5", "--retries", "1"],
        ))
        .stdout(std::fs::File::create(dir.join("submitted.jsonl")).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let recs = json_lines(&dir.join("submitted.jsonl"));
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(recs.len(), 8);
    assert!(recs
        .iter()
        .all(|r| r["retry_job_ids"].as_array().map(Vec::len) == Some(1)));
    let jobs = wait_all_completed(&dir, &["submitted.jsonl"]);
    // Each record needs 2 places: without counting the follow-ups, 5 jobs and 5 follow-ups
    // would have been queued at once.
    let max = sampler.max();
    assert!(max <= 5, "{max} queued at once");
    for j in &jobs {
        assert_eq!(j["state_job_id"], j["retry_job_ids"][0], "{j}");
    }
}

#[test]
fn without_max_queued_a_refusal_for_the_limit_says_so_and_what_helps() {
    let name = "without_max_queued_a_refusal_for_the_limit_says_so_and_what_helps";
    if !ready(name) {
        return;
    }
    let _lock = slurm_shared();
    account("caprefuse", Some(3));
    let dir = fresh_dir("queue_refused");
    sweep(&dir, 6, false);
    // Not to start for an hour: the three jobs Slurm takes stay queued while the others are
    // tried.
    let out = Command::new(bin("sweep-submit"))
        .args(submit_args(
            &dir,
            "caprefuse",
            &["--sbatch-arg=--begin=now+1hour"],
        ))
        .output()
        .unwrap();
    let recs: Vec<Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(recs.len(), 6);
    let refused: Vec<&Value> = recs
        .iter()
        .filter(|r| r["submit_status"] == "failed")
        .collect();
    assert_eq!(refused.len(), 3);
    let hint = "(a limit on your queued jobs: --max-queued auto submits each job as room frees)";
    for r in &refused {
        let err = r["submit_error"].as_str().unwrap();
        assert!(
            err.starts_with("sbatch: error: AssocMaxSubmitJobLimit") && err.ends_with(hint),
            "{err}"
        );
    }
    let err = crate::common::without_summary(&stderr(&out));
    assert!(
        err.starts_with("sweep-submit: 3 of 6 records not submitted; first: ")
            && err.contains("AssocMaxSubmitJobLimit")
            && err.trim_end().ends_with(hint),
        "{err}"
    );
}

#[test]
fn a_refusal_for_a_limit_below_max_queued_is_waited_out() {
    let name = "a_refusal_for_a_limit_below_max_queued_is_waited_out";
    if !ready(name) {
        return;
    }
    let _lock = slurm_shared();
    account("capbelow", Some(3));
    let dir = fresh_dir("queue_refusal_waits");
    sweep(&dir, 8, false);
    let sbatch = counting_sbatch(&dir);
    // --max-queued 10 counts room where Slurm's limit of 3 has none: refusals, waited out.
    let out = Command::new(bin("sweep-submit"))
        .args(submit_args(
            &dir,
            "capbelow",
            &["--sbatch", &sbatch, "--max-queued", "10"],
        ))
        .stdout(std::fs::File::create(dir.join("submitted.jsonl")).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let recs = json_lines(&dir.join("submitted.jsonl"));
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(recs.iter().all(|r| r["submit_status"] == "submitted"));
    assert!(sbatch_calls(&dir) > 8, "some sbatch was refused");
    let err = crate::common::without_summary(&stderr(&out));
    assert!(
        err.starts_with("sweep-submit: note: Slurm refused a job for AssocMaxSubmitJobLimit with ")
            && err.contains("waiting for room and trying again"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "said once: {err}");
    wait_all_completed(&dir, &["submitted.jsonl"]);
}

#[test]
fn auto_reads_a_qos_limit() {
    let name = "auto_reads_a_qos_limit";
    if !ready(name) {
        return;
    }
    let _lock = slurm_shared();
    qos("capqos", 4);
    let dir = fresh_dir("queue_auto_qos");
    sweep(&dir, 12, false);
    let sbatch = counting_sbatch(&dir);
    let sampler = Sampler::start(&["-q", "capqos"]);
    let out = Command::new(bin("sweep-submit"))
        .args(submit_args(
            &dir,
            "sweepacct",
            &[
                "--sbatch",
                &sbatch,
                "--max-queued",
                "auto",
                "--sbatch-arg=--qos=capqos",
            ],
        ))
        .stdout(std::fs::File::create(dir.join("submitted.jsonl")).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let recs = json_lines(&dir.join("submitted.jsonl"));
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        crate::common::without_summary(&stderr(&out)),
        "sweep-submit: note: --max-queued auto: jobs of account sweepacct, QOS capqos: at most 4 queued in QOS capqos (MaxSubmitJobsPerUser=4 of QOS capqos)\n"
    );
    assert_eq!(sbatch_calls(&dir), 12, "the limit was read, not hit");
    wait_all_completed(&dir, &["submitted.jsonl"]);
    let max = sampler.max();
    assert_eq!(max, 4, "at most 4 queued, and the room was used");
}
