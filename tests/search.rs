//! The adaptive search (issue 22) without Slurm: `sweep-collect --next-round` on results laid
//! out as jobs write them, rounds "submitted" by hand (each follow-up given a job and the
//! results its loads would give under a known law), merged back with sweep-collect as the
//! pipeline merges them. The worked example of docs/results.md, the search against an
//! exhaustive ladder over many laws, the options, and what a follow-up record carries into
//! the job script (`sweep-submit --dry-run`).

use crate::answer::{job_dir, sweep_records};
use crate::common::{read_json, run, stderr, stdout, temp_dir};
use crate::results::{sglang_line, write};
use serde_json::{json, Value};
use std::path::Path;

/// `sweep-collect` with `args` then `inputs`; (exit code, stdout, stderr).
fn collect(args: &[&str], inputs: &[&Path]) -> (i32, String, String) {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(inputs.iter().map(|p| p.display().to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let o = run("sweep-collect", &all, "");
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// A shell command line in `dir`: its exit code, stdout and stderr.
fn sh_collect(script: &str, dir: &Path) -> (i32, String, String) {
    let o = crate::common::sh(script, dir);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// Writes `recs` as the manifest `m` (through sweep-collect, as a sweep's would be).
fn manifest(dir: &Path, recs: &[Value]) -> std::path::PathBuf {
    let input = dir.join("records.jsonl");
    let text: String = recs.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let m = dir.join("m.json");
    let (code, _, err) = collect(&["--output", m.to_str().unwrap()], &[&input]);
    assert_eq!(code, 0, "{err}");
    m
}

/// "Submits" the records of a next round: each gets job `first_job + n`, completed, and the
/// results `runs` gives for each of its concurrencies; merged into `m`. Returns the jobs.
fn simulate_round(
    dir: &Path,
    m: &Path,
    next: &[Value],
    first_job: u64,
    runs: &dyn Fn(&Value, u64) -> String,
) -> Vec<String> {
    let mut jobs = Vec::new();
    let mut submitted = String::new();
    for (n, r) in next.iter().enumerate() {
        let mut r = r.clone();
        let job = (first_job + n as u64).to_string();
        r["job_id"] = json!(job);
        r["submit_status"] = json!("submitted");
        r["submitted_at"] = json!(format!(
            "2026-12-{:02}T12:00:00+00:00",
            10 + first_job / 100
        ));
        r["state"] = json!("COMPLETED");
        r["gpus_per_node"] = json!(8);
        let text: String = r["concurrencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| runs(&r, c.as_u64().unwrap()))
            .collect();
        write(&job_dir(&r).join("bench.jsonl"), &text);
        submitted.push_str(&format!("{r}\n"));
        jobs.push(job);
    }
    let input = dir.join(format!("round-{first_job}.jsonl"));
    std::fs::write(&input, submitted).unwrap();
    let (code, _, err) = collect(&["--output", m.to_str().unwrap()], &[m, &input]);
    assert_eq!(code, 0, "{err}");
    jobs
}

/// The JSON Lines of a file.
fn lines_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The ```text block of docs/results.md that follows the line `marker`.
fn doc_block(marker: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    let at = doc.find(marker).unwrap_or(0);
    let rest = &doc[at..];
    let start = rest.find("```text\n").unwrap() + "```text\n".len();
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].to_string()
}

/// The worked example's four combinations, round by round: (concurrency, ITL p99, tokens/s
/// per GPU) for index 0 to 3. SGLang's p99 ITL is 2.5 x its median TPOT in these lines.
/// (concurrency, ITL p99, tokens/s per GPU).
type Run = (u64, f64, f64);

fn worked_runs(index: u64, c: u64) -> (f64, f64) {
    let table: &[(u64, &[Run])] = &[
        (
            0,
            &[
                (4, 12.0, 60.0),
                (16, 20.0, 210.0),
                (64, 41.0, 640.0),
                (91, 56.0, 800.0),
                (128, 75.0, 1000.0),
                (181, 100.0, 1200.0),
                (256, 130.0, 1300.0),
            ],
        ),
        (
            1,
            &[
                (4, 15.0, 50.0),
                (16, 30.0, 170.0),
                (64, 75.0, 420.0),
                (256, 200.0, 600.0),
            ],
        ),
        (
            2,
            &[
                (4, 5.0, 100.0),
                (16, 8.0, 380.0),
                (64, 14.0, 700.0),
                (256, 30.0, 710.0),
            ],
        ),
        (
            3,
            &[
                (4, 6.0, 40.0),
                (16, 9.0, 150.0),
                (64, 18.0, 500.0),
                (256, 35.0, 900.0),
                (512, 47.0, 1500.0),
                (609, 49.0, 1560.0),
                (636, 49.5, 1580.0),
                (664, 50.5, 1600.0),
                (693, 52.0, 1610.0),
                (724, 55.0, 1620.0),
                (861, 62.0, 1660.0),
                (1024, 70.0, 1700.0),
                (2048, 120.0, 1750.0),
            ],
        ),
    ];
    let (_, runs) = table.iter().find(|(i, _)| *i == index).unwrap();
    let &(_, itl, gpu) = runs
        .iter()
        .find(|(load, _, _)| *load == c)
        .unwrap_or_else(|| panic!("index {index} was not to measure {c}"));
    (itl, gpu)
}

fn worked_line(r: &Value, c: u64) -> String {
    let (itl, gpu) = worked_runs(r["index"].as_u64().unwrap(), c);
    // 2 nodes of 8 GPUs.
    sglang_line(c, gpu * 16.0, itl / 2.5, 100.0) + "\n"
}

const WORKED_SWEEP: &str = "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.84, 0.88, 0.92]\n";

#[test]
fn the_worked_example_of_docs_results_md_holds() {
    let dir = temp_dir("search_worked");
    let mut recs = sweep_records(&dir, "tpt", WORKED_SWEEP, 1);
    for r in &mut recs {
        let text: String = [4, 16, 64, 256]
            .iter()
            .map(|&c| worked_line(r, c))
            .collect();
        write(&job_dir(r).join("bench.jsonl"), &text);
        r["submitted_at"] = json!("2026-12-01T12:00:00+00:00");
    }
    let m = manifest(&dir, &recs);
    let next = dir.join("next.jsonl");
    let args = [
        "--slo",
        "itl_p99_ms<=50",
        "--next-round",
        next.to_str().unwrap(),
    ];
    let (code, _, err) = collect(&args, &[&m]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        search_lines(&err),
        doc_block("The second round, as the search prints it"),
        "{err}"
    );
    let round2 = lines_of(&next);
    let asked: Vec<(u64, Value)> = round2
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["concurrencies"].clone()))
        .collect();
    assert_eq!(
        asked,
        [(0, json!([91, 128, 181])), (3, json!([512, 1024, 2048]))]
    );
    // A follow-up is ready for sweep-submit: its first job in history, no job of its own.
    let r0 = &round2[0];
    assert_eq!(
        r0["history"],
        json!([{"job_id": "1", "submitted_at": "2026-12-01T12:00:00+00:00", "state": "COMPLETED"}])
    );
    for gone in [
        "job_id",
        "state",
        "results",
        "tag",
        "submit_status",
        "submitted_at",
    ] {
        assert!(r0.get(gone).is_none(), "{gone}: {r0}");
    }
    // The same command again, nothing measured in between: the same round, byte for byte.
    let first = std::fs::read(&next).unwrap();
    let (code, _, _) = collect(&args, &[&m]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(&next).unwrap(), first);

    simulate_round(&dir, &m, &round2, 100, &worked_line);
    let (code, _, err) = collect(&args, &[&m]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(search_lines(&err), doc_block("The third round:"), "{err}");
    let round3 = lines_of(&next);
    assert_eq!(round3.len(), 1, "{round3:?}");
    assert_eq!(round3[0]["index"], 3);
    assert_eq!(round3[0]["concurrencies"], json!([609, 724, 861]));
    // Every round's job stays in history, with what it measured.
    let h: Vec<(Value, Value)> = round3[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["job_id"].clone(), h["concurrencies"].clone()))
        .collect();
    assert_eq!(
        h,
        [
            (json!("4"), Value::Null),
            (json!("101"), json!([512, 1024, 2048]))
        ]
    );
    // The manifest's record of index 3 reads both rounds' points.
    let after = read_json(&m);
    let d = &after["jobs"][3];
    assert_eq!(d["results"]["valid_points"], 7, "{d}");

    simulate_round(&dir, &m, &round3, 200, &worked_line);
    let (code, _, err) = collect(&args, &[&m]);
    assert_eq!(code, 0, "{err}");
    let round4 = lines_of(&next);
    assert_eq!(round4.len(), 1, "{round4:?}");
    assert_eq!(round4[0]["concurrencies"], json!([636, 664, 693]));
    simulate_round(&dir, &m, &round4, 300, &worked_line);
    let (code, _, err) = collect(&args, &[&m]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        search_lines(&err),
        doc_block("nothing is left to measure:"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&next).unwrap(),
        b"",
        "the search is over: an empty round"
    );
    // The page shows the table as a terminal 200 columns wide prints it.
    let (code, out, err) = sh_collect(
        &format!(
            "COLUMNS=200 sweep-collect --slo 'itl_p99_ms<=50' --best {}",
            m.display()
        ),
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, doc_block("its boundary known to 4.4%."));
    // Updated in place once a round, with results each time: one `results` per job, this
    // run's (an earlier run's were kept beside them once).
    let text = std::fs::read_to_string(&m).unwrap();
    assert_eq!(text.matches("\"results\": {").count(), 4, "{text}");
    // 28 loads in 8 jobs; the ladder of the same precision over 4 to 2048.
    let after = read_json(&m);
    let loads: u64 = after["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["results"]["valid_points"].as_u64().unwrap())
        .sum();
    let jobs: usize = after["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| 1 + j["history"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!((loads, jobs), (28, 8));
    let mut ladder = vec![4u64];
    while *ladder.last().unwrap() < 2048 {
        let c = *ladder.last().unwrap();
        ladder.push(((c * 11) / 10).max(c + 1).min(2048));
    }
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    assert!(
        doc.contains(&format!(
            "has {} loads per\ncombination: {} in 4 jobs",
            ladder.len(),
            4 * ladder.len()
        )),
        "{} loads: {ladder:?}",
        ladder.len()
    );
}

/// The search's lines of sweep-collect's stderr.
fn search_lines(err: &str) -> String {
    err.lines()
        .filter(|l| {
            !l.starts_with("sweep-collect: results:") && !l.starts_with("sweep-collect: updated")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A made-up configuration: TPOT = a + b x concurrency (ms), output tokens/s per GPU =
/// concurrency x 1000 / TPOT / 16 (2 nodes of 8 GPUs); under `tpot_median_ms<=50` its
/// boundary is at (50 - a) / b.
#[derive(Clone, Copy, Debug)]
struct Law {
    a: f64,
    b: f64,
}

impl Law {
    fn tpot(&self, c: u64) -> f64 {
        self.a + self.b * c as f64
    }
    fn gpu(&self, c: u64) -> f64 {
        c as f64 * 1000.0 / self.tpot(c) / 16.0
    }
    fn boundary(&self) -> f64 {
        (50.0 - self.a) / self.b
    }
    fn line(&self, c: u64) -> String {
        sglang_line(c, self.gpu(c) * 16.0, self.tpot(c), 100.0) + "\n"
    }
}

/// `n` laws from `seed`: boundaries spread over three decades (3 to 3000), a from 5 to 40.
fn laws(n: usize, seed: u64) -> Vec<Law> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let a = 5.0 + 35.0 * next();
            let boundary = 3.0 * 1000f64.powf(next());
            Law {
                a,
                b: (50.0 - a) / boundary,
            }
        })
        .collect()
}

/// A sweep of `laws.len()` combinations, each with the law of its index, measured at
/// `first`; then the search, round by round, until it has nothing left to measure (each
/// round's records given jobs and the results their law gives). Returns the manifest and the
/// number of rounds.
fn search(dir: &Path, laws: &[Law], first: &[u64], extra: &[&str]) -> (std::path::PathBuf, usize) {
    let m = first_round(dir, laws, first);
    let next = dir.join("next.jsonl");
    let mut args = vec![
        "--slo",
        "tpot_median_ms<=50",
        "--next-round",
        next.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    for round in 2.. {
        let (code, _, err) = collect(&args, &[&m]);
        assert_eq!(code, 0, "{err}");
        let records = lines_of(&next);
        if records.is_empty() {
            assert!(
                err.contains(&format!("search over after round {}", round - 1)),
                "{err}"
            );
            return (m, round - 1);
        }
        assert!(round < 20, "{err}");
        simulate_round(dir, &m, &records, 100 * round as u64, &|r, c| {
            laws[r["index"].as_u64().unwrap() as usize].line(c)
        });
    }
    unreachable!()
}

/// The manifest of a sweep of `laws.len()` combinations, each with the law of its index,
/// measured at `first`.
fn first_round(dir: &Path, laws: &[Law], first: &[u64]) -> std::path::PathBuf {
    let values: Vec<String> = (0..laws.len())
        .map(|i| format!("{}", 0.5 + i as f64 / 1000.0))
        .collect();
    let yaml = format!(
        "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [{}]\n",
        values.join(", ")
    );
    let mut recs = sweep_records(dir, "tpt", &yaml, 1);
    for r in &mut recs {
        let law = laws[r["index"].as_u64().unwrap() as usize];
        let text: String = first.iter().map(|&c| law.line(c)).collect();
        write(&job_dir(r).join("bench.jsonl"), &text);
        r["submitted_at"] = json!("2026-12-01T00:00:00+00:00");
    }
    manifest(dir, &recs)
}

/// The best-under-SLO rows of a manifest (JSON Lines), by index.
fn best_table(m: &Path) -> std::collections::BTreeMap<u64, Value> {
    let (code, out, err) = collect(
        &[
            "--slo",
            "tpot_median_ms<=50",
            "--best-table",
            "-",
            "--table-format",
            "jsonl",
        ],
        &[m],
    );
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| (r["index"].as_u64().unwrap(), r))
        .collect()
}

#[test]
fn the_search_finds_each_boundary_and_the_ladders_best_over_many_laws() {
    let first = [4, 16, 64, 256, 1024];
    for seed in [1, 2, 3] {
        let laws = laws(12, 0x9e37_79b9_7f4a_7c15 ^ seed);
        // The exhaustive answer: each configuration's best is at the whole part of its
        // boundary.
        let truth = |i: usize| laws[i].gpu(laws[i].boundary().floor() as u64);
        let winner = (0..laws.len())
            .max_by(|&x, &y| truth(x).total_cmp(&truth(y)))
            .unwrap() as u64;
        // Every boundary, with --no-prune.
        let dir = temp_dir(&format!("search_laws_all_{seed}"));
        let (m, rounds) = search(&dir, &laws, &first, &["--no-prune"]);
        assert!(rounds <= 6, "seed {seed}: {rounds} rounds");
        let rows = best_table(&m);
        for (i, row) in &rows {
            let c = laws[*i as usize].boundary();
            let (b, f) = (
                row["best_load"].as_f64().unwrap(),
                row["fails_at_load"].as_f64().unwrap(),
            );
            assert!(
                b <= c && c < f,
                "seed {seed}, index {i}: {c} not in [{b}, {f})"
            );
            assert!(
                f <= b * 1.1 || f - b <= 1.0,
                "seed {seed}, index {i}: [{b}, {f})"
            );
        }
        let top = |rows: &std::collections::BTreeMap<u64, Value>| {
            *rows.iter().find(|(_, r)| r["rank"] == 1).unwrap().0
        };
        assert_eq!(top(&rows), winner, "seed {seed}");
        // Pruning: the same best, located as well, in fewer loads.
        let dir = temp_dir(&format!("search_laws_prune_{seed}"));
        let (pm, _) = search(&dir, &laws, &first, &[]);
        let pruned = best_table(&pm);
        assert_eq!(top(&pruned), winner, "seed {seed}");
        assert_eq!(pruned[&winner]["best_load"], rows[&winner]["best_load"]);
        let loads = |m: &Path| -> u64 {
            read_json(m)["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["results"]["valid_points"].as_u64().unwrap())
                .sum()
        };
        assert!(
            loads(&pm) < loads(&m),
            "seed {seed}: pruning measured {} loads, not fewer than {}",
            loads(&pm),
            loads(&m)
        );
    }
}

#[test]
fn a_failed_round_is_not_proposed_again_a_waiting_one_waits_and_the_cap_holds() {
    let dir = temp_dir("search_states");
    let law = Law { a: 10.0, b: 0.4 }; // boundary at 100
    let mut recs = sweep_records(&dir, "tpt", "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.9, 0.95]\n", 1);
    for r in &mut recs {
        let text: String = [4, 16, 64, 256].iter().map(|&c| law.line(c)).collect();
        write(&job_dir(r).join("bench.jsonl"), &text);
    }
    // Index 1's job is still running; index 2's has no state known.
    recs[1]["state"] = json!("RUNNING");
    recs[2].as_object_mut().unwrap().remove("state");
    let m = manifest(&dir, &recs);
    let next = dir.join("next.jsonl");
    let args = [
        "--slo",
        "tpot_median_ms<=50",
        "--no-prune",
        "--next-round",
        "-",
        "--output",
    ];
    let out = dir.join("out.json");
    let mut all: Vec<&str> = args.to_vec();
    all.push(out.to_str().unwrap());
    let (code, stdout, err) = collect(&all, &[&m]);
    assert_eq!(code, 0, "{err}");
    // --next-round -: the round on stdout, the manifest to --output.
    let round: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(round.len(), 1);
    assert_eq!(round[0]["concurrencies"], json!([91, 128, 181]));
    assert!(read_json(&out)["jobs"].is_array());
    assert!(
        err.contains("search round 2: 0 resolved, 0 pruned, 1 open (3 loads), 2 waiting"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "index 1 (id {}): waiting: job 2 is RUNNING",
            recs[1]["id"].as_str().unwrap()
        )),
        "{err}"
    );
    assert!(
        err.contains("waiting: the state of job 3 is not known (add --status or --wait)"),
        "{err}"
    );

    // Index 0's round 2 fails: its loads are not proposed again.
    let mut r = round[0].clone();
    r["job_id"] = json!("50");
    r["submit_status"] = json!("submitted");
    r["submitted_at"] = json!("2026-12-02T00:00:00+00:00");
    r["state"] = json!("FAILED");
    let text: String = [91, 128, 181].iter().map(|&c| law.line(c)).collect();
    write(&job_dir(&r).join("bench.jsonl"), &text);
    let round2 = dir.join("round2.jsonl");
    std::fs::write(&round2, format!("{r}\n")).unwrap();
    let (code, _, err) = collect(&["--output", m.to_str().unwrap()], &[&m, &round2]);
    assert_eq!(code, 0, "{err}");
    let args = [
        "--slo",
        "tpot_median_ms<=50",
        "--next-round",
        next.to_str().unwrap(),
    ];
    let (code, _, err) = collect(&args, &[&m]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("failed: concurrency 91x128x181 was measured already (job 50 FAILED) without a valid result there; re-submit it by hand to try again"),
        "{err}"
    );
    assert_eq!(std::fs::read(&next).unwrap(), b"");
    // A follow-up that Slurm refused (no job, its round in nothing but history): proposed
    // again, the same loads, since they were never measured.
    let dir2 = temp_dir("search_refused");
    let mut recs = sweep_records(
        &dir2,
        "tpt",
        "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\n",
        1,
    );
    let text: String = [4, 16, 64, 256].iter().map(|&c| law.line(c)).collect();
    write(&job_dir(&recs[0]).join("bench.jsonl"), &text);
    recs[0]["state"] = json!("COMPLETED");
    let m2 = manifest(&dir2, &recs);
    let (code, out, err) = collect(
        &[
            "--slo",
            "tpot_median_ms<=50",
            "--next-round",
            "-",
            "--output",
            "/dev/null",
        ],
        &[&m2],
    );
    assert_eq!(code, 0, "{err}");
    let mut refused: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    refused["submit_status"] = json!("failed");
    refused["submit_error"] = json!("sbatch: error: Batch job submission failed: Invalid account");
    let input = dir2.join("refused.jsonl");
    std::fs::write(&input, format!("{refused}\n")).unwrap();
    let (code, out, err) = collect(
        &[
            "--slo",
            "tpot_median_ms<=50",
            "--next-round",
            "-",
            "--output",
            "/dev/null",
        ],
        &[&input],
    );
    assert_eq!(code, 0, "{err}");
    let again: Value = serde_json::from_str(out.lines().next().expect(&err)).unwrap();
    assert_eq!(again["concurrencies"], json!([91, 128, 181]), "{err}");
    // A cap of one round: the sweep's own.
    let dir = temp_dir("search_cap");
    let mut recs = sweep_records(
        &dir,
        "tpt",
        "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\n",
        1,
    );
    let text: String = [4, 16, 64, 256].iter().map(|&c| law.line(c)).collect();
    write(&job_dir(&recs[0]).join("bench.jsonl"), &text);
    recs[0]["state"] = json!("COMPLETED");
    let m = manifest(&dir, &recs);
    let (code, _, err) = collect(
        &[
            "--slo",
            "tpot_median_ms<=50",
            "--max-rounds",
            "1",
            "--next-round",
            next.to_str().unwrap(),
        ],
        &[&m],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("search over after round 1: 0 resolved, 0 pruned, 0 open, 1 at the round cap"),
        "{err}"
    );
    assert!(
        err.contains(
            "at the round cap (--max-rounds): it would measure concurrency 91x128x181 next"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&next).unwrap(), b"");
}

#[test]
fn search_options_are_checked() {
    let dir = temp_dir("search_options");
    let m = dir.join("m.json");
    std::fs::write(&m, "{}").unwrap();
    for (args, message) in [
        (&["--tolerance", "5%"][..], "sweep-collect: --tolerance, --loads-per-round, --step, --saturation, --max-rounds, --max-load and --no-prune need --next-round FILE (they set the adaptive search)\n"),
        (&["--next-round", "n", "--tolerance", "0"][..], "sweep-collect: --tolerance \"0\": not a share (a percentage like 10%, or a number above 0 and at most 1)\n"),
        (&["--next-round", "n", "--tolerance", "10"][..], "sweep-collect: --tolerance \"10\": not a share (a percentage like 10%, or a number above 0 and at most 1)\n"),
        (&["--next-round", "n", "--saturation", "x%"][..], "sweep-collect: --saturation \"x%\": not a share (a percentage like 10%, or a number above 0 and at most 1)\n"),
        (&["--next-round", "n", "--loads-per-round", "0"][..], "sweep-collect: --loads-per-round must be at least 1\n"),
        (&["--next-round", "n", "--step", "1"][..], "sweep-collect: --step 1: must be a factor above 1 (2: each step doubles the load)\n"),
        (&["--next-round", "n", "--max-rounds", "0"][..], "sweep-collect: --max-rounds must be at least 1\n"),
        (&["--next-round", "n", "--max-load", "0"][..], "sweep-collect: --max-load must be at least 1\n"),
        (&["--next-round", "n", "--current-only"][..], "sweep-collect: --next-round reads every round's jobs (history too): --current-only would hide the earlier rounds\n"),
        (&["--next-round", "-", "--best"][..], "sweep-collect: only one of --frontier/--best, --table -, --best-table -, --compare-table - and --next-round - can have stdout: give the others a file\n"),
    ] {
        let (code, out, err) = collect(args, &[&m]);
        assert_eq!((code, out.as_str(), err.as_str()), (2, "", message), "{args:?}");
    }
    // Shares: a percentage or a fraction.
    let dir = temp_dir("search_options_ok");
    let recs = sweep_records(
        &dir,
        "tpt",
        "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\n",
        1,
    );
    let m = manifest(&dir, &recs);
    for t in ["5%", "0.05", "12.5 %"] {
        let (code, _, err) = collect(
            &[
                "--next-round",
                "-",
                "--tolerance",
                t,
                "--output",
                "/dev/null",
            ],
            &[&m],
        );
        assert_eq!(code, 0, "{t}: {err}");
    }
}

#[test]
fn a_follow_up_measures_its_own_concurrencies_and_says_so_in_its_tag() {
    use crate::jobscript::{agg, fixture, records, submit};
    let fx = fixture("search_follow_up");
    let rec = agg(&fx, 0, 1, 1, json!({"mem-fraction-static": 0.82}));
    let mut follow: Value = serde_json::from_str(&rec).unwrap();
    follow["concurrencies"] = json!([24, 32, 45]);
    let spec = "type=sglang; isl=128; osl=32; concurrencies=4x16x64; req-rate=inf; requests-per-concurrency=10";
    let o = submit(&fx, &["--profiler", spec], &format!("{follow}\n"));
    let r = &records(&o)[0];
    let script = std::fs::read_to_string(r["job_script"].as_str().unwrap()).unwrap();
    assert!(
        script.contains(r#"'{"type":"sglang","isl":128,"osl":32,"concurrencies":[24,32,45],"req_rate":"inf","requests_per_concurrency":10}'"#),
        "{script}"
    );
    let bench = script
        .lines()
        .find(|l| l.starts_with("launch benchmark "))
        .unwrap();
    assert!(bench.ends_with(" '128' '32' '24x32x45' 'inf'"), "{bench}");
    let tag = r["tag"].as_str().unwrap();
    assert!(tag.ends_with(":0:c24x32x45"), "{tag}");
    assert!(
        r["sbatch_command"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("--comment={tag}"))),
        "{r}"
    );
    assert_eq!(r["concurrencies"], json!([24, 32, 45]));
    // Without them: --profiler's list, the plain tag.
    let o = submit(&fx, &["--profiler", spec], &rec);
    let plain = &records(&o)[0];
    assert!(plain["tag"].as_str().unwrap().ends_with(":0"), "{plain}");
    let script = std::fs::read_to_string(plain["job_script"].as_str().unwrap()).unwrap();
    assert!(script.contains(" '4x16x64' "), "{script}");
    // A template sees them too.
    let template = fx.dir.join("job.j2");
    std::fs::write(&template, "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\necho {{ concurrencies }} {{ profiler_arg }}\necho {{ benchmark_json | sh }}\n").unwrap();
    let o = submit(
        &fx,
        &["--profiler", spec, "--template", template.to_str().unwrap()],
        &format!("{follow}\n"),
    );
    let r = &records(&o)[0];
    let script = std::fs::read_to_string(r["job_script"].as_str().unwrap()).unwrap();
    assert!(
        script.contains("echo 24x32x45  128 32 24x32x45 inf\n"),
        "{script}"
    );
    assert!(script.contains(r#""concurrencies":[24,32,45]"#), "{script}");
    // Refused, before anything is submitted: no benchmark to measure them, a bad list.
    let o = submit(&fx, &["--profiler", "type=manual"], &format!("{follow}\n"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).ends_with("index 0: the record names concurrencies 24x32x45 to measure, but its job runs no benchmark (--profiler is type=manual or not given)\n"),
        "{}",
        stderr(&o)
    );
    for (bad, why) in [
        (json!([32, 24]), "concurrencies [32, 24]: must be in ascending order, each once"),
        (json!([]), "concurrencies: an empty list (give at least one, or leave the field out to measure --profiler's)"),
        (json!([0, 4]), "concurrencies [0, 4]: each must be a positive integer"),
    ] {
        follow["concurrencies"] = bad;
        let o = submit(&fx, &["--profiler", spec], &format!("{follow}\n"));
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(stderr(&o), format!("sweep-submit: <stdin>:1: invalid record: {why}\n"));
    }
    follow["concurrencies"] = json!([-1]);
    let o = submit(&fx, &["--profiler", spec], &format!("{follow}\n"));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("<stdin>:1:"), "{}", stderr(&o));
}

/// Each option of the search changes the next round as docs/sweep-collect.md says: three
/// combinations measured at 4, 16, 64 and 256 under `tpot_median_ms<=50`: index 0's boundary
/// at 100 (bisection), index 1 passing everywhere with throughput rising 3.4x from 64 to 256
/// (a step up), index 2 passing everywhere with throughput rising 11% (a step up under the
/// default 5% `--saturation`).
#[test]
fn each_search_option_changes_the_next_round_as_documented() {
    let dir = temp_dir("search_options_plan");
    let laws = [
        Law { a: 10.0, b: 0.4 },
        Law { a: 1.0, b: 0.001 },
        Law { a: 1.0, b: 0.1 },
    ];
    let m = first_round(&dir, &laws, &[4, 16, 64, 256]);
    let plan = |extra: &[&str]| -> Vec<(u64, Value)> {
        let mut args = vec![
            "--slo",
            "tpot_median_ms<=50",
            "--no-prune",
            "--next-round",
            "-",
            "--output",
            "/dev/null",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = collect(&args, &[&m]);
        assert_eq!(code, 0, "{extra:?}: {err}");
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|r| (r["index"].as_u64().unwrap(), r["concurrencies"].clone()))
            .collect()
    };
    let up = json!([512, 1024, 2048]);
    assert_eq!(
        plan(&[]),
        [(0, json!([91, 128, 181])), (1, up.clone()), (2, up.clone())]
    );
    // --loads-per-round: K loads, the bracket cut into K + 1 equal ratios.
    assert_eq!(
        plan(&["--loads-per-round", "1"]),
        [(0, json!([128])), (1, json!([512])), (2, json!([512]))]
    );
    // --tolerance: a bracket of +300% is known to within 300%.
    assert_eq!(
        plan(&["--tolerance", "300%"]),
        [(1, up.clone()), (2, up.clone())]
    );
    // --step: each step up multiplies by it.
    let up4 = json!([1024, 4096, 16384]);
    assert_eq!(
        plan(&["--step", "4"]),
        [(0, json!([91, 128, 181])), (1, up4.clone()), (2, up4)]
    );
    // --max-load: a step up stops there.
    let capped = json!([512, 600]);
    assert_eq!(
        plan(&["--max-load", "600"]),
        [(0, json!([91, 128, 181])), (1, capped.clone()), (2, capped)]
    );
    // --saturation: 11% more for 4 times the load is saturation under 20%.
    assert_eq!(
        plan(&["--saturation", "20%"]),
        [(0, json!([91, 128, 181])), (1, up)]
    );
    // --max-rounds 1: the sweep's own round is the only one.
    assert_eq!(plan(&["--max-rounds", "1"]), []);
}
