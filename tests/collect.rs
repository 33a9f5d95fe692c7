//! sweep-collect without Slurm: the manifest's shape (pinned on raw text), merging, history,
//! failed submissions, --output, --jsonl, errors; Slurm faults through fake commands.

use crate::common::{run, sh, stderr, stdout, temp_dir};
use std::path::Path;

/// A record as expand/render/submit would emit it; `extra` is spliced before the closing
/// brace (e.g. `,"job_id":"12"`).
fn rec(index: u64, id: &str, extra: &str) -> String {
    format!(
        r#"{{"index":{index},"id":"{id}","mode":"disagg","parameters":{{"slurm":{{"prefill_nodes":6,"decode_nodes":12}},"sglang":{{"mem-fraction-static":0.82,"cuda-graph-bs":[1,2]}}}},"sweep_dir":"/data/sweeps/sweep_20251113_123456"{extra}}}"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn manifest_shape_is_the_seeds_plus_counts() {
    let input = format!(
        "{}\n{}\n",
        rec(
            1,
            "b1",
            r#","submit_status":"failed","submit_error":"sbatch: error: Batch job submission failed: Invalid partition name specified""#
        ),
        rec(
            0,
            "a0",
            r#","submit_status":"submitted","job_id":"12345","submitted_at":"2025-11-13T12:35:00+00:00""#
        ),
    );
    let out = run("sweep-collect", &[], &input);
    assert_eq!(stderr(&out), "");
    assert!(out.status.success());
    let expected = r#"{
  "sweep_timestamp": "2025-11-13 12:34:56",
  "total_jobs": 2,
  "counts": {
    "submitted": 1,
    "failed_to_submit": 1,
    "not_submitted": 0,
    "dry_run": 0
  },
  "jobs": [
    {
      "job_id": "12345",
      "parameters": {
        "slurm": {
          "prefill_nodes": 6,
          "decode_nodes": 12
        },
        "sglang": {
          "mem-fraction-static": 0.82,
          "cuda-graph-bs": [
            1,
            2
          ]
        }
      },
      "index": 0,
      "id": "a0",
      "mode": "disagg",
      "sweep_dir": "/data/sweeps/sweep_20251113_123456",
      "submit_status": "submitted",
      "submitted_at": "2025-11-13T12:35:00+00:00"
    },
    {
      "parameters": {
        "slurm": {
          "prefill_nodes": 6,
          "decode_nodes": 12
        },
        "sglang": {
          "mem-fraction-static": 0.82,
          "cuda-graph-bs": [
            1,
            2
          ]
        }
      },
      "index": 1,
      "id": "b1",
      "mode": "disagg",
      "sweep_dir": "/data/sweeps/sweep_20251113_123456",
      "submit_status": "failed",
      "submit_error": "sbatch: error: Batch job submission failed: Invalid partition name specified"
    }
  ]
}
"#;
    assert_eq!(stdout(&out), expected);
    assert!(!stdout(&out).contains("failed_1"), "never a fake job ID");
}

