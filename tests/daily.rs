//! The daily tasks (issue 13) without a cluster: a manifest updated in place, the cause of a
//! failure read from the job's files, the table and where it may go, one job by ID, the
//! seed's one-command form (`--sweep-config`) leaving nothing behind when it fails, and the
//! scripts directory found next to the sweep file. Slurm's answers come from stand-in
//! `squeue`/`sacct` scripts; the real-cluster versions are in `daily_slurm.rs`.

use crate::common::{bin, read_json, sh, stderr, stdout, temp_dir};
use crate::submit::REQUIRED;
use serde_json::{json, Value};
use std::path::Path;

/// A stand-in `squeue` and `sacct` in `dir` that print `squeue` and `sacct` lines.
fn fake_slurm(dir: &Path, squeue: &str, sacct: &str) {
    for (cmd, body) in [("squeue", squeue), ("sacct", sacct)] {
        let path = dir.join(cmd);
        std::fs::write(&path, format!("#!/bin/sh\ncat <<'EOF'\n{body}EOF\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

const SLURM: &str = "--squeue ./squeue --sacct ./sacct";

/// Three submitted jobs, 11 (fails in a step), 12 (completes) and 13 (times out), each with
/// its log directory under `dir/logs`; job 11's step left its failed_step and stderr.
fn sweep_of_three(dir: &Path) -> String {
    let mut recs = String::new();
    for (i, mfs) in [(0, "0.8"), (1, "0.85"), (2, "0.9")] {
        let log = dir.join(format!("logs/sweep_job_sweep{i}"));
        std::fs::create_dir_all(&log).unwrap();
        recs.push_str(&format!(
            r#"{{"index":{i},"id":"c{i}","mode":"agg","parameters":{{"slurm":{{"agg_nodes":1,"agg_workers":1}},"sglang":{{"mem-fraction-static":{mfs},"context-length":2048}}}},"sweep_dir":"{d}/sw","log_dir":"{l}","tag":"sweep:k:c{i}:{i}","submit_status":"submitted","job_id":"{j}","submitted_at":"2026-01-01T00:00:0{i}+00:00"}}"#,
            d = dir.display(),
            l = log.display(),
            j = 11 + i
        ));
        recs.push('\n');
    }
    let job = dir.join("logs/sweep_job_sweep0/11");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(
        job.join("failed_step"),
        "prefill_w0_r0 1 gpu-001_prefill_w0\n",
    )
    .unwrap();
    std::fs::write(
        job.join("gpu-001_prefill_w0.err"),
        "Traceback (most recent call last):\n  File \"model_runner.py\", line 3\n\
         torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n\n+ exit 1\n----\n",
    )
    .unwrap();
    fake_slurm(
        dir,
        "11|FAILED|NonZeroExitCode|0:05|gpu-001|2026-01-01T00:00:00|5:00|2026-01-01T00:00:05|sweep:k:c0:0\n12|COMPLETED|None|0:07|gpu-002|2026-01-01T00:00:01|5:00|2026-01-01T00:00:07|sweep:k:c1:1\n13|TIMEOUT|TimeLimit|5:00|gpu-003|2026-01-01T00:00:02|5:00|2026-01-01T00:05:00|sweep:k:c2:2\n",
        "11|FAILED|1:0|00:00:05|gpu-001|NonZeroExitCode|2026-01-01T00:00:00|00:05:00|2026-01-01T00:00:05|sweep:k:c0:0|\n12|COMPLETED|0:0|00:00:07|gpu-002|None|2026-01-01T00:00:01|00:05:00|2026-01-01T00:00:07|sweep:k:c1:1|\n13|TIMEOUT|0:15|00:05:00|gpu-003|TimeLimit|2026-01-01T00:00:02|00:05:00|2026-01-01T00:05:00|sweep:k:c2:2|\n",
    );
    std::fs::write(dir.join("recs.jsonl"), &recs).unwrap();
    recs
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Issue 13, items 1 and 2: `sweep-collect --status M` updates M (atomically, said once on
/// stderr), adds the cause of each failure, and prints the manifest on a pipe as before; a
/// run that asks nothing of Slurm, two inputs, records or --output leave M alone.
#[test]
fn status_updates_the_one_manifest_in_place_with_each_failures_cause() {
    let dir = temp_dir("daily_in_place");
    sweep_of_three(&dir);
    let out = sh("sweep-collect recs.jsonl --output m.json", &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = read(&dir, "m.json");
    // Asking nothing of Slurm: a plain merge to stdout, the file untouched.
    let out = sh("sweep-collect m.json > plain.json", &dir);
    assert_eq!(stderr(&out), "");
    assert_eq!(read(&dir, "plain.json"), before);
    assert_eq!(read(&dir, "m.json"), before);
    // Two inputs, records, or --output: not updated in place.
    for cmd in [
        format!("sweep-collect --status {SLURM} m.json recs.jsonl > two.json"),
        format!("sweep-collect --status {SLURM} recs.jsonl > recs.json"),
        format!("sweep-collect --status {SLURM} m.json --output other.json"),
    ] {
        let out = sh(&cmd, &dir);
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{cmd}");
        assert_eq!(read(&dir, "m.json"), before, "{cmd}");
    }
    assert!(read(&dir, "other.json").contains("\"state\": \"FAILED\""));
    // One manifest and --status: updated, said once, and stdout (a pipe) has it too.
    let out = sh(
        &format!("sweep-collect --status {SLURM} m.json > out.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "sweep-collect: updated m.json\n");
    assert_eq!(read(&dir, "out.json"), read(&dir, "m.json"));
    let m = read_json(&dir.join("m.json"));
    let job = dir.join("logs/sweep_job_sweep0/11/gpu-001_prefill_w0.err");
    assert_eq!(
        m["jobs"][0]["failure"],
        json!({
            "step": "prefill_w0_r0",
            "exit_status": 1,
            "file": job.display().to_string(),
            "message": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        })
    );
    assert!(
        m["jobs"][1].get("failure").is_none(),
        "completed: no failure"
    );
    assert_eq!(
        m["jobs"][2]["failure"],
        json!({"message": "TIMEOUT: the job reached its time limit of 00:05:00 at 2026-01-01T00:05:00"})
    );
    // --jsonl to a pipe: the records on stdout; the manifest is not rewritten (the records go
    // on down a pipeline whose last stage writes it).
    let before = read(&dir, "m.json");
    let out = sh(
        &format!("sweep-collect --status --jsonl {SLURM} m.json > lines.jsonl"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("updated"), "{}", stderr(&out));
    assert_eq!(read(&dir, "lines.jsonl").lines().count(), 3);
    assert_eq!(read(&dir, "m.json"), before);
    // A job that completed is byte for byte what it was without this feature.
    let plain = read_json(&dir.join("other.json"));
    assert_eq!(m["jobs"][1], plain["jobs"][1]);
}

/// Issue 13, "a human view": the table goes to stdout only on a terminal or when asked
/// (`--format table`); on a pipe the output stays JSON.
#[test]
fn the_table_reaches_a_pipe_only_when_asked() {
    let dir = temp_dir("daily_table");
    sweep_of_three(&dir);
    let out = sh(
        &format!("sweep-collect --status {SLURM} recs.jsonl --output m.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sh("sweep-collect m.json | head -c 1", &dir);
    assert_eq!(stdout(&out), "{");
    let out = sh("COLUMNS=200 sweep-collect --format table m.json", &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "INDEX  JOB  STATE      ELAPSED   mem-fraction-static  WHY\n    \
             0   11  FAILED     00:00:05                  0.8  torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (prefill_w0_r0, exit 1, gpu-001_prefill_w0.err)\n    \
             1   12  COMPLETED  00:00:07                 0.85\n    \
             2   13  TIMEOUT    00:05:00                  0.9  TIMEOUT: the job reached its time limit of 00:05:00 at 2026-01-01T00:05:00\n\
         3 combinations: COMPLETED 1, FAILED 1, TIMEOUT 1\n"
    );
    // Issue 23, item 6: without a terminal, the width is COLUMNS, else 80; a cause wraps in
    // its column and keeps its end.
    for (columns, width) in [("", 80), ("COLUMNS=100", 100)] {
        let out = sh(
            &format!("{columns} sweep-collect --format table m.json"),
            &dir,
        );
        let text = stdout(&out);
        assert!(
            text.lines().all(|l| l.chars().count() <= width),
            "{columns}: {text}"
        );
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains(
                "Tried to allocate 2.00 GiB (prefill_w0_r0, exit 1, gpu-001_prefill_w0.err)"
            ),
            "{columns}: {text}"
        );
    }
    // --jsonl is --format jsonl; the two together are a usage error.
    let a = sh("sweep-collect --jsonl m.json", &dir);
    let b = sh("sweep-collect --format jsonl m.json", &dir);
    assert_eq!(stdout(&a), stdout(&b));
    assert_eq!(stdout(&a).lines().count(), 3);
    let out = sh(
        "set +e; sweep-collect --jsonl --format json m.json; echo rc=$?",
        &dir,
    );
    assert!(stdout(&out).ends_with("rc=2\n"), "{}", stdout(&out));
}

/// Issue 13, item 5: one job by its ID, current or earlier, with its paths and cause.
#[test]
fn one_job_by_id_with_its_files_and_cause() {
    let dir = temp_dir("daily_job");
    sweep_of_three(&dir);
    // Index 0 was submitted again: job 11 is now in its history.
    let log = dir.join("logs/sweep_job_sweep0");
    let again = read(&dir, "recs.jsonl").lines().next().unwrap().replace(
        r#""job_id":"11","submitted_at":"2026-01-01T00:00:00+00:00""#,
        r#""job_id":"21","submitted_at":"2026-01-02T00:00:00+00:00""#,
    );
    std::fs::write(dir.join("again.jsonl"), again + "\n").unwrap();
    let out = sh(
        "sweep-collect recs.jsonl again.jsonl --output m.json && sweep-collect --job 11 m.json > j11.json",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let j = read_json(&dir.join("j11.json"));
    assert_eq!(j["submission"], "earlier submission (history[0])");
    assert_eq!(j["job_dir"], format!("{}/11/", log.display()));
    assert_eq!(j["stdout"], format!("{}/11.out", log.display()));
    assert_eq!(j["stderr"], format!("{}/11.err", log.display()));
    assert_eq!(j["record"]["job_id"], "21");
    // The history entry has no state yet: the cause is read once it has one.
    assert!(j.get("failure").is_none(), "{j}");
    let out = sh(
        &format!("sweep-collect --status {SLURM} m.json --output m.json && sweep-collect --job 11 m.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let j: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(j["state"], "FAILED");
    assert_eq!(j["failure"]["step"], "prefill_w0_r0");
    // On a terminal (or asked): one field a line.
    let out = sh("sweep-collect --job 12 --format table m.json", &dir);
    let text = stdout(&out);
    assert!(
        text.starts_with("job 12 of combination c1 (index 1): the current submission\n"),
        "{text}"
    );
    assert!(text.contains("  state       COMPLETED\n"), "{text}");
    assert!(
        text.contains("  parameters.sglang.mem-fraction-static  0.85\n"),
        "{text}"
    );
    // No input names it: exit 1; not a job ID: exit 2.
    let out = sh("set +e; sweep-collect --job 99 m.json; echo rc=$?", &dir);
    assert_eq!(stdout(&out), "rc=1\n");
    assert_eq!(
        stderr(&out),
        "sweep-collect: no record names job 99 (looked at the job_id, retry_job_ids and history of 3 record(s))\n"
    );
    let out = sh("set +e; sweep-collect --job x1 m.json; echo rc=$?", &dir);
    assert_eq!(stdout(&out), "rc=2\n");
}

/// Issue 13, item 6: `--scripts-dir` not given is found next to the sweep file (wherever one
/// stands), else in the current directory; else the error names every place it looked.
#[test]
fn the_scripts_directory_is_found_next_to_the_sweep_file() {
    let dir = temp_dir("daily_scripts_dir");
    let sweeps = dir.join("sweeps");
    std::fs::create_dir_all(&sweeps).unwrap();
    std::fs::write(
        sweeps.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\n",
    )
    .unwrap();
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let required: Vec<&str> = REQUIRED
        .chunks(2)
        .filter(|kv| kv[0] != "--scripts-dir")
        .flatten()
        .copied()
        .collect();
    let cmd = format!(
        "sweep-expand ../sweeps/s.yaml | sweep-submit --dry-run --output-dir ../sw {}",
        required.join(" ")
    );
    let out = sh(&format!("set +e; {cmd}; echo rc=$?"), &elsewhere);
    assert!(stdout(&out).ends_with("rc=2\n"), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-submit: <stdin>:1: --scripts-dir not given and no scripts directory with worker_setup.py found: looked at {0}/elsewhere/../sweeps/scripts (next to the sweep file) and {0}/elsewhere/scripts (in the current directory); pass --scripts-dir DIR\n",
            dir.display()
        )
    );
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-scripts");
    std::os::unix::fs::symlink(&demo, sweeps.join("scripts")).unwrap();
    let out = sh(&cmd, &elsewhere);
    assert!(out.status.success(), "{}", stderr(&out));
    let rec: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let script = std::fs::read_to_string(rec["job_script"].as_str().unwrap()).unwrap();
    // As the record names its sweep file: absolute, as it was given.
    let want = format!(
        "SCRIPTS_DIR='{}/elsewhere/../sweeps/scripts'",
        dir.display()
    );
    assert!(script.contains(&want), "{script}");
}

/// Issue 13, item 4, without a cluster (a stand-in sbatch): the seed's one command writes the
/// manifest and says where; a failure before anything is submitted leaves no directory it
/// made, and names no file in it (issue 23, item 9); the hint of a refused sweep names an
/// option of this form. Its dry run makes no directory at all.
#[test]
fn the_seeds_one_command_leaves_nothing_behind_and_its_hints_hold() {
    let fake = crate::submit::Fake::new("daily_sweep_config_fake", "echo $((500 + n))");
    let dir = temp_dir("daily_sweep_config");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85, 0.9]\n",
    )
    .unwrap();
    let req = format!("{} --sbatch {}", REQUIRED.join(" "), fake.sbatch());
    let entries = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // Refused by sweep-expand: its hint names --max-jobs, which this form takes.
    let out = sh(
        &format!("set +e; sweep-submit --sweep-config s.yaml --max-jobs 2 {req}; echo rc=$?"),
        &dir,
    );
    assert_eq!(stdout(&out), "rc=1\n");
    let err = stderr(&out);
    assert!(
        err.contains("s.yaml: 3 combinations, more than --max-jobs 2 (raise it with --max-jobs 3, or 0 for no limit)"),
        "{err}"
    );
    assert!(err.contains("(nothing was submitted)"), "{err}");
    assert_eq!(entries(), ["s.yaml"], "{err}");
    // A required option missing: a usage error, and nothing left either.
    let out = sh(
        &format!(
            "set +e; sweep-submit --sweep-config s.yaml --account a --sbatch {}; echo rc=$?",
            fake.sbatch()
        ),
        &dir,
    );
    assert_eq!(stdout(&out), "rc=2\n", "{}", stderr(&out));
    assert_eq!(entries(), ["s.yaml"]);
    // A record refused after the directory was made: the message names the combination by
    // the sweep file, not a file of the directory it says it removed.
    let out = sh(
        &format!(
            "set +e; sweep-submit --sweep-config s.yaml {}; echo rc=$?",
            req.replace("--gpu-type demo", "--gpu-type nosuch")
        ),
        &dir,
    );
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sweep-submit: s.yaml (combination 0): launch script ")
            && last.contains("nosuch/agg/max-tpt.sh not found"),
        "{err}"
    );
    assert!(err.contains("(nothing was submitted)"), "{err}");
    assert_eq!(entries(), ["s.yaml"]);
    // A directory that was there before stays.
    std::fs::create_dir(dir.join("mine")).unwrap();
    let out = sh(
        &format!(
            "set +e; sweep-submit --sweep-config s.yaml --output-dir mine --account a --sbatch {}; echo rc=$?",
            fake.sbatch()
        ),
        &dir,
    );
    assert_eq!(stdout(&out), "rc=2\n");
    assert!(dir.join("mine").is_dir());
    // A dry run makes no directory, and says where its job scripts are.
    let out = sh(
        &format!("sweep-submit --sweep-config s.yaml --dry-run {req} > dry.jsonl"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        entries(),
        ["dry.jsonl", "mine", "s.yaml"],
        "{}",
        stderr(&out)
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("sweep-submit: sweep directory: ")
            && lines[0].ends_with(" (a real run makes it)"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("sweep-submit: dry run: 3 job script(s) in "),
        "{err}"
    );
    for r in crate::common::json_lines(&dir.join("dry.jsonl")) {
        let script = r["job_script"].as_str().unwrap();
        assert!(Path::new(script).is_file(), "{script}");
        assert_eq!(
            r["sbatch_command"].as_array().unwrap().last().unwrap(),
            script
        );
        let config = r["config_path"].as_str().unwrap();
        assert!(
            config.ends_with(&format!("/sglang_config_{}.yaml", r["index"])),
            "{config}"
        );
    }
    // The hint's own option works; the records go to the pipe, the manifest to the sweep.
    let out = sh(
        &format!("sweep-submit --sweep-config s.yaml --max-jobs 3 {req} > recs.jsonl"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let sweep = err
        .lines()
        .find_map(|l| l.strip_prefix("sweep-submit: sweep directory: "))
        .unwrap_or_else(|| panic!("{err}"))
        .to_string();
    assert_eq!(
        err,
        format!(
            "sweep-submit: sweep directory: {sweep}\nsweep-submit: manifest: {sweep}/sweep_manifest.json\nsweep-submit: 3 new, 0 re-run, 0 kept\n"
        )
    );
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{sweep}/sweep_manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["total_jobs"], 3);
    assert_eq!(m["counts"]["submitted"], 3);
    assert_eq!(read(&dir, "recs.jsonl").lines().count(), 3);
    // --max-jobs belongs to the one-command form only.
    let out = run_submit(&["--max-jobs", "3"]);
    assert_eq!(out.status.code(), Some(2));
}

fn run_submit(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin("sweep-submit"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Issue 13, "on a terminal, the human view": under a pseudo-terminal (`script`), the seed's
/// one command shows the table, not JSON lines; sweep-collect on a terminal does too.
#[test]
fn on_a_terminal_the_table_instead_of_json() {
    let dir = temp_dir("daily_tty");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85]\n",
    )
    .unwrap();
    // The one-command form's dry run shows the records' table (no manifest is made); the
    // pipeline's manifest is shown as a table as it is written, and when read.
    let inner = format!(
        "sweep-submit --sweep-config s.yaml --output-dir sw --dry-run {0}; \
         sweep-expand s.yaml | sweep-render --out-dir sw | sweep-submit --dry-run {0} | sweep-collect --output sw/sweep_manifest.json; \
         sweep-collect sw/sweep_manifest.json",
        REQUIRED.join(" ")
    );
    let out = sh(
        &format!("script -qec {} /dev/null < /dev/null", shell_quote(&inner)),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = plain(&stdout(&out));
    assert!(!text.contains("{\"index\""), "no JSON lines: {text}");
    assert!(!text.contains("\"sweep_timestamp\""), "no JSON: {text}");
    assert_eq!(
        text.matches("INDEX  JOB  STATE    ELAPSED  mem-fraction-static")
            .count(),
        3,
        "{text}"
    );
    assert_eq!(
        text.matches("2 combinations: DRY_RUN 2").count(),
        3,
        "{text}"
    );
    // States in colour on a terminal, unless NO_COLOR.
    assert!(
        stdout(&out).contains("\u{1b}[33mDRY_RUN"),
        "{}",
        stdout(&out)
    );
    let out = sh(
        "NO_COLOR=1 script -qec 'sweep-collect sw/sweep_manifest.json' /dev/null < /dev/null",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains('\u{1b}'), "{}", stdout(&out));
    assert!(stdout(&out).contains("DRY_RUN"), "{}", stdout(&out));
}

/// Terminal output as text: without carriage returns and escape sequences (colours).
pub fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Issue 19, item 9: a FIFO where the cause of a failure is read (the job's `failed_step`,
/// its own `.err`) is never opened: `--status` ends, without that cause.
#[test]
fn a_fifo_where_a_failures_cause_is_read_is_never_opened() {
    let dir = temp_dir("daily_fifo_cause");
    sweep_of_three(&dir);
    let log = dir.join("logs/sweep_job_sweep0");
    std::fs::remove_file(log.join("11/failed_step")).unwrap();
    for p in [log.join("11/failed_step"), log.join("11.err")] {
        assert!(std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap()
            .success());
    }
    let out = sh(
        &format!("timeout 60 sweep-collect --status --jsonl {SLURM} recs.jsonl"),
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["state"], "FAILED");
    // Nothing was read from them: no line of theirs is the cause.
    assert!(
        first["failure"].get("file").is_none(),
        "{}",
        first["failure"]
    );
}

/// Issue 19: `--job ID` when two submissions name the same job ID (IDs are reused after a
/// controller's state is rebuilt): the newest is shown, and the others are named.
#[test]
fn one_job_by_an_id_two_submissions_had_shows_the_newest_and_says_so() {
    let dir = temp_dir("daily_job_reused");
    let rec = |i: u64, extra: &str| {
        format!(
            r#"{{"index":{i},"id":"r{i}","mode":"agg","parameters":{{"slurm":{{"agg_nodes":1,"agg_workers":1}},"sglang":{{}}}}{extra}}}"#
        )
    };
    let old = rec(
        0,
        r#","job_id":"9","submitted_at":"2026-02-01T00:00:00+00:00","history":[{"job_id":"5","submitted_at":"2026-01-01T00:00:00+00:00"}]"#,
    );
    let new = rec(
        1,
        r#","job_id":"5","submitted_at":"2026-03-01T00:00:00+00:00""#,
    );
    std::fs::write(dir.join("m.jsonl"), format!("{old}\n{new}\n")).unwrap();
    let out = sh("sweep-collect --job 5 --format json m.jsonl", &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(j["record"]["index"], 1, "{j}");
    assert!(
        stderr(&out).contains("job 5 is named by 2 submissions")
            && stderr(&out).contains("the others: index 0 (earlier submission (history[0]))"),
        "{}",
        stderr(&out)
    );
}

/// Issue 23, item 4: a sweep directory as input is its manifest; with no input and stdin a
/// terminal, `./sweep_manifest.json`, else one line saying what to pass (never a silent wait
/// on the terminal, never "Is a directory").
#[test]
fn sweep_collect_finds_its_manifest() {
    let dir = temp_dir("daily_default_input");
    sweep_of_three(&dir);
    std::fs::create_dir_all(dir.join("sw")).unwrap();
    let out = sh(
        "sweep-collect recs.jsonl --output sw/sweep_manifest.json",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A directory: its manifest, updated in place.
    let out = sh(
        &format!("sweep-collect --status {SLURM} sw > out.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "sweep-collect: updated sw/sweep_manifest.json\n"
    );
    let m = read_json(&dir.join("sw/sweep_manifest.json"));
    assert_eq!(m["jobs"][0]["state"], "FAILED");
    // A directory without one: said, exit 1.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let out = sh("set +e; sweep-collect empty; echo rc=$?", &dir);
    assert_eq!(stdout(&out), "rc=1\n");
    assert_eq!(
        stderr(&out),
        "sweep-collect: empty: a directory without a sweep_manifest.json: pass a sweep directory that has one, a manifest, or a file of records\n"
    );
    // No input, stdin a terminal, in the sweep directory: its manifest, updated in place.
    let inner = format!(
        "cd sw && COLUMNS=200 sweep-collect --status {}",
        SLURM.replace("./", "../")
    );
    let out = sh(
        &format!("script -qec {} /dev/null < /dev/null", shell_quote(&inner)),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = plain(&stdout(&out));
    assert!(
        text.contains("3 combinations: COMPLETED 1, FAILED 1, TIMEOUT 1"),
        "{text}"
    );
    assert!(
        text.contains("sweep-collect: updated sweep_manifest.json"),
        "{text}"
    );
    // ... and elsewhere: one line, exit 2.
    let out = sh(
        "script -qec 'sweep-collect --status; echo rc=$?' /dev/null < /dev/null",
        &dir,
    );
    let text = plain(&stdout(&out));
    assert_eq!(
        text.trim_end(),
        "sweep-collect: no input: stdin is a terminal and there is no ./sweep_manifest.json here; pass a manifest or a sweep directory (sweep-collect --status sweeps/tpt), or pipe records in\nrc=2"
    );
    // stdin not a terminal: read as always.
    let out = sh("sweep-collect --jsonl < recs.jsonl | wc -l", &dir);
    assert_eq!(stdout(&out).trim(), "3");
}

/// Issue 23, item 7: `--state` (Slurm's names, squeue's short forms) and `--sweep` choose
/// what the table, the manifest and the JSON Lines show, without jq; a manifest updated in
/// place keeps every record.
#[test]
fn state_and_sweep_filters_without_jq() {
    let dir = temp_dir("daily_filters");
    sweep_of_three(&dir);
    let out = sh(
        &format!("sweep-collect --status {SLURM} recs.jsonl --output m.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let indices = |cmd: &str| -> Vec<u64> {
        let out = sh(cmd, &dir);
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["index"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(
        indices("sweep-collect --jsonl --state FAILED,TIMEOUT m.json"),
        [0, 2]
    );
    assert_eq!(
        indices("sweep-collect --jsonl --state f --state to m.json"),
        [0, 2]
    );
    assert_eq!(indices("sweep-collect --jsonl --state CD m.json"), [1]);
    assert_eq!(
        indices("sweep-collect --jsonl --state PD,R m.json"),
        Vec::<u64>::new()
    );
    // With --status on the one manifest: it is updated whole; stdout has the chosen ones.
    let before = read(&dir, "m.json");
    let out = sh(
        &format!("sweep-collect --status {SLURM} --state TO m.json > view.json"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read(&dir, "m.json"), before, "every record kept");
    let view = read_json(&dir.join("view.json"));
    assert_eq!(view["total_jobs"], 1);
    assert_eq!(view["jobs"][0]["index"], 2);
    // The table too.
    let out = sh(
        "COLUMNS=200 sweep-collect --format table --state F m.json",
        &dir,
    );
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.ends_with("1 combinations: FAILED 1\n"), "{text}");
    // --output gets the chosen ones; an --output that is an input would lose the rest.
    let out = sh(
        "sweep-collect --state FAILED m.json --output failed.json",
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_json(&dir.join("failed.json"))["total_jobs"], 1);
    for (cmd, why) in [
        (
            "sweep-collect --state FAILED m.json --output m.json",
            "would drop the records",
        ),
        (
            "sweep-collect --cancel --state PD m.json",
            "--cancel cancels every job",
        ),
        (
            "sweep-collect --state FAILD m.json",
            "unknown state \"FAILD\"",
        ),
    ] {
        let out = sh(&format!("set +e; {cmd}; echo rc=$?"), &dir);
        assert_eq!(stdout(&out), "rc=2\n", "{cmd}");
        assert!(stderr(&out).contains(why), "{cmd}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{cmd}: {}", stderr(&out));
    }
    // Two sweeps merged: --sweep by directory name, path end or sweep key.
    let other = read(&dir, "recs.jsonl").replace("/sw\"", "/other\"");
    std::fs::write(dir.join("other.jsonl"), other).unwrap();
    let key = sweep::tag::sweep_key(&format!("{}/other", dir.display()));
    assert!(key.starts_with("other-"), "{key}");
    for name in ["other", &format!("{}/other", dir.display()), &key] {
        let got = indices(&format!(
            "sweep-collect --jsonl --sweep {name} recs.jsonl other.jsonl"
        ));
        assert_eq!(got, [0, 1, 2], "{name}");
        let out = sh(
            &format!("sweep-collect --jsonl --sweep {name} recs.jsonl other.jsonl"),
            &dir,
        );
        assert!(
            stdout(&out).lines().all(|l| l.contains("/other\"")),
            "{name}"
        );
    }
    // Issue 23, item 5: the merged table tells them apart, each sweep's rows together.
    let out = sh(
        "COLUMNS=200 sweep-collect --format table recs.jsonl other.jsonl",
        &dir,
    );
    let table = stdout(&out);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    assert_eq!(rows[0], ["INDEX", "SWEEP", "JOB"], "{table}");
    let sweeps: Vec<&str> = rows[1..7].iter().map(|r| r[1]).collect();
    let mut names = sweeps.clone();
    names.dedup();
    assert_eq!(names.len(), 2, "grouped: {table}");
    assert!(names.contains(&"sw") && names.contains(&"other"), "{table}");
    assert!(
        table.ends_with(" of 2 sweeps: 6 without a state (add --status)\n"),
        "{table}"
    );
    let both = indices("sweep-collect --jsonl --sweep sw,other --state CD recs.jsonl other.jsonl");
    assert_eq!(both, Vec::<u64>::new(), "no states yet");
}
