//! `--max-queued` without a cluster: its usage errors, a record that can never fit, and the
//! progress line while waiting for room, with a stand-in `sbatch`/`squeue` whose queue
//! empties on cue (a real queue does not wait for a test). The real thing is `queue_slurm.rs`.

use crate::common::{bin, stderr, temp_dir, without_summary};
use crate::submit::{data, records, submit, REQUIRED};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Stand-ins in `dir/bin`: `sbatch` prints job 100+n and makes it the queued job; `squeue`
/// asked for the queue (`%a` in its format) lists that job for its first `polls` looks after
/// each sbatch, then nothing; asked anything else, nothing. `dir/sbatch_calls` counts calls.
/// `scontrol show config` prints `dir/config` (nothing if absent); `sacctmgr` prints nothing.
fn fakes(dir: &Path, polls: u32) -> PathBuf {
    let bindir = dir.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    let d = dir.display();
    let scripts = [
        (
            "sbatch",
            format!(
                "#!/bin/bash\nn=$(( $(cat {d}/sbatch_calls 2>/dev/null || echo 0) + 1 ))\necho $n > {d}/sbatch_calls\n\
                 echo 0 > {d}/polls\necho $((100 + n))\n"
            ),
        ),
        (
            "squeue",
            format!(
                "#!/bin/bash\ncase \"$*\" in *%a*) ;; *) exit 0;; esac\n\
                 p=$(( $(cat {d}/polls 2>/dev/null || echo 0) + 1 )); echo $p > {d}/polls\n\
                 n=$(cat {d}/sbatch_calls 2>/dev/null || echo 0)\n\
                 if [ \"$n\" -gt 0 ] && [ $p -le {polls} ]; then echo \"$((100 + n))|sweepacct|batch|normal|PENDING\"; fi\n"
            ),
        ),
        (
            "scontrol",
            format!("#!/bin/bash\n[ \"$*\" = 'show config' ] && cat {d}/config 2>/dev/null\nexit 0\n"),
        ),
        ("sacctmgr", "#!/bin/bash\nexit 0\n".to_string()),
        ("scancel", "#!/bin/bash\nexit 0\n".to_string()),
        ("sacct", "#!/bin/bash\nexit 0\n".to_string()),
    ];
    for (name, text) in scripts {
        let p = bindir.join(name);
        std::fs::write(&p, text).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    }
    bindir.join("sbatch")
}

fn sbatch_calls(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("sbatch_calls"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0)
}

#[test]
fn max_queued_takes_a_positive_number_or_auto() {
    for bad in ["0", "-3", "many", "Auto"] {
        let out = submit(&[&format!("--max-queued={bad}"), "--dry-run"], "", &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("expected a number of jobs (1 or more) or auto"),
            "{bad}: {}",
            stderr(&out)
        );
    }
}

/// sweep-submit with the fakes of `dir`, its own sweep directory and `args`, on three records.
fn run_three(dir: &Path, sbatch: &Path, args: &[&str]) -> std::process::Output {
    let sweep = dir.join("sweep").display().to_string();
    let mut all = vec!["--sbatch", sbatch.to_str().unwrap(), "--output-dir", &sweep];
    all.extend_from_slice(args);
    submit(&all, &data("three.jsonl"), &[])
}

