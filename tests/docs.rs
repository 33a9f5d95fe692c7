//! The documents hold together: every relative link in README.md, ARCHITECTURE.md,
//! scripts/README.md and docs/*.md names a file that exists and, with `#anchor`, a heading of
//! it (GitHub's anchors); every page under docs/ is linked from the README.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The documents whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![
        repo().join("README.md"),
        repo().join("ARCHITECTURE.md"),
        repo().join("scripts/README.md"),
    ];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// The lines of a markdown text outside fenced code blocks, with inline code spans replaced
/// by `code` (a `[` or `](` inside backticks is not a link).
fn prose(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push(without_code_spans(line));
        }
    }
    out
}

/// `a `b` c` -> `a code c`; a span opened by N backticks closes at the next run of exactly N.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let close = loop {
            if j >= chars.len() {
                break None;
            }
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    break Some(j);
                }
                j += m;
            } else {
                j += 1;
            }
        };
        match close {
            Some(j) => {
                out.push_str("code");
                i = j + n;
            }
            None => {
                out.extend(&chars[i..i + n]);
                i += n;
            }
        }
    }
    out
}

/// GitHub's anchors of a document's headings: lowercase, punctuation other than `-` and `_`
/// dropped, spaces to `-`; a repeated anchor gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if fenced || !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = base.clone();
        let mut n = 0;
        while !found.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    found
}

/// The targets of the inline links and images of a line: `[text](target)`, `![alt](target)`.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = &after[..end];
        if !target.is_empty() && !target.contains(char::is_whitespace) {
            targets.push(target.to_string());
        }
        rest = &after[end..];
    }
    targets
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo()).unwrap().display().to_string()
}