#[test]
fn seed_readers_still_work_with_python_json() {
    // The seed's users read the manifest with json.load: job_id and parameters per job.
    let input = rec(0, "a0", r#","job_id":"7""#);
    let dir = temp_dir("collect_seed_readers");
    let m = dir.join("m.json");
    let out = run("sweep-collect", &["--output", m.to_str().unwrap()], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    let py = sh(
        "python3 -c 'import json,sys; m=json.load(open(\"m.json\")); j=m[\"jobs\"][0]; print(m[\"total_jobs\"], j[\"job_id\"], j[\"parameters\"][\"slurm\"][\"prefill_nodes\"], list(j)[:2])'",
        &dir,
    );
    assert_eq!(
        stdout(&py),
        "1 7 6 ['job_id', 'parameters']\n",
        "{}",
        stderr(&py)
    );
}

#[test]
fn cat_of_inputs_equals_the_inputs_as_paths() {
    let dir = temp_dir("collect_cat_equals_paths");
    // a: a pretty manifest written by collect; b: a JSON Lines stream re-submitting index 0.
    let first = format!(
        "{}\n{}\n",
        rec(
            0,
            "a0",
            r#","job_id":"10","submitted_at":"2025-11-13T12:35:00Z""#
        ),
        rec(
            1,
            "b1",
            r#","job_id":"11","submitted_at":"2025-11-13T12:35:01Z""#
        )
    );
    let m = run("sweep-collect", &[], &first);
    let a = write(&dir, "a.json", &stdout(&m));
    let b = write(
        &dir,
        "b.jsonl",
        &format!(
            "{}\n",
            rec(
                0,
                "a0",
                r#","job_id":"20","submitted_at":"2025-11-14T09:00:00Z""#
            )
        ),
    );
    let by_paths = run("sweep-collect", &[&a, &b], "");
    let by_cat = sh("cat a.json b.jsonl | sweep-collect", &dir);
    let by_dash = sh("cat b.jsonl | sweep-collect a.json -", &dir);
    assert!(by_paths.status.success(), "{}", stderr(&by_paths));
    assert_eq!(stdout(&by_cat), stdout(&by_paths));
    assert_eq!(stdout(&by_dash), stdout(&by_paths));
    let jsonl = sh("sweep-collect --jsonl a.json b.jsonl", &dir);
    let lines: Vec<&str> = std::str::from_utf8(&jsonl.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains(r#""job_id":"20""#), "{}", lines[0]);
    assert!(
        lines[0].ends_with(r#""history":[{"job_id":"10","submitted_at":"2025-11-13T12:35:00Z"}]}"#),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(r#""job_id":"11""#) && !lines[1].contains("history"));
}

#[test]
fn newest_submission_wins_whatever_the_input_order() {
    let old = rec(
        0,
        "a0",
        r#","job_id":"10","submitted_at":"2025-11-13T12:35:00Z","state":"FAILED""#,
    );
    let new = rec(
        0,
        "a0",
        r#","job_id":"20","submitted_at":"2025-11-14T12:35:00+01:00""#,
    );
    let mid = rec(
        0,
        "a0",
        r#","job_id":"15","submitted_at":"2025-11-13T20:00:00Z""#,
    );
    for input in [
        format!("{old}\n{new}\n{mid}\n"),
        format!("{new}\n{mid}\n{old}\n"),
    ] {
        let out = run("sweep-collect", &["--jsonl"], &input);
        assert_eq!(
            stdout(&out),
            rec(
                0,
                "a0",
                r#","job_id":"20","submitted_at":"2025-11-14T12:35:00+01:00","history":[{"job_id":"10","submitted_at":"2025-11-13T12:35:00Z","state":"FAILED"},{"job_id":"15","submitted_at":"2025-11-13T20:00:00Z"}]"#
            ) + "\n"
        );
    }
}

#[test]
fn submitted_beats_failed_and_same_job_twice_is_no_history() {
    let submitted = rec(
        0,
        "a0",
        r#","submit_status":"submitted","job_id":"10","state":"COMPLETED""#,
    );
    let failed = rec(
        0,
        "a0",
        r#","submit_status":"failed","submit_error":"timeout""#,
    );
    let plain = rec(0, "a0", "");
    let again = rec(0, "a0", r#","submit_status":"submitted","job_id":"10""#);
    let out = run(
        "sweep-collect",
        &["--jsonl"],
        &format!("{submitted}\n{failed}\n{plain}\n{again}\n"),
    );
    // The later mention of job 10 is current; the state one version knew is kept; no history.
    assert_eq!(
        stdout(&out),
        rec(
            0,
            "a0",
            r#","submit_status":"submitted","job_id":"10","state":"COMPLETED""#
        ) + "\n"
    );
    let out = run(
        "sweep-collect",
        &["--jsonl"],
        &format!("{plain}\n{failed}\n{plain}\n"),
    );
    assert_eq!(
        stdout(&out),
        failed + "\n",
        "a failed attempt beats a record never submitted"
    );
}

#[test]
fn history_is_merged_once_per_job_oldest_first() {
    let a = rec(
        0,
        "a0",
        r#","job_id":"30","submitted_at":"2025-11-15T00:00:00Z","history":[{"job_id":"10","submitted_at":"2025-11-13T00:00:00Z"},{"job_id":"20","submitted_at":"2025-11-14T00:00:00Z"}]"#,
    );
    let b = rec(
        0,
        "a0",
        r#","job_id":"20","submitted_at":"2025-11-14T00:00:00Z","state":"TIMEOUT","history":[{"job_id":"10","submitted_at":"2025-11-13T00:00:00Z","state":"FAILED"}]"#,
    );
    let out = run("sweep-collect", &["--jsonl"], &format!("{a}\n{b}\n"));
    assert_eq!(
        stdout(&out),
        rec(
            0,
            "a0",
            r#","job_id":"30","submitted_at":"2025-11-15T00:00:00Z","history":[{"job_id":"10","submitted_at":"2025-11-13T00:00:00Z","state":"FAILED"},{"job_id":"20","submitted_at":"2025-11-14T00:00:00Z","state":"TIMEOUT"}]"#
        ) + "\n"
    );
}

#[test]
fn merging_the_same_job_twice_keeps_every_follow_up() {
    // Issue 10, item 8: job 102 was in neither retry_job_ids nor history.
    let more = rec(0, "a0", r#","job_id":"100","retry_job_ids":["101","102"]"#);
    let fewer = rec(0, "a0", r#","job_id":"100","retry_job_ids":["101"]"#);
    for input in [format!("{more}\n{fewer}\n"), format!("{fewer}\n{more}\n")] {
        let out = run("sweep-collect", &["--jsonl"], &input);
        assert_eq!(stderr(&out), "");
        assert_eq!(stdout(&out), more.clone() + "\n");
    }
}

#[test]
fn output_file_can_be_an_input_and_is_written_atomically() {
    let dir = temp_dir("collect_same_file");
    let first = format!(
        "{}\n{}\n",
        rec(
            0,
            "a0",
            r#","job_id":"10","submitted_at":"2025-11-13T12:35:00Z""#
        ),
        rec(
            1,
            "b1",
            r#","job_id":"11","submitted_at":"2025-11-13T12:35:01Z""#
        )
    );
    let out = sh(
        &format!(
            "echo '{}' | sweep-collect --output m.json",
            first.replace('\n', " ")
        ),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "nothing on stdout with --output");
    let before = std::fs::read_to_string(dir.join("m.json")).unwrap();
    let resubmitted = rec(
        1,
        "b1",
        r#","job_id":"21","submitted_at":"2025-11-14T08:00:00Z""#,
    );
    let out = sh(
        &format!("echo '{resubmitted}' | sweep-collect m.json - --output m.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::fs::read_to_string(dir.join("m.json")).unwrap();
    assert!(after.contains(r#""job_id": "21""#) && after.contains(r#""job_id": "10""#));
    assert!(
        after.contains("\"history\": [\n        {\n          \"job_id\": \"11\""),
        "{after}"
    );
    assert_eq!(after.matches("\"index\":").count(), 2);
    // Untouched combinations are byte-identical, and the timestamp did not move.
    let entry0 = |m: &str| m[m.find("\"jobs\"").unwrap()..m.find("\n    },").unwrap()].to_string();
    assert_eq!(entry0(&before), entry0(&after));
    assert_eq!(before.lines().nth(1), after.lines().nth(1));
    // A failing run leaves the file as it was, and no temporary file behind.
    let out = sh("echo '{' | sweep-collect m.json - --output m.json", &dir);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(dir.join("m.json")).unwrap(), after);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    // The lock that lets two runs update m.json at once without losing a job.
    assert_eq!(names, [".m.json.lock", "m.json"]);
}

#[test]
fn timestamp_is_kept_from_the_earliest_manifest() {
    let m1 = r#"{"sweep_timestamp": "2025-11-13 12:00:00", "total_jobs": 0, "jobs": []}"#;
    let m2 = r#"{"sweep_timestamp": "2025-11-12 08:00:00", "total_jobs": 1, "jobs": [JOB]}"#
        .replace("JOB", &rec(0, "a0", ""));
    let out = run("sweep-collect", &[], &format!("{m1}\n{m2}"));
    assert!(
        stdout(&out).starts_with(
            "{\n  \"sweep_timestamp\": \"2025-11-12 08:00:00\",\n  \"total_jobs\": 1,\n"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn output_is_deterministic() {
    let input: String = (0..50)
        .rev()
        .map(|i| rec(i, &format!("id{i:02}"), r#","job_id":"1""#) + "\n")
        .collect();
    let a = run("sweep-collect", &[], &input);
    let b = run("sweep-collect", &[], &input);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let indices: Vec<usize> = stdout(&a)
        .match_indices("\"index\": ")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(indices.len(), 50);
    assert!(stdout(&a).find("\"index\": 0,").unwrap() < stdout(&a).find("\"index\": 49,").unwrap());
}

#[test]
fn bad_input_errors_name_input_and_line() {
    let good = rec(0, "a0", "");
    let cases: [(&str, String); 5] = [
        ("not json", format!("{good}\n{{\"index\": 1,\n")),
        ("bad record", format!("{good}\n\n{{\"index\":1}}\n")),
        ("array", format!("{good}\n[1]\n")),
        (
            "bad manifest job",
            format!("{{\"sweep_timestamp\":\"x\",\n\"jobs\":[{good},{{\"id\":\"x\"}}]}}\n"),
        ),
        ("empty", String::new()),
    ];
    let expected = [
        "sweep-collect: <stdin>:3:0: invalid JSON: EOF while parsing an object\n",
        "sweep-collect: <stdin>:3: invalid record: missing field `id`\n",
        "sweep-collect: <stdin>:2: invalid record: expected a JSON object, found an array\n",
        "sweep-collect: <stdin>:1: invalid manifest: jobs[1]: missing field `index`\n",
        "sweep-collect: no records to collect: the input is empty\n",
    ];
    for ((what, input), want) in cases.iter().zip(expected) {
        let out = run("sweep-collect", &[], input);
        assert_eq!(stderr(&out), want, "{what}");
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert_eq!(stdout(&out), "", "{what}");
    }
    let out = run("sweep-collect", &["/nonexistent/m.json"], "");
    assert_eq!(stderr(&out), "sweep-collect: failed to open /nonexistent/m.json: No such file or directory (os error 2)\n");
    assert_eq!(out.status.code(), Some(1));
    let out = run("sweep-collect", &["--batch-size", "0"], "");
    assert_eq!(
        stderr(&out),
        "sweep-collect: --batch-size must be at least 1\n"
    );
    assert_eq!(out.status.code(), Some(2));
    for interval in ["--poll-interval", "--max-interval"] {
        let out = run("sweep-collect", &["--wait", interval, "1e20"], "");
        assert_eq!(
            stderr(&out),
            "sweep-collect: --poll-interval and --max-interval must be positive numbers\n"
        );
        assert_eq!(out.status.code(), Some(2));
    }
    // An empty stream in JSON Lines mode is an empty stream out, not an error.
    let out = run("sweep-collect", &["--jsonl"], "");
    assert_eq!(
        (out.status.code(), stdout(&out), stderr(&out)),
        (Some(0), String::new(), String::new())
    );
}

#[test]
fn closed_pipe_is_quiet() {
    let dir = temp_dir("collect_closed_pipe");
    let input: String = (0..2000)
        .map(|i| rec(i, &format!("id{i:05}"), r#","job_id":"1""#) + "\n")
        .collect();
    write(&dir, "in.jsonl", &input);
    for mode in ["--jsonl", ""] {
        let out = sh(&format!("sweep-collect {mode} in.jsonl | head -1"), &dir);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{mode}");
        assert_eq!(stdout(&out).lines().count(), 1);
    }
}

/// A directory of fake Slurm commands (fault injection only; real Slurm is in collect_slurm).
fn fakes(name: &str, squeue: &str, sacct: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    for (cmd, body) in [("squeue", squeue), ("sacct", sacct)] {
        let path = dir.join(cmd);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{cmd} $*\" >> calls.log\n{body}\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn unreachable_slurm_fails_unless_allowed() {
    let dir = fakes(
        "collect_unreachable",
        "echo 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)' >&2; exit 1",
        "exit 1",
    );
    write(&dir, "m.json", "old\n");
    let input = rec(0, "a0", r#","job_id":"12""#);
    let out = sh(&format!("echo '{input}' | sweep-collect --status --squeue ./squeue --sacct ./sacct --output m.json"), &dir);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "sweep-collect: failed to read job states from Slurm (nothing written; --allow-missing-status writes the output without states): ./squeue: slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("m.json")).unwrap(),
        "old\n"
    );
    let out = sh(&format!("echo '{input}' | sweep-collect --status --allow-missing-status --squeue ./squeue --sacct ./sacct --jsonl"), &dir);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{input}\n"));
    assert_eq!(
        stderr(&out),
        "sweep-collect: warning: ./squeue: slurm_load_jobs error: Unable to contact slurm controller (connect failure); writing the output without job states\n"
    );
    // Nothing submitted, nothing to ask: no Slurm call at all.
    let _ = std::fs::remove_file(dir.join("calls.log"));
    let unsubmitted = rec(1, "b1", r#","submit_status":"failed","submit_error":"x""#);
    let out = sh(&format!("echo '{unsubmitted}' | sweep-collect --status --squeue ./squeue --sacct ./sacct --jsonl"), &dir);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), format!("{unsubmitted}\n"))
    );
    assert!(!dir.join("calls.log").exists());
}

/// A hung squeue (a frozen controller) is killed at --slurm-timeout and counts as Slurm
/// unreachable: bounded time, one clear line, nothing written.
#[test]
fn hung_squeue_is_killed_at_the_timeout() {
    let dir = fakes("collect_hung_squeue", "exec sleep 60", "exec sleep 60");
    let input = rec(0, "a0", r#","job_id":"12""#);
    let started = std::time::Instant::now();
    let out = sh(&format!("echo '{input}' | sweep-collect --status --slurm-timeout 1 --squeue ./squeue --sacct ./sacct --jsonl"), &dir);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "sweep-collect: failed to read job states from Slurm (nothing written; --allow-missing-status writes the output without states): ./squeue did not answer within 1s (--slurm-timeout)\n"
    );
    assert_eq!(stdout(&out), "");
    assert!(
        took < std::time::Duration::from_secs(20),
        "took {took:?}: the hung squeue was not killed"
    );
    let out = sh(
        &format!("echo '{input}' | sweep-collect --status --slurm-timeout 0 --jsonl"),
        &dir,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn accounting_disabled_gives_unknown_with_a_reason() {
    let dir = fakes(
        "collect_no_accounting",
        "echo '12|RUNNING|None|1:02:03|gpu-001|2026-01-01T00:00:00|4:00:00|2026-01-01T04:00:00|sweep:k:a0:0'",
        "echo 'Slurm accounting storage is disabled' >&2; exit 1",
    );
    let input = format!(
        "{}\n{}\n",
        rec(0, "a0", r#","tag":"sweep:k:a0:0","job_id":"12""#),
        rec(1, "b1", r#","tag":"sweep:k:b1:1","job_id":"13""#)
    );
    write(&dir, "in.jsonl", &input);
    let out = sh(
        "sweep-collect --status --jsonl --squeue ./squeue --sacct ./sacct in.jsonl",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}\n{}\n",
            rec(
                0,
                "a0",
                r#","tag":"sweep:k:a0:0","job_id":"12","state":"RUNNING","elapsed":"01:02:03","node_list":"gpu-001","time_limit":"04:00:00","state_source":"squeue""#
            ),
            rec(
                1,
                "b1",
                r#","tag":"sweep:k:b1:1","job_id":"13","state":"UNKNOWN","state_reason":"no longer in squeue and Slurm accounting is disabled: the state cannot be known","state_source":"none""#
            )
        )
    );
    assert_eq!(
        stderr(&out),
        "sweep-collect: note: 1 job(s) are no longer in squeue and Slurm accounting is disabled: their state is UNKNOWN\n"
    );
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    assert_eq!(
        calls,
        "squeue -h -t all -j 12,13 -o %i|%T|%r|%M|%N|%V|%l|%e|%k\nsacct -n -X -P -D -j 13 -o JobID,State,ExitCode,Elapsed,NodeList,Reason,Submit,Timelimit,End,Comment,SubmitLine\n"
    );
    // A final state recorded earlier (a manifest being re-collected) is not lost to UNKNOWN.
    let known = rec(
        2,
        "c2",
        r#","tag":"sweep:k:c2:2","job_id":"14","state":"COMPLETED","exit_code":"0:0","state_source":"sacct""#,
    );
    write(&dir, "known.jsonl", &format!("{known}\n"));
    let out = sh(
        "sweep-collect --status --jsonl --squeue ./squeue --sacct ./sacct known.jsonl",
        &dir,
    );
    assert_eq!(
        (stdout(&out), stderr(&out)),
        (format!("{known}\n"), String::new())
    );
}

#[test]
fn retries_decide_the_combination_state() {
    // Job 12 failed; its first retry 13 timed out; the second, 14, completed.
    let dir = fakes(
        "collect_retries",
        "echo '12|FAILED|NonZeroExitCode|0:05|gpu-001|2026-01-01T00:00:00|10:00|2026-01-01T00:00:05|sweep:k:a0:0'; echo '13|TIMEOUT|TimeLimit|10:00|gpu-002|2026-01-01T00:00:01|10:00|2026-01-01T00:10:01|sweep:k:a0:0'; echo '14|COMPLETED|None|3:00|gpu-003|2026-01-01T00:00:02|10:00|2026-01-01T00:03:02|sweep:k:a0:0'",
        "echo '12|FAILED|1:0|00:00:05|gpu-001|None|2026-01-01T00:00:00|00:10:00|2026-01-01T00:00:05|sweep:k:a0:0|'; echo '13|TIMEOUT|0:15|00:10:00|gpu-002|None|2026-01-01T00:00:01|00:10:00|2026-01-01T00:10:01|sweep:k:a0:0|'; echo '14|COMPLETED|0:0|00:03:00|gpu-003|None|2026-01-01T00:00:02|00:10:00|2026-01-01T00:03:02|sweep:k:a0:0|'",
    );
    write(
        &dir,
        "in.jsonl",
        &(rec(
            0,
            "a0",
            r#","tag":"sweep:k:a0:0","job_id":"12","retry_job_ids":["13","14"]"#,
        ) + "\n"),
    );
    let out = sh(
        "sweep-collect --status --jsonl --squeue ./squeue --sacct ./sacct in.jsonl",
        &dir,
    );
    assert_eq!(
        stdout(&out),
        rec(
            0,
            "a0",
            r#","tag":"sweep:k:a0:0","job_id":"12","retry_job_ids":["13","14"],"state":"COMPLETED","exit_code":"0:0","elapsed":"00:03:00","node_list":"gpu-003","time_limit":"00:10:00","ended_at":"2026-01-01T00:03:02","retry_states":["TIMEOUT","COMPLETED"],"state_source":"squeue","state_job_id":"14""#
        ) + "\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_verdict_of_wait_survives_a_reader_that_went_away() {
    // Issue 10, item 2: `sweep-collect --wait --jsonl big.jsonl | head -c1` exited 0 while
    // stderr said the jobs had failed.
    let dir = fakes(
        "collect_wait_head",
        "for i in $(seq 1 300); do echo \"$i|FAILED|NonZeroExitCode|0:01|gpu-001|2026-01-01T00:00:00|1:00|2026-01-01T00:00:01|sweep:k:id$i:$i\"; done",
        "for i in $(seq 1 300); do echo \"$i|FAILED|1:0|00:00:01|gpu-001|NonZeroExitCode|2026-01-01T00:00:00|00:01:00|2026-01-01T00:00:01|sweep:k:id$i:$i|\"; done",
    );
    let input: String = (1..=300)
        .map(|i| {
            rec(
                i,
                &format!("id{i}"),
                &format!(r#","tag":"sweep:k:id{i}:{i}","job_id":"{i}""#),
            ) + "\n"
        })
        .collect();
    write(&dir, "big.jsonl", &input);
    let out = sh(
        "set +e; sweep-collect --wait --squeue ./squeue --sacct ./sacct --jsonl big.jsonl | head -c1 >/dev/null; echo \"rc=${PIPESTATUS[0]}\"",
        &dir,
    );
    assert_eq!(stdout(&out), "rc=1\n");
    assert!(
        stderr(&out).contains("300 of 300 jobs did not complete"),
        "{}",
        stderr(&out)
    );
}
