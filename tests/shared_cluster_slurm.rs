//! Never twice on a shared, long-lived cluster (issue 19), on real Slurm: a job is ours only
//! if Slurm says it carries our tag (IDs reused after a rebuilt controller, colleagues' jobs
//! beside ours), a lost or damaged journal, two commands updating one manifest, signals,
//! paths, options that would break the tag. The ID-reuse trial runs on a cluster of its own,
//! whose state it rebuilds; everything else on the shared one.

use crate::common::{
    fresh_dir, json_lines, on_slurm, read_json, sh, slurm_available, stderr, Cancel, PrivateCluster,
};
use crate::never_twice_slurm::{jobs_of, one_runnable_job_each, pending_records, s};
use crate::submit::REQUIRED;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// A job template (`--template`) for one-node jobs that run `body` and nothing else: quick,
/// and many at once on one node never get in each other's way.
fn template(dir: &Path, body: &str) -> String {
    let path = dir.join("job.j2");
    std::fs::write(
        &path,
        format!(
            "#!/bin/bash\n#SBATCH --job-name={{{{ job_name }}}}\n#SBATCH --nodes=1\n#SBATCH --ntasks=1\n\
             #SBATCH --account={{{{ account }}}}\n#SBATCH --partition={{{{ partition }}}}\n#SBATCH --time=00:05:00\n\
             #SBATCH --output={{{{ log_dir }}}}/%j.out\n{body}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", stderr(out));
}

/// Every job of cluster `conf` that carries a tag of the sweep in `sweep_dir`, in squeue (live)
/// and in accounting (every job each ID ever named): `(job, tag, state)`, once each.
fn tagged_in(conf: &Path, sweep_dir: &Path) -> Vec<(String, String, String)> {
    let key = sweep::tag::sweep_key(sweep_dir.to_str().unwrap());
    let script = format!(
        "export SLURM_CONF={}; squeue -h -t all -o '%i|%V|%k|%T'; sacct -n -X -P -D -S now-1day -E now -s BF,CA,CD,DL,F,NF,OOM,PD,PR,R,RQ,RS,RV,S,TO -o JobID,Submit,Comment,State,SubmitLine",
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
        let mut args = vec![
            "--parsable",
            "-A",
            "sweepacct",
            "-N",
            "4",
            "-o",
            "/dev/null",
        ];
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
    let out = c.client(
        "squeue",
        &["-h", "-t", "all", "-j", "1,2,3,4,5,6,7,8", "-o", "%i|%T|%r"],
    );
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
        &[
            ("SWEEP_SLURM_NODES", "4"),
            ("SWEEP_SLURM_REAL_NODES", "2"),
            ("SWEEP_SLURM_CLUSTER", "rebuilt"),
        ],
    );
    ok(&c.run("start", &[]), "local-slurm start");
    let dir = fresh_dir("shared_id_reuse_sweeps");
    let conf = c.conf().display().to_string();
    std::fs::write(
        dir.join("sweep.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.9]\n",
    )
    .unwrap();
    // Index 1 of each sweep fails the first time it runs, then works.
    let job = template(
        &dir,
        "case {{ job_name }} in *sweep1) mkdir {{ sweep_dir }}/failed 2>/dev/null && exit 3;; esac; true",
    );
    let pipeline = |sweep: &str| {
        format!(
            "export SLURM_CONF={conf}\nsweep-expand sweep.yaml | sweep-render --out-dir {sweep} \
             | sweep-submit {} --template {job} \
             | tee {sweep}.jsonl | sweep-collect {sweep}/m.json - --output {sweep}/m.json",
            REQUIRED.join(" ")
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

    // The controller's state is lost and rebuilt; accounting keeps every job (once it has
    // their ends: records not sent yet are lost with the controller's state). Colleagues'
    // jobs take IDs 1 to 8 (job 2, the ID of s1's failed job, held).
    crate::common::eventually(Duration::from_secs(60), Duration::from_millis(500), || {
        let out = c.client("sacct", &["-n", "-X", "-P", "-j", "1,2,3,4", "-o", "State"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let ended = text
            .lines()
            .filter(|l| l.starts_with("COMPLETED") || l.starts_with("FAILED"))
            .count();
        (ended == 4).then_some(()).ok_or(text)
    });
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
    assert_eq!(
        jobs,
        BTreeMap::from([(0, 1), (1, 2)]),
        "{:?}",
        tagged_in(&c.conf(), &s1)
    );
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
    ok(
        &c.run("start", &[("SWEEP_SLURM_FRESH", "1")]),
        "a fresh start",
    );
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
            recs.iter()
                .all(|r| s(r, "submit_status") == "already_submitted"),
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

    // A sweep directory used against another cluster: its jobs (on the shared cluster,
    // `sweep`) are recognised as that cluster's, not asked about here, never doubled.
    let Some(_shared) = on_slurm(name) else {
        return;
    };
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("s.yaml"), pending_sweep("[1]")).unwrap();
    let _later = crate::never_twice_slurm::CancelSweepLater(other.join("sweep"));
    ok(&daily(&other, "first.jsonl"), "on the shared cluster");
    let out = sh(
        &format!(
            "export SLURM_CONF={conf}\nsweep-expand s.yaml | sweep-render --out-dir sweep | sweep-submit {} > here.jsonl",
            REQUIRED.join(" ")
        ),
        &other,
    );
    ok(&out, "against the rebuilt cluster");
    assert!(
        stderr(&out).contains("submitted on another cluster than this one")
            && stderr(&out).contains("(cluster sweep)"),
        "{}",
        stderr(&out)
    );
    let here = json_lines(&other.join("here.jsonl"));
    assert_eq!(s(&here[0], "submit_status"), "already_submitted");
    assert!(tagged_in(&c.conf(), &other.join("sweep")).is_empty());
}

/// A sweep of `n` 36-node aggregated jobs (they pend: 4 of the 64 nodes are real), swept
/// over `values` of max-running-requests.
fn pending_sweep(values: &str) -> String {
    format!("slurm:\n  agg_nodes: [36]\n  agg_workers: [1]\nsglang:\n  max-running-requests: {values}\n")
}

/// The daily pipeline into `sweep/`, its manifest `sweep/m.json`; sweep-submit's records in
/// `out`.
fn daily(dir: &Path, out: &str) -> Output {
    sh(
        &format!(
            "sweep-expand s.yaml | sweep-render --out-dir sweep | sweep-submit {} \
             | tee {out} | sweep-collect sweep/m.json - --output sweep/m.json",
            REQUIRED.join(" ")
        ),
        dir,
    )
}

/// A job of nobody's sweep (a colleague's, or one of the user's own): 36 nodes, so it pends.
fn plain_job(comment: Option<&str>) -> String {
    let mut cmd = std::process::Command::new("sbatch");
    cmd.args([
        "--parsable",
        "-A",
        "sweepacct",
        "-p",
        "batch",
        "-N",
        "36",
        "-o",
        "/dev/null",
    ]);
    if let Some(c) = comment {
        cmd.arg(format!("--comment={c}"));
    }
    let out = cmd.args(["--wrap", "true"]).output().unwrap();
    ok(&out, "a plain sbatch");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `squeue`'s state of one job.
fn state_of(job: &str) -> String {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-t", "all", "-j", job, "-o", "%T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 19, items 2 and 3: a record's job ID that names a job without the record's tag (a
/// colleague's, with another comment or none) gets no state from it and is never cancelled;
/// a record without any tag (straight from sweep-expand, a job_id set by hand) is not acted
/// on without --trust-job-ids.
#[test]
fn a_job_without_the_records_tag_is_never_cancelled_nor_taken_for_a_state() {
    let name = "a_job_without_the_records_tag_is_never_cancelled_nor_taken_for_a_state";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("shared_untagged");
    let colleague = plain_job(Some("colleague"));
    let silent = plain_job(None);
    let mut cancel = Cancel(vec![colleague.clone(), silent.clone()]);
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2]")).unwrap();
    // Item 3: records from sweep-expand with job IDs set by hand.
    let out = sh(
        &format!(
            "sweep-expand s.yaml | jq -c 'if .index == 0 then .job_id = \"{colleague}\" else .job_id = \"{silent}\" end' > byhand.jsonl"
        ),
        &dir,
    );
    ok(&out, "records by hand");
    let out = sh(
        "sweep-collect --cancel --jsonl byhand.jsonl > cancelled.jsonl",
        &dir,
    );
    ok(&out, "--cancel");
    let err = stderr(&out);
    assert!(
        err.contains("come from records without a tag") && err.contains("nothing to cancel"),
        "{err}"
    );
    assert_eq!(state_of(&colleague), "PENDING");
    assert_eq!(state_of(&silent), "PENDING");
    // --status: no state from a job nothing says is the record's, unless asked.
    let out = sh("sweep-collect --status --jsonl byhand.jsonl", &dir);
    ok(&out, "--status");
    let recs = crate::common::stdout_lines(&out);
    assert!(recs.iter().all(|r| r["state"] == "UNKNOWN"), "{recs:?}");
    assert!(
        s(&recs[0], "state_reason").starts_with("the record has no tag"),
        "{}",
        recs[0]
    );
    let out = sh(
        "sweep-collect --status --trust-job-ids --jsonl byhand.jsonl",
        &dir,
    );
    ok(&out, "--status --trust-job-ids");
    let recs = crate::common::stdout_lines(&out);
    assert!(recs.iter().all(|r| r["state"] == "PENDING"), "{recs:?}");
    // Item 2: records with a tag (a sweep's) whose job IDs name jobs with another comment or
    // none: no state taken (a final one recorded stays), nothing cancelled, even trusted.
    let out = sh(
        "jq -c '.tag = \"sweep:mine-00000000:\" + .id + \":\" + (.index|tostring) | .state = \"COMPLETED\"' byhand.jsonl > tagged.jsonl \
         && sweep-collect --status --jsonl tagged.jsonl > status.jsonl \
         && sweep-collect --cancel --trust-job-ids --jsonl tagged.jsonl > /dev/null",
        &dir,
    );
    ok(&out, "tagged records");
    let err = stderr(&out);
    assert!(err.contains("belong to other jobs in Slurm now"), "{err}");
    assert!(
        err.contains(&format!("{colleague} (comment \"colleague\")")),
        "{err}"
    );
    assert!(err.contains(&format!("{silent} (no comment)")), "{err}");
    let recs = json_lines(&dir.join("status.jsonl"));
    assert!(recs.iter().all(|r| r["state"] == "COMPLETED"), "{recs:?}");
    assert_eq!(state_of(&colleague), "PENDING");
    assert_eq!(state_of(&silent), "PENDING");
    // Asked explicitly, the untagged records' jobs are cancelled.
    let out = sh(
        "sweep-collect --cancel --trust-job-ids --jsonl byhand.jsonl > /dev/null",
        &dir,
    );
    ok(&out, "--cancel --trust-job-ids");
    assert!(state_of(&colleague).starts_with("CANCELLED"));
    cancel.0.clear();
}

/// Issue 19, item 5: with the sweep's state directory deleted, or its journal moved away (as
/// the old damaged-state message advised), the same pipeline adopts the sweep's jobs from
/// Slurm by their tag and submits nothing again.
#[test]
fn a_sweep_whose_journal_is_gone_adopts_its_jobs_from_slurm() {
    let name = "a_sweep_whose_journal_is_gone_adopts_its_jobs_from_slurm";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("shared_no_journal");
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2, 3]")).unwrap();
    let sweep = dir.join("sweep");
    let _later = crate::never_twice_slurm::CancelSweepLater(sweep.clone());
    ok(&daily(&dir, "first.jsonl"), "the first run");
    let first = json_lines(&dir.join("first.jsonl"));
    let jobs: Vec<&str> = first.iter().map(|r| s(r, "job_id")).collect();
    for (case, lose) in [
        ("deleted", "rm -rf sweep/.sweep"),
        (
            "moved away",
            "mv sweep/.sweep/submissions.jsonl journal.bak",
        ),
    ] {
        ok(&sh(lose, &dir), case);
        let out = daily(&dir, "again.jsonl");
        ok(&out, case);
        assert!(
            stderr(&out).contains("3 job(s) of this sweep found in Slurm by their tag"),
            "{case}: {}",
            stderr(&out)
        );
        let again = json_lines(&dir.join("again.jsonl"));
        let now: Vec<&str> = again.iter().map(|r| s(r, "job_id")).collect();
        assert_eq!(now, jobs, "{case}");
        assert!(
            again
                .iter()
                .all(|r| s(r, "submit_status") == "already_submitted"),
            "{case}"
        );
        assert_eq!(jobs_of(&sweep).len(), 3, "{case}: no second job");
    }
    one_runnable_job_each(&sweep, &first);
}

/// Issue 19, item 6: a line cut short in the journal or the numbers (a full disk, a crash
/// mid-write) is set aside by the next run, which appends after the last whole line: the run
/// after that reads everything. A damaged line in the middle of the journal is read past,
/// and the job it named is found in Slurm by its tag: never submitted twice.
#[test]
fn a_line_cut_short_is_set_aside_and_never_glued_to() {
    let name = "a_line_cut_short_is_set_aside_and_never_glued_to";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("shared_torn");
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2]")).unwrap();
    let sweep = dir.join("sweep");
    let _later = crate::never_twice_slurm::CancelSweepLater(sweep.clone());
    ok(&daily(&dir, "first.jsonl"), "the first run");
    let state = sweep.join(".sweep");
    let append = |file: &str, text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(state.join(file))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(
        "submissions.jsonl",
        "{\"at\":\"2026-01-01T00:00:00+00:00\",\"id\":\"zz",
    );
    append("numbers.jsonl", "{\"id\":\"zz\",\"ind");
    // Extended: the new combination's number and job are written after whole lines.
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2, 3]")).unwrap();
    let out = daily(&dir, "second.jsonl");
    ok(&out, "after the cut");
    let err = stderr(&out);
    for file in ["submissions.jsonl", "numbers.jsonl"] {
        assert!(
            err.contains(&format!("{file}: line ")) && err.contains(&format!("{file}.damaged")),
            "{file}: {err}"
        );
        let text = std::fs::read_to_string(state.join(file)).unwrap();
        assert!(text.ends_with('\n'), "{file}: {text}");
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{file}: {e}: {line}"));
        }
    }
    assert_eq!(
        std::fs::read_to_string(state.join("numbers.jsonl.damaged")).unwrap(),
        "{\"id\":\"zz\",\"ind\n"
    );
    let second = json_lines(&dir.join("second.jsonl"));
    assert_eq!(
        second
            .iter()
            .filter(|r| s(r, "submit_status") == "submitted")
            .count(),
        1
    );
    // The run after that reads it all.
    let out = daily(&dir, "third.jsonl");
    ok(&out, "the next run");
    // Nothing to say about damage: only the line every run ends with.
    assert_eq!(stderr(&out), "sweep-submit: 0 new, 0 re-run, 3 kept\n");
    // A whole line damaged in the middle: read past, its job found by its tag.
    let journal = state.join("submissions.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[0] = "this line was overwritten";
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let out = daily(&dir, "fourth.jsonl");
    ok(&out, "a damaged line");
    let err = stderr(&out);
    assert!(
        err.contains("submissions.jsonl: line 1 damaged, set aside")
            && err.contains("found in Slurm by their tag"),
        "{err}"
    );
    let fourth = json_lines(&dir.join("fourth.jsonl"));
    assert!(fourth
        .iter()
        .all(|r| s(r, "submit_status") == "already_submitted"));
    assert_eq!(jobs_of(&sweep).len(), 3, "no second job");
}

/// Issue 19, item 8: a re-run passes kept combinations through with everything their
/// submission had (from the journal), and merging them into the manifest loses nothing.
#[test]
fn a_rerun_keeps_everything_a_submission_knew() {
    let name = "a_rerun_keeps_everything_a_submission_knew";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("shared_rerun_fields");
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2]")).unwrap();
    let _later = crate::never_twice_slurm::CancelSweepLater(dir.join("sweep"));
    ok(&daily(&dir, "first.jsonl"), "the first run");
    ok(
        &sh("sweep-collect --status sweep/m.json > /dev/null", &dir),
        "--status",
    );
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2, 3]")).unwrap();
    ok(&daily(&dir, "second.jsonl"), "extended");
    let first = json_lines(&dir.join("first.jsonl"));
    let second = json_lines(&dir.join("second.jsonl"));
    let fields = [
        "job_id",
        "job_name",
        "job_script",
        "log_dir",
        "gpus_per_node",
        "tag",
        "submitted_at",
        "sbatch_command",
    ];
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(s(b, "submit_status"), "already_submitted");
        for k in fields {
            assert_eq!(a[k], b[k], "{k}: {b}");
        }
    }
    let m = read_json(&dir.join("sweep/m.json"));
    let jobs = m["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    for (i, j) in jobs.iter().enumerate() {
        for k in fields {
            assert!(j.get(k).is_some(), "{k} lost: {j}");
        }
        // The state --status gave the kept ones stays.
        assert_eq!(j.get("state").is_some(), i < 2, "{j}");
    }
}

/// Issue 19, item 9: SIGINT or SIGTERM during the submission stops it before the next sbatch,
/// releases every job it wrote down (none stays held but the one in flight, never written
/// down), and the same command again submits the rest: one job each.
#[test]
fn a_signal_stops_the_run_and_leaves_no_journaled_job_held() {
    let name = "a_signal_stops_the_run_and_leaves_no_journaled_job_held";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("shared_signal");
    std::fs::write(dir.join("records.jsonl"), pending_records("s1gn4l", 20)).unwrap();
    for (signal, code, after) in [("INT", 130, 4), ("TERM", 143, 9)] {
        let sweep = dir.join(format!("sweep_{signal}"));
        let _later = crate::never_twice_slurm::CancelSweepLater(sweep.clone());
        let run = || {
            std::process::Command::new(crate::common::bin("sweep-submit"))
                .args(REQUIRED)
                .args([
                    "--output-dir",
                    sweep.to_str().unwrap(),
                    "--max-submit-rate",
                    "10",
                ])
                .arg(dir.join("records.jsonl"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut child = run();
        // Signalled once `after` records (jobs written down) reached stdout.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        while lines.len() < after {
            let mut l = String::new();
            assert!(std::io::BufRead::read_line(&mut out, &mut l).unwrap() > 0);
            lines.push(l);
        }
        let pid = child.id().to_string();
        ok(
            &std::process::Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .output()
                .unwrap(),
            "kill",
        );
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let done = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(code), "SIG{signal}: {err}");
        assert!(
            err.contains(&format!("interrupted by SIG{signal}")),
            "{err}"
        );
        let written = lines.len() + rest.lines().count();
        let journal = crate::common::json_lines(&sweep.join(".sweep/submissions.jsonl"));
        assert_eq!(
            journal.len(),
            written,
            "every job written down reached stdout"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        let jobs = jobs_of(&sweep);
        let held: Vec<_> = jobs.iter().filter(|j| !j.runnable()).collect();
        assert!(
            held.len() <= 1,
            "SIG{signal}: at most the job in flight: {jobs:?}"
        );
        for j in &journal {
            let job = jobs.iter().find(|x| x.id == s(j, "job_id")).unwrap();
            assert!(
                job.runnable(),
                "SIG{signal}: a journaled job left held: {job:?}"
            );
        }
        eprintln!(
            "SIG{signal} after {after} records: {written} written, {} job(s) in Slurm, {} held",
            jobs.len(),
            held.len()
        );
        // The same command again: the rest, one job each.
        let again = run().wait_with_output().unwrap();
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        let recs: Vec<Value> = String::from_utf8_lossy(&again.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs.len(), 20);
        one_runnable_job_each(&sweep, &recs);
    }
}

/// Issue 19, item 7 (the concurrent-update trial): `sweep-collect --wait M` in place while
/// the extending pipeline ends in `sweep-collect M - --output M`; the wait writes last, and M
/// keeps every job of both. Three runs at once, the pipeline started at a different moment
/// of the wait in each.
#[test]
fn two_commands_updating_one_manifest_keep_every_job() {
    let name = "two_commands_updating_one_manifest_keep_every_job";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let runs: Vec<std::thread::JoinHandle<(usize, Vec<String>)>> = (0..3u64)
        .map(|k| {
            std::thread::spawn(move || {
                let dir = fresh_dir(&format!("shared_concurrent_{k}"));
                // One-node jobs that run for a few seconds.
                let job = template(&dir, "sleep 4");
                let sweep = |values: &str| {
                    format!("slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: {values}\n")
                };
                std::fs::write(dir.join("s.yaml"), sweep("[0.8, 0.9]")).unwrap();
                let line = format!(
                    "sweep-expand s.yaml | sweep-render --out-dir sweep | sweep-submit {} --template {job} \
                     | sweep-collect M - --output M",
                    REQUIRED.join(" ")
                );
                ok(&sh(&line, &dir), "the first run");
                let _later = crate::never_twice_slurm::CancelSweepLater(dir.join("sweep"));
                let wait = std::process::Command::new("bash")
                    .arg("-c")
                    .arg(format!(
                        "PATH={}:$PATH sweep-collect --wait --poll-interval 0.5 --max-interval 2 --timeout 240 M > /dev/null",
                        crate::common::bin("sweep-collect").parent().unwrap().display()
                    ))
                    .current_dir(&dir)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300 + 700 * k));
                std::fs::write(dir.join("s.yaml"), sweep("[0.8, 0.85, 0.9]")).unwrap();
                ok(&sh(&line, &dir), "the extending run");
                let waited = wait.wait_with_output().unwrap();
                let err = String::from_utf8_lossy(&waited.stderr).to_string();
                let m = read_json(&dir.join("M"));
                let jobs: Vec<String> = m["jobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|j| format!("{}:{}", j["job_id"].as_str().unwrap_or("none"), j["state"].as_str().unwrap_or("-")))
                    .collect();
                let total = m["total_jobs"].as_u64().unwrap() as usize;
                assert_eq!(total, 3, "run {k}: {jobs:?}");
                // And the wait did write last (else the test proved nothing).
                assert!(
                    err.contains("was updated by another run since this one read it"),
                    "run {k}: the wait wrote last: {err}"
                );
                (total, jobs)
            })
        })
        .collect();
    for (k, run) in runs.into_iter().enumerate() {
        let (total, jobs) = run.join().unwrap();
        eprintln!(
            "concurrent-update trial, run {k}: {total} jobs in M after both commands: {jobs:?}"
        );
        assert_eq!(total, 3, "run {k}: {jobs:?}");
        assert!(
            jobs.iter().all(|j| !j.starts_with("none")),
            "run {k}: {jobs:?}"
        );
        // The wait's states of the first two, kept beside the new job.
        assert!(
            jobs[0].ends_with("COMPLETED") && jobs[1].ends_with("COMPLETED"),
            "run {k}: {jobs:?}"
        );
    }
}

/// Issue 19, item 9: the seed's one-command form run again in the same place carries on the
/// sweep directory it made, instead of a second directory and every job again.
#[test]
fn the_seeds_one_command_run_again_never_doubles_the_sweep() {
    let name = "the_seeds_one_command_run_again_never_doubles_the_sweep";
    let Some(_slurm) = on_slurm(name) else {
        return;
    };
    let dir = fresh_dir("shared_sweep_config_again");
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2]")).unwrap();
    let once = |out: &str| {
        sh(
            &format!(
                "sweep-submit --sweep-config s.yaml {} > {out}",
                REQUIRED.join(" ")
            ),
            &dir,
        )
    };
    let first = once("first.jsonl");
    ok(&first, "the first run");
    let made: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let sweep = made[0].clone();
    let _later = crate::never_twice_slurm::CancelSweepLater(sweep.clone());
    let again = once("second.jsonl");
    ok(&again, "again");
    assert!(
        stderr(&again).contains("made by an earlier run of"),
        "{}",
        stderr(&again)
    );
    let second = json_lines(&dir.join("second.jsonl"));
    assert!(second
        .iter()
        .all(|r| s(r, "submit_status") == "already_submitted"));
    // Extended: only the new combination; still one directory, and its manifest has all.
    std::fs::write(dir.join("s.yaml"), pending_sweep("[1, 2, 3]")).unwrap();
    ok(&once("third.jsonl"), "extended");
    let third = json_lines(&dir.join("third.jsonl"));
    let submitted = third
        .iter()
        .filter(|r| s(r, "submit_status") == "submitted")
        .count();
    assert_eq!(submitted, 1);
    let dirs = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 1);
    assert_eq!(jobs_of(&sweep).len(), 3);
    assert_eq!(
        read_json(&sweep.join("sweep_manifest.json"))["total_jobs"],
        3
    );
}
