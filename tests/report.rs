//! `--report` in a real browser: Debian's Chromium, headless, driven over the DevTools
//! protocol by `tests/browser/cdp.py` (Python's standard library only). The report renders,
//! every point's hover text is in the rendered DOM, hostile text from the records stays text,
//! and no request leaves the file (with and without its Content-Security-Policy; a control
//! page proves a request would be seen).
//!
//! A test that needs Chromium and finds none fails when `SWEEP_REQUIRE_BROWSER=1`
//! (`scripts/test` sets it as root, after installing Chromium), and skips loudly otherwise.

use crate::answer::{collect_ok, job_dir, sweep_records};
use crate::common::{read_json, temp_dir};
use crate::results::{sglang_line, write};
use serde_json::{json, Value};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Chromium's path (`SWEEP_CHROMIUM`, else `chromium` or `chromium-browser` on PATH).
fn chromium(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("SWEEP_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| which::which("chromium").ok())
        .or_else(|| which::which("chromium-browser").ok());
    if found.is_some() {
        return found;
    }
    if std::env::var("SWEEP_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "{test}: SWEEP_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)"
        );
    }
    eprintln!("SKIP {test}: no chromium on PATH (apt-get install chromium; SWEEP_REQUIRE_BROWSER=1 makes this a failure)");
    None
}

