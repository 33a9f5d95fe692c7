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
    let (code, out, err) = collect(&["--slo", "itl_p99_ms<=50", "--best"], &[&m]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, doc_block("its boundary known to 4.4%."));
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
