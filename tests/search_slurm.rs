//! The adaptive search on the local cluster (issue 22): the loop of docs/results.md, as
//! written, over examples/search.yaml (four configurations of the stand-in engine whose time
//! per output token grows with concurrency by a known law, so each SLO boundary is known),
//! against an exhaustive ladder of the same configurations; and never twice, round by round.

use crate::common::{fresh_dir, json_lines, on_slurm, read_json, sh, stderr, stdout, Cancel};
use crate::submit::REQUIRED;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The SLO of the documented loop, and each configuration's law (A, B: TPOT = A + B x
/// concurrency ms; the stand-in's ITL p99 is 2.45 x TPOT), as examples/search.yaml has them.
const LAWS: [(f64, f64); 4] = [(2.0, 0.1), (4.0, 0.2), (8.0, 0.33), (12.0, 0.8)];

/// Where configuration `i`'s boundary is: the concurrency at which ITL p99 reaches 50 ms.
fn boundary(i: usize) -> f64 {
    let (a, b) = LAWS[i];
    (50.0 / 2.45 - a) / b
}

/// The loop of docs/results.md ("### The loop"), with faster polls for the test.
fn documented_loop() -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    let at = doc.find("### The loop").unwrap();
    let rest = &doc[at..];
    let start = rest.find("```bash\n").unwrap() + "```bash\n".len();
    let end = rest[start..].find("```").unwrap();
    let text = rest[start..start + end].to_string();
    assert!(
        text.contains("sweep-collect --wait --slo \"$SLO\" --next-round next.jsonl"),
        "{text}"
    );
    text.replace(
        "sweep-collect --wait ",
        "sweep-collect --wait --poll-interval 0.3 --max-interval 1 ",
    )
}

/// The options every sweep of these tests is submitted with.
fn submit_options(profiler: &str) -> String {
    format!(
        "S=({} --time-limit 00:05:00 --gpus-per-node 4 --profiler '{profiler}')\n",
        REQUIRED.join(" "),
    )
}

/// The first round of examples/search.yaml in `sub`/sweeps/tpt, at `concurrencies`.
fn first_round(concurrencies: &str) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/search.yaml");
    format!(
        "{}sweep-expand {} | sweep-render --out-dir sweeps/tpt | sweep-submit \"${{S[@]}}\" \\\n  | sweep-collect --output sweeps/tpt/sweep_manifest.json\n",
        submit_options(&format!(
            "type=sglang; isl=128; osl=32; concurrencies={concurrencies}; req-rate=inf"
        )),
        example.display()
    )
}

/// The best-under-SLO rows of sweep `sub`'s manifest, by record index; its manifest with
/// every job's results goes to `<sub>-results.json`.
fn best_rows(dir: &Path, sub: &str) -> BTreeMap<u64, Value> {
    let table = dir.join(format!("best-{sub}.jsonl"));
    let out = sh(
        &format!(
            "sweep-collect --results --slo 'itl_p99_ms<=50' --best-table {} {sub}/sweeps/tpt/sweep_manifest.json --output {sub}-results.json",
            table.display(),
        ),
        dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&table)
        .into_iter()
        .map(|r| (r["index"].as_u64().unwrap(), r))
        .collect()
}

