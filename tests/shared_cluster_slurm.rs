//! Never twice on a shared, long-lived cluster (issue 19), on real Slurm: a job is ours only
//! if Slurm says it carries our tag (IDs reused after a rebuilt controller, colleagues' jobs
//! beside ours), a lost or damaged journal, two commands updating one manifest, signals,
//! paths, options that would break the tag. The ID-reuse trial runs on a cluster of its own,
//! whose state it rebuilds; everything else on the shared one.

use crate::common::{
    fresh_dir, json_lines, on_slurm, read_json, sh, slurm_available, stderr, Cancel,
    PrivateCluster,
};
use crate::never_twice_slurm::{jobs_of, one_runnable_job_each, pending_records, s};
use crate::submit::REQUIRED;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", stderr(out));
}

/// Every job of cluster `conf` that carries a tag of the sweep in `sweep_dir`, in squeue (live)
/// and in accounting (every job each ID ever named): `(job, tag, state)`, once each.
fn tagged_in(conf: &Path, sweep_dir: &Path) -> Vec<(String, String, String)> {
    let key = sweep::tag::sweep_key(sweep_dir.to_str().unwrap());
    let script = format!(
        "export SLURM_CONF={}; squeue -h -t all -o '%i|%V|%k|%T'; sacct -n -X -P -D -S now-1day -o JobID,Submit,Comment,State,SubmitLine",
        conf.display()
    );
    let out = sh(&script, Path::new("/"));
    ok(&out, "squeue/sacct");
    let mut seen: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.splitn(5, '|').collect();
        let tag = match (f.get(2), f.get(4)) {
            (Some(c), _) if c.starts_with("sweep:") => c.to_string(),
            (_, Some(l)) => l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("--comment="))
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        };
        if !tag.starts_with(&format!("sweep:{key}:")) {
            continue;
        }
        // The same job in squeue and accounting: one job (same ID, same submit time).
        seen.entry((f[0].to_string(), f[1].to_string()))
            .or_insert((tag, f[3].to_string()));
    }
    seen.into_iter()
        .map(|((id, _), (tag, state))| (id, tag, state))
        .collect()
}

/// Jobs per combination index of the sweep in `sweep_dir`, as Slurm lists them by tag.
fn per_combination(conf: &Path, sweep_dir: &Path) -> BTreeMap<u64, usize> {
    let mut n = BTreeMap::new();
    for (_, tag, _) in tagged_in(conf, sweep_dir) {
        let index = sweep::tag::parse(&tag).unwrap().index;
        *n.entry(index).or_insert(0) += 1;
    }
    n
}

/// The colleagues' jobs of the trial: eight plain jobs of four nodes (two of the four are
/// down: they pend), some with a comment of their own, some with none, job 2 held. Their
/// IDs: 1 to 8, the IDs this sweep's journal names.
fn colleagues(c: &PrivateCluster) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 1..=8 {
        let mut args = vec!["--parsable", "-A", "sweepacct", "-N", "4", "-o", "/dev/null"];
        match n {
            2 => args.push("--hold"),
            n if n % 2 == 1 => args.push("--comment=colleague"),
            _ => {}
        }
        args.extend(["--wrap", "true"]);
        let out = c.client("sbatch", &args);
        ok(&out, "a colleague's sbatch");
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let want: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
    assert_eq!(ids, want, "job IDs start again at 1 after the rebuild");
    ids
}

/// `ID -> (state, reason)` of the colleagues' jobs.
fn their_states(c: &PrivateCluster) -> BTreeMap<String, (String, String)> {
    let out = c.client("squeue", &["-h", "-t", "all", "-j", "1,2,3,4,5,6,7,8", "-o", "%i|%T|%r"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(3, '|').collect();
            (f.len() == 3).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string())))
        })
        .collect()
}

/// The colleagues' jobs as they were left: pending, job 2 still held; nothing released,
/// cancelled or run.
fn untouched(c: &PrivateCluster) {
    let now = their_states(c);
    assert_eq!(now.len(), 8, "{now:?}");
    for (id, (state, reason)) in &now {
        assert_eq!(state, "PENDING", "{id}: {now:?}");
        if id == "2" {
            assert_eq!(reason, "JobHeldUser", "the held job was released: {now:?}");
        }
    }
}

