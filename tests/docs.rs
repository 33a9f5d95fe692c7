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