/// Runs `script` in `dir` after `head` (the submit options); it must succeed. Its stderr.
fn step_in(dir: &Path, head: &str, script: &str) -> String {
    let out = sh(&format!("{head}{script}"), dir);
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every job of a manifest (current and history), with its state.
fn jobs(m: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for j in m["jobs"].as_array().unwrap() {
        for h in j["history"].as_array().into_iter().flatten() {
            out.push((
                h["job_id"].as_str().unwrap().to_string(),
                h["state"].as_str().unwrap_or("").to_string(),
            ));
        }
        if let Some(id) = j["job_id"].as_str() {
            out.push((
                id.to_string(),
                j["state"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

#[test]
fn the_search_finds_every_boundary_and_the_ladders_best_in_a_fraction_of_the_loads() {
    let Some(_slurm) =
        on_slurm("the_search_finds_every_boundary_and_the_ladders_best_in_a_fraction_of_the_loads")
    else {
        return;
    };
    let dir = fresh_dir("search_slurm");
    let looped = documented_loop();
    let ladder: Vec<String> = (1..=256).map(|c| c.to_string()).collect();
    // Three sweeps of the same configurations, side by side: the documented loop, the same with
    // --no-prune (every boundary located), and every concurrency from 1 to 256.
    let script = format!(
        r#"
mkdir -p prune all ladder
(cd ladder && {ladder_round})
(cd prune && {first})
(cd all && {first})
(cd prune && export COLUMNS=200 && {looped}) > prune.out 2> prune.err &
p=$!
(cd all && {no_prune}) 2> all.err &
a=$!
rc=0
wait $p || rc=1
wait $a || rc=1
(cd ladder && sweep-collect --wait --poll-interval 0.3 --max-interval 1 sweeps/tpt/sweep_manifest.json > /dev/null) 2> ladder.err || rc=1
exit $rc
"#,
        ladder_round = first_round(&ladder.join("x")),
        first = first_round("4x16x64x256"),
        no_prune = looped.replace(
            "--next-round next.jsonl",
            "--no-prune --next-round next.jsonl"
        ),
    );
    let out = sh(&script, &dir);
    let manifest = |sub: &str| dir.join(sub).join("sweeps/tpt/sweep_manifest.json");
    let mut cancel = Cancel(Vec::new());
    for sub in ["prune", "all", "ladder"] {
        if manifest(sub).is_file() {
            for (job, _) in jobs(&read_json(&manifest(sub))) {
                cancel.push(job);
            }
        }
    }
    let err = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}\nprune:\n{}\nall:\n{}\nladder:\n{}",
        String::from_utf8_lossy(&out.stderr),
        err("prune.err"),
        err("all.err"),
        err("ladder.err")
    );
    for sub in ["prune", "all", "ladder"] {
        for (job, state) in jobs(&read_json(&manifest(sub))) {
            assert_eq!(state, "COMPLETED", "{sub}: job {job}");
        }
    }

    // The ladder: every concurrency, so each configuration's best is the whole part of its
    // boundary (the law holds through the whole pipeline), and the best configuration is
    // the one whose boundary gives the most output tokens/s per GPU.
    let ladder = best_rows(&dir, "ladder");
    for (i, row) in &ladder {
        let c = boundary(*i as usize);
        assert_eq!(row["best_load"].as_f64(), Some(c.floor()), "{row}");
        assert_eq!(
            row["fails_at_load"].as_f64(),
            Some(c.floor() + 1.0),
            "{row}"
        );
    }
    let winner = |rows: &BTreeMap<u64, Value>| -> u64 {
        *rows.iter().find(|(_, r)| r["rank"] == 1).expect("a best").0
    };
    let best = winner(&ladder);
    assert_eq!(best, 0, "{ladder:?}");

    // Every boundary within 10%, with --no-prune; the same best configuration.
    let all = best_rows(&dir, "all");
    let within = |i: u64, row: &Value| {
        let (b, f) = (
            row["best_load"].as_f64().unwrap(),
            row["fails_at_load"].as_f64().unwrap(),
        );
        let c = boundary(i as usize);
        assert!(b <= c && c < f, "index {i}: {c} not in [{b}, {f}): {row}");
        assert!(
            f <= b * 1.1 || f - b <= 1.0,
            "index {i}: [{b}, {f}) is wider than 10%"
        );
    };
    assert_eq!(all.len(), 4);
    for (i, row) in &all {
        within(*i, row);
    }
    assert_eq!(winner(&all), best);

    // The documented loop: the same best, its boundary within 10%; the pruned ones' brackets
    // hold their boundaries too, and none could have won.
    let prune = best_rows(&dir, "prune");
    assert_eq!(winner(&prune), best);
    within(best, &prune[&best]);
    for (i, row) in &prune {
        let (b, f) = (
            row["best_load"].as_f64().unwrap(),
            row["fails_at_load"].as_f64().unwrap(),
        );
        let c = boundary(*i as usize);
        assert!(b <= c && c < f, "index {i}: {c} not in [{b}, {f}): {row}");
    }
    // The progress lines: rounds 2 and 3 planned, then over.
    let log = err("prune.err");
    for line in [
        "sweep-collect: search round 2: 0 resolved, 3 pruned, 1 open (3 loads)",
        "sweep-collect: search round 3: 0 resolved, 3 pruned, 1 open (3 loads)",
        "sweep-collect: search over after round 3: 1 resolved, 3 pruned, 0 open: nothing left to measure",
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }
    // docs/results.md shows this run: its search lines, and the answer.
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    let at = doc
        .find("### On the local cluster: two rounds converge")
        .unwrap();
    let blocks: Vec<&str> = doc[at..]
        .split("```text\n")
        .skip(1)
        .take(2)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    for line in blocks[0]
        .lines()
        .filter(|l| l.starts_with("sweep-collect: "))
    {
        assert!(
            log.contains(line),
            "docs/results.md shows {line:?}; the run said:\n{log}"
        );
    }
    let out = err("prune.out");
    let answer = &out[out.find("Best under the SLO").expect("the answer")..];
    assert!(
        answer.starts_with(blocks[1]),
        "docs/results.md shows:\n{}\nthe run said:\n{answer}",
        blocks[1]
    );
    // What each side measured: the search a fraction of the ladder's loads and jobs.
    let measured = |sub: &str| -> (usize, usize) {
        let m = read_json(&dir.join(format!("{sub}-results.json")));
        let loads = m["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["results"]["valid_points"].as_u64().unwrap() as usize)
            .sum();
        (loads, jobs(&m).len())
    };
    assert_eq!(measured("ladder"), (4 * 256, 4));
    assert_eq!(measured("prune"), (16 + 6, 6));
    assert_eq!(
        measured("all"),
        (16 + 4 * 3 + 3 + 3 + 3 + 2, 12),
        "{}",
        err("all.err")
    );
}

#[test]
fn a_round_is_submitted_once_whatever_runs_again() {
    let Some(_slurm) = on_slurm("a_round_is_submitted_once_whatever_runs_again") else {
        return;
    };
    let dir = fresh_dir("search_slurm_once");
    let m = "sweeps/tpt/sweep_manifest.json";
    // Index 0 of examples/search.yaml alone, measured at 4x16x64x256.
    let head =
        submit_options("type=sglang; isl=128; osl=32; concurrencies=4x16x64x256; req-rate=inf");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/search.yaml");
    let base = format!(
        "sweep-expand {} | head -1 | sweep-render --out-dir sweeps/tpt | sweep-submit \"${{S[@]}}\"",
        example.display()
    );
    let plan = format!("sweep-collect --status --slo 'itl_p99_ms<=50' --next-round next.jsonl {m}");
    let step = |script: &str| step_in(&dir, &head, script);
    let mut cancel = Cancel(Vec::new());
    step(&format!(
        "{base} | sweep-collect --output {m}\nsweep-collect --wait --poll-interval 0.3 --max-interval 1 {m} > /dev/null"
    ));
    let first = read_json(&dir.join(m))["jobs"][0]["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let err = step(&plan);
    assert!(
        err.contains("search round 2: 0 resolved, 0 pruned, 1 open (3 loads)"),
        "{err}"
    );
    let next = json_lines(&dir.join("next.jsonl"));
    assert_eq!(next[0]["concurrencies"], serde_json::json!([91, 128, 181]));
    std::fs::copy(dir.join("next.jsonl"), dir.join("round2.jsonl")).unwrap();
    std::fs::copy(dir.join(m), dir.join("before-round2.json")).unwrap();
    // The plan of round 2 (issue 23): a re-run of the combination, for its next loads.
    let out = sh(
        &format!("{head}COLUMNS=200 sweep-submit --plan < round2.jsonl"),
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("re-run") && shown.contains("measures concurrency 91x128x181 next"),
        "{shown}"
    );
    assert!(shown.contains("0 new, 1 re-run, 0 kept"), "{shown}");
    // Round 2, kept pending (it may not start for ten minutes).
    step(&format!(
        "sweep-submit --sbatch-arg=--begin=now+600 < round2.jsonl | sweep-collect {m} - --output {m}"
    ));
    let after = read_json(&dir.join(m));
    let r = &after["jobs"][0];
    let second = r["job_id"].as_str().unwrap().to_string();
    cancel.push(second.clone());
    assert_ne!(second, first);
    assert_eq!(r["concurrencies"], serde_json::json!([91, 128, 181]));
    assert_eq!(r["history"][0]["job_id"], first.as_str());
    assert!(r["tag"].as_str().unwrap().ends_with(":c91x128x181"), "{r}");
    // The job script measures the round's loads.
    let script = std::fs::read_to_string(r["job_script"].as_str().unwrap()).unwrap();
    assert!(
        script.contains(r#""concurrencies":[91,128,181]"#),
        "{script}"
    );
    assert!(script.contains(" '91x128x181' "), "{script}");

    // Each of these runs again, and submits nothing new: the round is pending.
    let kept = |input: &str| {
        let out = sh(&format!("{head}sweep-submit < {input}"), &dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rec["submit_status"], "already_submitted", "{input}: {rec}");
        assert_eq!(rec["job_id"], second.as_str(), "{input}: {rec}");
    };
    // The same records again.
    kept("round2.jsonl");
    // The same next-round command on the manifest from before round 2 was merged.
    step("sweep-collect --status --slo 'itl_p99_ms<=50' --next-round stale.jsonl before-round2.json --output /dev/null");
    assert_eq!(
        std::fs::read(dir.join("stale.jsonl")).unwrap(),
        std::fs::read(dir.join("round2.jsonl")).unwrap()
    );
    kept("stale.jsonl");
    // The first round's pipeline again: its job completed; not submitted again either.
    let out = sh(&format!("{head}{base}"), &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["submit_status"], "already_submitted", "{rec}");
    assert_eq!(rec["job_id"], first.as_str(), "{rec}");
    // The search itself waits for the pending round: nothing to propose.
    let err = step(&plan);
    assert!(
        err.contains(&format!("waiting: job {second} is PENDING")),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("next.jsonl")).unwrap(), b"");
    // Exactly two jobs carry the combination's tags in Slurm.
    let out = std::process::Command::new("squeue")
        .args(["--me", "-h", "-t", "all", "-o", "%i %k"])
        .output()
        .unwrap();
    let key = r["tag"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let ours: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|t| t.starts_with(&key))
        })
        .map(String::from)
        .collect();
    assert!(ours.len() <= 2, "{ours:?}");
    assert!(
        ours.iter().any(|l| l.starts_with(&format!("{second} "))),
        "{ours:?}"
    );
    // The round cancelled: the search does not propose it again; the record re-submitted by
    // hand, as docs/results.md says, measures the same loads again.
    step(&format!("sweep-collect --cancel {m} > /dev/null"));
    let err = step(&plan);
    assert!(
        err.contains(&format!(
            "failed: concurrency 91x128x181 was measured already (job {second} CANCELLED)"
        )),
        "{err}"
    );
    // --wait exits 1 when a job did not complete; with --next-round, 0 once every job ended
    // (the failed round is part of the answer), as docs/sweep-collect.md says.
    let wait =
        format!("sweep-collect --wait --poll-interval 0.3 --max-interval 1 {m} --output /dev/null");
    let out = sh(&format!("{head}{wait}"), &dir);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = step(&format!(
        "{wait} --slo 'itl_p99_ms<=50' --next-round waited.jsonl"
    ));
    assert!(err.contains("search over after round 2"), "{err}");
    assert_eq!(std::fs::read(dir.join("waited.jsonl")).unwrap(), b"");
    step(&format!(
        "sweep-collect --status --jsonl {m} | jq -c 'select(.index == 0)' | sweep-submit --sbatch-arg=--begin=now+600 | sweep-collect {m} - --output {m}"
    ));
    let again = read_json(&dir.join(m));
    let r = &again["jobs"][0];
    let third = r["job_id"].as_str().unwrap().to_string();
    cancel.push(third.clone());
    assert!(third != second && third != first, "{r}");
    assert_eq!(r["concurrencies"], serde_json::json!([91, 128, 181]), "{r}");
    let history: Vec<&str> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(history, [first.as_str(), second.as_str()], "{r}");
    // The journal moved away: the round is found in Slurm by its tag, which says its loads.
    std::fs::rename(
        dir.join("sweeps/tpt/.sweep/submissions.jsonl"),
        dir.join("journal.moved"),
    )
    .unwrap();
    let out = sh(&format!("{head}sweep-submit < round2.jsonl"), &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["submit_status"], "already_submitted", "{rec}");
    assert_eq!(rec["job_id"], third.as_str(), "{rec}");
}

/// A job of nobody's sweep with `comment` (36 nodes, so it pends); its ID.
fn plain_job(comment: &str) -> String {
    let out = std::process::Command::new("sbatch")
        .args(["--parsable", "-A", "sweepacct", "-p", "batch", "-N", "36"])
        .args(["-o", "/dev/null", &format!("--comment={comment}")])
        .args(["--wrap", "true"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Slurm's state and comment of `job`.
fn state_and_comment(job: &str) -> (String, String) {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-t", "all", "-j", job, "-o", "%T %k"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (state, comment) = text.split_once(' ').unwrap_or((&text, ""));
    (state.to_string(), comment.to_string())
}

/// Each round of a combination is a submission with its own tag (what it measures is in it):
/// `--status` takes an earlier round's state, and `--cancel` cancels it, checked against the
/// tag that round's job carries, not the current round's; a job ID in `history` whose job
/// carries another round's tag, or a comment that is not ours, gets no state from it and is
/// never cancelled.
#[test]
fn status_and_cancel_check_each_rounds_job_against_its_own_tag() {
    let Some(_slurm) = on_slurm("status_and_cancel_check_each_rounds_job_against_its_own_tag")
    else {
        return;
    };
    let dir = fresh_dir("search_slurm_round_tags");
    let m = "sweeps/tpt/sweep_manifest.json";
    let head = submit_options("type=sglang; isl=128; osl=32; concurrencies=4x16; req-rate=inf");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/search.yaml");
    let step = |script: &str| step_in(&dir, &head, script);
    let mut cancel = Cancel(Vec::new());
    // Round 1 (--profiler's loads) and round 2 (its own), both kept pending.
    step(&format!(
        "sweep-expand {} | head -1 | sweep-render --out-dir sweeps/tpt | sweep-submit \"${{S[@]}}\" --sbatch-arg=--begin=now+600 | sweep-collect --output {m}",
        example.display()
    ));
    step(&format!(
        "sweep-collect --jsonl {m} | jq -c '.concurrencies = [91, 128, 181]' | sweep-submit --sbatch-arg=--begin=now+600 | sweep-collect {m} - --output {m}"
    ));
    let r = read_json(&dir.join(m))["jobs"][0].clone();
    let first = r["history"][0]["job_id"].as_str().unwrap().to_string();
    let second = r["job_id"].as_str().unwrap().to_string();
    cancel.push(first.clone());
    cancel.push(second.clone());
    assert_ne!(first, second, "{r}");
    let (state, first_tag) = state_and_comment(&first);
    assert_eq!(state, "PENDING");
    let (state, second_tag) = state_and_comment(&second);
    assert_eq!(state, "PENDING");
    assert_eq!(r["tag"], second_tag.as_str(), "{r}");
    assert_eq!(second_tag, format!("{first_tag}:c91x128x181"));
    // Two job IDs the history names that are not this combination's rounds: one carries the
    // current round's tag (another round's, for an entry that measured 4x16), one a
    // colleague's comment.
    let other_round = plain_job(&second_tag);
    let colleague = plain_job("colleague");
    cancel.push(other_round.clone());
    cancel.push(colleague.clone());
    // The first round's state forgotten, so that only Slurm can give it back.
    let edit = format!(
        ".jobs[0].history[0] |= del(.state) | .jobs[0].history += [{{\"job_id\": \"{other_round}\", \"concurrencies\": [4, 16]}}, {{\"job_id\": \"{colleague}\"}}]"
    );
    step(&format!("jq '{edit}' {m} > edited.json"));

    let err = step("sweep-collect --status edited.json --output status.json");
    let r = read_json(&dir.join("status.json"))["jobs"][0].clone();
    let h = |r: &Value, job: &str| {
        r["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["job_id"] == job)
            .unwrap_or_else(|| panic!("{job}: {r}"))
            .clone()
    };
    assert_eq!(h(&r, &first)["state"], "PENDING", "{r}");
    assert_eq!(r["state"], "PENDING", "{r}");
    assert!(h(&r, &other_round).get("state").is_none(), "{r}");
    assert!(h(&r, &colleague).get("state").is_none(), "{r}");
    assert!(
        err.contains("2 job ID(s) the records name belong to other jobs in Slurm now"),
        "{err}"
    );
    assert!(
        err.contains(&other_round) && err.contains(&colleague),
        "{err}"
    );
    assert!(!err.contains(&format!("{first} ")), "{err}");

    let err = step("sweep-collect --cancel edited.json --output cancelled.json");
    assert!(
        err.contains("cancelling 2 job(s) of 1 combination(s): "),
        "{err}"
    );
    assert!(state_and_comment(&first).0.starts_with("CANCELLED"));
    assert!(state_and_comment(&second).0.starts_with("CANCELLED"));
    assert_eq!(state_and_comment(&other_round).0, "PENDING");
    assert_eq!(state_and_comment(&colleague).0, "PENDING");
    let r = read_json(&dir.join("cancelled.json"))["jobs"][0].clone();
    assert!(
        h(&r, &first)["state"]
            .as_str()
            .unwrap()
            .starts_with("CANCELLED"),
        "{r}"
    );
    assert!(h(&r, &other_round).get("state").is_none(), "{r}");
    assert!(r["state"].as_str().unwrap().starts_with("CANCELLED"), "{r}");
}
