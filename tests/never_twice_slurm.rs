//! Nothing lost, never twice (issue 10), on the real local cluster: the daily loop of running
//! a pipeline again, extending a sweep, re-submitting failures, and a controller that stalls
//! past sbatch's timeout. What Slurm holds is read back from Slurm, never from our output.

use crate::common::{
    eventually, fresh_dir, json_lines, on_slurm, on_slurm_alone, sh, stderr, Cancel,
};
use crate::submit::REQUIRED;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One job of a sweep, as squeue lists it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub state: String,
    pub reason: String,
    pub name: String,
    pub time_limit: String,
    pub tag: String,
}

impl Job {
    /// Could run: not held, not ended by a cancel.
    pub fn runnable(&self) -> bool {
        let held = self.state == "PENDING" && self.reason.starts_with("JobHeld");
        !held && !self.state.starts_with("CANCELLED")
    }
}

/// Every job of this user whose tag is of the sweep in `sweep_dir`, in any state squeue lists.
pub fn jobs_of(sweep_dir: &Path) -> Vec<Job> {
    let key = sweep::tag::sweep_key(sweep_dir.to_str().unwrap());
    let out = Command::new("squeue")
        .args(["--me", "-h", "-t", "all", "-o", "%i|%T|%r|%j|%l|%k"])
        .output()
        .unwrap();
    assert!(out.status.success(), "squeue: {}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(6, '|').collect();
            (f.len() == 6 && f[5].starts_with(&format!("sweep:{key}:"))).then(|| Job {
                id: f[0].to_string(),
                state: f[1].to_string(),
                reason: f[2].to_string(),
                name: f[3].to_string(),
                time_limit: f[4].to_string(),
                tag: f[5].to_string(),
            })
        })
        .collect()
}

pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// A disaggregated sweep of 36-node jobs (they pend forever: 4 of the 64 nodes are real).
fn sweep_file(mrr: &str) -> String {
    format!(
        "slurm:\n  prefill_nodes: [12]\n  decode_nodes: [24]\n  prefill_workers: [3]\n  decode_workers: [1]\n\
         sglang:\n  max-running-requests: {mrr}\n  mem-fraction-static: [0.82, 0.84]\n"
    )
}

/// `sweep-expand sweep.yaml | sweep-render --out-dir sweep | sweep-submit ... | sweep-collect`,
/// in `dir`; submit's records also saved in `name`.jsonl.
fn pipeline(dir: &Path, name: &str, submit_args: &str) -> std::process::Output {
    sh(
        &format!(
            "sweep-expand sweep.yaml | sweep-render --out-dir sweep \
             | sweep-submit {} {submit_args} | tee {name}.jsonl \
             | sweep-collect sweep/sweep_manifest.json - --output sweep/sweep_manifest.json",
            REQUIRED.join(" ")
        ),
        dir,
    )
}

