//! sweep-submit without a cluster: dry runs, input checks, and fault injection with a stand-in
//! `sbatch` (a bash script in the test's temp dir) for what a real controller cannot do on
//! demand: hang, print garbage, fail transiently, time out after creating the job.
//! The real-cluster tests are in `submit_slurm.rs`.

use crate::common::{bin, stderr, stdout, temp_dir, without_summary};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/submit");

/// The options every run needs (the seed's required ones), with the demo launch scripts.
pub const REQUIRED: [&str; 16] = [
    "--account",
    "sweepacct",
    "--partition",
    "batch",
    "--model-dir",
    "/models/m",
    "--config-dir",
    "/cfg",
    "--gpu-type",
    "demo",
    "--script-variant",
    "max-tpt",
    "--scripts-dir",
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo-scripts"),
    "--network-interface",
    "lo",
];

pub fn data(name: &str) -> String {
    std::fs::read_to_string(Path::new(DATA).join(name)).unwrap()
}

/// Runs sweep-submit with REQUIRED + `args`, `stdin`, and `env` on top of the test's own.
pub fn submit(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    submit_with(&REQUIRED, args, stdin, env)
}

/// [`submit`] with other required options.
pub fn submit_with(required: &[&str], args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("sweep-submit"));
    // Dry runs save their scripts under $TMPDIR: the tests' own.
    cmd.env("TMPDIR", crate::common::tmpdir());
    cmd.args(required)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut sin = child.stdin.take().unwrap();
    let input = stdin.as_bytes().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = sin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