/// Every broken link of one document, as `file: target: why`.
fn broken_links(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let mut broken = Vec::new();
    for line in prose(&text) {
        for target in link_targets(&line) {
            if ["http://", "https://", "mailto:"]
                .iter()
                .any(|s| target.starts_with(s))
            {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let file = match path {
                "" => doc.to_path_buf(),
                p => doc.parent().unwrap().join(p),
            };
            if !file.exists() {
                broken.push(format!("{}: {target}: no such file", relative(doc)));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if file.extension().is_none_or(|e| e != "md") {
                broken.push(format!(
                    "{}: {target}: an anchor in a non-markdown file",
                    relative(doc)
                ));
                continue;
            }
            let headings = anchors(&std::fs::read_to_string(&file).unwrap());
            if !headings.contains(anchor) {
                broken.push(format!(
                    "{}: {target}: no heading with that anchor in {}",
                    relative(doc),
                    relative(&file)
                ));
            }
        }
    }
    broken
}

#[test]
fn every_link_between_the_documents_resolves() {
    let docs = documents();
    assert!(docs.len() > 5, "{docs:?}");
    let broken: Vec<String> = docs.iter().flat_map(|d| broken_links(d)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_docs_is_linked_from_the_readme() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let linked: BTreeSet<String> = prose(&readme)
        .iter()
        .flat_map(|l| link_targets(l))
        .map(|t| t.split('#').next().unwrap().to_string())
        .collect();
    for doc in documents() {
        let name = relative(&doc);
        if name.starts_with("docs/") || name == "ARCHITECTURE.md" {
            assert!(linked.contains(&name), "README.md does not link {name}");
        }
    }
}

#[test]
fn the_anchor_rules_are_githubs() {
    let text =
        "# sweep\n## Limits on queued jobs: `--max-queued N|auto`\n```\n# not a heading\n```\n\
                ## Job states (`--status`)\n## Speed\n### Speed\n#nope\n";
    let found: Vec<String> = anchors(text).into_iter().collect();
    assert_eq!(
        found,
        [
            "job-states---status",
            "limits-on-queued-jobs---max-queued-nauto",
            "speed",
            "speed-1",
            "sweep"
        ]
    );
    assert_eq!(
        link_targets(&without_code_spans(
            "see [a](x.md#y), `[not](a link)`, ![img](p.svg) and [b](https://e.org)"
        )),
        ["x.md#y", "p.svg", "https://e.org"]
    );
}

#[test]
fn the_guides_that_help_names_exist() {
    for prog in [
        "sweep-expand",
        "sweep-render",
        "sweep-submit",
        "sweep-collect",
    ] {
        let help = crate::common::stdout(&crate::common::run(prog, &["--help"], ""));
        let named: Vec<&str> = help
            .split_whitespace()
            .filter(|w| w.starts_with("docs/"))
            .map(|w| w.trim_end_matches([',', '.', ')']))
            .collect();
        assert!(!named.is_empty(), "{prog} --help names no guide:\n{help}");
        for path in named {
            assert!(repo().join(path).is_file(), "{prog} --help names {path}");
        }
    }
}

/// Every `.rs` file of the project, relative to the repository (`submit/judge.rs`).
fn sources() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(relative(&path));
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["src", "expand", "render", "submit", "collect", "tests"] {
        walk(&repo().join(dir), &mut out);
    }
    out
}

/// The `file.rs` and `file.rs::name::name` mentions in the code spans of `text`: (file,
/// names). A file may be named by its path from the repository or from its program's folder
/// (`jobscript/builtin.rs`), or by its name alone where the paragraph says whose it is.
fn code_mentions(text: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for span in line.split('`').skip(1).step_by(2) {
            let mut rest = span;
            while let Some(at) = rest.find(".rs") {
                let start = rest[..at]
                    .rfind(|c: char| !(c.is_alphanumeric() || "_/-.".contains(c)))
                    .map_or(0, |i| i + 1);
                let file = rest[start..at + 3].to_string();
                let after = &rest[at + 3..];
                let names: Vec<String> = match after.strip_prefix("::") {
                    Some(chain) => chain
                        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                        .next()
                        .unwrap_or_default()
                        .split("::")
                        .filter(|n| !n.is_empty())
                        .map(String::from)
                        .collect(),
                    None => Vec::new(),
                };
                if !file.starts_with('.') && file.len() > 3 {
                    found.push((file, names));
                }
                rest = after;
            }
        }
    }
    found
}

/// True when `source` defines `name`: an item (`fn`, `struct`, `enum`, `trait`, `type`,
/// `const`, `static`, `mod`) or an enum variant of that name.
fn defines(source: &str, name: &str) -> bool {
    let word_after = |s: &str| {
        s.chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    };
    let items = [
        "fn", "struct", "enum", "trait", "type", "const", "static", "mod",
    ];
    source.lines().any(|line| {
        let line = line.trim_start();
        let line = line
            .strip_prefix("pub(crate) ")
            .or(line.strip_prefix("pub "))
            .unwrap_or(line);
        let item = items.iter().any(|kw| {
            line.strip_prefix(kw)
                .and_then(|l| l.strip_prefix(' '))
                .and_then(|l| l.strip_prefix(name))
                .is_some_and(word_after)
        });
        let variant = line
            .strip_prefix(name)
            .is_some_and(|l| l.starts_with(',') || l.starts_with('(') || l.starts_with(" {"));
        item || variant
    })
}

#[test]
fn every_file_and_function_architecture_names_exists() {
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let mentions = code_mentions(&text);
    assert!(mentions.len() > 50, "{mentions:?}");
    let sources = sources();
    let mut missing = Vec::new();
    for (file, names) in mentions {
        let candidates: Vec<&String> = sources
            .iter()
            .filter(|s| *s == &file || s.ends_with(&format!("/{file}")))
            .collect();
        if candidates.is_empty() {
            missing.push(format!("{file}: no such file"));
            continue;
        }
        let defined = |name: &str| {
            candidates.iter().any(|c| {
                let source = std::fs::read_to_string(repo().join(c)).unwrap();
                defines(&source, name)
            })
        };
        for name in &names {
            if !defined(name) {
                missing.push(format!(
                    "{file}::{}: {name} is not defined there",
                    names.join("::")
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names:\n{}",
        missing.join("\n")
    );
}

#[test]
fn code_mentions_are_read_from_code_spans() {
    let text = "a `submit/judge.rs::all` and `Plan::prepare` in `read.rs`, `x.rs::A::b(c)`\n```\n`no.rs::x`\n```\n";
    let found = code_mentions(text);
    assert_eq!(
        found,
        [
            ("submit/judge.rs".to_string(), vec!["all".to_string()]),
            ("read.rs".to_string(), vec![]),
            ("x.rs".to_string(), vec!["A".to_string(), "b".to_string()]),
        ]
    );
    assert!(defines("pub fn all(x: u8) {}", "all"));
    assert!(defines("    Names,", "Names"));
    assert!(!defines("fn allow() {}", "all"));
}

// ------------------------------------------------------------------------------------------
// Every command a user would paste, run as written (issue 23, item 8).

/// A command block of a document (a ```bash or ```sh fence, or a command of the migration
/// page's table): where it is, its text, and why it is not run, when a `<!-- not run: WHY -->`
/// line stands right before it (or the README's daily recipes, run by
/// `never_twice_slurm::the_daily_loop_recipes_are_the_same_in_the_readme_and_in_help_and_they_work`).
#[derive(Debug, Clone)]
struct Block {
    file: String,
    line: usize,
    text: String,
    not_run: Option<String>,
}

/// The command blocks of `doc`, in order.
fn command_blocks(doc: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        let Some(lang) = fence.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .unwrap_or(lines.len());
        if matches!(lang.trim(), "bash" | "sh") {
            let before = (0..i)
                .rev()
                .map(|j| lines[j].trim())
                .find(|l| !l.is_empty());
            let not_run = match before {
                Some(l) if l.starts_with("<!-- not run: ") => Some(
                    l.trim_start_matches("<!-- not run: ")
                        .trim_end_matches("-->")
                        .trim()
                        .to_string(),
                ),
                Some("<!-- recipes:start -->") => Some(
                    "the daily recipes: tests/never_twice_slurm.rs runs each of them".to_string(),
                ),
                _ => None,
            };
            out.push(Block {
                file: relative(doc),
                line: i + 1,
                text: lines[i + 1..end].join("\n") + "\n",
                not_run,
            });
        }
        i = end + 1;
    }
    out
}

/// The commands of the migration page's table (its "now" column): every code span there
/// that starts with a program of ours.
fn migration_rows() -> Vec<Block> {
    let doc = repo().join("docs/migrating-from-sweep_jobs.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let mut out = Vec::new();
    let mut in_commands = false;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("## ") {
            in_commands = line == "## Commands";
        }
        if !in_commands || !line.starts_with("| ") {
            continue;
        }
        // The second cell (a `\|` inside a code span is a pipe of the command).
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(now) = cells.get(1) else { continue };
        for span in now.split('`').skip(1).step_by(2) {
            if span.starts_with("sweep-") {
                out.push(Block {
                    file: relative(&doc),
                    line: n + 1,
                    text: format!("set -o pipefail\n{}\n", span.replace("\\|", "|")),
                    not_run: None,
                });
            }
        }
    }
    out
}

/// Every command block of the documents, the migration page's rows included.
fn all_blocks() -> Vec<Block> {
    let mut all: Vec<Block> = documents().iter().flat_map(|d| command_blocks(d)).collect();
    all.extend(migration_rows());
    all
}

/// The blocks that are not run, by file and first line: each said why where it stands. A
/// new one must be added here (and its reason be true).
const NOT_RUN: [(&str, &str); 10] = [
    ("README.md", "scripts/demo "),
    ("README.md", "cargo install "),
    ("README.md", "for p in sweep-expand"),
    ("README.md", "set -o pipefail"),
    ("README.md", "bench/all.sh "),
    ("README.md", "scripts/test "),
    ("ARCHITECTURE.md", "scripts/test "),
    ("docs/local-cluster.md", "scripts/local-slurm start "),
    ("docs/local-cluster.md", "scripts/local-image "),
    ("docs/results.md", "set -o pipefail"),
];

#[test]
fn every_command_block_is_run_or_says_why_not() {
    let all = all_blocks();
    assert!(all.len() > 30, "{}", all.len());
    let mut not_run: Vec<String> = Vec::new();
    for b in all.iter() {
        let Some(why) = &b.not_run else { continue };
        assert!(
            why.len() > 20,
            "{}:{}: say why it is not run",
            b.file,
            b.line
        );
        let first = b.text.lines().next().unwrap_or_default();
        let listed = NOT_RUN
            .iter()
            .any(|(f, start)| *f == b.file && first.starts_with(start));
        assert!(
            listed,
            "{}:{}: not run ({why}), and not in tests/docs.rs's NOT_RUN",
            b.file, b.line
        );
        not_run.push(format!("{}:{}", b.file, b.line));
    }
    assert!(not_run.len() <= NOT_RUN.len() + 1, "{not_run:?}");
    // The runnable ones use only what a user has: no `...` standing for options.
    for b in all.iter().filter(|b| b.not_run.is_none()) {
        assert!(
            !b.text.contains(" ... ") && !b.text.contains(" ...\n"),
            "{}:{}: `...` cannot be run as written; use \"${{S[@]}}\"",
            b.file,
            b.line
        );
    }
}

/// The cluster's options for `S` (what a user's `S=(...)` holds on their cluster), here the
/// local cluster's, with the stand-in scripts found next to the sweep file and a benchmark,
/// so that the results' commands have results to read.
const CLUSTER_S: &str = "S=(--account sweepacct --partition batch --model-dir \"$MODEL_PATH\" \
    --config-dir \"$CONFIG_DIR\" --gpu-type gb200-fp8 --script-variant max-tpt \
    --network-interface lo --time-limit 00:05:00 \
    --profiler 'type=sglang; isl=8; osl=8; concurrencies=1x2; req-rate=inf')";

/// The documents in the order their blocks run (each builds on the sweep the ones before
/// made, as a reader who read the README first would have it).
const ORDER: [&str; 10] = [
    "README.md",
    "docs/sweep-expand.md",
    "docs/sweep-render.md",
    "docs/sweep-submit.md",
    "docs/jobscript.md",
    "docs/sweep-collect.md",
    "docs/results.md",
    "docs/migrating-from-sweep_jobs.md",
    "docs/local-cluster.md",
    "docs/record.md",
];

/// The files a user of these commands has beside them: a sweep file under every name the
/// documents use (small: two combinations of one node), a scripts directory next to them (the
/// stand-in scripts, with the launch scripts the documents' `--gpu-type gb200-fp8` names), a
/// job template, records files, and model and config directories.
fn sandbox(dir: &Path) {
    let sweep = "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.8, 0.85]\n";
    for name in [
        "sweep.yaml",
        "s.yaml",
        "my_sweep_config.yaml",
        "big.yaml",
        "huge.yaml",
    ] {
        std::fs::write(dir.join(name), sweep).unwrap();
    }
    std::fs::write(
        dir.join("more.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [0.9]\n",
    )
    .unwrap();
    // A copy (worker_setup.py finds the launch scripts beside its own real path).
    let demo = repo().join("examples/demo-scripts");
    let out = crate::common::sh(
        &format!(
            "cp -r {} scripts && cp -r scripts/demo scripts/gb200-fp8",
            demo.display()
        ),
        dir,
    );
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    for d in ["models", "configs"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("my_job.j2"),
        "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n#SBATCH --nodes={{ total_nodes }}\n\
         #SBATCH --account={{ account }}\n#SBATCH --partition={{ partition }}\n\
         #SBATCH --time={{ time_limit }}\n#SBATCH --output={{ log_dir }}/%j.out\n\
         #SBATCH --error={{ log_dir }}/%j.err\necho \"combination {{ record.index }}: {{ job_name }}\"\n",
    )
    .unwrap();
    let out = crate::common::sh(
        "sweep-expand sweep.yaml > records.jsonl && sweep-expand more.yaml > more.jsonl",
        dir,
    );
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
}

/// `text` as it is run: a `S=(...)` definition (the README's placeholders) becomes the
/// cluster's; the example job ID 1139 becomes a job of the sweep.
fn as_run(text: &str, job: &str) -> String {
    let mut out = String::new();
    let mut in_s = false;
    for line in text.lines() {
        if line.starts_with("S=(") {
            in_s = !line.trim_end().ends_with(')');
            out.push_str(CLUSTER_S);
            out.push('\n');
            continue;
        }
        if in_s {
            in_s = !line.trim_end().ends_with(')');
            continue;
        }
        out.push_str(&line.replace("1139", job));
        out.push('\n');
    }
    out
}

#[test]
fn every_command_block_runs_as_written_on_the_local_cluster() {
    let name = "every_command_block_runs_as_written_on_the_local_cluster";
    let Some(_slurm) = crate::common::on_slurm(name) else {
        return;
    };
    // Jobs in a container where the cluster runs them (the seed's one command passes
    // --container-image); an empty image (none) elsewhere.
    let image = match std::env::var("SWEEP_REQUIRE_CONTAINERS").as_deref() {
        Ok("1") => crate::common::containers_available(name)
            .map(|i| i.python.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let dir = crate::common::fresh_dir("docs_blocks");
    sandbox(&dir);
    let bindir = crate::common::bin("sweep-expand")
        .parent()
        .unwrap()
        .to_path_buf();
    let prelude = format!(
        "export PATH={}:$PATH\nexport SLURM_ACCOUNT=sweepacct SLURM_PARTITION=batch \
         MODEL_PATH={d}/models CONFIG_DIR={d}/configs CONTAINER_IMAGE='{image}'\n{CLUSTER_S}\nset -e\n",
        bindir.display(),
        d = dir.display()
    );
    let all = all_blocks();
    for doc in documents() {
        assert!(
            ORDER.contains(&relative(&doc).as_str())
                || command_blocks(&doc).iter().all(|b| b.not_run.is_some()),
            "{}: its blocks run in no order (tests/docs.rs's ORDER)",
            relative(&doc)
        );
    }
    let mut ran = 0;
    let mut cancel = crate::common::Cancel(Vec::new());
    let manifest = dir.join("sweeps/tpt/sweep_manifest.json");
    for file in ORDER {
        if file == "docs/results.md" {
            // Last week's sweep, for its comparison: the same combinations, run before.
            let script = format!(
                "{prelude}sweep-expand sweep.yaml | sweep-render --out-dir sweeps/last-week \
                 | sweep-submit \"${{S[@]}}\" | sweep-collect --output sweeps/last-week/sweep_manifest.json\n\
                 sweep-collect --wait sweeps/last-week/sweep_manifest.json > /dev/null\n"
            );
            let out = crate::common::sh(&script, &dir);
            assert!(out.status.success(), "{}", crate::common::stderr(&out));
        }
        if file == "docs/sweep-collect.md" {
            // Two manifests of one sweep, for its merging example.
            for part in ["part1", "part2"] {
                std::fs::create_dir_all(dir.join(part)).unwrap();
                std::fs::copy(&manifest, dir.join(part).join("sweep_manifest.json")).unwrap();
            }
        }
        for b in all.iter().filter(|b| b.file == file && b.not_run.is_none()) {
            let m: serde_json::Value = std::fs::read_to_string(&manifest)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            let job = m["jobs"][0]["job_id"]
                .as_str()
                .unwrap_or("1139")
                .to_string();
            // The local cluster's pages run where they say: in the repository.
            let cwd = match file {
                "docs/local-cluster.md" => repo().to_path_buf(),
                _ => dir.clone(),
            };
            let script = format!("{prelude}{}", as_run(&b.text, &job));
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(&cwd)
                .env_remove("COLUMNS")
                .env("TMPDIR", crate::common::tmpdir())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            // What each block said, for whoever looks into the sandbox.
            let log = format!(
                "== {}:{} ({})\n{}-- stdout\n{}-- stderr\n{}",
                b.file,
                b.line,
                out.status,
                b.text,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            use std::io::Write as _;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("blocks.log"))
                .and_then(|mut f| f.write_all(log.as_bytes()))
                .unwrap();
            // Every job the sweeps hold now, cancelled at the end whatever happens.
            for sweep in [
                "sweeps/tpt",
                "sweeps/big",
                "sweeps/seed",
                "sweeps/last-week",
            ] {
                let m = dir.join(sweep).join("sweep_manifest.json");
                if let Ok(t) = std::fs::read_to_string(m) {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                    for j in v["jobs"].as_array().into_iter().flatten() {
                        cancel.0.extend(j["job_id"].as_str().map(String::from));
                    }
                }
            }
            assert!(
                out.status.success(),
                "{}:{} failed ({}):\n{}\nstdout: {}\nstderr: {}",
                b.file,
                b.line,
                out.status,
                b.text,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    let runnable = all.iter().filter(|b| b.not_run.is_none()).count();
    assert_eq!(ran, runnable, "every runnable block ran");
}