#[test]
fn running_the_same_pipeline_again_and_extending_the_sweep_never_submit_twice() {
    let name = "running_the_same_pipeline_again_and_extending_the_sweep_never_submit_twice";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_rerun");
    let sweep = dir.join("sweep");
    std::fs::write(dir.join("sweep.yaml"), sweep_file("[5632, 8000]")).unwrap();
    let mut cancel = Cancel(Vec::new());
    // The first run needs a manifest to merge into: the first collect has none yet.
    let out = sh(
        &format!(
            "sweep-expand sweep.yaml | sweep-render --out-dir sweep | sweep-submit {} \
             | tee first.jsonl | sweep-collect --output sweep/sweep_manifest.json",
            REQUIRED.join(" ")
        ),
        &dir,
    );
    let first = json_lines(&dir.join("first.jsonl"));
    cancel
        .0
        .extend(first.iter().map(|r| s(r, "job_id").to_string()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|r| s(r, "submit_status") == "submitted"));

    // Up-arrow and Enter: nothing is submitted again, every record passes through with its job.
    let out = pipeline(&dir, "second", "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = json_lines(&dir.join("second.jsonl"));
    assert_eq!(second.len(), 4);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(s(b, "submit_status"), "already_submitted", "{b}");
        assert_eq!(s(b, "job_id"), s(a, "job_id"));
        assert_eq!(s(b, "job_name"), s(a, "job_name"));
        assert!(b.get("history").is_none(), "{b}");
    }
    let jobs = jobs_of(&sweep);
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    assert!(jobs.iter().all(Job::runnable), "released: {jobs:?}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(sweep.join("sweep_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["total_jobs"], 4);
    assert!(manifest["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j.get("history").is_none()));

    // One more value, in the middle: only the two new combinations are submitted; the others
    // keep their number, config file, script, job name and job.
    std::fs::write(dir.join("sweep.yaml"), sweep_file("[5632, 6000, 8000]")).unwrap();
    let out = pipeline(&dir, "third", "");
    let third = json_lines(&dir.join("third.jsonl"));
    cancel
        .0
        .extend(third.iter().map(|r| s(r, "job_id").to_string()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(third.len(), 6);
    let new: Vec<&Value> = third
        .iter()
        .filter(|r| s(r, "submit_status") == "submitted")
        .collect();
    assert_eq!(new.len(), 2);
    for old in &first {
        let now = third.iter().find(|r| r["id"] == old["id"]).unwrap();
        assert_eq!(s(now, "submit_status"), "already_submitted");
        for k in ["job_id", "job_name", "job_script", "config_path", "tag"] {
            assert_eq!(now[k], old[k], "{k}");
        }
        assert_eq!(now["index"], old["index"]);
    }
    let mut names: Vec<&str> = third.iter().map(|r| s(r, "job_name")).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 6, "no two combinations share a job name");
    let mut configs: Vec<&str> = third.iter().map(|r| s(r, "config_path")).collect();
    configs.sort();
    configs.dedup();
    assert_eq!(configs.len(), 6, "no two combinations share a config");
    let jobs = jobs_of(&sweep);
    assert_eq!(jobs.len(), 6, "{jobs:?}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(sweep.join("sweep_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["total_jobs"], 6);
}

#[test]
fn a_resubmitted_failure_keeps_its_options_and_its_old_script() {
    let name = "a_resubmitted_failure_keeps_its_options_and_its_old_script";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_options");
    // BASH_ENV is read by the job's bash before its script: every job of this test fails.
    let fail = dir.join("fail.sh");
    std::fs::write(&fail, "exit 3\n").unwrap();
    std::fs::write(
        dir.join("sweep.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.9]\n",
    )
    .unwrap();
    let export = format!("--sbatch-arg=--export=ALL,BASH_ENV={}", fail.display());
    let profiler = "'type=sglang; isl=8; osl=8; concurrencies=1; req-rate=inf'";
    let out = sh(
        &format!(
            "sweep-expand sweep.yaml | sweep-render --out-dir sweep \
             | sweep-submit {} --job-name mine --time-limit 00:10:00 --profiler {profiler} {export} \
             | sweep-collect --output m.json",
            REQUIRED.join(" ")
        ),
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sh(
        "sweep-collect --wait --poll-interval 0.5 m.json --output m.json || true",
        &dir,
    );
    let _ = out;
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    let jobs = manifest["jobs"].as_array().unwrap();
    let mut cancel = Cancel(jobs.iter().map(|j| s(j, "job_id").to_string()).collect());
    assert!(jobs.iter().all(|j| j["state"] == "FAILED"), "{jobs:?}");
    let old_script = std::fs::read_to_string(s(&jobs[0], "job_script")).unwrap();

    // Re-submit the failures with no option at all: everything comes from the sweep.
    let out = sh(
        "jq -c '.jobs[] | select(.state == \"FAILED\")' m.json | sweep-submit > again.jsonl",
        &dir,
    );
    let again = json_lines(&dir.join("again.jsonl"));
    cancel
        .0
        .extend(again.iter().map(|r| s(r, "job_id").to_string()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        crate::common::without_summary(&String::from_utf8_lossy(&out.stderr)),
        "",
        "no option changed"
    );
    assert_eq!(again.len(), 2);
    let sweep = dir.join("sweep");
    let listed: BTreeMap<String, Job> = jobs_of(&sweep)
        .into_iter()
        .map(|j| (j.id.clone(), j))
        .collect();
    for (r, old) in again.iter().zip(jobs) {
        assert_eq!(s(r, "submit_status"), "submitted");
        assert_ne!(s(r, "job_id"), s(old, "job_id"));
        let job = &listed[s(r, "job_id")];
        assert_eq!(job.name, format!("mine_sweep{}", r["index"]));
        assert_eq!(job.time_limit, "10:00");
        let script = std::fs::read_to_string(s(r, "job_script")).unwrap();
        assert!(script.contains("bench.sh"), "the benchmark travels");
        // The replaced script is kept, named by the history entry of the job that ran it.
        let h = &r["history"][0];
        assert_eq!(h["job_id"], old["job_id"]);
        assert_eq!(h["state"], "FAILED");
        let kept = s(h, "job_script");
        assert!(kept.contains("/history/"), "{kept}");
        assert!(Path::new(kept).is_file());
    }
    assert_eq!(
        std::fs::read_to_string(s(&again[0]["history"][0], "job_script")).unwrap(),
        old_script
    );

    // An option given again wins, and the change is said.
    let out = sh(
        "sweep-collect --wait --poll-interval 0.5 m.json again.jsonl --output m.json || true; \
         jq -c '.jobs[] | select(.state == \"FAILED\")' m.json | head -n 1 \
         | sweep-submit --time-limit 00:20:00 > third.jsonl",
        &dir,
    );
    let third = json_lines(&dir.join("third.jsonl"));
    cancel
        .0
        .extend(third.iter().map(|r| s(r, "job_id").to_string()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("re-submitted record(s) with --time-limit 00:20:00 (was 00:10:00)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = jobs_of(&sweep)
        .into_iter()
        .find(|j| j.id == s(&third[0], "job_id"))
        .unwrap();
    assert_eq!(
        (job.name.as_str(), job.time_limit.as_str()),
        ("mine_sweep0", "20:00")
    );
    assert_eq!(third[0]["history"].as_array().unwrap().len(), 2);
}

/// Cancels, when dropped, every job of a sweep that Slurm lists then (a held duplicate can
/// appear after the test looked).
pub struct CancelSweepLater(pub std::path::PathBuf);

impl Drop for CancelSweepLater {
    fn drop(&mut self) {
        let ids: Vec<String> = jobs_of(&self.0).into_iter().map(|j| j.id).collect();
        drop(Cancel(ids));
    }
}

/// Resumes the controller when dropped, whatever the test did.
struct Resume;

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = local_slurm("resume-controller");
    }
}

fn local_slurm(cmd: &str) -> std::process::ExitStatus {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-slurm"))
        .arg(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn a_stalled_controller_never_runs_two_jobs_of_one_record() {
    let name = "a_stalled_controller_never_runs_two_jobs_of_one_record";
    // The controller is frozen: no other Slurm test may run meanwhile.
    let Some(_lock) = on_slurm_alone(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_stall");
    // 20 records of 36-node jobs (they pend), one sbatch every 0.25 s.
    std::fs::write(dir.join("records.jsonl"), pending_records("5ta11", 20)).unwrap();
    for pause in [3u64, 6, 12, 30] {
        let sweep = dir.join(format!("sweep{pause}"));
        let child = Command::new(crate::common::bin("sweep-submit"))
            .args(REQUIRED)
            .args([
                "--output-dir",
                sweep.to_str().unwrap(),
                "--max-submit-rate",
                "4",
            ])
            .arg(dir.join("records.jsonl"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let resume = Resume;
        assert!(local_slurm("pause-controller").success());
        std::thread::sleep(Duration::from_secs(pause));
        drop(resume);
        let t0 = Instant::now();
        let out = child.wait_with_output().unwrap();
        let recs: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // A duplicate the controller creates late is held; give it a moment to show.
        std::thread::sleep(Duration::from_secs(2));
        let jobs = jobs_of(&sweep);
        let _cancel = Cancel(jobs.iter().map(|j| j.id.clone()).collect());
        let _late = CancelSweepLater(sweep.clone());
        assert_eq!(
            out.status.code(),
            Some(0),
            "pause {pause}s: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(t0.elapsed() < Duration::from_secs(120));
        assert_eq!(recs.len(), 20, "pause {pause}s");
        for r in &recs {
            let tag = s(r, "tag");
            let runnable: Vec<&Job> = jobs
                .iter()
                .filter(|j| j.tag == tag && j.runnable())
                .collect();
            assert_eq!(
                runnable.len(),
                1,
                "pause {pause}s: {tag}: exactly one runnable job: {jobs:?}"
            );
            assert_eq!(
                runnable[0].id,
                s(r, "job_id"),
                "pause {pause}s: it is the record's"
            );
        }
        eprintln!(
            "stall {pause}s: {} jobs for 20 records ({} held or cancelled duplicates); stderr: {}",
            jobs.len(),
            jobs.iter().filter(|j| !j.runnable()).count(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

#[test]
fn a_job_the_controller_creates_after_sbatch_gave_up_never_runs() {
    // The stalled-controller race made deterministic: a site wrapper whose first call says
    // "Socket timed out" at once, while the real sbatch creates that job 3 s later, after
    // sweep-submit has looked for it, found nothing, and submitted again.
    let name = "a_job_the_controller_creates_after_sbatch_gave_up_never_runs";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_late_ghost");
    let d = dir.display();
    let wrapper = dir.join("sbatch");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nn=$(( $(cat {d}/calls 2>/dev/null || echo 0) + 1 )); echo $n > {d}/calls\n\
             if [ $n = 1 ]; then\n  (sleep 3; sbatch \"$@\" >> {d}/ghost) </dev/null >/dev/null 2>&1 &\n\
             echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2; exit 1\nfi\n\
             exec sbatch \"$@\"\n"
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let record = r#"{"index":0,"id":"9h057000000000","mode":"agg","total_nodes":36,"parameters":{"slurm":{"agg_nodes":36,"agg_workers":1},"sglang":{}}}"#;
    std::fs::write(dir.join("r.jsonl"), format!("{record}\n")).unwrap();
    let submit = format!(
        "sweep-submit {} --sbatch {} --output-dir sweep --retry-backoff 0.2 r.jsonl",
        REQUIRED.join(" "),
        wrapper.display()
    );
    let out = sh(&format!("{submit} > first.jsonl"), &dir);
    let first = json_lines(&dir.join("first.jsonl"));
    let sweep = dir.join("sweep");
    let mut cancel = Cancel(first.iter().map(|r| s(r, "job_id").to_string()).collect());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The late job appears.
    let ghost = eventually(Duration::from_secs(30), Duration::from_millis(200), || {
        let id = std::fs::read_to_string(dir.join("ghost")).unwrap_or_default();
        Some(id.trim().to_string())
            .filter(|id| !id.is_empty())
            .ok_or("no late job".to_string())
    });
    cancel.push(ghost.clone());
    std::thread::sleep(Duration::from_secs(1));
    let jobs = jobs_of(&sweep);
    let runnable: Vec<&Job> = jobs.iter().filter(|j| j.runnable()).collect();
    assert_eq!(runnable.len(), 1, "{jobs:?}");
    assert_eq!(runnable[0].id, s(&first[0], "job_id"));
    let late = jobs.iter().find(|j| j.id == ghost).unwrap();
    assert_eq!(
        (late.state.as_str(), late.reason.as_str()),
        ("PENDING", "JobHeldUser")
    );

    // The next run cancels it and keeps the record's job.
    let out = sh(&format!("{submit} > second.jsonl"), &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cancelled 1 held job(s)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = json_lines(&dir.join("second.jsonl"));
    assert_eq!(s(&second[0], "submit_status"), "already_submitted");
    assert_eq!(second[0]["job_id"], first[0]["job_id"]);
    std::thread::sleep(Duration::from_millis(500));
    let late = jobs_of(&sweep).into_iter().find(|j| j.id == ghost).unwrap();
    assert!(late.state.starts_with("CANCELLED"), "{late:?}");
}

/// `n` records of 36-node aggregated jobs (they pend: 4 of the 64 nodes are real), ids
/// `prefix` followed by digits, 16 characters in all.
pub fn pending_records(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}{i:0width$}", width = 16 - prefix.len());
            format!(
                r#"{{"index":{i},"id":"{id}","mode":"agg","total_nodes":36,"parameters":{{"slurm":{{"agg_nodes":36,"agg_workers":1}},"sglang":{{}}}}}}"#
            ) + "\n"
        })
        .collect()
}

/// Exactly one job that could run per record tag of `recs`, and it is the record's.
pub fn one_runnable_job_each(sweep: &Path, recs: &[Value]) {
    let jobs = jobs_of(sweep);
    for r in recs {
        let tag = s(r, "tag");
        let runnable: Vec<&Job> = jobs
            .iter()
            .filter(|j| j.tag == tag && j.runnable())
            .collect();
        assert_eq!(runnable.len(), 1, "{tag}: {jobs:?}");
        assert_eq!(runnable[0].id, s(r, "job_id"), "{tag}");
    }
}

#[test]
fn a_run_killed_at_any_point_resumes_without_doubling_or_skipping() {
    let name = "a_run_killed_at_any_point_resumes_without_doubling_or_skipping";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_kill9");
    std::fs::write(dir.join("records.jsonl"), pending_records("k111", 12)).unwrap();
    let sweep = dir.join("sweep");
    let run = || {
        Command::new(crate::common::bin("sweep-submit"))
            .args(REQUIRED)
            .args([
                "--output-dir",
                sweep.to_str().unwrap(),
                "--max-submit-rate",
                "12",
            ])
            .arg(dir.join("records.jsonl"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut cancel = Cancel(Vec::new());
    // Killed three times at different points, each time started again.
    for (round, after_ms) in [150u64, 450, 800].into_iter().enumerate() {
        let mut child = run();
        std::thread::sleep(Duration::from_millis(after_ms));
        child.kill().unwrap();
        let _ = child.wait();
        let so_far = jobs_of(&sweep);
        cancel.0.extend(so_far.iter().map(|j| j.id.clone()));
        let runnable = so_far.iter().filter(|j| j.runnable()).count();
        assert!(runnable <= 12, "round {round}: {so_far:?}");
    }
    let out = run().wait_with_output().unwrap();
    let recs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    cancel.0.extend(
        recs.iter()
            .filter_map(|r| r["job_id"].as_str().map(String::from)),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(recs.len(), 12);
    one_runnable_job_each(&sweep, &recs);
    let submitted_now = recs
        .iter()
        .filter(|r| s(r, "submit_status") == "submitted")
        .count();
    let kept = recs
        .iter()
        .filter(|r| s(r, "submit_status") == "already_submitted")
        .count();
    assert_eq!(submitted_now + kept, 12);
    assert!(kept > 0, "the killed runs had submitted some");
}

#[test]
fn reconcile_finds_the_jobs_of_a_killed_run_with_or_without_sglang_values() {
    // Issue 10, item 7: a sweep without SGLang values had no sweep_dir after sweep-render;
    // after a kill -9 of sweep-submit, --reconcile said "nothing to look for" and exited 0.
    let name = "reconcile_finds_the_jobs_of_a_killed_run_with_or_without_sglang_values";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_reconcile");
    std::fs::write(
        dir.join("rendered.yaml"),
        "slurm:\n  agg_nodes: [36, 40, 44]\n  agg_workers: [1]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("expanded.yaml"),
        "slurm:\n  agg_nodes: [48, 52, 56]\n  agg_workers: [1]\n",
    )
    .unwrap();
    let mut cancel = Cancel(Vec::new());
    for (case, render) in [("rendered", true), ("expanded", false)] {
        let records = format!("{case}.jsonl");
        let make = match render {
            true => format!("sweep-expand {case}.yaml | sweep-render --out-dir {case} > {records}"),
            false => format!("sweep-expand {case}.yaml > {records}"),
        };
        let out = sh(&make, &dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Killed (SIGKILL) after its first job, while its second sbatch is in flight: a
        // site wrapper lets the first call through and holds the second until the kill, so
        // exactly one job exists however loaded the machine is (a timed kill let two through
        // under load).
        let wrapper = dir.join(format!("{case}_sbatch"));
        let second = dir.join(format!("{case}_second"));
        crate::common::executable(
            &wrapper,
            &format!(
                "#!/bin/bash\nn=$(( $(cat {c} 2>/dev/null || echo 0) + 1 )); echo $n > {c}\n\
                 if [ $n -ge 2 ]; then echo $$ > {s}; exec sleep 120; fi\nexec sbatch \"$@\"\n",
                c = dir.join(format!("{case}_calls")).display(),
                s = second.display()
            ),
        );
        let mut child = Command::new(crate::common::bin("sweep-submit"))
            .args(REQUIRED)
            .args([
                "--output-dir",
                dir.join(case).to_str().unwrap(),
                "--sbatch",
                wrapper.to_str().unwrap(),
            ])
            .arg(dir.join(&records))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let held = eventually(Duration::from_secs(60), Duration::from_millis(50), || {
            let pid = std::fs::read_to_string(&second).unwrap_or_default();
            Some(pid.trim().to_string())
                .filter(|p| !p.is_empty())
                .ok_or("the second sbatch has not started".to_string())
        });
        child.kill().unwrap();
        let _ = child.wait();
        // The held second call, in its own process group: ended too.
        let _ = Command::new("kill").arg(&held).status();
        let jobs = jobs_of(&dir.join(case));
        cancel.0.extend(jobs.iter().map(|j| j.id.clone()));
        assert_eq!(jobs.len(), 1, "{case}: {jobs:?}");
        // Records straight from sweep-expand name no sweep: say which one sweep-submit used.
        let out = sh(
            &format!("sweep-collect --reconcile --sweep-dir {case} --jsonl {records} > {case}.reconciled"),
            &dir,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("reconciled 1 job(s)"), "{case}: {err}");
        let found: Vec<Value> = json_lines(&dir.join(format!("{case}.reconciled")))
            .into_iter()
            .filter(|r| r.get("job_id").is_some())
            .collect();
        assert_eq!(found.len(), 1, "{case}");
        assert_eq!(s(&found[0], "job_id"), jobs[0].id);
        assert_eq!(
            s(&found[0], "job_name"),
            jobs[0].name,
            "{case}: the job name is filled in"
        );
        assert_eq!(found[0]["reconciled"], true);
    }
    // Without it, they are not guessed at: a warning says what to pass.
    let out = sh(
        "sweep-collect --reconcile --jsonl expanded.jsonl > guessed.jsonl",
        &dir,
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --sweep-dir DIR"));
    assert!(json_lines(&dir.join("guessed.jsonl"))
        .iter()
        .all(|r| r.get("job_id").is_none()));
}

/// The daily-loop recipes as the README shows them (between its recipe markers).
fn readme_recipes() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("<!-- recipes:start -->").unwrap();
    let end = readme.find("<!-- recipes:end -->").unwrap();
    let block = &readme[start..end];
    let code = block.split("```bash\n").nth(1).unwrap();
    code.split("```").next().unwrap().to_string()
}

/// The recipes' parts: the head (`set -o pipefail`, `S=`, `M=`), then each command under its
/// comment, keyed by the comment's first word.
fn recipe_parts(recipes: &str) -> (String, BTreeMap<String, String>) {
    let mut head = String::new();
    let mut parts: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for l in recipes.lines() {
        if let Some(comment) = l.strip_prefix("# ") {
            if !l.starts_with("#  ") && current.as_ref().is_none_or(|c| parts[c].contains('\n')) {
                let word = comment.split_whitespace().next().unwrap();
                let key = word.trim_end_matches([':', '.', ',']).to_string();
                parts.insert(key.clone(), String::new());
                current = Some(key);
            }
            continue;
        }
        match &current {
            None => {
                head.push_str(l);
                head.push('\n');
            }
            Some(key) => {
                let part = parts.get_mut(key).unwrap();
                part.push_str(l);
                part.push('\n');
            }
        }
    }
    (head, parts)
}

#[test]
fn the_daily_loop_recipes_are_the_same_in_the_readme_and_in_help_and_they_work() {
    let name = "the_daily_loop_recipes_are_the_same_in_the_readme_and_in_help_and_they_work";
    let recipes = readme_recipes();
    let help = crate::common::run("sweep-submit", &["--help"], "");
    let help = crate::common::stdout(&help);
    let shown: String = help
        .split("The daily loop:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l).to_string() + "\n")
        .collect();
    assert_eq!(shown, recipes, "sweep-submit --help and the README differ");
    let (head, parts) = recipe_parts(&recipes);
    let keys: Vec<&str> = parts.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Cancel",
            "Failures",
            "One",
            "Plan",
            "Re-submit",
            "Run",
            "Running",
            "Status"
        ],
        "every daily task has its command: {parts:?}"
    );
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_recipes");
    // Index 0 fails the first time it runs (BASH_ENV runs before the job script), with a
    // message on the job's stderr, then works.
    std::fs::write(
        dir.join("fail_once.sh"),
        format!(
            "case \"$SLURM_JOB_NAME\" in *sweep0) mkdir {}/failed 2>/dev/null && {{ echo 'stand-in failure: CUDA out of memory' >&2; exit 3; }};; esac\n",
            dir.display()
        ),
    )
    .unwrap();
    let sweep = |nodes: &str, values: &str| {
        format!("slurm:\n  agg_nodes: {nodes}\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: {values}\n")
    };
    std::fs::write(dir.join("sweep.yaml"), sweep("[1]", "[0.8, 0.9]")).unwrap();
    // The recipes with this cluster's options in S, each part run as written.
    let options = format!(
        "S=({} --time-limit 00:05:00 --sbatch-arg=--export=ALL,BASH_ENV={}/fail_once.sh)\n",
        REQUIRED.join(" "),
        dir.display()
    );
    let head: String = head
        .lines()
        .filter(|l| !l.starts_with("S=") && !l.starts_with("   --"))
        .map(|l| match l.starts_with("M=") {
            true => format!("{options}{l}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    let wait = "sweep-collect --wait --poll-interval 0.5 \"$M\" > /dev/null || true\n";
    let step = |script: &str| {
        let out = sh(&format!("{head}{script}"), &dir);
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let manifest = || -> Vec<Value> {
        let m: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("sweeps/tpt/sweep_manifest.json")).unwrap(),
        )
        .unwrap();
        m["jobs"].as_array().unwrap().clone()
    };
    let mut cancel = Cancel(Vec::new());
    let note_jobs = |jobs: &[Value], cancel: &mut Cancel| {
        cancel.0.extend(
            jobs.iter()
                .filter_map(|j| j["job_id"].as_str())
                .map(String::from),
        );
    };
    // Plan: a fresh sweep, every combination new; sweep-submit writes nothing.
    let out = step(&parts["Plan"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "INDEX  PLAN  mem-fraction-static\n    \
             0  new                   0.8\n    \
             1  new                   0.9\n\
         2 new, 0 re-run, 0 kept\n"
    );
    assert!(!dir.join("sweeps/tpt/.sweep/submissions.jsonl").exists());
    assert!(!dir.join("sweeps/tpt/.sweep/submit.lock").exists());
    step(&format!("{}{wait}", parts["Run"]));
    let jobs = manifest();
    note_jobs(&jobs, &mut cancel);
    let states: Vec<&str> = jobs.iter().map(|j| s(j, "state")).collect();
    assert_eq!(states, ["FAILED", "COMPLETED"]);
    let failed = s(&jobs[0], "job_id").to_string();
    // Status: the manifest (on this pipe) with each failure's cause, and M updated.
    let out = step(&parts["Status"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("sweep-collect: updated sweeps/tpt/sweep_manifest.json"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(dir.join("sweeps/tpt/sweep_manifest.json")).unwrap()
    );
    // Failures and why: only the failed one, with the job's own stderr's last line (no step
    // failed: the job failed before its script ran); the manifest keeps both.
    let out = step(&parts["Failures"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<Value> = shown["jobs"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["job_id"], failed.as_str());
    assert_eq!(
        lines[0]["failure"]["message"],
        "stand-in failure: CUDA out of memory"
    );
    assert_eq!(manifest().len(), 2);
    // Running ones: none by now.
    let out = step(&parts["Running"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["total_jobs"], 0, "{shown}");
    // One job: the failed one, by its ID.
    let out = step(&parts["One"].replace("1139", &failed));
    let one: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(one["failure"], lines[0]["failure"]);
    // Re-submit the failures: only index 0, with the sweep's options.
    step(&format!("{}{wait}", parts["Re-submit"]));
    let jobs = manifest();
    note_jobs(&jobs, &mut cancel);
    assert_eq!(jobs[0]["state"], "COMPLETED");
    assert_eq!(jobs[0]["history"][0]["state"], "FAILED");
    assert_eq!(jobs[0]["job_name"], "sweep_job_sweep0");
    assert!(jobs[0].get("failure").is_none(), "{}", jobs[0]);
    assert!(jobs[1].get("history").is_none(), "index 1 was left alone");
    // One job: an earlier one, in history.
    let out = step(&parts["One"].replace("1139", &failed));
    let one: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(one["submission"], "earlier submission (history[0])");
    assert_eq!(
        one["failure"]["message"],
        "stand-in failure: CUDA out of memory"
    );
    // The same line again: nothing to do.
    let before: Vec<Value> = jobs.iter().map(|j| j["job_id"].clone()).collect();
    step(&parts["Run"]);
    let after: Vec<Value> = manifest().iter().map(|j| j["job_id"].clone()).collect();
    assert_eq!(before, after);
    // Extend: one more value; only the new combination is submitted.
    std::fs::write(dir.join("sweep.yaml"), sweep("[1]", "[0.8, 0.85, 0.9]")).unwrap();
    step(&format!("{}{wait}", parts["Run"]));
    let jobs = manifest();
    note_jobs(&jobs, &mut cancel);
    assert_eq!(jobs.len(), 3);
    let now: Vec<Value> = jobs.iter().map(|j| j["job_id"].clone()).collect();
    assert_eq!(&now[..2], &before[..]);
    assert_eq!(jobs[2]["index"], 2);
    assert_eq!(jobs[2]["state"], "COMPLETED");
    // Extend with jobs that pend (36 nodes), then cancel the sweep: those three are
    // cancelled, the completed ones stay as they were.
    std::fs::write(dir.join("sweep.yaml"), sweep("[1, 36]", "[0.8, 0.85, 0.9]")).unwrap();
    step(&parts["Run"]);
    let jobs = manifest();
    note_jobs(&jobs, &mut cancel);
    assert_eq!(jobs.len(), 6);
    let out = step(&parts["Cancel"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("sweep-collect: cancelling 3 job(s) of 6 combination(s): "),
        "{err}"
    );
    let states: Vec<String> = manifest()
        .iter()
        .map(|j| s(j, "state").to_string())
        .collect();
    assert_eq!(
        states,
        [
            "COMPLETED",
            "COMPLETED",
            "COMPLETED",
            "CANCELLED",
            "CANCELLED",
            "CANCELLED"
        ]
    );
}

#[test]
fn two_runs_into_one_sweep_at_once_submit_each_combination_once() {
    // The same pipeline started twice by mistake: the second sweep-submit waits for the first
    // (one at a time per sweep directory), then finds every combination submitted.
    let name = "two_runs_into_one_sweep_at_once_submit_each_combination_once";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("never_twice_two_runs");
    std::fs::write(dir.join("records.jsonl"), pending_records("tw0", 10)).unwrap();
    let submit = format!(
        "sweep-submit {} --output-dir sweep --max-submit-rate 2 records.jsonl",
        REQUIRED.join(" ")
    );
    let out = sh(
        &format!("{submit} > a.jsonl 2> a.err & {submit} > b.jsonl 2> b.err; wait"),
        &dir,
    );
    let (a, b) = (
        json_lines(&dir.join("a.jsonl")),
        json_lines(&dir.join("b.jsonl")),
    );
    let sweep = dir.join("sweep");
    let jobs = jobs_of(&sweep);
    let _cancel = Cancel(jobs.iter().map(|j| j.id.clone()).collect());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!((a.len(), b.len()), (10, 10));
    // One run submitted everything; the other waited and passed every record through.
    let count = |recs: &[Value], status: &str| {
        recs.iter()
            .filter(|r| s(r, "submit_status") == status)
            .count()
    };
    let (first, second) = if count(&a, "submitted") == 10 {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(count(first, "submitted"), 10);
    assert_eq!(count(second, "already_submitted"), 10);
    for (x, y) in first.iter().zip(second.iter()) {
        assert_eq!(x["job_id"], y["job_id"]);
    }
    one_runnable_job_each(&sweep, first);
    assert_eq!(jobs.len(), 10, "{jobs:?}");
    let waited = std::fs::read_to_string(dir.join("a.err")).unwrap()
        + &std::fs::read_to_string(dir.join("b.err")).unwrap();
    assert!(waited.contains("waiting for sweep-submit"), "{waited}");
}