pub fn records(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A stand-in Slurm in `dir/bin`: `sbatch` counts its calls in `dir/calls`, logs its argv to
/// `dir/argv`, sets `$n` (this call's number) and `$tag` (its --comment), then runs `body`.
/// `squeue` prints `dir/jobs` for the tag query (lines `ID|SUBMIT TIME|DEPENDENCY|STATE|
/// REASON|NAME|TAG`, what the fake has "created") and nothing for a query by job ID; `sacct`
/// knows nothing; `scontrol` and `scancel` log their arguments to `dir/scontrol_calls` and
/// `dir/scancel_calls`. Every Slurm command the program runs is one of these: none reaches
/// the real cluster.
pub struct Fake {
    dir: PathBuf,
}

impl Fake {
    pub fn new(name: &str, body: &str) -> Fake {
        let dir = temp_dir(name);
        let bindir = dir.join("bin");
        std::fs::create_dir_all(&bindir).unwrap();
        let d = dir.display();
        let sbatch = format!(
            "#!/bin/bash\nD={d}\nn=$(( $(cat $D/calls 2>/dev/null || echo 0) + 1 ))\necho $n > $D/calls\n\
             printf '%s\\n' \"$*\" >> $D/argv\ntag=\nfor a; do case $a in --comment=*) tag=${{a#--comment=}};; esac; done\n{body}\n"
        );
        let squeue = format!(
            "#!/bin/bash\necho \"$*\" >> {d}/squeue_calls\ncase \" $* \" in *' -j '*) exit 0;; esac\ncat {d}/jobs 2>/dev/null\nexit 0\n"
        );
        let sacct = "#!/bin/bash\nexit 0\n".to_string();
        let scontrol = format!("#!/bin/bash\necho \"$*\" >> {d}/scontrol_calls\n");
        let scancel = format!("#!/bin/bash\necho \"$*\" >> {d}/scancel_calls\n");
        for (name, text) in [
            ("sbatch", sbatch),
            ("squeue", squeue),
            ("sacct", sacct),
            ("scontrol", scontrol),
            ("scancel", scancel),
        ] {
            let p = bindir.join(name);
            std::fs::write(&p, text).unwrap();
            Command::new("chmod").arg("+x").arg(&p).status().unwrap();
        }
        Fake { dir }
    }

    pub fn sbatch(&self) -> String {
        self.dir.join("bin/sbatch").display().to_string()
    }

    fn out_dir(&self) -> String {
        self.dir.join("sweep").display().to_string()
    }

    fn calls(&self) -> usize {
        std::fs::read_to_string(self.dir.join("calls"))
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0)
    }

    fn argv(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("argv"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The job IDs `scontrol release` was given, in order.
    fn released(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("scontrol_calls"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("release "))
            .flat_map(|ids| ids.split(','))
            .map(str::to_string)
            .collect()
    }

    fn squeue_calls(&self) -> usize {
        std::fs::read_to_string(self.dir.join("squeue_calls"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Runs `sweep-submit REQUIRED --sbatch <fake> --output-dir <dir>/sweep REST` through bash,
    /// for what needs a shell: redirections, closed descriptors, pipes.
    fn shell(&self, rest: &str) -> Output {
        let script = format!(
            "{} {} --sbatch {} --output-dir {} {rest}",
            bin("sweep-submit").display(),
            REQUIRED.join(" "),
            self.sbatch(),
            self.out_dir(),
        );
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap()
    }

    /// Runs sweep-submit with this fake and `--output-dir <dir>/sweep`.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let (sbatch, out_dir) = (self.sbatch(), self.out_dir());
        let mut all = vec!["--sbatch", &sbatch, "--output-dir", &out_dir];
        all.extend_from_slice(args);
        submit(&all, stdin, &[])
    }
}

/// Record 0 of three.jsonl as combination `i` of its own: index `i`, an id of its own; a line.
fn unique(line: &str, i: usize) -> String {
    line.replace("\"index\":0", &format!("\"index\":{i}"))
        .replace("a1b2c3d4e5f60000", &format!("a1b2c3d4e5f6{i:04}"))
        + "\n"
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// A dry run needs no Slurm, writes the job scripts and the exact sbatch lines, and writes
/// nothing into the sweep directory (issue 23, item 3): no state, no lock, no log directory,
/// no script; the scripts are in a directory of their own under $TMPDIR, named on stderr.
#[test]
fn dry_run_writes_scripts_and_commands_and_needs_no_slurm() {
    let dir = temp_dir("submit_dry_run");
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let sweep = dir.join("sweep");
    let sw = sweep.display().to_string();
    let out = submit(
        &["--dry-run", "--output-dir", &sw, "--sbatch-arg=--qos=high"],
        &data("three.jsonl"),
        &[("PATH", empty.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    let preview = err
        .strip_prefix("sweep-submit: dry run: 3 job script(s) in ")
        .and_then(|r| r.strip_suffix(", nothing submitted\n"))
        .unwrap_or_else(|| panic!("{err}"))
        .to_string();
    assert!(
        preview.starts_with(
            &crate::common::tmpdir()
                .join("sweep-dry-run-")
                .display()
                .to_string()
        ),
        "{preview}"
    );
    let key = sweep::tag::sweep_key(&sw);
    let scripts = format!("{preview}/{key}");
    let expected: String = (0..3)
        .map(|i| {
            format!(
                r#"{{"index":{i},"id":"a1b2c3d4e5f6000{i}","mode":"agg","total_nodes":1,"parameters":{{"slurm":{{"agg_nodes":1,"agg_workers":1}},"sglang":{{}}}},"sweep_dir":"{sw}","job_name":"sweep_job_sweep{i}","job_script":"{scripts}/job_{i}.sh","log_dir":"{sw}/logs/sweep_job_sweep{i}","gpus_per_node":8,"tag":"sweep:{key}:a1b2c3d4e5f6000{i}:{i}","submit_status":"dry_run","sbatch_command":["sbatch","--parsable","--hold","--comment=sweep:{key}:a1b2c3d4e5f6000{i}:{i}","--qos=high","{scripts}/job_{i}.sh"]}}
"#
            )
        })
        .collect();
    assert_eq!(stdout(&out), expected);
    for i in 0..3 {
        let script = std::fs::read_to_string(format!("{scripts}/job_{i}.sh")).unwrap();
        assert!(script.starts_with("#!/bin/bash\n"), "{script}");
        assert!(script.contains(&format!("sweep_job_sweep{i}")), "{script}");
        assert!(
            script.contains(&format!("{sw}/logs/sweep_job_sweep{i}")),
            "{script}"
        );
    }
    assert!(!sweep.exists(), "nothing made in the sweep directory");
    // Same input, same records but for where the scripts are.
    let again = submit(
        &["--dry-run", "--output-dir", &sw, "--sbatch-arg=--qos=high"],
        &data("three.jsonl"),
        &[("PATH", empty.to_str().unwrap())],
    );
    let other = stderr(&again)
        .strip_prefix("sweep-submit: dry run: 3 job script(s) in ")
        .and_then(|r| r.strip_suffix(", nothing submitted\n"))
        .unwrap()
        .to_string();
    assert_ne!(other, preview, "a directory of its own");
    assert_eq!(stdout(&again), expected.replace(&preview, &other));
    let _ = std::fs::remove_dir_all(&preview);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn without_sbatch_on_path_it_says_what_to_do() {
    let dir = temp_dir("submit_no_sbatch");
    let sw = dir.join("sweep").display().to_string();
    let out = submit(
        &["--output-dir", &sw],
        &data("three.jsonl"),
        &[("PATH", dir.to_str().unwrap())],
    );
    assert_eq!(
        stderr(&out),
        "sweep-submit: sbatch not found on PATH: not on a Slurm login node? use --sbatch PATH or --dry-run\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_bad_record_at_line_50_submits_nothing() {
    let fake = Fake::new("submit_bad_line", "echo $n");
    let good = data("three.jsonl").lines().next().unwrap().to_string();
    let mut input = String::new();
    for i in 0..49 {
        input += &unique(&good, i);
    }
    input += "{\"index\":49,\"id\":\"x\",\"mode\":\"agg\"}\n";
    let out = fake.run(&[], &input);
    assert_eq!(
        stderr(&out),
        "sweep-submit: <stdin>:50: invalid record: missing field `parameters`\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(fake.calls(), 0);
    assert!(!Path::new(&fake.out_dir()).join("job_0.sh").exists());
}

#[test]
fn the_same_record_twice_is_refused_before_anything_is_submitted() {
    let fake = Fake::new("submit_duplicate", "echo $n");
    let line = data("three.jsonl").lines().next().unwrap().to_string();
    let out = fake.run(&[], &format!("{line}\n{line}\n"));
    assert_eq!(
        stderr(&out),
        "sweep-submit: <stdin>:2: combination a1b2c3d4e5f60000 (index 0) appears twice for the same sweep directory (first at <stdin>:1): it would be submitted twice\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fake.calls(), 0);
}

#[test]
fn each_record_is_on_stdout_before_the_next_sbatch_starts() {
    // The fake copies what has reached the output file so far into snap_$n.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("submit_flush");
    let outfile = dir.join("out.jsonl");
    let body = format!(
        "cp {} $D/snap_$n\nif [ $n = 2 ]; then echo '2;gpucluster'; else echo \" $((100 + n)) \"; fi",
        outfile.display()
    );
    let fake = Fake::new("submit_flush", &body);
    let out = fake.shell(&format!(
        "--sbatch-arg=--qos=high --sbatch-arg --exclusive < {DATA}/three.jsonl > {}",
        outfile.display()
    ));
    assert_eq!(without_summary(&stderr(&out)), "");
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&outfile).unwrap();
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let snap = |n: usize| std::fs::read_to_string(fake.dir.join(format!("snap_{n}"))).unwrap();
    assert_eq!(snap(1), "");
    assert_eq!(snap(2).lines().count(), 1);
    assert_eq!(snap(3).lines().count(), 2);
    assert_eq!(
        [
            s(&recs[0], "job_id"),
            s(&recs[1], "job_id"),
            s(&recs[2], "job_id")
        ],
        ["101", "2", "103"]
    );
    assert_eq!(s(&recs[1], "cluster"), "gpucluster");
    assert!(recs[0].get("cluster").is_none());
    for r in &recs {
        assert_eq!(s(r, "submit_status"), "submitted");
        let at = s(r, "submitted_at");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert!(r.get("submit_error").is_none());
    }
    let sw = fake.out_dir();
    let key = sweep::tag::sweep_key(&sw);
    assert_eq!(
        fake.argv()[0],
        format!("--parsable --hold --comment=sweep:{key}:a1b2c3d4e5f60000:0 --qos=high --exclusive {sw}/job_0.sh")
    );
    // Submitted held, released once their IDs are known: all three, in one call.
    assert_eq!(fake.released(), ["101", "2", "103"]);
}

/// Runs the fake with `body` over three.jsonl and returns (output, records).
fn three(name: &str, body: &str, args: &[&str]) -> (Fake, Output, Vec<Value>) {
    let fake = Fake::new(name, body);
    let out = fake.run(args, &data("three.jsonl"));
    let recs = records(&out);
    (fake, out, recs)
}

#[test]
fn garbage_from_sbatch_is_a_failure_never_an_id() {
    let (fake, out, recs) = three(
        "submit_garbage",
        "case $n in 1) echo 'Submitted batch job 5';; 2) echo;; *) echo 7;; esac",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(recs.len(), 3);
    assert_eq!(s(&recs[0], "submit_status"), "failed");
    assert_eq!(
        s(&recs[0], "submit_error"),
        r#"sbatch exited 0 but printed no job ID (stdout: "Submitted batch job 5")"#
    );
    assert!(recs[0].get("job_id").is_none());
    assert_eq!(
        s(&recs[1], "submit_error"),
        r#"sbatch exited 0 but printed no job ID (stdout: "")"#
    );
    assert!(recs[1].get("job_id").is_none());
    assert_eq!(s(&recs[2], "job_id"), "7");
    // Exit 0 without an ID may mean the job exists: never submitted again.
    assert_eq!(fake.calls(), 3);
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: 2 of 3 records not submitted; first: <stdin>:1: sbatch exited 0 but printed no job ID (stdout: \"Submitted batch job 5\")\n"
    );
}

#[test]
fn a_refused_job_keeps_slurms_message_and_the_rest_go_on() {
    let (fake, out, recs) = three(
        "submit_refused",
        "if [ $n = 2 ]; then echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2; exit 1; fi; echo $n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: 1 of 3 records not submitted; first: <stdin>:2: sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    );
    let statuses: Vec<&str> = recs.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["submitted", "failed", "submitted"]);
    assert_eq!(
        s(&recs[1], "submit_error"),
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    );
    assert!(recs[1].get("job_id").is_none());
    assert!(recs[1].get("submitted_at").is_none());
    assert_eq!(s(&recs[2], "job_id"), "3");
    assert_eq!(fake.calls(), 3, "a refusal is not retried");
}

#[test]
fn fail_fast_stops_and_still_writes_every_record() {
    let (fake, out, recs) = three(
        "submit_fail_fast",
        "if [ $n = 2 ]; then echo 'sbatch: error: Batch job submission failed: Node count specification invalid' >&2; exit 1; fi; echo $n",
        &["--fail-fast"],
    );
    assert_eq!(out.status.code(), Some(1));
    let statuses: Vec<&str> = recs.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["submitted", "failed", "not_submitted"]);
    assert_eq!(
        s(&recs[2], "submit_error"),
        "not attempted: an earlier record failed (<stdin>:2)"
    );
    assert!(recs[2].get("job_id").is_none());
    assert_eq!(fake.calls(), 2);
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: 2 of 3 records not submitted; first: <stdin>:2: sbatch: error: Batch job submission failed: Node count specification invalid\n"
    );
}

#[test]
fn a_transient_error_is_retried_with_backoff() {
    let (fake, out, recs) = three(
        "submit_transient",
        "if [ $n -le 2 ]; then echo 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi; echo $((40 + n))",
        &["--retry-backoff", "0.05"],
    );
    assert_eq!(without_summary(&stderr(&out)), "");
    assert_eq!(out.status.code(), Some(0));
    let ids: Vec<&str> = recs.iter().map(|r| s(r, "job_id")).collect();
    assert_eq!(ids, ["43", "44", "45"]);
    assert_eq!(fake.calls(), 5);
    // A connect failure never reached slurmctld: no look-up needed.
    assert_eq!(fake.squeue_calls(), 0);
}

#[test]
fn a_socket_timeout_is_looked_up_before_submitting_again() {
    // Call 1 fails with a socket timeout and created nothing; the look-up finds nothing, the
    // second call submits.
    let (fake, out, recs) = three(
        "submit_socket_timeout",
        "if [ $n = 1 ]; then echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2; exit 1; fi; echo $((40 + n))",
        &["--retry-backoff", "0.01"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s(&recs[0], "job_id"), "42");
    // The look-up, and a last look for a duplicate the timed-out call may have created.
    assert_eq!(fake.squeue_calls(), 2);
}

#[test]
fn an_sbatch_killed_by_a_signal_is_looked_up_before_submitting_again() {
    // Call 1 creates job 701 (squeue lists it with its tag), then dies of SIGKILL: the job
    // is adopted, not submitted a second time.
    let (fake, out, recs) = three(
        "submit_signal",
        "if [ $n = 1 ]; then echo \"701|$(date +%Y-%m-%dT%H:%M:%S)|(null)|PENDING|JobHeldUser|j|$tag\" >> $D/jobs; kill -9 $$; fi; echo $((700 + n))",
        &["--retry-backoff", "0.01"],
    );
    assert_eq!(
        (out.status.code(), without_summary(&stderr(&out))),
        (Some(0), String::new())
    );
    let ids: Vec<&str> = recs.iter().map(|r| s(r, "job_id")).collect();
    assert_eq!(ids, ["701", "702", "703"]);
    assert_eq!((fake.calls(), fake.squeue_calls()), (3, 2));
    assert_eq!(fake.released(), ["701", "702", "703"]);
}

#[test]
fn a_hung_sbatch_is_killed_and_the_run_ends_in_bounded_time() {
    let t0 = Instant::now();
    let (fake, out, recs) = three(
        "submit_hang",
        "sleep 30; echo 1",
        &[
            "--sbatch-timeout",
            "0.5",
            "--submit-attempts",
            "2",
            "--retry-backoff",
            "0.01",
        ],
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(recs.len(), 3);
    assert_eq!(s(&recs[0], "submit_status"), "failed");
    assert_eq!(
        s(&recs[0], "submit_error"),
        "sbatch did not answer within 0.5s"
    );
    // Slurm (the fake) never answered: the rest is not attempted, but every record is written.
    for r in &recs[1..] {
        assert_eq!(s(r, "submit_status"), "not_submitted");
        assert_eq!(
            s(r, "submit_error"),
            "not attempted: Slurm did not answer for an earlier record (<stdin>:1)"
        );
    }
    // Two calls, each preceded (after the first) by a look-up by tag, plus a last look-up, and
    // the run's last look for duplicates.
    assert_eq!(fake.calls(), 2);
    assert_eq!(fake.squeue_calls(), 3);
}

#[test]
fn a_job_created_before_the_timeout_is_adopted_not_submitted_twice() {
    // Call 1 creates job 901 (it appears in squeue with its tag), then hangs.
    let (fake, out, recs) = three(
        "submit_created_then_timeout",
        "if [ $n = 1 ]; then now=$(date +%Y-%m-%dT%H:%M:%S); echo \"900|$now|(null)|PENDING|JobHeldUser|j|sweep:other:0:0\" >> $D/jobs; echo \"901|$now|(null)|PENDING|JobHeldUser|j|$tag\" >> $D/jobs; sleep 30; fi; echo $((900 + n))",
        &["--sbatch-timeout", "0.5", "--retry-backoff", "0.01"],
    );
    assert_eq!(without_summary(&stderr(&out)), "");
    assert_eq!(out.status.code(), Some(0));
    let ids: Vec<&str> = recs.iter().map(|r| s(r, "job_id")).collect();
    assert_eq!(ids, ["901", "902", "903"]);
    assert_eq!(fake.calls(), 3, "the first record's sbatch ran once");
    assert_eq!(fake.squeue_calls(), 2);
    assert_eq!(
        fake.released(),
        ["901", "902", "903"],
        "the adopted job too"
    );
}

#[test]
fn an_earlier_job_with_the_same_tag_is_never_adopted() {
    // Re-submission: job 77 (in history) and job 55 (an old run, submitted long ago) carry the
    // record's tag. Call 1 times out on the socket and created nothing: the look-up must take
    // neither, and the record is submitted again.
    let fake = Fake::new(
        "submit_old_same_tag",
        "if [ $n = 1 ]; then echo \"77|2025-11-13T12:34:56|(null)|FAILED|NonZeroExitCode|j|$tag\" > $D/jobs; echo \"55|2025-01-01T00:00:00|(null)|CANCELLED|None|j|$tag\" >> $D/jobs; \
         echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2; exit 1; fi; echo 600",
    );
    let out = fake.run(&["--retry-backoff", "0.01"], &data("resubmit.jsonl"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s(&records(&out)[0], "job_id"), "600");
    // The sweep's jobs and their states before anything (the tag query, then 77 and 78 by ID),
    // the look-up after the timeout, and the run's last look for duplicates.
    assert_eq!((fake.calls(), fake.squeue_calls()), (2, 4));
}

#[test]
fn retries_queue_follow_ups_that_slurm_cancels_when_a_run_succeeds() {
    let (fake, out, recs) = three(
        "submit_retries_fake",
        "echo $((10 + n))",
        &["--retries", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s(&recs[0], "job_id"), "11");
    assert_eq!(recs[0]["retry_job_ids"], serde_json::json!(["12", "13"]));
    assert_eq!(recs[2]["retry_job_ids"], serde_json::json!(["18", "19"]));
    let argv = fake.argv();
    let sw = fake.out_dir();
    let key = sweep::tag::sweep_key(&sw);
    let tag = format!("sweep:{key}:a1b2c3d4e5f60000:0");
    assert_eq!(
        argv[0],
        format!("--parsable --hold --comment={tag} {sw}/job_0.sh")
    );
    assert_eq!(
        argv[1],
        format!("--parsable --hold --comment={tag} --dependency=afternotok:11 --kill-on-invalid-dep=yes {sw}/job_0.sh")
    );
    assert_eq!(
        argv[2],
        format!("--parsable --hold --comment={tag} --dependency=afternotok:11:12 --kill-on-invalid-dep=yes {sw}/job_0.sh")
    );
    assert_eq!(fake.released().len(), 9, "every job and follow-up released");
}

#[test]
fn a_record_submitted_before_keeps_its_earlier_job_in_history() {
    let fake = Fake::new("submit_history", "echo 500");
    // Job 77 was found by sweep-collect --reconcile: that mark belongs to it, not to job 500.
    let input = data("resubmit.jsonl").replace("\"note\"", "\"reconciled\":true,\"note\"");
    let out = fake.run(&[], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &records(&out)[0];
    assert_eq!(s(r, "job_id"), "500");
    assert_eq!(
        r["history"],
        serde_json::json!([{"job_id":"77","submitted_at":"2025-11-13T12:34:56+00:00","retry_job_ids":["78"],"state":"FAILED"}])
    );
    for stale in [
        "state",
        "exit_code",
        "state_source",
        "retry_job_ids",
        "reconciled",
    ] {
        assert!(r.get(stale).is_none(), "{stale} left over: {r}");
    }
    assert_eq!(s(r, "note"), "kept");
}

#[test]
fn controller_unreachable_gives_up_in_bounded_time_and_accounts_for_every_record() {
    let (fake, out, recs) = three(
        "submit_unreachable_fake",
        "echo 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)' >&2; exit 1",
        &["--retry-backoff", "0.01"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fake.calls(), 6, "--submit-attempts defaults to 6");
    let statuses: Vec<&str> = recs.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["failed", "not_submitted", "not_submitted"]);
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: 3 of 3 records not submitted; first: <stdin>:1: sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    for (args, msg) in [
        (
            vec!["--submit-attempts", "0"],
            "sweep-submit: --submit-attempts must be at least 1\n",
        ),
        (
            vec!["--max-submit-rate", "0"],
            "sweep-submit: --max-submit-rate must be a positive number per second\n",
        ),
        (
            vec!["--sbatch-timeout=-1"],
            "sweep-submit: --sbatch-timeout must be a positive number of seconds\n",
        ),
        // Too large for a Duration: a usage error, not a panic.
        (
            vec!["--sbatch-timeout", "1e20"],
            "sweep-submit: --sbatch-timeout must be a positive number of seconds\n",
        ),
        (
            vec!["--retry-backoff", "1e20"],
            "sweep-submit: --retry-backoff must be a number of seconds, 0 or more\n",
        ),
        (
            vec!["--max-submit-rate", "1e-300"],
            "sweep-submit: --max-submit-rate must be a positive number per second\n",
        ),
    ] {
        let out = submit(&args, "", &[]);
        assert_eq!(stderr(&out), msg);
        assert_eq!(out.status.code(), Some(2));
    }
    let out = submit(&["--retries", "x"], "", &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_record_that_cannot_be_written_names_its_submitted_job() {
    let fake = Fake::new("submit_dev_full", "echo $((300 + n))");
    let out = fake.shell(&format!("{DATA}/three.jsonl > /dev/full"));
    assert_eq!(out.status.code(), Some(1));
    let key = sweep::tag::sweep_key(&fake.out_dir());
    assert_eq!(
        without_summary(&stderr(&out)),
        format!("sweep-submit: {DATA}/three.jsonl:1: job 301 submitted (tag sweep:{key}:a1b2c3d4e5f60000:0) but its record could not be written: No space left on device (os error 28)\n")
    );
    assert_eq!(
        fake.calls(),
        1,
        "no sbatch after a record that was not written"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = temp_dir("submit_closed_pipe");
    let line = data("three.jsonl").lines().next().unwrap().to_string();
    let input: String = (0..400).map(|i| unique(&line, i)).collect();
    std::fs::write(dir.join("in.jsonl"), input).unwrap();
    let script = format!(
        "set -o pipefail; {} {} --dry-run --output-dir {d}/sweep {d}/in.jsonl | head -n 1 > {d}/first",
        bin("sweep-submit").display(),
        REQUIRED.join(" "),
        d = dir.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("TMPDIR", crate::common::tmpdir())
        .output()
        .unwrap();
    assert_eq!(without_summary(&stderr(&out)), "");
    assert_eq!(out.status.code(), Some(0));
    let first = std::fs::read_to_string(dir.join("first")).unwrap();
    assert!(first.starts_with("{\"index\":0,"), "{first}");
    assert!(
        !dir.join("sweep").exists(),
        "a dry run writes nothing there"
    );
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let scripts = Path::new(first["job_script"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    // The scripts not yet saved when the pipe closed are finished, not left half-written; the
    // records after them are not even read (memory and time do not grow with the input).
    let names: Vec<String> = std::fs::read_dir(&scripts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(".tmp.")),
        "temporary files left: {names:?}"
    );
    let scripts_saved: Vec<&String> = names.iter().filter(|n| n.starts_with("job_")).collect();
    assert!(
        !scripts_saved.is_empty() && scripts_saved.len() < 400,
        "{}",
        scripts_saved.len()
    );
    for name in &scripts_saved {
        let text = std::fs::read_to_string(scripts.join(name)).unwrap();
        assert!(
            text.ends_with("echo \"every step exited 0\"\n"),
            "{name} is cut short"
        );
    }
}

#[test]
fn records_without_a_sweep_dir_share_one_new_directory() {
    let dir = temp_dir("submit_new_sweep_dir");
    let fake = Fake::new("submit_new_sweep_dir_fake", "echo $((70 + n))");
    let out = Command::new(bin("sweep-submit"))
        .args(REQUIRED)
        .args(["--sbatch", &fake.sbatch(), &format!("{DATA}/three.jsonl")])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    let sw = s(&recs[0], "sweep_dir");
    assert!(
        Path::new(sw).starts_with(&dir) && sw.contains("/sweep_"),
        "{sw}"
    );
    assert!(recs.iter().all(|r| s(r, "sweep_dir") == sw));
    assert!(Path::new(sw).join("job_2.sh").is_file());
}

/// A copy of sweep-submit in `dir/bin` beside stand-ins for sweep-expand and sweep-render
/// (`--sweep-config` runs the programs next to itself): expand logs its argv and runs
/// `expand_body`; render logs its argv and passes its input through; sweep-collect is the
/// real one.
fn beside_fakes(dir: &Path, expand_body: &str) -> PathBuf {
    let bindir = dir.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    let exe = bindir.join("sweep-submit");
    std::fs::copy(bin("sweep-submit"), &exe).unwrap();
    // The real sweep-collect beside it: it makes the sweep's manifest.
    std::os::unix::fs::symlink(bin("sweep-collect"), bindir.join("sweep-collect")).unwrap();
    let d = dir.display();
    for (name, body) in [
        ("sweep-expand", expand_body.to_string()),
        ("sweep-render", "cat".to_string()),
    ] {
        let p = bindir.join(name);
        std::fs::write(
            &p,
            format!("#!/bin/bash\necho \"$*\" > {d}/{name}.argv\n{body}\n"),
        )
        .unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    }
    exe
}

#[test]
fn sweep_config_runs_expand_and_render_then_submits_their_records() {
    let dir = temp_dir("submit_sweep_config");
    let exe = beside_fakes(&dir, &format!("cat {DATA}/three.jsonl"));
    let fake = Fake::new("submit_sweep_config_fake", "echo $((90 + n))");
    let sw = dir.join("sweep");
    let out = Command::new(&exe)
        .args(REQUIRED)
        .args(["--sbatch", &fake.sbatch()])
        .args(["--sweep-config", "my_sweep.yaml", "--output-dir"])
        .arg(&sw)
        .output()
        .unwrap();
    // Where the sweep and its manifest are.
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-submit: sweep directory: {0}\nsweep-submit: manifest: {0}/sweep_manifest.json\nsweep-submit: 3 new, 0 re-run, 0 kept\n",
            sw.display()
        )
    );
    assert_eq!(out.status.code(), Some(0));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(sw.join("sweep_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["counts"]["submitted"], 3);
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    assert_eq!(read("sweep-expand.argv"), "my_sweep.yaml\n");
    assert_eq!(
        read("sweep-render.argv"),
        format!("--out-dir {}\n", sw.display())
    );
    assert_eq!(
        std::fs::read_to_string(sw.join("records.jsonl")).unwrap(),
        data("three.jsonl")
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(s(r, "sweep_dir"), sw.display().to_string());
        assert_eq!(s(r, "submit_status"), "submitted");
    }
    // A dry run or a plan of it runs sweep-expand alone, and makes nothing.
    std::fs::remove_file(dir.join("sweep-render.argv")).unwrap();
    let fresh = dir.join("fresh");
    for mode in ["--dry-run", "--plan"] {
        let out = Command::new(&exe)
            .env("TMPDIR", crate::common::tmpdir())
            .args(REQUIRED)
            .args(["--sbatch", &fake.sbatch(), mode])
            .args(["--sweep-config", "my_sweep.yaml", "--output-dir"])
            .arg(&fresh)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        assert!(!fresh.exists(), "{mode}");
        assert!(!dir.join("sweep-render.argv").exists(), "{mode}");
    }
}

#[test]
fn sweep_config_stops_when_expand_fails() {
    let dir = temp_dir("submit_sweep_config_fails");
    let exe = beside_fakes(
        &dir,
        "echo 'sweep-expand: my_sweep.yaml:3:5: unknown key' >&2; exit 1",
    );
    let sw = dir.join("sweep");
    let out = Command::new(&exe)
        .args(REQUIRED)
        .args(["--sweep-config", "my_sweep.yaml", "--output-dir"])
        .arg(&sw)
        .output()
        .unwrap();
    let b = dir.join("bin").display().to_string();
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-submit: sweep directory: {0}\nsweep-expand: my_sweep.yaml:3:5: unknown key\nsweep-submit: {b}/sweep-expand my_sweep.yaml | {b}/sweep-render --out-dir {0} failed: sweep-expand exited with exit status: 1\n",
            sw.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    // The stand-in render created nothing, and the directory was not there before: none now.
    assert!(!sw.exists());
    let both = submit(&["--sweep-config", "x.yaml", "records.jsonl"], "", &[]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn progress_is_a_bar_on_a_terminal_lines_in_a_log_and_nothing_on_a_pipe() {
    let fake = Fake::new("submit_progress", "echo $((300 + n))");
    // A pipe: nothing but real diagnostics.
    let out = fake.run(&[], &data("three.jsonl"));
    assert_eq!(without_summary(&stderr(&out)), "");
    // A log file: one line per record.
    let log = fake.dir.join("submit.log");
    let cmd = format!(
        "{} {} --sbatch {} --output-dir {}3 {DATA}/three.jsonl > {}/out3.jsonl 2> {}",
        bin("sweep-submit").display(),
        REQUIRED.join(" "),
        fake.sbatch(),
        fake.out_dir(),
        fake.dir.display(),
        log.display()
    );
    let status = Command::new("bash").args(["-c", &cmd]).status().unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "sweep-submit: [1/3] submitted sweep_job_sweep0 -> 304\nsweep-submit: [2/3] submitted sweep_job_sweep1 -> 305\nsweep-submit: [3/3] submitted sweep_job_sweep2 -> 306\nsweep-submit: 3 new, 0 re-run, 0 kept\n"
    );
    // On a terminal (util-linux `script` gives the program a pty): a bar, redrawn in place
    // and cleared at the end.
    let cmd = format!(
        "{} {} --sbatch {} --output-dir {}2 {DATA}/three.jsonl > {}/out.jsonl",
        bin("sweep-submit").display(),
        REQUIRED.join(" "),
        fake.sbatch(),
        fake.out_dir(),
        fake.dir.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output();
    let Ok(tty) = tty else {
        eprintln!("SKIP progress on a terminal: util-linux `script` is not installed");
        return;
    };
    let text = crate::daily::plain(&String::from_utf8_lossy(&tty.stdout));
    assert!(text.contains("submitting ["), "{text}");
    assert!(text.contains("] 3/3 "), "{text}");
    assert!(
        text.contains("submitted sweep_job_sweep2"),
        "the bar's message: {text}"
    );
    // Drawn in place, no lines; then the line every run ends with.
    let t = text.trim_end();
    assert!(!t.contains('\n'), "drawn in place, no lines: {text:?}");
    assert!(
        t.ends_with("sweep-submit: 3 new, 0 re-run, 0 kept"),
        "{text:?}"
    );
    // At 80 columns, with a long job name, the bar gives way: the job ID is shown whole
    // (issue 23, item 9).
    let cmd = format!(
        "stty cols 80; {} {} --job-name a_rather_long_job_name --sbatch {} --output-dir {}4 {DATA}/three.jsonl > {}/out4.jsonl",
        bin("sweep-submit").display(),
        REQUIRED.join(" "),
        fake.sbatch(),
        fake.out_dir(),
        fake.dir.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&tty.stdout).into_owned();
    let out4 = crate::common::json_lines(&fake.dir.join("out4.jsonl"));
    let last = s(&out4[2], "job_id");
    assert!(
        raw.contains(&format!(
            "submitted a_rather_long_job_name_sweep2 -> {last}\r"
        )),
        "the job ID whole: {raw:?}"
    );
    for drawn in raw.split(['\r', '\n']) {
        let drawn = crate::daily::plain(drawn);
        assert!(drawn.chars().count() <= 80, "{drawn:?}");
    }
}

#[test]
fn a_vanishingly_small_submit_rate_still_makes_the_first_call() {
    // One call in 10^19 s: the pause after it is longer than an Instant can hold.
    let fake = Fake::new("submit_rate_tiny", "echo $((500 + n))");
    let line = data("three.jsonl").lines().next().unwrap().to_string();
    let out = fake.run(&["--max-submit-rate", "1e-19"], &(line + "\n"));
    assert_eq!(
        (out.status.code(), without_summary(&stderr(&out))),
        (Some(0), String::new())
    );
    assert_eq!(s(&records(&out)[0], "job_id"), "501");
}

#[test]
fn max_submit_rate_paces_the_sbatch_calls() {
    let fake = Fake::new("submit_rate", "date +%s.%N >> $D/times; echo $n");
    let line = data("three.jsonl").lines().next().unwrap().to_string();
    let input: String = (0..6).map(|i| unique(&line, i)).collect();
    let out = fake.run(&["--max-submit-rate", "10"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let times: Vec<f64> = std::fs::read_to_string(fake.dir.join("times"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(times.len(), 6);
    // 10 per second: six calls span at least 0.5 s. Each timestamp is taken when the fake's
    // shell gets to run `date`, a little after its call starts; on a loaded machine that delay
    // varies by tens of milliseconds (a gap of 0.047 s was seen between calls paced 0.1 s
    // apart), so the span is checked as a whole and each gap only against a burst (two calls
    // at once would be under 0.02 s apart).
    let span = times[5] - times[0];
    assert!(span >= 0.45, "six calls within {span:.3} s");
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= 0.02, "calls {:.3} s apart", w[1] - w[0]);
    }
}

#[test]
fn log_dir_holds_one_folder_per_sweep_and_job() {
    let dir = temp_dir("submit_log_dir");
    let fake = Fake::new("submit_log_dir_fake", "echo $((80 + n))");
    let out = Command::new(bin("sweep-submit"))
        .args(REQUIRED)
        .args([
            "--sbatch",
            &fake.sbatch(),
            "--log-dir",
            "logs",
            "--output-dir",
            "sweep_a",
        ])
        .arg(format!("{DATA}/three.jsonl"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    let expected = dir.join("logs/sweep_a/sweep_job_sweep1");
    assert_eq!(s(&recs[1], "log_dir"), expected.display().to_string());
    assert!(expected.is_dir());
    assert_eq!(
        s(&recs[1], "job_script"),
        dir.join("sweep_a/job_1.sh").display().to_string()
    );
}

#[test]
fn a_relative_sweep_dir_or_a_bad_id_is_an_invalid_record() {
    let fake = Fake::new("submit_bad_fields", "echo $n");
    let line = data("three.jsonl").lines().next().unwrap().to_string();
    let rel = line.replace("\"mode\"", "\"sweep_dir\":\"sweeps/x\",\"mode\"");
    let out = fake.run(&[], &format!("{line}\n{rel}\n"));
    assert_eq!(
        stderr(&out),
        "sweep-submit: <stdin>:2: invalid record: sweep_dir \"sweeps/x\" is not an absolute path\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let bad_id = line.replace("a1b2c3d4e5f60000", "a:b");
    let out = fake.run(&[], &format!("{bad_id}\n"));
    assert_eq!(
        stderr(&out),
        "sweep-submit: <stdin>:1: invalid record: id \"a:b\" must be letters, digits, '_' or '-'\n"
    );
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_script_that_cannot_be_saved_fails_its_record_before_any_sbatch_for_it() {
    let fake = Fake::new("submit_script_unsaved", "echo $((70 + n))");
    // A directory where record 1's script should go: the rename onto it fails.
    let blocker = Path::new(&fake.out_dir()).join("job_1.sh");
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    let out = fake.run(&[], &data("three.jsonl"));
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out);
    let statuses: Vec<&str> = recs.iter().map(|r| s(r, "submit_status")).collect();
    assert_eq!(statuses, ["submitted", "failed", "submitted"]);
    let err = s(&recs[1], "submit_error");
    assert!(
        err.starts_with(&format!("failed to write {}: ", blocker.display())),
        "{err}"
    );
    assert_eq!(fake.calls(), 2, "no sbatch for the record without a script");
    assert_eq!(
        without_summary(&stderr(&out)),
        format!("sweep-submit: 1 of 3 records not submitted; first: <stdin>:2: {err}\n")
    );
}

/// A relative `--sbatch` is recorded absolute: `sbatch_command` must run from anywhere later.
#[test]
fn relative_sbatch_path_is_recorded_absolute() {
    let dir = temp_dir("submit_relative_sbatch");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy("/bin/true", dir.join("bin/sbatch")).unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-scripts");
    let record = r#"{"index":0,"id":"rel0","mode":"agg","total_nodes":1,"parameters":{"slurm":{"agg_nodes":1,"agg_workers":1},"sglang":{}}}"#;
    let out = crate::common::run_in(
        "sweep-submit",
        &[
            "--dry-run",
            "--sbatch",
            "bin/sbatch",
            "--account",
            "a",
            "--partition",
            "p",
            "--model-dir",
            "/m",
            "--config-dir",
            "/c",
            "--gpu-type",
            "demo",
            "--script-variant",
            "max-tpt",
            "--scripts-dir",
            scripts.to_str().unwrap(),
            "--output-dir",
            "out",
        ],
        &format!("{record}\n"),
        Some(&dir),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rec: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        rec["sbatch_command"][0],
        dir.join("bin/sbatch").to_str().unwrap(),
        "{rec}"
    );
}

#[test]
fn a_closed_stdout_submits_nothing() {
    // Issue 10, item 2: `>&-` submitted every job and lost every record with exit 0.
    let fake = Fake::new("submit_stdout_closed", "echo $n");
    let out = fake.shell(&format!("< {DATA}/three.jsonl >&-"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "sweep-submit: stdout is closed: the records of submitted jobs would be lost; nothing was submitted (use > /dev/null to discard them on purpose)\n"
    );
    assert_eq!(fake.calls(), 0);
    // Discarding the records on purpose is still possible.
    let out = fake.shell(&format!("< {DATA}/three.jsonl > /dev/null"));
    assert_eq!(
        (out.status.code(), without_summary(&stderr(&out))),
        (Some(0), String::new())
    );
    assert_eq!(fake.calls(), 3);
}

#[test]
fn a_reader_gone_after_a_job_was_submitted_is_an_error_naming_the_job() {
    // Issue 10, item 2: `sweep-submit | sweep-collect <bad option>` left a job in Slurm that
    // was in no output, and submit exited 0. The reader here closes its end at once.
    let fake = Fake::new("submit_reader_gone", "sleep 0.3; echo $((80 + n))");
    let out = fake.shell(&format!(
        "< {DATA}/three.jsonl | (exec 0<&-; sleep 2); echo \"rc=${{PIPESTATUS[0]}}\""
    ));
    assert_eq!(stdout(&out), "rc=1\n");
    let key = sweep::tag::sweep_key(&fake.out_dir());
    assert_eq!(
        without_summary(&stderr(&out)),
        format!("sweep-submit: <stdin>:1: job 81 submitted (tag sweep:{key}:a1b2c3d4e5f60000:0) but its record could not be written: Broken pipe (os error 32)\n")
    );
    assert_eq!(
        fake.calls(),
        1,
        "no sbatch after a record that could not be written"
    );
    // The job is in the sweep's journal: the next run knows it, and it was released.
    let journal =
        std::fs::read_to_string(Path::new(&fake.out_dir()).join(".sweep/submissions.jsonl"))
            .unwrap();
    assert!(journal.contains("\"job_id\":\"81\""), "{journal}");
    assert_eq!(fake.released(), ["81"]);
}

#[test]
fn swept_values_without_a_config_file_are_an_error_even_in_a_dry_run() {
    // Issue 10, item 6: `sweep-expand | sweep-submit` (no sweep-render) ran every job with the
    // same engine config, silently.
    let dir = temp_dir("submit_no_config");
    let record = r#"{"index":3,"id":"nocfg0000000000","mode":"agg","total_nodes":1,"parameters":{"slurm":{"agg_nodes":1,"agg_workers":1},"sglang":{"mem-fraction-static":0.82}}}"#;
    for dry in [true, false] {
        let sw = dir.join(format!("sweep{dry}")).display().to_string();
        let mut args = vec!["--output-dir", sw.as_str(), "--sbatch", "/bin/false"];
        if dry {
            args.push("--dry-run");
        }
        let out = submit(&args, &format!("{record}\n"), &[]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr(&out),
            "sweep-submit: <stdin>:1: invalid record: index 3: the record has SGLang values but no config_path, so every job would run the same engine config; pipe the records through sweep-render first (sweep-expand FILE | sweep-render --out-dir DIR | sweep-submit ...)\n"
        );
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn a_dry_run_never_replaces_the_script_of_a_submitted_job() {
    let fake = Fake::new("submit_dry_beside", "echo $((60 + n))");
    let first = fake.run(&[], &data("three.jsonl"));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let sw = Path::new(&fake.out_dir()).to_path_buf();
    let listing = || listing(&sw);
    let before = listing();
    // The same records, again, as a dry run with another time limit: nothing in the sweep
    // directory changes, not even a lock file's time; the script is shown elsewhere.
    let manifest_records: String = records(&first)
        .iter()
        .map(|r| r.to_string() + "\n")
        .collect();
    let out = fake.run(
        &["--dry-run", "--time-limit", "00:01:00"],
        &manifest_records,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(listing(), before);
    let dry_path = s(&records(&out)[0], "job_script").to_string();
    assert!(
        !dry_path.starts_with(&sw.display().to_string()),
        "{dry_path}"
    );
    let dry = std::fs::read_to_string(&dry_path).unwrap();
    assert!(dry.contains("--time=00:01:00"), "{dry}");
}

/// The same input gives the same bytes as before sweep-submit streamed its records (issue 16):
/// a dry run and a (fake) submission of two rendered sweeps, every record on stdout and every
/// job script, compared with the golden file `tests/data/submit/streaming.golden`
/// (`SWEEP_BLESS=1` writes it).
#[test]
fn output_and_scripts_are_the_bytes_they_were_before_streaming() {
    let dir = temp_dir("submit_streaming_golden");
    let repo = env!("CARGO_MANIFEST_DIR");
    let render = format!(
        "sweep-expand {repo}/examples/throughput.yaml | sweep-render --out-dir a > a.jsonl && \
         sweep-expand {repo}/examples/per-role.yaml | sweep-render --out-dir b > b.jsonl"
    );
    let out = crate::common::sh(&render, &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let fake = Fake::new("submit_streaming_fake", "echo $((1000 + n))");
    let mut golden = String::new();
    for (case, args) in [
        (
            "dry run",
            vec!["--dry-run", "--sbatch", &fake.sbatch(), "--retries", "1"],
        ),
        (
            "submitted",
            vec!["--sbatch", &fake.sbatch(), "--retries", "1"],
        ),
    ] {
        let mut all: Vec<&str> = vec![
            "--profiler",
            "type=sglang; isl=8; osl=8; concurrencies=1x2; req-rate=inf",
            "--job-name",
            "golden",
        ];
        all.extend(&args);
        let input = std::fs::read_to_string(dir.join("a.jsonl")).unwrap()
            + &std::fs::read_to_string(dir.join("b.jsonl")).unwrap();
        let out = submit(&all, &input, &[]);
        assert_eq!(out.status.code(), Some(0), "{case}: {}", stderr(&out));
        golden += &format!("== {case}: stdout\n");
        for r in records(&out) {
            let mut r = r;
            if r.get("submitted_at").is_some() {
                r["submitted_at"] = Value::from("@TIME@");
            }
            golden += &(r.to_string() + "\n");
        }
        golden += &format!("== {case}: scripts (sha256 of the text)\n");
        for r in records(&out) {
            let path = s(&r, "job_script");
            let text = std::fs::read_to_string(path).unwrap();
            golden += &format!("{path} {}\n", sha256(&normalize(&text, &dir)));
        }
        // A dry run's scripts are in a directory of their own: @PREVIEW@.
        if let Some(r) = records(&out).first().filter(|_| case == "dry run") {
            let preview = Path::new(s(r, "job_script"))
                .parent()
                .unwrap()
                .parent()
                .unwrap();
            golden = golden.replace(&preview.display().to_string(), "@PREVIEW@");
        }
        // Every combination submitted once: a second case would find them all submitted.
        for d in ["a", "b"] {
            let _ = std::fs::remove_dir_all(dir.join(d).join(".sweep/submissions.jsonl"));
            let _ = std::fs::remove_file(dir.join(d).join(".sweep/submissions.jsonl"));
        }
    }
    let golden = normalize(&golden, &dir);
    let path = Path::new(repo).join("tests/data/submit/streaming.golden");
    if std::env::var("SWEEP_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &golden).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == golden,
        "differs from {} (SWEEP_BLESS=1 writes it)",
        path.display()
    );
}

/// Paths of this run, and the sweep keys made from them, as placeholders.
fn normalize(text: &str, dir: &Path) -> String {
    let mut text = text.to_string();
    for d in ["a", "b"] {
        let sweep = dir.join(d).display().to_string();
        text = text.replace(&sweep::tag::sweep_key(&sweep), &format!("@KEY_{d}@"));
    }
    let fake = Path::new(env!("CARGO_TARGET_TMPDIR")).join("submit_streaming_fake");
    text.replace(&dir.display().to_string(), "@TMP@")
        .replace(&fake.display().to_string(), "@FAKE@")
        .replace(env!("CARGO_MANIFEST_DIR"), "@REPO@")
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_job_created_after_the_look_up_is_cancelled_at_the_end_of_the_run() {
    // Call 1 times out having created nothing yet; the look-up finds nothing; call 2 submits,
    // and meanwhile the controller creates call 1's job after all (held: it was submitted
    // with --hold). The run's last look finds it, names it and cancels it; it never runs.
    let (fake, out, recs) = three(
        "submit_late_ghost",
        "if [ $n = 1 ]; then echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2; exit 1; fi; \
         if [ $n = 2 ]; then echo \"555|$(date +%Y-%m-%dT%H:%M:%S)|(null)|PENDING|JobHeldUser|j|$tag\" >> $D/jobs; fi; echo $((600 + n))",
        &["--retry-backoff", "0.01"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids: Vec<&str> = recs.iter().map(|r| s(r, "job_id")).collect();
    assert_eq!(ids, ["602", "603", "604"]);
    assert_eq!(
        without_summary(&stderr(&out)),
        "sweep-submit: note: cancelled 1 held duplicate job(s) that a stalled controller created after sbatch gave up: 555\n"
    );
    let cancelled = std::fs::read_to_string(fake.dir.join("scancel_calls")).unwrap();
    assert_eq!(cancelled, "555\n");
    assert!(
        !fake.released().contains(&"555".to_string()),
        "never released"
    );
}

#[test]
fn a_combination_with_a_job_is_not_submitted_again_unless_asked() {
    // First run: three jobs. Then the fake Slurm says 301 completed, 302 failed, and forgets
    // 303 entirely (purged, no accounting).
    let fake = Fake::new("submit_judged", "echo $((300 + n))");
    let first = fake.run(&[], &data("three.jsonl"));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let recs = records(&first);
    let tag = |i: usize| s(&recs[i], "tag").to_string();
    std::fs::write(
        fake.dir.join("jobs"),
        format!(
            "301|2026-01-01T00:00:00|(null)|COMPLETED|None|j|{}\n302|2026-01-01T00:00:00|(null)|FAILED|NonZeroExitCode|j|{}\n",
            tag(0),
            tag(1)
        ),
    )
    .unwrap();
    // The same records again: only the failed one is submitted.
    let again = fake.run(&[], &data("three.jsonl"));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let statuses: Vec<String> = records(&again)
        .iter()
        .map(|r| s(r, "submit_status").to_string())
        .collect();
    assert_eq!(
        statuses,
        ["already_submitted", "submitted", "already_submitted"]
    );
    assert_eq!(s(&records(&again)[0], "job_id"), "301");
    assert_eq!(records(&again)[1]["history"][0]["job_id"], "302");
    assert_eq!(
        without_summary(&stderr(&again)),
        "sweep-submit: note: 1 combination(s) not submitted again: Slurm no longer knows the state of their job (accounting disabled, purged, its ID given to another job, or another cluster's); pipe in the manifest with its states, or use --resubmit-completed\n"
    );
    // --resubmit-completed: the completed one and the forgotten one too, never a running one.
    let resubmitted = s(&records(&again)[1], "job_id").to_string();
    std::fs::write(
        fake.dir.join("jobs"),
        format!(
            "301|2026-01-01T00:00:00|(null)|COMPLETED|None|j|{}
{resubmitted}|2026-01-01T00:00:00|(null)|RUNNING|None|j|{}
",
            tag(0),
            tag(1)
        ),
    )
    .unwrap();
    let forced = fake.run(&["--resubmit-completed"], &data("three.jsonl"));
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    let statuses: Vec<String> = records(&forced)
        .iter()
        .map(|r| s(r, "submit_status").to_string())
        .collect();
    assert_eq!(statuses, ["submitted", "already_submitted", "submitted"]);
}

#[test]
fn a_flag_a_sweep_had_is_turned_off_with_no_flag() {
    // --use-init-location travels with the sweep, and --no-use-init-location turns it off.
    let fake = Fake::new("submit_no_flag", "echo $((700 + n))");
    let disagg = data("scaling.jsonl").lines().next().unwrap().to_string() + "\n";
    let first = fake.run(&["--use-init-location"], &disagg);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let script = |out: &Output| std::fs::read_to_string(s(&records(out)[0], "job_script")).unwrap();
    assert!(script(&first).contains("--use_init_locations"));
    // The job failed; re-submitted with nothing given, the flag stays on ...
    std::fs::write(
        fake.dir.join("jobs"),
        format!(
            "701|2026-01-01T00:00:00|(null)|FAILED|NonZeroExitCode|j|{}\n",
            s(&records(&first)[0], "tag")
        ),
    )
    .unwrap();
    let again = fake.run(&[], &disagg);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(script(&again).contains("--use_init_locations"));
    // ... and --no-use-init-location turns it off, said on stderr.
    std::fs::write(
        fake.dir.join("jobs"),
        format!(
            "702|2026-01-01T00:00:00|(null)|FAILED|NonZeroExitCode|j|{}\n",
            s(&records(&again)[0], "tag")
        ),
    )
    .unwrap();
    let off = fake.run(&["--no-use-init-location"], &disagg);
    assert_eq!(off.status.code(), Some(0), "{}", stderr(&off));
    assert!(!script(&off).contains("--use_init_locations"));
    assert!(
        stderr(&off).contains("--use-init-location false (was true)"),
        "{}",
        stderr(&off)
    );
}

/// Issue 19, items 4 and 9: options that would break the job's tag or one job per
/// combination are refused in --sbatch-arg, named with why, before anything is read or
/// submitted; abbreviations and grouped short options too. Saved with a sweep (by a version
/// that took them), they are refused when the sweep is submitted again.
#[test]
fn sbatch_args_that_break_the_tag_or_one_job_per_combination_are_refused() {
    let fake = Fake::new("submit_refused_args", "echo $((500 + n))");
    let rec = data("three.jsonl");
    for (arg, says) in [
        ("--sbatch-arg=--comment=mine", "--sbatch-arg=--comment=mine is refused: sweep-submit sets --comment to each job's tag"),
        ("--sbatch-arg=--array=0-2", "--sbatch-arg=--array=0-2 is refused: an array runs the combination once per task"),
        ("--sbatch-arg=--hol", "--sbatch-arg=--hol (abbreviates --hold) is refused: sweep-submit submits every job held"),
        ("--sbatch-arg=-vH", "--sbatch-arg=-vH is refused"),
        ("--sbatch-arg=--wrap=sleep 1", "is refused: the job runs the job script sweep-submit wrote"),
        ("--sbatch-arg=--parsable", "sweep-submit passes it already"),
    ] {
        let out = fake.run(&[arg], &rec);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{arg}: {}", stderr(&out));
        assert_eq!(fake.calls(), 0, "{arg}: nothing submitted");
    }
    // A dependency of one's own is fine, but not beside --retries, whose chain it would
    // replace.
    let out = fake.run(
        &["--sbatch-arg=--dependency=afterok:1", "--retries", "1"],
        &rec,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--retries chains its follow-ups"),
        "{}",
        stderr(&out)
    );
    // Saved with the sweep by an earlier version: refused when the sweep goes on.
    let out = fake.run(
        &["--sbatch-arg=--qos=high"],
        &unique(rec.lines().next().unwrap(), 0),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let options = fake.dir.join("sweep/.sweep/options");
    for e in std::fs::read_dir(&options).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("--qos=high", "--hold");
        std::fs::write(&p, text).unwrap();
    }
    let out = fake.run(&[], &unique(rec.lines().next().unwrap(), 1));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--sbatch-arg=--hold is refused")
            && stderr(&out).contains("the sweep's saved options have it"),
        "{}",
        stderr(&out)
    );
}

/// Issue 19, item 9: one sweep directory spelled `D` and `D/` in one input is one sweep (one
/// sweep key, no wait on its own lock); under another name (a symbolic link) it is an error.
#[test]
fn one_sweep_directory_spelled_two_ways_is_one_sweep() {
    let dir = temp_dir("submit_dir_spellings");
    std::fs::write(
        dir.join("s.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.9]\n",
    )
    .unwrap();
    let script = format!(
        "sweep-expand s.yaml | head -n 1 | sweep-render --out-dir D > a.jsonl\n\
         sweep-expand s.yaml | tail -n 1 | sweep-render --out-dir D/ > b.jsonl\n\
         jq -c '.sweep_dir += \"/\"' b.jsonl > b2.jsonl\n\
         timeout 60 sweep-submit --dry-run {} a.jsonl b2.jsonl > out.jsonl",
        REQUIRED.join(" ")
    );
    let out = crate::common::sh(&script, &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = crate::common::json_lines(&dir.join("out.jsonl"));
    assert_eq!(recs.len(), 2);
    let dirs: Vec<&str> = recs.iter().map(|r| s(r, "sweep_dir")).collect();
    assert_eq!(dirs[0], dirs[1], "one spelling");
    assert!(!dirs[0].ends_with('/'));
    let keys: Vec<String> = recs
        .iter()
        .map(|r| sweep::tag::parse(s(r, "tag")).unwrap().sweep_key)
        .collect();
    assert_eq!(keys[0], keys[1], "one sweep key");
    // The same directory through a symbolic link: said, never a wait on its own lock.
    std::os::unix::fs::symlink(dir.join("D"), dir.join("L")).unwrap();
    let out = crate::common::sh(
        &format!(
            "jq -c '.sweep_dir = \"{}\"' b.jsonl > l.jsonl; timeout 60 sweep-submit --dry-run {} a.jsonl l.jsonl",
            dir.join("L").display(),
            REQUIRED.join(" ")
        ),
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is the directory") && stderr(&out).contains("under another name"),
        "{}",
        stderr(&out)
    );
}

/// Every file under `dir` (see [`crate::common::listing`]).
fn listing(dir: &Path) -> Vec<String> {
    crate::common::listing(dir, &|_| false)
}

/// Issue 23, item 3: `--plan` asks Slurm as a real run does, and shows per combination what
/// a run would do (new, re-run and why, kept with its job, options that change) and the
/// summary line a real run ends with; it submits, releases and cancels nothing and writes
/// nothing into the sweep directory (no lock, no journal line, no options, no script).
#[test]
fn a_plan_shows_what_a_run_would_do_and_does_nothing() {
    let fake = Fake::new("submit_plan", "echo $((300 + n))");
    let first = fake.run(&[], &data("three.jsonl"));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(
        stderr(&first),
        "sweep-submit: 3 new, 0 re-run, 0 kept\n",
        "the line every run ends with"
    );
    let recs = records(&first);
    let tag = |i: usize| s(&recs[i], "tag").to_string();
    // Slurm now says: 301 completed, 302 failed, 303 pends held (a run killed before it
    // released it), and 399 is a held duplicate no journal names.
    std::fs::write(
        fake.dir.join("jobs"),
        format!(
            "301|2026-01-01T00:00:00|(null)|COMPLETED|None|j|{}\n302|2026-01-01T00:00:00|(null)|FAILED|NonZeroExitCode|j|{}\n303|2026-01-01T00:00:00|(null)|PENDING|JobHeldUser|j|{}\n399|2026-01-01T00:00:00|(null)|PENDING|JobHeldUser|j|{}\n",
            tag(0),
            tag(1),
            tag(2),
            tag(2)
        ),
    )
    .unwrap();
    // One more combination (the sweep extended), and a longer time limit.
    let mut input = data("three.jsonl");
    input.push_str(&unique(input.lines().next().unwrap(), 3));
    let sweep = PathBuf::from(fake.out_dir());
    let before = listing(&fake.dir);
    let out = fake.run(&["--plan", "--time-limit", "08:00:00"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        stdout(&out),
        "INDEX  PLAN    WHY\n    \
             0  kept    job 301 COMPLETED\n    \
             1  re-run  job 302 FAILED; --time-limit 08:00:00 (was 04:00:00)\n    \
             2  kept    job 303 PENDING (held: a real run releases it)\n    \
             3  new\n\
         a real run first cancels 1 held job(s) of these sweeps that no journal or record names (never run): 399\n\
         a real run releases 1 held job(s) of kept combinations (a run killed before it released them): 303\n\
         1 new, 1 re-run, 2 kept\n"
    );
    // Nothing written (the squeue calls are the stand-in's own log), submitted, released or
    // cancelled.
    let after: Vec<String> = listing(&fake.dir)
        .into_iter()
        .filter(|l| !l.contains("/squeue_calls "))
        .collect();
    let before: Vec<String> = before
        .into_iter()
        .filter(|l| !l.contains("/squeue_calls "))
        .collect();
    assert_eq!(after, before);
    assert_eq!(fake.calls(), 3);
    assert!(!fake.dir.join("scancel_calls").exists());
    // The real run does what the plan said, and ends with the same line.
    let out = fake.run(&["--time-limit", "08:00:00"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.ends_with("sweep-submit: 1 new, 1 re-run, 2 kept\n"),
        "{err}"
    );
    let statuses: Vec<String> = records(&out)
        .iter()
        .map(|r| s(r, "submit_status").to_string())
        .collect();
    assert_eq!(
        statuses,
        [
            "already_submitted",
            "submitted",
            "already_submitted",
            "submitted"
        ]
    );
    // A plan into a sweep directory that does not exist yet makes nothing, not even it.
    let fresh = sweep.with_file_name("fresh");
    let out = submit(
        &[
            "--plan",
            "--sbatch",
            &fake.sbatch(),
            "--output-dir",
            fresh.to_str().unwrap(),
        ],
        &data("three.jsonl"),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("3 new, 0 re-run, 0 kept\n"),
        "{}",
        stdout(&out)
    );
    assert!(!fresh.exists());
    // Records without a sweep directory: the new one is named, not made.
    let out = Command::new(bin("sweep-submit"))
        .args(REQUIRED)
        .args([
            "--plan",
            "--sbatch",
            &fake.sbatch(),
            &format!("{DATA}/three.jsonl"),
        ])
        .current_dir(&fake.dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with(" (a real run makes it)\n"),
        "{}",
        stderr(&out)
    );
    assert!(!std::fs::read_dir(&fake.dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("sweep_")));
    // --plan and --dry-run together: a usage error.
    let out = fake.run(&["--plan", "--dry-run"], &data("three.jsonl"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
