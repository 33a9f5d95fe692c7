//! Manners every program shares: --help with a summary, documented options and an example
//! pipeline; shell completions and a man page generated from the same definition.

use crate::common::{run, stderr, stdout};

const PROGRAMS: [&str; 4] = [
    "sweep-expand",
    "sweep-render",
    "sweep-submit",
    "sweep-collect",
];

#[test]
fn help_has_summary_documented_options_and_an_example() {
    for prog in PROGRAMS {
        let out = run(prog, &["--help"], "");
        assert!(out.status.success(), "{prog} --help: {}", stderr(&out));
        let help = stdout(&out);
        let first = help.lines().next().unwrap_or_default();
        assert!(
            !first.trim().is_empty(),
            "{prog}: --help must open with a one-line summary"
        );
        assert!(
            help.contains("set -o pipefail"),
            "{prog}: --help needs an example pipeline with set -o pipefail:\n{help}"
        );
        // Every option line ("  --name ...") must carry a description after the flag itself.
        // Option lines are indented by 2 ("  -h, --help") or 6 ("      --long"); deeper
        // lines continue a wrapped description and may well start with an option's name.
        // Only the options section: an example in the after-help text may well wrap a line
        // that starts with an option (`     --gpu-type ...`).
        let options = help
            .lines()
            .skip_while(|l| !l.starts_with("Options:"))
            .take_while(|l| !l.is_empty());
        for line in options {
            let t = line.trim_start();
            let indent = line.len() - t.len();
            let is_option = indent <= 6
                && (t.starts_with("--") || (t.starts_with('-') && t.chars().nth(2) == Some(',')));
            if is_option {
                let described = t.split("  ").filter(|p| !p.trim().is_empty()).count() >= 2;
                assert!(described, "{prog}: option without a description: {line:?}");
            }
        }
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    for prog in PROGRAMS {
        for shell in ["bash", "zsh", "fish"] {
            let out = run(prog, &["--completions", shell], "");
            assert!(
                out.status.success(),
                "{prog} --completions {shell}: {}",
                stderr(&out)
            );
            assert!(
                stdout(&out).contains(prog),
                "{prog} {shell} completion does not name the program"
            );
        }
        let out = run(prog, &["--man"], "");
        assert!(out.status.success(), "{prog} --man: {}", stderr(&out));
        assert!(
            stdout(&out).contains(".TH"),
            "{prog} --man is not a roff page"
        );
    }
}

#[test]
fn unknown_option_is_a_usage_error() {
    for prog in PROGRAMS {
        let out = run(prog, &["--no-such-option"], "");
        assert_eq!(out.status.code(), Some(2), "{prog}: {}", stderr(&out));
    }
}
