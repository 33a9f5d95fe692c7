//! `--sbatch-arg` options that would break what sweep-submit promises, refused before anything
//! is submitted: the tag by which it finds its jobs (`--comment`), one job per combination
//! (`--array`, `--dependency` beside `--retries`), the hold it releases once a job is written
//! down (`--hold`), the job ID it reads (`--parsable`, `--test-only`, `--help`), the script it
//! wrote (`--wrap`), a run that goes on (`--wait`), and the job name the records give
//! (`--job-name`). sbatch accepts a long option by any unambiguous prefix (`--hol`), so a
//! prefix of a refused option is refused too; short options may be grouped (`-vH`).

/// A refused option: its long name, its short letter, and why.
struct Refused {
    long: &'static str,
    short: Option<char>,
    why: &'static str,
    /// Refused only with `--retries`.
    with_retries_only: bool,
}

const REFUSED: &[Refused] = &[
    Refused {
        long: "comment",
        short: None,
        why: "sweep-submit sets --comment to each job's tag, by which it finds its jobs and tells them from everyone else's",
        with_retries_only: false,
    },
    Refused {
        long: "array",
        short: Some('a'),
        why: "an array runs the combination once per task: a sweep has one job per combination",
        with_retries_only: false,
    },
    Refused {
        long: "hold",
        short: Some('H'),
        why: "sweep-submit submits every job held and releases it once it is written down; to keep jobs from starting, hold them afterwards (scontrol hold ID) or give --sbatch-arg=--begin=TIME",
        with_retries_only: false,
    },
    Refused {
        long: "parsable",
        short: None,
        why: "sweep-submit passes it already: it reads the job ID from it",
        with_retries_only: false,
    },
    Refused {
        long: "wrap",
        short: None,
        why: "the job runs the job script sweep-submit wrote, not a command line",
        with_retries_only: false,
    },
    Refused {
        long: "wait",
        short: Some('W'),
        why: "sbatch would wait for each job to end (and every job is submitted held): the run would stop at its first job",
        with_retries_only: false,
    },
    Refused {
        long: "test-only",
        short: None,
        why: "sbatch would submit nothing and print no job ID",
        with_retries_only: false,
    },
    Refused {
        long: "job-name",
        short: Some('J'),
        why: "give --job-name NAME: the records and the logs name each job NAME_sweep{index}",
        with_retries_only: false,
    },
    Refused {
        long: "dependency",
        short: Some('d'),
        why: "--retries chains its follow-ups with --dependency=afternotok:...; this one would replace it, and a follow-up would run after a success too",
        with_retries_only: true,
    },
    Refused {
        long: "help",
        short: Some('h'),
        why: "sbatch would print its help and submit nothing",
        with_retries_only: false,
    },
    Refused {
        long: "usage",
        short: Some('u'),
        why: "sbatch would print its usage and submit nothing",
        with_retries_only: false,
    },
    Refused {
        long: "version",
        short: Some('V'),
        why: "sbatch would print its version and submit nothing",
        with_retries_only: false,
    },
];

/// sbatch's short options that take a value (the rest of the word is that value).
const SHORT_WITH_VALUE: &str = "AaBbCcDdeFGiJLMmNnopqSstwx";

/// Names the options for users, in Markdown: `` `--comment`, `--array`/`-a`, ... ``.
#[cfg(test)]
fn listed() -> String {
    REFUSED
        .iter()
        .map(|r| {
            let mut s = format!("`--{}`", r.long);
            if let Some(c) = r.short {
                s.push_str(&format!("/`-{c}`"));
            }
            if r.with_retries_only {
                s.push_str(" (with `--retries`)");
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first refused option among `args` (the `--sbatch-arg` values, in order), as the message
/// that names it and says why; `retries`: the job has `--retries` follow-ups.
pub fn check(args: &[String], retries: u32) -> Result<(), String> {
    for arg in args {
        if let Some(r) = refused(arg).filter(|r| !r.with_retries_only || retries > 0) {
            let name = arg.split('=').next().unwrap_or(arg);
            let spelled = match name.strip_prefix("--") {
                Some(n) if n != r.long => format!(" (abbreviates --{})", r.long),
                _ => String::new(),
            };
            return Err(format!("--sbatch-arg={arg}{spelled} is refused: {}", r.why));
        }
    }
    Ok(())
}

/// The refused option `arg` is (or abbreviates, or holds among grouped short options).
fn refused(arg: &str) -> Option<&'static Refused> {
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or(long);
        if name.is_empty() {
            return None;
        }
        return REFUSED
            .iter()
            .find(|r| r.long == name)
            .or_else(|| REFUSED.iter().find(|r| r.long.starts_with(name)));
    }
    let shorts = arg.strip_prefix('-')?;
    for c in shorts.chars() {
        if let Some(r) = REFUSED.iter().find(|r| r.short == Some(c)) {
            return Some(r);
        }
        if SHORT_WITH_VALUE.contains(c) {
            return None; // the rest of the word is its value
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(args: &[&str], retries: u32) -> Option<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        check(&args, retries).err()
    }

    #[test]
    fn options_that_break_the_tag_or_one_job_per_combination_are_refused() {
        for arg in [
            "--comment=x",
            "--comment",
            "--array=0-2",
            "-a0-2",
            "--hold",
            "-H",
            "-vH",
            "--parsable",
            "--wrap=sleep 1",
            "--wait",
            "-W",
            "--test-only",
            "--job-name=x",
            "-Jx",
            "--help",
            "--version",
            // Abbreviations sbatch accepts.
            "--comm=x",
            "--hol",
            "--arr=1-3",
            "--pars",
        ] {
            let e = why(&[arg], 0).unwrap_or_else(|| panic!("{arg} accepted"));
            assert!(e.starts_with(&format!("--sbatch-arg={arg}")), "{e}");
        }
        assert_eq!(
            why(&["--qos=high", "--comm=x"], 0).unwrap(),
            "--sbatch-arg=--comm=x (abbreviates --comment) is refused: sweep-submit sets --comment to each job's tag, by which it finds its jobs and tells them from everyone else's"
        );
        for arg in [
            "--qos=high",
            "--exclusive",
            "--export=ALL,BASH_ENV=/x",
            "--begin=now+1hour",
            "-pdebug",
            "-pH100",
            "--constraint=h100",
            "--dependency=afterok:5",
            "-v",
            "--wait-all-nodes=1",
            "--partition=batch",
        ] {
            assert_eq!(why(&[arg], 0), None, "{arg}");
        }
        // With --retries, a dependency would replace the follow-ups' own.
        assert!(why(&["--dependency=afterok:5"], 1)
            .unwrap()
            .contains("--retries chains its follow-ups"));
        assert!(why(&["-d", "afterok:5"], 2).is_some());
        assert!(listed().starts_with("`--comment`, `--array`/`-a`, `--hold`/`-H`, `--parsable`"));
    }

    /// The user's guide lists what is refused, as this module refuses it.
    #[test]
    fn the_guide_lists_the_refused_options() {
        let guide =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sweep-submit.md"))
                .unwrap();
        let list = listed();
        assert!(guide.contains(&list), "docs/sweep-submit.md lacks: {list}");
    }
}
