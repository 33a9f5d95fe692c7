//! sweep-submit against the real local cluster (`scripts/local-slurm start`): what Slurm holds
//! is read back from Slurm (`squeue`), never from our own output. Every test cancels the jobs
//! it created (a guard runs `scancel` on them even when an assertion fails).

use crate::common::{bin, eventually, on_slurm, stderr, temp_dir, Cancel};
use crate::submit::{data, records, submit, submit_with, REQUIRED};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every job ID a record names (its job and its follow-ups).
fn job_ids(recs: &[Value]) -> Vec<String> {
    let mut ids = Vec::new();
    for r in recs {
        if let Some(id) = r["job_id"].as_str() {
            ids.push(id.to_string());
        }
        for id in r["retry_job_ids"].as_array().into_iter().flatten() {
            ids.push(id.as_str().unwrap().to_string());
        }
    }
    ids
}

/// `squeue -h -t all -o FORMAT` for `ids`, as id -> fields (split on '|').
fn squeue(ids: &[String], format: &str) -> BTreeMap<String, Vec<String>> {
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "-j", &ids.join(","), "-o"])
        .arg(format!("%i|{format}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "squeue: {}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split('|').map(str::to_string).collect();
            let id = f.remove(0);
            (id, f)
        })
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn a_seed_scaling_sweep_is_pending_with_what_was_asked() {
    let Some(_lock) = on_slurm("a_seed_scaling_sweep_is_pending_with_what_was_asked") else {
        return;
    };
    let dir = temp_dir("submit_slurm_scaling");
    let sw = dir.join("sweep").display().to_string();
    let out = submit(
        &[
            "--output-dir",
            &sw,
            "--job-name",
            "scaling",
            "--time-limit",
            "01:30:00",
        ],
        &data("scaling.jsonl"),
        &[],
    );
    let recs = records(&out);
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(stderr(&out), "sweep-submit: 4 new, 0 re-run, 0 kept\n");
    assert_eq!(out.status.code(), Some(0));
    let held = squeue(&job_ids(&recs), "%D|%j|%a|%P|%l|%k|%T");
    for (r, nodes) in recs.iter().zip(["6", "12", "18", "36"]) {
        let f = &held[s(r, "job_id")];
        let name = format!("scaling_sweep{}", r["index"]);
        assert_eq!(
            f,
            &[
                nodes,
                &name,
                "sweepacct",
                "batch",
                "1:30:00",
                s(r, "tag"),
                "PENDING"
            ],
            "{r}"
        );
    }
}

#[test]
fn a_rejected_record_has_slurms_message_and_the_others_are_submitted() {
    let Some(_lock) = on_slurm("a_rejected_record_has_slurms_message_and_the_others_are_submitted")
    else {
        return;
    };
    let dir = temp_dir("submit_slurm_rejected");
    let sw = dir.join("sweep").display().to_string();
    // 8 nodes pend (4 are real); 100 nodes is more than the cluster has.
    let input: String = data("three.jsonl")
        .lines()
        .zip(["8", "100", "8"])
        .map(|(l, n)| {
            l.replace("\"total_nodes\":1", &format!("\"total_nodes\":{n}"))
                .replace("\"agg_nodes\":1", &format!("\"agg_nodes\":{n}"))
                + "\n"
        })
        .collect();
    let out = submit(&["--output-dir", &sw], &input, &[]);
    let recs = records(&out);
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(1));
    let statuses: Vec<&str> = recs.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["submitted", "failed", "submitted"]);
    let msg = "sbatch: error: Batch job submission failed: Node count specification invalid";
    assert_eq!(s(&recs[1], "submit_error"), msg);
    assert!(recs[1].get("job_id").is_none());
    assert_eq!(
        crate::common::without_summary(&stderr(&out)),
        format!("sweep-submit: 1 of 3 records not submitted; first: <stdin>:2: {msg}\n")
    );
    let held = squeue(&job_ids(&recs), "%D|%k");
    assert_eq!(held.len(), 2);
    assert_eq!(held[s(&recs[2], "job_id")], ["8", s(&recs[2], "tag")]);

    // A partition Slurm does not know: every record fails, with Slurm's words (a sweep of its
    // own: in the first one, two combinations have their jobs already).
    let required = REQUIRED.map(|a| if a == "batch" { "nosuch" } else { a });
    let sw2 = format!("{sw}2");
    let out = submit_with(&required, &["--output-dir", &sw2], &input, &[]);
    let recs = records(&out);
    let _cancel2 = Cancel(job_ids(&recs));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(s(r, "submit_status"), "failed");
        assert!(
            s(r, "submit_error").ends_with(
                "sbatch: error: Batch job submission failed: Invalid partition name specified"
            ),
            "{r}"
        );
    }
}

