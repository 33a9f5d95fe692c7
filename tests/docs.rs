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
