//! Every sweep file in examples/ expands, to the number of jobs its own comment promises.

use crate::common::{run, stderr, stdout};
use std::path::Path;

/// The count a file's comment promises: the last number of its `# Yields ... N jobs.` line.
fn promised_count(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("# Yields"))?;
    let before_jobs = line.split(" job").next()?;
    before_jobs
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())?
        .parse()
        .ok()
}

#[test]
fn every_example_expands_to_its_promised_count() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let promised = promised_count(&text)
            .unwrap_or_else(|| panic!("{}: no '# Yields ... N jobs' comment", path.display()));
        let p = path.to_str().unwrap();
        let out = run("sweep-expand", &["--count", p], "");
        assert!(out.status.success(), "{p}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), promised.to_string(), "{p}: --count");
        let out = run("sweep-expand", &[p], "");
        assert!(out.status.success(), "{p}: {}", stderr(&out));
        assert_eq!(
            stdout(&out).lines().count() as u64,
            promised,
            "{p}: records"
        );
        seen += 1;
    }
    assert!(
        seen >= 6,
        "expected the seed workflows' examples, found {seen} files"
    );
}