/// What the browser saw of each URL (see tests/browser/cdp.py).
fn browse(chromium: &Path, urls: &[String]) -> Vec<Value> {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/cdp.py");
    let o = Command::new("timeout")
        .arg("120")
        .arg("python3")
        .arg(driver)
        .arg(chromium)
        .args(urls)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cdp.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The text of every `<title>` of a `<g class="point">` in the file, unescaped.
fn titles_in_source(html: &str) -> Vec<String> {
    html.split("<g class=\"point\"><title>")
        .skip(1)
        .map(|rest| {
            rest.split("</title>")
                .next()
                .unwrap()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

#[test]
fn the_report_renders_in_chromium_with_every_hover_text_and_fetches_nothing() {
    let Some(chromium) =
        chromium("the_report_renders_in_chromium_with_every_hover_text_and_fetches_nothing")
    else {
        return;
    };
    let dir = temp_dir("report_browser");
    // Two sweeps of the same combinations; a parameter whose values are hostile HTML.
    let yaml = "slurm:\n  agg_nodes: [2]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85]\n  served-model-name: [\"<script>window.pwned=1</script>\", \"a&b \\\"q\\\" <i>x</i>\"]\n";
    let base = sweep_records(&dir, "base", yaml, 100);
    let new = sweep_records(&dir, "new", yaml, 200);
    for (recs, scale) in [(&base, 1.0), (&new, 1.3)] {
        for (i, r) in recs.iter().enumerate() {
            let text: String = [4u64, 16, 64, 256]
                .iter()
                .map(|&c| {
                    let tpot = 5.0 + (i as f64 + 1.0) * 0.05 * c as f64;
                    sglang_line(
                        c,
                        scale * 800.0 * (c as f64).sqrt() * (1.0 + i as f64 / 10.0),
                        tpot,
                        100.0 + c as f64,
                    ) + "\n"
                })
                .collect();
            write(&job_dir(r).join("bench/bench_serving.jsonl"), &text);
        }
    }
    // A second workload (another input length), an invalid run, a broken file, and a
    // combination whose job left nothing.
    write(
        &job_dir(&base[0]).join("long/bench_serving.jsonl"),
        &(sglang_line(8, 900.0, 9.0, 300.0)
            .replace("\"random_input_len\":1024", "\"random_input_len\":8192")
            + "\n"),
    );
    write(
        &job_dir(&base[1]).join("bad/bench_serving.jsonl"),
        &(sglang_line(32, 10.0, 5.0, 1.0).replace("\"completed\":128", "\"completed\":0") + "\n"),
    );
    write(
        &job_dir(&base[2]).join("broken.json"),
        "{\"output_throughput\": ",
    );
    std::fs::remove_dir_all(job_dir(&new[3])).unwrap();
    let all: Vec<Value> = base.iter().chain(&new).cloned().collect();
    let report = dir.join("report.html");
    let m = dir.join("m.json");
    collect_ok(
        &dir,
        &all,
        &[
            "--slo",
            "itl_p99_ms<=60,output_tps_per_user>=15",
            "--report",
            report.to_str().unwrap(),
            "--color-by",
            "mem-fraction-static",
            "--point-labels",
            "load",
            "--output",
            m.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&report).unwrap();
    let manifest: Value = read_json(&m);
    // The points a plot draws: valid, with per-GPU figures; each names its file and line.
    let mut drawn: Vec<String> = Vec::new();
    for job in manifest["jobs"].as_array().unwrap() {
        for p in job["results"]["points"].as_array().unwrap() {
            if p["valid"] == true && p.get("output_tps_per_gpu").is_some() {
                drawn.push(format!("{}:{}", p["file"].as_str().unwrap(), p["line"]));
            }
        }
    }
    // 2 sweeps x 4 combinations x 4 loads, but one job left nothing; and the long input.
    assert_eq!(drawn.len(), 2 * 4 * 4 - 4 + 1);
    let source_titles = titles_in_source(&html);
    assert_eq!(source_titles.len(), drawn.len());

    // The same page without its Content-Security-Policy (nothing in it reaches out even
    // unguarded), and a control page that does reach out (the check sees a request).
    let csp = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">";
    assert!(html.contains(csp));
    let bare = dir.join("report-no-csp.html");
    std::fs::write(&bare, html.replace(csp, "")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    {
        let hits = hits.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                hits.fetch_add(1, Ordering::SeqCst);
                let mut s = s;
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
            }
        });
    }
    let control = dir.join("control.html");
    std::fs::write(
        &control,
        html.replace(csp, "").replace(
            "</body>",
            &format!("<img src=\"http://127.0.0.1:{port}/probe.png\"></body>"),
        ),
    )
    .unwrap();
    let url = |p: &Path| format!("file://{}", p.display());
    let seen = browse(&chromium, &[url(&report), url(&bare), url(&control)]);

    let page = &seen[0];
    assert_eq!(
        page["requests"],
        json!([url(&report)]),
        "nothing but the file itself: {}",
        page["requests"]
    );
    assert_eq!(
        page["blocked"],
        json!([]),
        "nothing refused either: {}",
        page["blocked"]
    );
    assert_eq!(page["scripts"], 0, "no script, and none from the records");
    assert!(page["title"]
        .as_str()
        .unwrap()
        .starts_with("Sweep results: base vs new"));
    // It renders: one plot per workload shape, each with a size, each point's mark too.
    let svgs = page["svgs"].as_array().unwrap();
    assert_eq!(svgs.len(), 2, "two workload shapes");
    for s in svgs {
        assert!(
            s[0].as_f64().unwrap() > 300.0 && s[1].as_f64().unwrap() > 150.0,
            "{s}"
        );
    }
    // Every point's hover text, as the file has it, in the rendered DOM.
    let points = page["points"].as_array().unwrap();
    let dom_titles: Vec<String> = points
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dom_titles, source_titles);
    for p in points {
        let size = &p["size"];
        assert!(
            size[0].as_f64().unwrap() > 1.0 && size[1].as_f64().unwrap() > 1.0,
            "{p}"
        );
    }
    for d in &drawn {
        let t: Vec<&String> = dom_titles
            .iter()
            .filter(|t| t.ends_with(&format!("\n{d}")))
            .collect();
        assert_eq!(t.len(), 1, "one hover text names {d}");
        assert!(t[0].starts_with("index "), "{}", t[0]);
        assert!(t[0].contains("output tokens/s per GPU"), "{}", t[0]);
    }
    // The records' hostile text is shown as text.
    let text = page["text"].as_str().unwrap();
    assert!(
        text.contains("<script>window.pwned=1</script>"),
        "shown as text"
    );
    assert!(text.contains("a&b \"q\" <i>x</i>"));
    for want in [
        "Best under the SLO:",
        "The sweep-file values that reproduce it:",
        "Comparison of the sweeps",
        "What was left out, and why",
        "no completed requests",
        "Files that could not be read",
        "Combinations without a point",
        "The sweeps' parameters",
    ] {
        assert!(text.contains(want), "{want:?} in the rendered page");
    }
    assert_eq!(
        seen[1]["requests"],
        json!([url(&bare)]),
        "{}",
        seen[1]["requests"]
    );
    let probe = format!("http://127.0.0.1:{port}/probe.png");
    assert!(
        seen[2]["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == &json!(probe)),
        "the control page's request is seen: {}",
        seen[2]["requests"]
    );
    assert!(
        hits.load(Ordering::SeqCst) >= 1,
        "and it reached the listener"
    );
}