#[test]
fn a_dry_run_ignores_max_queued() {
    let dir = temp_dir("queue_dry_run");
    let sbatch = fakes(&dir, 0);
    let out = run_three(&dir, &sbatch, &["--dry-run", "--max-queued", "auto"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(without_summary(&stderr(&out)), "");
    assert!(records(&out)
        .iter()
        .all(|r| r["submit_status"] == "dry_run"));
}

#[test]
fn auto_without_readable_limits_fails_the_record_and_attempts_no_more() {
    let dir = temp_dir("queue_auto_unreadable");
    let sbatch = fakes(&dir, 0);
    // `scontrol show config` prints nothing: no cluster name to ask sacctmgr about.
    let out = run_three(&dir, &sbatch, &["--max-queued", "auto"]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out);
    let statuses: Vec<&str> = recs
        .iter()
        .map(|r| r["submit_status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "not_submitted", "not_submitted"]);
    assert_eq!(
        recs[0]["submit_error"],
        format!(
            "--max-queued auto: could not read Slurm's limits ({}: show config printed no ClusterName); give --max-queued N",
            dir.join("bin/scontrol").display()
        )
    );
    assert_eq!(sbatch_calls(&dir), 0);
}

#[test]
fn auto_where_slurm_enforces_no_limits_says_so_and_does_not_wait() {
    let dir = temp_dir("queue_auto_unenforced");
    // Every job would stay queued for ever: a run that waited for room would never end.
    let sbatch = fakes(&dir, 1000);
    std::fs::write(
        dir.join("config"),
        "ClusterName = c\nAccountingStorageEnforce = associations\n",
    )
    .unwrap();
    let out = run_three(&dir, &sbatch, &["--max-queued", "auto"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: note: --max-queued auto: jobs of account sweepacct, QOS normal: Slurm enforces no limits (AccountingStorageEnforce=associations): not waiting for room\n"
    );
    assert_eq!(sbatch_calls(&dir), 3);
    // With limits enforced and none set (sacctmgr lists nothing): the same, said so.
    let dir = temp_dir("queue_auto_no_limit");
    let sbatch = fakes(&dir, 1000);
    std::fs::write(
        dir.join("config"),
        "ClusterName = c\nAccountingStorageEnforce = associations,limits\n",
    )
    .unwrap();
    let out = run_three(&dir, &sbatch, &["--max-queued", "auto"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: note: --max-queued auto: jobs of account sweepacct, QOS normal: no limit on queued jobs applies (sacctmgr): not waiting for room\n"
    );
    assert_eq!(sbatch_calls(&dir), 3);
}

#[test]
fn max_submit_rate_still_paces_every_sbatch_under_a_cap() {
    let dir = temp_dir("queue_and_rate");
    // The queue is never full: only the rate makes the run wait (2 calls a second).
    let sbatch = fakes(&dir, 0);
    let t0 = std::time::Instant::now();
    let out = run_three(
        &dir,
        &sbatch,
        &["--max-queued", "5", "--max-submit-rate", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sbatch_calls(&dir), 3);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(1000));
}

#[test]
fn a_record_whose_follow_ups_can_never_fit_fails_without_an_sbatch() {
    let dir = temp_dir("queue_never_fits");
    let sbatch = fakes(&dir, 0);
    let out = run_three(&dir, &sbatch, &["--max-queued", "2", "--retries", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(r["submit_status"], "failed");
        assert_eq!(
            r["submit_error"],
            "a job and its --retries follow-ups need 3 places in the queue at once, but at most 2 may be queued in account sweepacct (--max-queued 2)"
        );
    }
    assert_eq!(sbatch_calls(&dir), 0);
}

#[test]
fn waiting_for_room_shows_on_a_terminal_only() {
    let dir = temp_dir("queue_progress");
    // Each job stays queued for two looks at the queue.
    let sbatch = fakes(&dir, 2);
    let run = |sweep: &str| {
        vec![
            "--sbatch".to_string(),
            sbatch.display().to_string(),
            "--output-dir".to_string(),
            dir.join(sweep).display().to_string(),
            "--max-queued".to_string(),
            "1".to_string(),
        ]
    };
    // Not a terminal: nothing but real diagnostics.
    let args = run("sweep1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = submit(&args, &data("three.jsonl"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(without_summary(&stderr(&out)), "");
    assert_eq!(records(&out).len(), 3);
    // On a terminal (util-linux `script` gives the program a pty, 200 columns wide): the
    // waits, as the message of submission's progress bar.
    let cmd = format!(
        "stty cols 200 rows 50; {} {} {} {DATA}/three.jsonl > {}/out.jsonl",
        bin("sweep-submit").display(),
        REQUIRED.join(" "),
        run("sweep2").join(" "),
        dir.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output();
    let Ok(tty) = tty else {
        eprintln!("SKIP waiting on a terminal: util-linux `script` is not installed");
        return;
    };
    let text = crate::daily::plain(&String::from_utf8_lossy(&tty.stdout));
    assert!(
        text.contains("] 1/3 ")
            && text.contains(
                "submitted 1; queued 1/1 in account sweepacct: waiting for room (next check in 1s)"
            ),
        "{text:?}"
    );
    assert!(
        text.contains("submitted 2; queued 1/1 in account sweepacct: waiting for room"),
        "{text:?}"
    );
    // Each record's own message replaces the wait's.
    assert!(
        text.contains("] 2/3 ") && text.contains("submitted sweep_job_sweep1 -> "),
        "{text:?}"
    );
    assert!(
        text.contains("] 3/3 ") && text.contains("submitted sweep_job_sweep2 -> 106"),
        "{text:?}"
    );
    // Nothing but the bar, redrawn in place, then the line the run ends with.
    let t = text.trim_end();
    assert!(!t.contains('\n'), "{text:?}");
    assert!(
        t.ends_with("sweep-submit: 3 new, 0 re-run, 0 kept"),
        "{text:?}"
    );
}

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/submit");
