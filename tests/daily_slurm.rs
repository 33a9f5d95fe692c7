//! The daily tasks (issue 13) on the local cluster: a job whose stand-in engine fails with a
//! recognisable message on stderr shows that message as its cause, end to end; a node
//! without the asked network interface says which it has; one job by ID; cancelling two
//! sweeps' worth of jobs out of three, and a jq-filtered subset, touches only those; the
//! seed's one command writes the manifest, with a progress bar on a terminal and progress
//! lines in a log. What Slurm holds is read back from Slurm.

use crate::common::{fresh_dir, on_slurm, read_json, sh, stderr, stdout, Cancel};
use crate::daily::{plain, shell_quote};
use crate::submit::REQUIRED;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Job ID -> state, as squeue lists the user's jobs now.
fn squeue_states() -> std::collections::BTreeMap<String, String> {
    let out = Command::new("squeue")
        .args(["--me", "-h", "-t", "all", "-o", "%i|%T"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .collect()
}

/// Issue 13, items 1, 2, 5 and 6 (the interface): the cause of each failure, from the job's
/// own files, in the manifest that `sweep-collect --status M` updates, in the table, and for
/// one job by ID.
#[test]
fn a_failed_jobs_cause_from_its_stderr_end_to_end() {
    let name = "a_failed_jobs_cause_from_its_stderr_end_to_end";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("daily_slurm_cause");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85, 0.9]\n",
    )
    .unwrap();
    // Index 0: its stand-in engine fails with CUDA out of memory on stderr; index 1 runs;
    // index 2 asks for a network interface the nodes do not have.
    let req: Vec<&str> = REQUIRED
        .chunks(2)
        .filter(|kv| kv[0] != "--network-interface")
        .flatten()
        .copied()
        .collect();
    let script = format!(
        r#"
R=({req} --time-limit 00:05:00)
sweep-expand s.yaml | sweep-render --out-dir sw > rendered.jsonl
sed -n 1p rendered.jsonl | SWEEP_DEMO_FAIL=aggregated_w0_r0 sweep-submit "${{R[@]}}" --network-interface lo > submitted.jsonl
sed -n 2p rendered.jsonl | sweep-submit "${{R[@]}}" --network-interface lo >> submitted.jsonl
sed -n 3p rendered.jsonl | sweep-submit "${{R[@]}}" --network-interface nosuch0 >> submitted.jsonl
sweep-collect submitted.jsonl --output m.json
cp m.json before.json
sweep-collect --wait --poll-interval 0.5 --jsonl submitted.jsonl > /dev/null || true
sweep-collect --status m.json > status.json 2> status.err
COLUMNS=250 sweep-collect --format table m.json > table.txt
"#,
        req = req.join(" ")
    );
    let out = sh(&script, &dir);
    let mut cancel = Cancel(Vec::new());
    let submitted = std::fs::read_to_string(dir.join("submitted.jsonl")).unwrap_or_default();
    let ids: Vec<String> = submitted
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["job_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    cancel.0.extend(ids.iter().cloned());
    assert!(out.status.success(), "{}", stderr(&out));
    // Item 1: one manifest and --status: updated in place, said once; stdout has it too.
    assert_eq!(
        std::fs::read_to_string(dir.join("status.err")).unwrap(),
        "sweep-collect: updated m.json\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("status.json")).unwrap(),
        std::fs::read_to_string(dir.join("m.json")).unwrap()
    );
    let m = read_json(&dir.join("m.json"));
    let jobs = m["jobs"].as_array().unwrap();
    let states: Vec<&str> = jobs.iter().map(|j| j["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["FAILED", "COMPLETED", "FAILED"], "{m}");
    // Item 2: the failing step, its status, its stderr file and the message in it.
    let f = &jobs[0]["failure"];
    assert_eq!(f["step"], "agg_w0_r0", "{f}");
    assert_eq!(f["exit_status"], 3, "{f}");
    let log_dir = jobs[0]["log_dir"].as_str().unwrap();
    let file = f["file"].as_str().unwrap();
    assert!(Path::new(file).is_file(), "{file}");
    assert!(
        file.starts_with(&format!("{log_dir}/{}/", ids[0])) && file.ends_with("_agg_w0.err"),
        "{file}"
    );
    let message = f["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        "{message}"
    );
    assert!(jobs[1].get("failure").is_none());
    // Item 6: the interface that is not there, and the ones that are, as the cause.
    let f = &jobs[2]["failure"];
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "sweep job: no IPv4 address on interface nosuch0 (--network-interface) on node gpu-"
        ),
        "{message}"
    );
    assert!(
        message.contains("its interfaces with one: lo 127.0.0.1/8"),
        "{message}"
    );
    assert_eq!(
        f["file"].as_str().unwrap(),
        format!("{}/{}.err", jobs[2]["log_dir"].as_str().unwrap(), ids[2])
    );
    // The table: one line per combination, with the cause.
    let table = std::fs::read_to_string(dir.join("table.txt")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    // (Columns are as wide as their widest value: job IDs of a long-lived cluster are wider.)
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(lines[0]).starts_with("INDEX JOB STATE"), "{table}");
    assert!(
        lines[1].contains(" FAILED ")
            && lines[1].contains("  torch.OutOfMemoryError: CUDA out of memory")
            && lines[1].contains("(agg_w0_r0, exit 3, gpu-")
            && lines[1].ends_with("_agg_w0.err)"),
        "{table}"
    );
    assert!(lines[2].contains(" COMPLETED "), "{table}");
    assert_eq!(lines[4], "3 combinations: COMPLETED 1, FAILED 2");
    // Item 5: one job by ID, with the paths to look at.
    let out = sh(&format!("sweep-collect --job {} m.json", ids[0]), &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(j["submission"], "current");
    assert_eq!(j["failure"], jobs[0]["failure"]);
    for (key, path) in [
        ("job_dir", format!("{log_dir}/{}/", ids[0])),
        ("stdout", format!("{log_dir}/{}.out", ids[0])),
        ("stderr", format!("{log_dir}/{}.err", ids[0])),
    ] {
        assert_eq!(j[key], path);
        assert!(Path::new(&path).exists(), "{path}");
    }
    assert_eq!(j["job_script"], jobs[0]["job_script"]);
    assert_eq!(j["config_path"], jobs[0]["config_path"]);
}

/// Issue 13, item 3: `--cancel` cancels every job the inputs name (current, `--retries`
/// follow-ups, history), in batched calls, on a merged manifest of two sweeps and on a
/// jq-filtered subset piped in, and never a job of another sweep.
#[test]
fn cancel_every_job_the_inputs_name_and_only_those() {
    let name = "cancel_every_job_the_inputs_name_and_only_those";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("daily_slurm_cancel");
    // 36-node and larger jobs: they pend (4 of the 64 nodes are real), follow-ups pend on
    // them. Three sweeps, each its own combinations.
    for (s, nodes) in [("a", "[36, 40]"), ("b", "[44, 48]"), ("c", "[52, 56]")] {
        std::fs::write(
            dir.join(format!("{s}.yaml")),
            format!("slurm:\n  agg_nodes: {nodes}\n  agg_workers: [1]\n"),
        )
        .unwrap();
    }
    let script = format!(
        r#"
for s in a b c; do
  sweep-expand $s.yaml | sweep-render --out-dir $s \
    | sweep-submit {req} --retries 1 | sweep-collect --output $s.json
done
jq -r '.jobs[] | .job_id, .retry_job_ids[]' a.json b.json c.json > all_jobs
"#,
        req = REQUIRED.join(" ")
    );
    let out = sh(&script, &dir);
    let mut cancel = Cancel(Vec::new());
    for id in std::fs::read_to_string(dir.join("all_jobs"))
        .unwrap_or_default()
        .lines()
    {
        cancel.push(id.to_string());
    }
    assert!(out.status.success(), "{}", stderr(&out));
    // An earlier submission of a's index 0 that still pends, in its history (as a merged
    // manifest has it): a job with a's tag, submitted by hand.
    let a = read_json(&dir.join("a.json"));
    let tag = a["jobs"][0]["tag"].as_str().unwrap();
    let out = Command::new("sbatch")
        .args(["--parsable", "-A", "sweepacct", "-p", "batch", "-N", "36"])
        .arg(format!("--comment={tag}"))
        .args(["-o", "/dev/null", "--wrap", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let old = stdout(&out).trim().to_string();
    cancel.push(old.clone());
    let out = sh(
        &format!(
            "jq '.jobs[0].history = [{{\"job_id\": \"{old}\"}}]' a.json > a2.json \
             && sweep-collect a2.json b.json --output ab.json"
        ),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = |m: &str| -> Vec<String> {
        let out = sh(
            &format!("jq -r '.jobs[] | .job_id, .retry_job_ids[], (.history // [] | .[] | .job_id, (.retry_job_ids // [])[])' {m}"),
            &dir,
        );
        stdout(&out).lines().map(String::from).collect()
    };
    let (ab, c) = (ids("ab.json"), ids("c.json"));
    assert_eq!(ab.len(), 9, "{ab:?}");
    assert_eq!(c.len(), 4, "{c:?}");
    // An ID whose job carries another tag than the record's is not the record's job (IDs
    // restart when a cluster is rebuilt): left alone.
    let out = sh(
        "jq -c '.jobs[0] | .tag = \"sweep:other-00000000:x:0\"' c.json | sweep-collect --cancel --jsonl > /dev/null",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "sweep-collect: note: 2 job ID(s) the records name belong to other jobs in Slurm now"
        ) && err.contains("sweep-collect: nothing to cancel"),
        "{err}"
    );
    // The merged manifest of a and b: all 9 jobs in one scancel call, c's untouched.
    let scancel = which::which("scancel").unwrap();
    std::fs::write(
        dir.join("scancel"),
        format!(
            "#!/bin/sh\necho \"$*\" >> scancel.log\nexec {} \"$@\"\n",
            scancel.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("scancel"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sh(
        "sweep-collect --cancel --scancel ./scancel ab.json > cancelled.json",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("sweep-collect: cancelling 9 job(s) of 4 combination(s): "),
        "{err}"
    );
    assert!(err.ends_with("sweep-collect: updated ab.json\n"), "{err}");
    let calls = std::fs::read_to_string(dir.join("scancel.log")).unwrap();
    assert_eq!(calls.lines().count(), 1, "one batched call: {calls}");
    assert_eq!(calls.split_whitespace().count(), 9, "{calls}");
    let now = squeue_states();
    for id in &ab {
        assert_eq!(
            now.get(id).map(String::as_str),
            Some("CANCELLED"),
            "{id}: {now:?}"
        );
    }
    for id in &c {
        assert_eq!(
            now.get(id).map(String::as_str),
            Some("PENDING"),
            "{id}: {now:?}"
        );
    }
    // The manifest shows it: every state, follow-ups and history included.
    let m = read_json(&dir.join("ab.json"));
    for job in m["jobs"].as_array().unwrap() {
        assert_eq!(job["state"], "CANCELLED", "{job}");
        assert_eq!(
            job["retry_states"],
            serde_json::json!(["CANCELLED"]),
            "{job}"
        );
        let why = job["failure"]["message"].as_str().unwrap_or_default();
        assert!(why.starts_with("CANCELLED: the job was cancelled"), "{job}");
    }
    let with_history: Vec<&Value> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j.get("history").is_some())
        .collect();
    assert_eq!(with_history.len(), 1);
    assert_eq!(with_history[0]["history"][0]["job_id"], old.as_str());
    assert_eq!(with_history[0]["history"][0]["state"], "CANCELLED");
    // Again: nothing left to cancel, still exit 0.
    let out = sh("sweep-collect --cancel ab.json > /dev/null", &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("sweep-collect: nothing to cancel: none of the 9 job(s)"));
    // A jq-filtered subset piped in: c's index 1 and its follow-up, nothing else.
    let out = sh(
        "jq -c '.jobs[] | select(.index == 1)' c.json | sweep-collect --cancel --jsonl > c1.jsonl",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let c_json = read_json(&dir.join("c.json"));
    let (c0, c1) = (&c_json["jobs"][0], &c_json["jobs"][1]);
    let now = squeue_states();
    for id in [&c1["job_id"], &c1["retry_job_ids"][0]] {
        assert_eq!(now[id.as_str().unwrap()], "CANCELLED", "{now:?}");
    }
    for id in [&c0["job_id"], &c0["retry_job_ids"][0]] {
        assert_eq!(now[id.as_str().unwrap()], "PENDING", "{now:?}");
    }
    let c1_out: Value = serde_json::from_str(
        std::fs::read_to_string(dir.join("c1.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert_eq!(c1_out["state"], "CANCELLED");
}

/// Issue 13, item 4 and the progress: the seed's one command on the cluster writes
/// `sweep_manifest.json` into the sweep directory with the jobs it submitted; progress is a
/// bar on a terminal, a line per record in a log file, nothing on a pipe.
#[test]
fn the_seeds_one_command_writes_the_manifest_with_progress_where_it_belongs() {
    let name = "the_seeds_one_command_writes_the_manifest_with_progress_where_it_belongs";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("daily_slurm_one_command");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [36]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85]\n",
    )
    .unwrap();
    let req = REQUIRED.join(" ");
    // stdout a pipe, stderr a log file.
    let out = sh(
        &format!(
            "sweep-submit --sweep-config s.yaml --output-dir one {req} > recs.jsonl 2> submit.log"
        ),
        &dir,
    );
    let recs = std::fs::read_to_string(dir.join("recs.jsonl")).unwrap_or_default();
    let ids: Vec<String> = recs
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["job_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut cancel = Cancel(ids.clone());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids.len(), 2);
    let sweep = dir.join("one");
    let log = std::fs::read_to_string(dir.join("submit.log")).unwrap();
    assert_eq!(
        log,
        format!(
            "sweep-submit: sweep directory: {0}\n\
             sweep-submit: [1/2] submitted sweep_job_sweep0 -> {1}\n\
             sweep-submit: [2/2] submitted sweep_job_sweep1 -> {2}\n\
             sweep-submit: manifest: {0}/sweep_manifest.json\n\
             sweep-submit: 2 new, 0 re-run, 0 kept\n",
            sweep.display(),
            ids[0],
            ids[1]
        )
    );
    let m = read_json(&sweep.join("sweep_manifest.json"));
    let in_manifest: Vec<&str> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(in_manifest, ids);
    // stderr a pipe: nothing but what matters (here: where things are).
    let out = sh(
        &format!("sweep-submit --sweep-config s.yaml --output-dir two {req} > recs2.jsonl"),
        &dir,
    );
    let recs2 = std::fs::read_to_string(dir.join("recs2.jsonl")).unwrap_or_default();
    for l in recs2.lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        cancel.push(r["job_id"].as_str().unwrap().to_string());
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("[1/2]"), "{}", stderr(&out));
    // A terminal (script's pseudo-terminal): a bar while submitting, then the table with
    // the jobs' states; no JSON lines.
    let inner = format!("sweep-submit --sweep-config s.yaml --output-dir three {req}");
    let out = sh(
        &format!("script -qec {} /dev/null < /dev/null", shell_quote(&inner)),
        &dir,
    );
    let three = read_json(&dir.join("three/sweep_manifest.json"));
    for j in three["jobs"].as_array().unwrap() {
        cancel.push(j["job_id"].as_str().unwrap().to_string());
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let text = plain(&stdout(&out));
    assert!(text.contains("submitting ["), "a progress bar: {text}");
    assert!(!text.contains("{\"index\""), "no JSON lines: {text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(3).eq(["INDEX", "JOB", "STATE"])),
        "{text}"
    );
    assert!(text.contains("2 combinations: PENDING 2"), "{text}");
}

/// The user this test runs as (who cancels its jobs).
fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Issue 23, item 2: for a job Slurm ended, Slurm's verdict comes first (the time limit,
/// who cancelled and when), then the last line the job left, naming its file; a cancelled
/// job's pending reason is never shown as why it ended. Real jobs on the local cluster: one
/// reaches its one-minute time limit while its engine loads, one is cancelled while it runs,
/// one while it pends. At 80 columns the table keeps every cause whole.
#[test]
fn slurms_verdict_first_then_the_last_line_for_each_way_a_job_ends() {
    let name = "slurms_verdict_first_then_the_last_line_for_each_way_a_job_ends";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("daily_slurm_verdicts");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1, 36]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85]\n",
    )
    .unwrap();
    // Index 0 (1 node) times out; index 1 (1 node) is cancelled while its engine loads;
    // index 2 (36 nodes: pends) is cancelled while it pends; index 3 is not submitted.
    let script = format!(
        r#"
R=({req})
sweep-expand s.yaml | sweep-render --out-dir sw > rendered.jsonl
export SWEEP_DEMO_HANG=aggregated_w0_r0
sed -n 1p rendered.jsonl | sweep-submit "${{R[@]}}" --time-limit 00:01:00 > submitted.jsonl
sed -n 2,3p rendered.jsonl | sweep-submit "${{R[@]}}" --time-limit 00:05:00 >> submitted.jsonl
sweep-collect submitted.jsonl --output m.json
"#,
        req = REQUIRED.join(" ")
    );
    let out = sh(&script, &dir);
    let recs = crate::common::json_lines(&dir.join("submitted.jsonl"));
    let ids: Vec<String> = recs
        .iter()
        .map(|r| r["job_id"].as_str().unwrap().to_string())
        .collect();
    let _cancel = Cancel(ids.clone());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids.len(), 3);
    // Index 1 runs and has written its loading line: cancel it, and index 2 that pends.
    let step_err = |r: &Value, id: &str| {
        let dir = Path::new(r["log_dir"].as_str().unwrap()).join(id);
        std::fs::read_dir(&dir)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "err"))
    };
    crate::common::eventually(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(200),
        || {
            let f = step_err(&recs[1], &ids[1]).ok_or("no step file yet")?;
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            match text.contains("Loading") {
                true => Ok(()),
                false => Err(format!("{}: {text:?}", f.display())),
            }
        },
    );
    let out = Command::new("scancel")
        .args([&ids[1], &ids[2]])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The timeout: Slurm looks at time limits every 30 s or so.
    let out = sh(
        "sweep-collect --wait --poll-interval 1 --max-interval 5 --timeout 240 m.json > /dev/null || true",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Accounting may learn the cancelled job's run time after the read that saw it end, and
    // sometimes never does (its start recorded at its end: Elapsed 00:00:00 for a job that ran
    // seconds). The cause says what accounting says, read afresh when Slurm says more.
    let said = crate::common::eventually(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(500),
        || {
            let out = sh("sweep-collect --status m.json --output m.json", &dir);
            assert!(out.status.success(), "{}", stderr(&out));
            let m = read_json(&dir.join("m.json"));
            let message = m["jobs"][1]["failure"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let acct = Command::new("sacct")
                .args(["-n", "-X", "-P", "-o", "Elapsed", "-j", &ids[1]])
                .output()
                .unwrap();
            let elapsed = String::from_utf8_lossy(&acct.stdout).trim().to_string();
            let agrees = match elapsed.as_str() {
                "" => false,
                "00:00:00" => !message.contains("after running"),
                e => message.contains(&format!(", after running {e};")),
            };
            agrees
                .then_some(elapsed.clone())
                .ok_or(format!("sacct {elapsed:?}: {message}"))
        },
    );
    let m = read_json(&dir.join("m.json"));
    let jobs = m["jobs"].as_array().unwrap();
    let states: Vec<&str> = jobs.iter().map(|j| j["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["TIMEOUT", "CANCELLED", "CANCELLED"], "{m}");
    let loading = "; last line: Loading safetensors checkpoint shards:  40% (2/5) (stand-in hang of aggregated_w0_r0 on gpu-";
    // TIMEOUT: the limit and when, then the engine's line (not slurmstepd's notice).
    let f = &jobs[0]["failure"];
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with("TIMEOUT: the job reached its time limit of 00:01:00 at 20"),
        "{f}"
    );
    assert!(message.contains(loading), "{f}");
    assert!(!message.contains("***"), "{f}");
    let file = f["file"].as_str().unwrap();
    assert_eq!(
        Some(Path::new(file)),
        step_err(&jobs[0], &ids[0]).as_deref(),
        "{f}"
    );
    assert_eq!(jobs[0]["time_limit"], "00:01:00");
    // CANCELLED while running: by whom and when, then the engine's line.
    let f = &jobs[1]["failure"];
    let message = f["message"].as_str().unwrap();
    let by = format!("CANCELLED: the job was cancelled by {} at 20", me());
    assert!(message.starts_with(&by), "{f}");
    if said != "00:00:00" {
        assert!(message.contains(", after running 00:00:"), "{f}");
    }
    assert!(message.contains(loading), "{f}");
    assert_eq!(jobs[1]["cancelled_by"], me().as_str());
    // CANCELLED while pending: no files, no pending reason.
    let f = &jobs[2]["failure"];
    let message = f["message"].as_str().unwrap();
    assert!(message.starts_with(&by), "{f}");
    assert!(message.ends_with(", before it started"), "{f}");
    assert!(f.get("file").is_none(), "{f}");
    // The table at 80 columns: every cause whole, wrapped in its column.
    let out = sh("COLUMNS=80 sweep-collect --format table m.json", &dir);
    let table = stdout(&out);
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    let words = table.split_whitespace().collect::<Vec<_>>().join(" ");
    for j in jobs {
        let message = j["failure"]["message"].as_str().unwrap();
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(&message), "{message}: {table}");
    }
}

/// One combination submitted on `node` (`--no-requeue`, else Slurm requeues it) with an engine
/// that hangs while it loads, into a new directory named after `test`, once the step's stderr
/// has its loading line: the directory (its manifest `m.json`), the step's file, and the job to
/// cancel at the end.
fn loading_on(node: &str, test: &str) -> (std::path::PathBuf, std::path::PathBuf, Cancel) {
    let dir = fresh_dir(test);
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\n",
    )
    .unwrap();
    let script = format!(
        "sweep-expand s.yaml | sweep-render --out-dir sw \
         | SWEEP_DEMO_HANG=aggregated_w0_r0 sweep-submit {} --sbatch-arg=--nodelist={node} --sbatch-arg=--no-requeue \
         | sweep-collect --output m.json",
        REQUIRED.join(" ")
    );
    let out = sh(&script, &dir);
    let m = read_json(&dir.join("m.json"));
    let id = m["jobs"][0]["job_id"].as_str().unwrap().to_string();
    let cancel = Cancel(vec![id.clone()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log_dir = m["jobs"][0]["log_dir"].as_str().unwrap().to_string();
    let step = Path::new(&log_dir)
        .join(&id)
        .join(format!("{node}_agg_w0.err"));
    crate::common::eventually(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(200),
        || match std::fs::read_to_string(&step) {
            Ok(t) if t.contains("Loading") => Ok(()),
            other => Err(format!("{}: {other:?}", step.display())),
        },
    );
    (dir, step, cancel)
}

/// Issue 23, item 2: a node that fails under a running job (the node set DOWN; the job
/// submitted `--no-requeue`, else Slurm requeues it): `NODE_FAIL` with the node, then the
/// engine's last line. Alone on the cluster: setting a node DOWN kills any job on it.
#[test]
fn a_node_failure_names_the_node_then_the_last_line() {
    let name = "a_node_failure_names_the_node_then_the_last_line";
    let Some(_slurm) = crate::common::on_slurm_alone(name) else {
        return;
    };
    let node = "gpu-004";
    let (dir, step, _cancel) = loading_on(node, "daily_slurm_node_fail");
    /// Brings the node back, whatever happens to the test.
    struct Resume(&'static str);
    impl Drop for Resume {
        fn drop(&mut self) {
            for state in ["idle", "resume"] {
                let _ = Command::new("scontrol")
                    .args([
                        "update",
                        &format!("nodename={}", self.0),
                        &format!("state={state}"),
                    ])
                    .output();
            }
        }
    }
    let _resume = Resume(node);
    let out = Command::new("scontrol")
        .args([
            "update",
            &format!("nodename={node}"),
            "state=down",
            "reason=sweep-test-node-failure",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sh(
        "sweep-collect --wait --poll-interval 0.5 --timeout 60 m.json > /dev/null || true",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let m = read_json(&dir.join("m.json"));
    let j = &m["jobs"][0];
    assert_eq!(j["state"], "NODE_FAIL", "{j}");
    let message = j["failure"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "NODE_FAIL: a node of the job failed ({node}) at 20"
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "; last line: Loading safetensors checkpoint shards:  40% (2/5) (stand-in hang of aggregated_w0_r0 on {node})"
        )),
        "{message}"
    );
    assert_eq!(j["failure"]["file"], step.display().to_string());
}

/// Issue 23, item 2: a job preempted while it runs (a job of the local cluster's hidden
/// partition `urgent`, of a higher priority tier, takes its node: Slurm cancels it):
/// `PREEMPTED` with when, then the engine's last line, from the step's file. Alone on the
/// cluster: the preempting job takes a whole node.
#[test]
fn a_preempted_job_says_so_then_the_last_line() {
    let name = "a_preempted_job_says_so_then_the_last_line";
    let Some(_slurm) = crate::common::on_slurm_alone(name) else {
        return;
    };
    let node = "gpu-003";
    let (dir, step, mut cancel) = loading_on(node, "daily_slurm_preempted");
    // Someone else's urgent job on the same node.
    let out = Command::new("sbatch")
        .args([
            "--parsable",
            "--partition=urgent",
            &format!("--nodelist={node}"),
            "--exclusive",
            "--output=/dev/null",
            "--wrap=sleep 1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    cancel.push(stdout(&out).trim().to_string());
    let out = sh(
        "sweep-collect --wait --poll-interval 0.5 --timeout 60 m.json > /dev/null || true",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let m = read_json(&dir.join("m.json"));
    let j = &m["jobs"][0];
    assert_eq!(j["state"], "PREEMPTED", "{j}");
    let message = j["failure"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("PREEMPTED: the job was preempted at 20"),
        "{message}"
    );
    // It ran (how long, when Slurm's accounting has the figure yet: a second or so).
    assert!(!message.contains("before it started"), "{message}");
    assert!(
        message.ends_with(&format!(
            "; last line: Loading safetensors checkpoint shards:  40% (2/5) (stand-in hang of aggregated_w0_r0 on {node})"
        )),
        "{message}"
    );
    assert_eq!(j["failure"]["file"], step.display().to_string());
    // The failures alone, without jq.
    let out = sh("sweep-collect --jsonl --state PR m.json", &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
}

/// Every file under `dir` but those sweep-render writes (configs, numbers and its lock), with
/// its size and modification time.
fn submit_files(dir: &Path) -> Vec<String> {
    let render = |name: &str| {
        name.starts_with("sglang_config_") || name == "numbers.jsonl" || name == "names.lock"
    };
    crate::common::listing(dir, &render)
}

/// The jobs Slurm holds with a tag of sweep key `key`: (job ID, partition).
fn jobs_of_sweep(key: &str) -> Vec<(String, String)> {
    let out = Command::new("squeue")
        .args(["--me", "-h", "-t", "all", "-o", "%i|%P|%k"])
        .output()
        .unwrap();
    let mut jobs: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(3, '|').collect();
            (f.len() == 3 && f[2].starts_with(&format!("sweep:{key}:")))
                .then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect();
    jobs.sort();
    jobs
}

/// Issue 23, item 3, on the local cluster: after an extension, `--plan` on the same line
/// asks Slurm and shows the new combinations, the failures to re-run (with the option that
/// moves one back from `--partition debug` to `batch`) and the one kept; it submits nothing
/// and sweep-submit writes nothing into the sweep directory. The real run then does exactly
/// that and ends with the same summary line.
#[test]
fn a_plan_before_acting_on_the_real_cluster() {
    let name = "a_plan_before_acting_on_the_real_cluster";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("daily_slurm_plan");
    let sweep = |values: &str| {
        format!("slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: {values}\n")
    };
    std::fs::write(dir.join("s.yaml"), sweep("[0.8, 0.85, 0.9]")).unwrap();
    let no_partition: Vec<&str> = REQUIRED
        .chunks(2)
        .filter(|kv| kv[0] != "--partition")
        .flatten()
        .copied()
        .collect();
    // Index 0 fails, index 1 completes, index 2 fails in partition debug.
    let head = format!(
        "S=({} --time-limit 00:05:00)\nS0=({} --time-limit 00:05:00)\nM=sw/sweep_manifest.json\n",
        REQUIRED.join(" "),
        no_partition.join(" ")
    );
    let script = format!(
        r#"{head}
sweep-expand s.yaml | sweep-render --out-dir sw > r.jsonl
sed -n 1p r.jsonl | SWEEP_DEMO_FAIL=aggregated_w0_r0 sweep-submit "${{S[@]}}" | sweep-collect "$M" - --output "$M"
sed -n 2p r.jsonl | sweep-submit "${{S[@]}}" | sweep-collect "$M" - --output "$M"
sed -n 3p r.jsonl | SWEEP_DEMO_FAIL=aggregated_w0_r0 sweep-submit "${{S0[@]}}" --partition debug | sweep-collect "$M" - --output "$M"
sweep-collect --wait --poll-interval 0.5 --timeout 120 "$M" > /dev/null || true
"#
    );
    let out = sh(&script, &dir);
    let m = read_json(&dir.join("sw/sweep_manifest.json"));
    let first: Vec<String> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect();
    let mut cancel = Cancel(first.clone());
    assert!(out.status.success(), "{}", stderr(&out));
    let states: Vec<&str> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["FAILED", "COMPLETED", "FAILED"], "{m}");
    // Extended by two values; the plan of the same line.
    std::fs::write(dir.join("s.yaml"), sweep("[0.8, 0.85, 0.9, 0.95, 0.97]")).unwrap();
    let key = sweep::tag::sweep_key(&dir.join("sw").display().to_string());
    let jobs_before = jobs_of_sweep(&key);
    let files_before = submit_files(&dir.join("sw"));
    let line = r#"sweep-expand s.yaml | sweep-render --out-dir sw | sweep-submit "${S[@]}""#;
    let out = sh(&format!("{head}export COLUMNS=120\n{line} --plan"), &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        stdout(&out),
        format!(
            "INDEX  PLAN    mem-fraction-static  WHY\n    \
                 0  re-run                  0.8  job {} FAILED\n    \
                 1  kept                   0.85  job {} COMPLETED\n    \
                 2  re-run                  0.9  job {} FAILED; --partition batch (was debug)\n    \
                 3  new                    0.95\n    \
                 4  new                    0.97\n\
             2 new, 2 re-run, 1 kept\n",
            first[0], first[1], first[2]
        )
    );
    assert_eq!(jobs_of_sweep(&key), jobs_before, "nothing submitted");
    assert_eq!(
        submit_files(&dir.join("sw")),
        files_before,
        "nothing written"
    );
    // The real run: what the plan said, and the same line at the end.
    let out = sh(
        &format!("{head}{line} | sweep-collect \"$M\" - --output \"$M\""),
        &dir,
    );
    let m = read_json(&dir.join("sw/sweep_manifest.json"));
    let now: Vec<String> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect();
    cancel.0.extend(now.iter().cloned());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with("sweep-submit: 2 new, 2 re-run, 1 kept\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(now.len(), 5);
    assert_eq!(now[1], first[1], "kept");
    for i in [0, 2, 3, 4] {
        assert!(!first.contains(&now[i]), "{i}: a new job");
    }
    let partition: std::collections::BTreeMap<String, String> =
        jobs_of_sweep(&key).into_iter().collect();
    assert_eq!(partition[&now[2]], "batch", "moved back to batch");
    assert_eq!(partition[&first[2]], "debug");
}

/// Issue 23, item 1, on the local cluster: srun refuses a step before it starts (an option
/// it does not know, as `--container-image` on a cluster without pyxis), so the step's file
/// is never written; the cause is srun's own line from the job's `<job id>.err`, `file`
/// names that file, and nothing names the step's file that does not exist. (The real
/// pyxis-less cluster: the same line, `srun: unrecognized option '--container-image=...'`,
/// seen with SWEEP_SLURM_CONTAINERS=0; the cluster the tests share has pyxis where it is
/// installed.)
#[test]
fn a_step_srun_refused_is_explained_from_the_jobs_own_err() {
    let name = "a_step_srun_refused_is_explained_from_the_jobs_own_err";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("daily_slurm_refused_step");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\n",
    )
    .unwrap();
    // A template whose one step srun refuses; it names the step as the built-in script does.
    std::fs::write(
        dir.join("t.j2"),
        "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n#SBATCH --nodes={{ total_nodes }}\n\
         #SBATCH --account={{ account }}\n#SBATCH --partition={{ partition }}\n\
         #SBATCH --time={{ time_limit }}\n#SBATCH --output={{ log_dir }}/%j.out\n\
         #SBATCH --error={{ log_dir }}/%j.err\nmkdir -p \"{{ job_log_dir }}\"\n\
         srun --no-such-option=1 -o \"{{ job_log_dir }}/gpu-001_agg_w0.out\" -e \"{{ job_log_dir }}/gpu-001_agg_w0.err\" true\n\
         rc=$?\necho \"agg_w0_r0 $rc gpu-001_agg_w0\" > \"{{ failed_step_file }}\"\nexit $rc\n",
    )
    .unwrap();
    let script = format!(
        "sweep-expand s.yaml | sweep-render --out-dir sw | sweep-submit {} --template t.j2 \
         | sweep-collect --output m.json\n\
         sweep-collect --wait --poll-interval 0.5 --timeout 60 m.json > /dev/null || true\n",
        REQUIRED.join(" ")
    );
    let out = sh(&script, &dir);
    let m = read_json(&dir.join("m.json"));
    let id = m["jobs"][0]["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let _cancel = Cancel(vec![id.clone()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = &m["jobs"][0];
    assert_eq!(j["state"], "FAILED", "{j}");
    let f = &j["failure"];
    assert_eq!(f["step"], "agg_w0_r0", "{f}");
    assert_eq!(
        f["message"], "srun: unrecognized option '--no-such-option=1'",
        "{f}"
    );
    let log_dir = j["log_dir"].as_str().unwrap();
    assert_eq!(f["file"], format!("{log_dir}/{id}.err"));
    assert!(!Path::new(log_dir)
        .join(&id)
        .join("gpu-001_agg_w0.err")
        .exists());
    assert!(!f.to_string().contains("gpu-001_agg_w0.err"), "{f}");
}