/// Issue 19, items 1 and 2 (and 5 against accounting): on a cluster whose controller's state
/// is rebuilt (job IDs start again at 1) while colleagues' jobs take the IDs this sweep's
/// journal and manifest name, nothing of theirs is released, cancelled or taken for a state,
/// and each combination gets a second job only when its own job failed, as Slurm's
/// accounting says by the job's tag. Then the whole cluster state is rebuilt (accounting
/// too): nothing is known of the old jobs, and still nothing of the colleagues' is touched.
#[test]
fn an_id_reused_by_a_colleagues_job_is_never_taken_for_ours() {
    let name = "an_id_reused_by_a_colleagues_job_is_never_taken_for_ours";
    // Starting a cluster needs root, which the shared cluster's presence implies here.
    if !slurm_available(name) {
        return;
    }
    // Four nodes, two of them real: one-node jobs run, the colleagues' four-node jobs pend.
    let c = PrivateCluster::new(
        "shared_id_reuse",
        &[("SWEEP_SLURM_NODES", "4"), ("SWEEP_SLURM_REAL_NODES", "2")],
    );
    ok(&c.run("start", &[]), "local-slurm start");
    let dir = fresh_dir("shared_id_reuse_sweeps");
    let conf = c.conf().display().to_string();
    std::fs::write(
        dir.join("sweep.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.9]\n",
    )
    .unwrap();
    // Index 1 of each sweep fails the first time it runs (BASH_ENV runs before the job's
    // script), then works.
    for sweep in ["s1", "s2"] {
        std::fs::write(
            dir.join(format!("fail_{sweep}.sh")),
            format!(
                "case \"$SLURM_JOB_NAME\" in *sweep1) mkdir {}/failed_{sweep} 2>/dev/null && exit 3;; esac\n",
                dir.display()
            ),
        )
        .unwrap();
    }
    let pipeline = |sweep: &str| {
        format!(
            "export SLURM_CONF={conf}\nsweep-expand sweep.yaml | sweep-render --out-dir {sweep} \
             | sweep-submit {} --time-limit 00:05:00 --sbatch-arg=--export=ALL,BASH_ENV={}/fail_{sweep}.sh \
             | tee {sweep}.jsonl | sweep-collect {sweep}/m.json - --output {sweep}/m.json",
            REQUIRED.join(" "),
            dir.display()
        )
    };
    let wait = |sweep: &str| {
        sh(
            &format!("export SLURM_CONF={conf}\nsweep-collect --wait --poll-interval 0.5 --timeout 180 {sweep}/m.json >/dev/null || true"),
            &dir,
        )
    };
    let states = |sweep: &str| -> Vec<String> {
        let m = read_json(&dir.join(format!("{sweep}/m.json")));
        m["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["state"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    for sweep in ["s1", "s2"] {
        ok(&sh(&pipeline(sweep), &dir), "the first run");
    }
    for sweep in ["s1", "s2"] {
        wait(sweep);
        assert_eq!(states(sweep), ["COMPLETED", "FAILED"], "{sweep}");
    }
    let first: Vec<String> = ["s1", "s2"]
        .iter()
        .flat_map(|sw| json_lines(&dir.join(format!("{sw}.jsonl"))))
        .map(|r| s(&r, "job_id").to_string())
        .collect();
    assert_eq!(first, ["1", "2", "3", "4"]);

    // The controller's state is lost and rebuilt; accounting keeps every job. Colleagues'
    // jobs take IDs 1 to 8 (job 2, the ID of s1's failed job, held).
    ok(&c.run("rebuild-controller", &[]), "rebuild-controller");
    colleagues(&c);
    // s1, the same pipeline again: its completed combination keeps its job, its failed one
    // runs again, as accounting says of the jobs that carry their tags.
    ok(&sh(&pipeline("s1"), &dir), "s1 again");
    let again = json_lines(&dir.join("s1.jsonl"));
    let statuses: Vec<&str> = again.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["already_submitted", "submitted"]);
    assert_eq!(s(&again[0], "job_id"), "1");
    assert_eq!(again[1]["history"][0]["job_id"], "2");
    // s2 with its journal gone: rebuilt from accounting by tag, with the same outcome.
    std::fs::remove_dir_all(dir.join("s2/.sweep")).unwrap();
    let out = sh(&pipeline("s2"), &dir);
    ok(&out, "s2 without its journal");
    assert!(
        stderr(&out).contains("job(s) of this sweep found in Slurm by their tag"),
        "{}",
        stderr(&out)
    );
    let again = json_lines(&dir.join("s2.jsonl"));
    let statuses: Vec<&str> = again.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["already_submitted", "submitted"]);
    assert_eq!(s(&again[0], "job_id"), "3");
    for sweep in ["s1", "s2"] {
        wait(sweep);
        assert_eq!(states(sweep), ["COMPLETED", "COMPLETED"], "{sweep}");
    }
    untouched(&c);
    let s1 = dir.join("s1");
    let jobs = per_combination(&c.conf(), &s1);
    assert_eq!(jobs, BTreeMap::from([(0, 1), (1, 2)]), "{:?}", tagged_in(&c.conf(), &s1));
    eprintln!("ID-reuse trial, controller rebuilt: jobs per combination seen in Slurm (by tag, squeue and sacct -D): s1 {jobs:?}, s2 {:?}; colleagues' jobs: {:?}", per_combination(&c.conf(), &dir.join("s2")), their_states(&c));
    // --status and --cancel of the manifests: the colleagues' jobs are left alone.
    for sweep in ["s1", "s2"] {
        let out = sh(
            &format!("export SLURM_CONF={conf}\nsweep-collect --status {sweep}/m.json > /dev/null && sweep-collect --cancel {sweep}/m.json > /dev/null"),
            &dir,
        );
        ok(&out, "--status and --cancel");
        assert_eq!(states(sweep), ["COMPLETED", "COMPLETED"], "{sweep}");
    }
    untouched(&c);

    // Now the whole cluster state is rebuilt, accounting included: Slurm knows nothing of
    // the sweeps' jobs, and the colleagues' jobs take IDs 1 to 8 again.
    ok(&c.run("start", &[("SWEEP_SLURM_FRESH", "1")]), "a fresh start");
    colleagues(&c);
    let before: Vec<Vec<String>> = ["s1", "s2"].iter().map(|sw| states(sw)).collect();
    for sweep in ["s1", "s2"] {
        let out = sh(&pipeline(sweep), &dir);
        ok(&out, "again after a fresh start");
        let err = stderr(&out);
        assert!(err.contains("belong to other jobs in Slurm now"), "{err}");
        let recs = json_lines(&dir.join(format!("{sweep}.jsonl")));
        // Nothing known, nothing doubled: each combination keeps its job.
        assert!(
            recs.iter().all(|r| s(r, "submit_status") == "already_submitted"),
            "{recs:?}"
        );
        // --status keeps the states the manifest knew (a colleague's job is not ours), and
        // --cancel cancels nothing of theirs.
        let out = sh(
            &format!("export SLURM_CONF={conf}\nsweep-collect --status {sweep}/m.json > /dev/null && sweep-collect --cancel {sweep}/m.json > /dev/null"),
            &dir,
        );
        ok(&out, "--status and --cancel after a fresh start");
        assert!(
            stderr(&out).contains("belong to other jobs in Slurm now"),
            "{}",
            stderr(&out)
        );
    }
    let after: Vec<Vec<String>> = ["s1", "s2"].iter().map(|sw| states(sw)).collect();
    assert_eq!(before, after, "the manifests' states stay theirs");
    untouched(&c);
    assert!(tagged_in(&c.conf(), &s1).is_empty(), "no new job of s1");
    eprintln!("ID-reuse trial, fresh cluster state: jobs of s1 and s2 seen in Slurm: {} and {}; states kept: {after:?}; colleagues' jobs: {:?}", tagged_in(&c.conf(), &s1).len(), tagged_in(&c.conf(), &dir.join("s2")).len(), their_states(&c));
}