#[test]
fn an_unreachable_controller_ends_in_bounded_time_with_every_record_accounted_for() {
    let name = "an_unreachable_controller_ends_in_bounded_time_with_every_record_accounted_for";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    // A private copy of slurm.conf whose controller port nobody listens on: the real sbatch
    // cannot reach slurmctld, and the shared cluster is left alone.
    let dir = temp_dir("submit_slurm_unreachable");
    let conf = std::env::var("SLURM_CONF").unwrap_or("/etc/slurm/slurm.conf".into());
    let text = std::fs::read_to_string(&conf).unwrap();
    let dead: String = text
        .lines()
        .map(|l| {
            if l.starts_with("SlurmctldPort=") {
                "SlurmctldPort=9".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dead_conf = dir.join("slurm.conf");
    std::fs::write(&dead_conf, dead + "\n").unwrap();
    let sw = dir.join("sweep").display().to_string();
    let t0 = Instant::now();
    let out = submit(
        &[
            "--output-dir",
            &sw,
            "--submit-attempts",
            "2",
            "--retry-backoff",
            "0.1",
        ],
        &data("three.jsonl"),
        &[("SLURM_CONF", dead_conf.to_str().unwrap())],
    );
    let took = t0.elapsed();
    let recs = records(&out);
    let _cancel = Cancel(job_ids(&recs));
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert_eq!(out.status.code(), Some(1));
    let msg =
        "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)";
    assert_eq!(
        crate::common::without_summary(&stderr(&out)),
        format!("sweep-submit: 3 of 3 records not submitted; first: <stdin>:1: {msg}\n")
    );
    let statuses: Vec<&str> = recs.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["failed", "not_submitted", "not_submitted"]);
    assert_eq!(s(&recs[0], "submit_error"), msg);
    assert!(recs.iter().all(|r| r.get("job_id").is_none()));
}

#[test]
fn a_run_killed_mid_sweep_leaves_every_job_findable_by_its_tag() {
    let Some(_lock) = on_slurm("a_run_killed_mid_sweep_leaves_every_job_findable_by_its_tag")
    else {
        return;
    };
    let dir = temp_dir("submit_slurm_killed");
    // A sweep directory (so a tag) of its own per run: jobs of earlier runs of this test stay
    // in squeue for MinJobAge after they were cancelled.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let sw = dir.join(format!("sweep_{stamp}")).display().to_string();
    let line = data("scaling.jsonl").lines().nth(3).unwrap().to_string(); // 36 nodes: pends
    let input: String = (0..20)
        .map(|i| {
            line.replace("\"index\":3", &format!("\"index\":{i}"))
                .replace("5ca1e00000000003", &format!("5ca1e000000001{i:02}"))
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("in.jsonl"), &input).unwrap();
    let outfile = std::fs::File::create(dir.join("out.jsonl")).unwrap();
    let mut child = Command::new(bin("sweep-submit"))
        .args(REQUIRED)
        .args(["--output-dir", &sw, "--max-submit-rate", "5"])
        .arg(dir.join("in.jsonl"))
        .stdout(outfile)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    // An sbatch in flight (a process of its own) finishes its job after the kill: let it, so
    // that the listing below sees (and the guard cancels) every job of the sweep.
    std::thread::sleep(Duration::from_millis(700));

    let key = sweep::tag::sweep_key(&sw);
    let out = Command::new("squeue")
        .args(["--me", "-h", "-t", "all", "-o", "%i|%k"])
        .output()
        .unwrap();
    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new(); // tag -> job IDs
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let (id, tag) = l.split_once('|').unwrap();
        if tag.starts_with(&format!("sweep:{key}:")) {
            held.entry(tag.to_string())
                .or_default()
                .push(id.to_string());
        }
    }
    let _cancel = Cancel(held.values().flatten().cloned().collect());
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    let written: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        (3..20).contains(&written.len()),
        "killed after 1.5 s at 5/s: {} records written",
        written.len()
    );
    // Every record written names a job Slurm holds under the record's tag ...
    for r in &written {
        assert_eq!(held[s(r, "tag")], [s(r, "job_id")], "{r}");
    }
    // ... every job Slurm holds for the sweep is a record's (found by its tag), one job per
    // record, and at most the one in flight is missing from the output.
    for (tag, ids) in &held {
        let t = sweep::tag::parse(tag).unwrap();
        assert_eq!(t.id, format!("5ca1e000000001{:02}", t.index));
        assert_eq!(ids.len(), 1, "two jobs for {tag}: {ids:?}");
    }
    assert!(
        held.len() == written.len() || held.len() == written.len() + 1,
        "{} jobs in Slurm, {} records written",
        held.len(),
        written.len()
    );
}

/// Waits until none of `ids` is PENDING or RUNNING; returns id -> [state, reason].
fn wait_until_ended(ids: &[String]) -> BTreeMap<String, Vec<String>> {
    eventually(Duration::from_secs(120), Duration::from_millis(500), || {
        let held = squeue(ids, "%T|%r");
        let active = held
            .values()
            .any(|f| ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"].contains(&f[0].as_str()));
        match !active && held.len() == ids.len() {
            true => Ok(held),
            false => Err(format!("jobs still active: {held:?}")),
        }
    })
}

#[test]
fn retries_run_only_after_a_failure_and_never_pend_forever() {
    let Some(_lock) = on_slurm("retries_run_only_after_a_failure_and_never_pend_forever") else {
        return;
    };
    let dir = temp_dir("submit_slurm_retries");
    // BASH_ENV is read by the job's bash before the script: the first job of this test that
    // starts fails with exit 3, every later one runs the script normally.
    let fail_once = dir.join("fail_once.sh");
    std::fs::write(
        &fail_once,
        format!(
            "if mkdir {}/failed 2>/dev/null; then exit 3; fi\n",
            dir.display()
        ),
    )
    .unwrap();
    let input = data("three.jsonl");
    let first = input.lines().next().unwrap();
    let export = format!("--sbatch-arg=--export=ALL,BASH_ENV={}", fail_once.display());
    let (sw_fail, sw_ok) = (
        dir.join("fails").display().to_string(),
        dir.join("succeeds").display().to_string(),
    );

    // The first run fails: the first follow-up runs (and succeeds); the second is cancelled.
    let out = submit(
        &["--output-dir", &sw_fail, "--retries", "2", &export],
        &format!("{first}\n"),
        &[],
    );
    let recs = records(&out);
    let ids = job_ids(&recs);
    let _cancel = Cancel(ids.clone());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids.len(), 3);
    let ended = wait_until_ended(&ids);
    assert_eq!(ended[&ids[0]][0], "FAILED");
    assert_eq!(ended[&ids[1]][0], "COMPLETED");
    assert_eq!(ended[&ids[2]], ["CANCELLED", "DependencyNeverSatisfied"]);

    // The first run succeeds: both follow-ups end (cancelled by Slurm), none pends.
    let out = submit(
        &["--output-dir", &sw_ok, "--retries", "2", &export],
        &format!("{first}\n"),
        &[],
    );
    let recs = records(&out);
    let ids = job_ids(&recs);
    let _cancel2 = Cancel(ids.clone());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ended = wait_until_ended(&ids);
    assert_eq!(ended[&ids[0]][0], "COMPLETED");
    for id in &ids[1..] {
        assert_eq!(ended[id], ["CANCELLED", "DependencyNeverSatisfied"]);
    }
    let tags = squeue(&ids, "%k");
    assert!(
        tags.values().all(|t| t[0] == s(&recs[0], "tag")),
        "{tags:?}"
    );
    assert!(Path::new(&sw_ok).join("job_0.sh").is_file());
}

#[test]
fn a_job_created_before_sbatch_timed_out_is_found_by_its_tag_in_the_real_squeue() {
    let name = "a_job_created_before_sbatch_timed_out_is_found_by_its_tag_in_the_real_squeue";
    let Some(_lock) = on_slurm(name) else {
        return;
    };
    let dir = temp_dir("submit_slurm_created_then_hung");
    // A site wrapper around the real sbatch that submits, then hangs (its stdout is lost).
    let wrapper = dir.join("sbatch");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nsbatch \"$@\" >> {}/real_ids\nsleep 60\n",
            dir.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let sw = dir.join("sweep").display().to_string();
    let line = data("scaling.jsonl").lines().nth(3).unwrap().to_string(); // 36 nodes: pends
    let out = submit(
        &[
            "--output-dir",
            &sw,
            "--sbatch",
            wrapper.to_str().unwrap(),
            "--sbatch-timeout",
            "2",
            "--retry-backoff",
            "0.1",
        ],
        &format!("{line}\n"),
        &[],
    );
    let real: Vec<String> = std::fs::read_to_string(dir.join("real_ids"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let _cancel = Cancel(real.clone());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(real.len(), 1, "sbatch ran more than once: {real:?}");
    let recs = records(&out);
    assert_eq!(s(&recs[0], "job_id"), real[0]);
    assert_eq!(squeue(&real, "%k")[&real[0]], [s(&recs[0], "tag")]);
}

#[test]
fn sweep_config_submits_the_seeds_scaling_study_in_one_command() {
    let Some(_lock) = on_slurm("sweep_config_submits_the_seeds_scaling_study_in_one_command")
    else {
        return;
    };
    let dir = temp_dir("submit_slurm_sweep_config");
    let sw = dir.join("sweep").display().to_string();
    let sweep_file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/scaling-study.yaml");
    let out = submit(
        &[
            "--sweep-config",
            sweep_file,
            "--output-dir",
            &sw,
            "--job-name",
            "scal1",
        ],
        "",
        &[],
    );
    let recs = records(&out);
    let _cancel = Cancel(job_ids(&recs));
    assert_eq!(
        stderr(&out),
        format!("sweep-submit: sweep directory: {sw}\nsweep-submit: manifest: {sw}/sweep_manifest.json\nsweep-submit: 4 new, 0 re-run, 0 kept\n")
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(recs.len(), 4);
    let held = squeue(&job_ids(&recs), "%D|%j|%k|%T");
    for (r, nodes) in recs.iter().zip(["9", "18", "36", "54"]) {
        assert_eq!(r["total_nodes"].to_string(), nodes);
        let name = format!("scal1_sweep{}", r["index"]);
        assert_eq!(
            held[s(r, "job_id")],
            [nodes, &name, s(r, "tag"), "PENDING"],
            "{r}"
        );
        let config = s(r, "config_path");
        assert!(
            config.starts_with(&sw) && Path::new(config).is_file(),
            "{r}"
        );
    }
    assert!(Path::new(&sw).join("records.jsonl").is_file());
}
