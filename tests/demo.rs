//! The README's first command, scripts/demo, keeps working: for real on the local cluster's
//! bare nodes, and on the path a machine without Slurm takes (--dry-run). Inside the local
//! image (pyxis and enroot): container_slurm.rs.

use crate::common::{bin, on_slurm, read_json, stderr, stdout, temp_dir};
use std::path::Path;
use std::process::{Command, Output};

fn demo(dir: &Path, dry_run: bool) -> Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(repo.join("scripts/demo"))
        .current_dir(dir)
        .env("SWEEP_BIN_DIR", bin("sweep-expand").parent().unwrap())
        .env("SWEEP_DEMO_DIR", dir.join("run"))
        .env("SWEEP_DEMO_DRY_RUN", if dry_run { "1" } else { "0" })
        .env("SWEEP_DEMO_CONTAINER", "0")
        // Wide enough for every column: the test reads the tables' values (off a terminal
        // they fit 80 columns, leaving the id out).
        .env("COLUMNS", "200")
        .output()
        .expect("run scripts/demo")
}

#[test]
fn demo_runs_for_real_on_the_local_cluster() {
    let Some(_slurm) = on_slurm("demo_runs_for_real_on_the_local_cluster") else {
        return;
    };
    let dir = temp_dir("demo_real");
    let out = demo(&dir, false);
    assert!(
        out.status.success(),
        "scripts/demo failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let m = read_json(&dir.join("run/sweep/sweep_manifest.json"));
    assert_eq!(m["total_jobs"], 2);
    assert_eq!(m["counts"]["by_state"]["COMPLETED"], 2, "{m}");
    // Four nodes per job, each of which read its role's swept values (the demo checks them and
    // says so; it exits non-zero on any mismatch).
    assert_eq!(
        stdout(&out).matches("swept values received").count(),
        8,
        "{}",
        stdout(&out)
    );
    // ... and found the model and config directories, the config and the exported variables
    // where the job script said, on the bare node (the host paths).
    assert_eq!(
        stdout(&out).matches("on the bare node (").count(),
        8,
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("MISMATCH"), "{}", stdout(&out));
    // Each job's stand-in benchmark wrote one SGLang result per concurrency (5); collect read
    // them all as valid points, and the demo ends with the frontier, the best configuration
    // under the SLO and the report's path.
    for job in m["jobs"].as_array().unwrap() {
        assert_eq!(job["results"]["valid_points"], 5, "{job}");
        assert!(job["results"].get("errors").is_none(), "{job}");
    }
    let points: Vec<&serde_json::Value> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| j["results"]["points"].as_array().unwrap())
        .collect();
    let on = points.iter().filter(|p| p["pareto"] == true).count();
    let within = points.iter().filter(|p| p["meets_slo"] == true).count();
    assert!(on >= 2 && within > on && within < 10, "{m}");
    let out_text = stdout(&out);
    assert!(
        out_text.contains(&format!(
            "Pareto frontier of random, ISL 1024, OSL 256, by concurrency (output tokens/s per GPU against output tokens/s per user, within ttft_p99_ms<=500, itl_p99_ms<=50, output_tps_per_user>=40): {on} of {within} valid points within the SLO\n"
        )),
        "{out_text}"
    );
    // The best under the SLO: both combinations meet it up to 256 and miss at 1024; the
    // larger mem-fraction-static gives more tokens/s per GPU at 256 (the stand-in's law).
    let best = out_text
        .split("Best under the SLO (ttft_p99_ms<=500, itl_p99_ms<=50, output_tps_per_user>=40), random, ISL 1024, OSL 256, by concurrency: 2 of 2 combination(s) with a load within it\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out_text}"));
    let rows: Vec<Vec<&str>> = best
        .lines()
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        &rows[0][..4],
        ["1", m["jobs"][1]["id"].as_str().unwrap(), "0.84", "256"],
        "{best}"
    );
    assert_eq!(
        &rows[1][..4],
        ["0", m["jobs"][0]["id"].as_str().unwrap(), "0.82", "256"],
        "{best}"
    );
    assert_eq!(rows[0][6], "1024", "fails at 1024: {best}");
    assert!(best.contains("\nBest: index 1 (id "), "{best}");
    assert!(
        out_text
            .trim_end()
            .ends_with("cuda-graph-bs: [[1, 2, 4, 8]]"),
        "the demo's stdout ends with the answer: {out_text}"
    );
    let report = dir.join("run/sweep/report.html");
    let last = stderr(&out).trim_end().lines().last().unwrap().to_string();
    assert!(
        last.ends_with(&format!(
            "report: {} (one self-contained page: open it in a browser, or mail it)",
            report.display()
        )),
        "the demo ends with the report's path: {last}"
    );
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    let plot = dir.join("run/sweep/frontier.svg");
    assert!(
        stderr(&out).contains(&format!("plot         {}", plot.display())),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}

#[test]
fn demo_falls_back_to_a_dry_run() {
    let dir = temp_dir("demo_dry");
    let out = demo(&dir, true);
    assert!(
        out.status.success(),
        "scripts/demo failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let m = read_json(&dir.join("run/sweep/sweep_manifest.json"));
    assert_eq!(m["counts"]["dry_run"], 2, "{m}");
    for job in m["jobs"].as_array().unwrap() {
        assert!(
            job.get("job_id").is_none(),
            "a dry run has no job ID: {job}"
        );
        let script = job["job_script"].as_str().unwrap();
        assert!(
            Path::new(script).is_file(),
            "job script {script} not written"
        );
        let argv0 = job["sbatch_command"][0].as_str().unwrap_or_default();
        assert!(argv0.ends_with("sbatch"), "{job}");
    }
    assert!(stdout(&out).contains("would run: "), "{}", stdout(&out));
}
