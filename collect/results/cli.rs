//! The options of `--results` and its companions, and where their output goes: the records'
//! `results` (in the manifest), files (`--table`, `--best-table`, `--compare-table`,
//! `--plot`, `--report`), the frontier and the best-under-SLO tables for people (stderr on a
//! terminal, or stdout with `--frontier`, `--best`, never mixed into JSON on stdout).

use super::{Options, PointLabels, TableFormat};
use anyhow::Result;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use sweep::Record;

/// `sweep-collect` options about benchmark results.
// The field docs are the --help text, where `<log_dir>/<job ID>/` reads right and backticks
// would not.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args, Debug, Clone)]
pub struct ResultsArgs {
    /// Read the benchmark results that each record's jobs wrote under <log_dir>/<job ID>/
    /// (SGLang bench_serving JSON Lines, vLLM bench serve JSON, AIPerf's
    /// profile_export_aiperf.json; every other file there is listed as not a result) into its
    /// `results`, judge each point valid or not, and flag, per workload shape and sweep, the
    /// Pareto frontier of output tokens/s per GPU against output tokens/s per user
    #[arg(long)]
    pub results: bool,
    /// Limits a load must meet to count: to be on the frontier and to be a combination's best
    /// under the SLO, e.g. 'ttft_p99_ms<=2000,itl_p99_ms<=50' (any metric name of a point, <=
    /// or >=; implies --results)
    #[arg(long, value_name = "LIMITS")]
    pub slo: Option<String>,
    /// Write one row per point, with the record's parameters as columns, to FILE: CSV or JSON
    /// Lines by its extension (.csv, .jsonl) or --table-format; '-' is stdout (then the
    /// manifest goes only to --output). Implies --results
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// Format of --table, --best-table and --compare-table, when the extension does not say
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub table_format: Option<TableFormat>,
    /// Draw every valid point and the frontiers to FILE (SVG, one panel per workload shape).
    /// Implies --results
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Colour the points of --plot and --report by this parameter ('mem-fraction-static', or
    /// with its section, 'slurm.decode_nodes'), or by 'sweep'
    #[arg(long, value_name = "KEY")]
    pub color_by: Option<String>,
    /// What is written beside the points of --plot and --report: the record's index, the
    /// load (concurrency or request rate), or nothing
    #[arg(long, value_name = "WHAT", value_enum)]
    pub point_labels: Option<PointLabels>,
    /// Print the frontier tables on stdout instead of the manifest (which then goes only to
    /// --output). Without it they go to stderr when stderr is a terminal. Implies --results
    #[arg(long)]
    pub frontier: bool,
    /// Print the best-under-SLO tables on stdout instead of the manifest (which then goes only
    /// to --output): per workload shape, each combination's highest load within the SLO, the
    /// lowest load above it that misses, the limit that binds, sorted by output tokens/s per
    /// GPU; the best's sweep-file values; with several sweeps, their comparison. Without it
    /// they go to stderr when stderr is a terminal and --slo is given. Implies --results
    #[arg(long)]
    pub best: bool,
    /// Write the best-under-SLO table to FILE (CSV or JSON Lines, as --table; '-' is stdout):
    /// one row per combination and workload shape. Implies --results
    #[arg(long, value_name = "FILE")]
    pub best_table: Option<PathBuf>,
    /// Write the comparison of the sweeps to FILE (CSV or JSON Lines, as --table; '-' is
    /// stdout): one row per workload shape, level of --at and sweep. Implies --results
    #[arg(long, value_name = "FILE")]
    pub compare_table: Option<PathBuf>,
    /// Write one self-contained HTML page to FILE (no network needed: no script, font or
    /// stylesheet from elsewhere): per workload shape the answer, the best-under-SLO table,
    /// the comparison, the plot with a hover text per point, the frontiers; the sweeps'
    /// parameters; what was left out and why. Implies --results
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Name a sweep in tables, plots and the report (default: its directory's name): NAME names
    /// the next sweep in input order, DIR=NAME the sweep whose directory is DIR (or is named
    /// DIR). Repeat for several sweeps; the first sweep is the baseline of comparisons
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    pub label: Vec<String>,
    /// The levels of output tokens/s per user at which sweeps are compared, e.g. '50,100,200'
    /// (default: round levels spread over the range every sweep's frontier covers)
    #[arg(long, value_name = "LEVELS")]
    pub at: Option<String>,
    /// Read only the current submission's jobs; by default earlier submissions' jobs
    /// (history) are read too, their runs repeats of the same loads
    #[arg(long)]
    pub current_only: bool,
    /// Largest result file read, in bytes; a larger one is an error on its record
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_result_bytes: u64,
    /// Share of failed requests (0 to 1) a point may have and still be valid; by default a
    /// single failed request makes it invalid
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub max_failed_fraction: f64,
    /// The adaptive search: write the next round to FILE ('-' is stdout, then the manifest
    /// goes only to --output), JSON Lines for sweep-submit: each combination whose SLO boundary
    /// is not known to within --tolerance, with the concurrencies that narrow it (bisection
    /// between its highest passing and lowest failing load; a step up while every load passes
    /// and throughput rises; a step down while none passes); combinations that cannot beat
    /// the best another one measured are pruned. One line on stderr counts resolved, pruned
    /// and open combinations; an empty FILE means the search is over. With --wait, the exit
    /// status is 0 once every job ended, failed ones too. Implies --results
    #[arg(long, value_name = "FILE", help_heading = "Adaptive search")]
    pub next_round: Option<PathBuf>,
    /// How close the bracket of a boundary must be to be known: its width as a share of its
    /// lower end ('10%' or 0.1)
    #[arg(
        long,
        value_name = "SHARE",
        default_value = "10%",
        help_heading = "Adaptive search"
    )]
    pub tolerance: String,
    /// Concurrencies each follow-up job measures
    #[arg(
        long,
        value_name = "K",
        default_value_t = 3,
        help_heading = "Adaptive search"
    )]
    pub loads_per_round: usize,
    /// The factor of each step up (or down) while every load passes (or none does)
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 2.0,
        help_heading = "Adaptive search"
    )]
    pub step: f64,
    /// The least rise of output tokens/s per GPU at the highest load, over the best load
    /// below it, that is not saturation ('5%' or 0.05): less, and stepping up stops
    #[arg(
        long,
        value_name = "SHARE",
        default_value = "5%",
        help_heading = "Adaptive search"
    )]
    pub saturation: String,
    /// The most rounds (distinct sets of concurrencies measured) per combination, the first
    /// sweep's included
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        help_heading = "Adaptive search"
    )]
    pub max_rounds: usize,
    /// The highest concurrency a step up goes to
    #[arg(long, value_name = "N", help_heading = "Adaptive search")]
    pub max_load: Option<u64>,
    /// Locate every boundary: never prune a combination that cannot beat the best
    #[arg(long, help_heading = "Adaptive search")]
    pub no_prune: bool,
}

/// A share: `10%` or `0.1`, from 0 (excluded) to 1 (10 = 1000%: a share above 1 is allowed
/// only as a percentage).
fn share(option: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
        None => t.parse::<f64>().ok().filter(|v| *v <= 1.0),
    };
    match v {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => sweep::cli::usage(format!(
            "{option} {text:?}: not a share (a percentage like 10%, or a number above 0 and at most 1)"
        )),
    }
}

/// `-`: stdout.
fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

impl ResultsArgs {
    /// True when results are to be read.
    pub fn wanted(&self) -> bool {
        self.results
            || self.slo.is_some()
            || self.table.is_some()
            || self.plot.is_some()
            || self.frontier
            || self.best
            || self.best_table.is_some()
            || self.compare_table.is_some()
            || self.report.is_some()
            || self.next_round.is_some()
    }

    /// The search's settings, when `--next-round` is given; usage errors for its options
    /// without it, or out of range.
    fn search(&self) -> Result<Option<(PathBuf, super::next_round::Search)>> {
        let given = self.tolerance != "10%"
            || self.loads_per_round != 3
            || self.step != 2.0
            || self.saturation != "5%"
            || self.max_rounds != 8
            || self.max_load.is_some()
            || self.no_prune;
        let Some(path) = &self.next_round else {
            if given {
                return sweep::cli::usage("--tolerance, --loads-per-round, --step, --saturation, --max-rounds, --max-load and --no-prune need --next-round FILE (they set the adaptive search)");
            }
            return Ok(None);
        };
        if self.current_only {
            return sweep::cli::usage("--next-round reads every round's jobs (history too): --current-only would hide the earlier rounds");
        }
        let tolerance = share("--tolerance", &self.tolerance)?;
        let saturation = share("--saturation", &self.saturation)?;
        if self.loads_per_round == 0 {
            return sweep::cli::usage("--loads-per-round must be at least 1");
        }
        if !(self.step.is_finite() && self.step > 1.0) {
            return sweep::cli::usage(format!(
                "--step {}: must be a factor above 1 (2: each step doubles the load)",
                self.step
            ));
        }
        if self.max_rounds == 0 {
            return sweep::cli::usage("--max-rounds must be at least 1");
        }
        if self.max_load == Some(0) {
            return sweep::cli::usage("--max-load must be at least 1");
        }
        let rules = super::search::Rules {
            tolerance,
            loads: self.loads_per_round,
            step: self.step,
            saturation,
            max_load: self.max_load,
            prune: !self.no_prune,
        };
        Ok(Some((
            path.clone(),
            super::next_round::Search {
                rules,
                max_rounds: self.max_rounds,
            },
        )))
    }

    /// The options below clap, `None` when no results are asked for; usage errors, before
    /// anything is read.
    pub fn check(&self) -> Result<Option<Options>> {
        let usage = |m: &str| sweep::cli::usage::<Option<Options>>(m.to_string());
        let draws = self.plot.is_some() || self.report.is_some();
        if self.color_by.is_some() && !draws {
            return usage("--color-by needs --plot FILE or --report FILE");
        }
        if self.point_labels.is_some() && !draws {
            return usage("--point-labels needs --plot FILE or --report FILE");
        }
        let tables = [&self.table, &self.best_table, &self.compare_table];
        if self.table_format.is_some() && tables.iter().all(|t| t.is_none()) {
            return usage("--table-format needs --table, --best-table or --compare-table FILE");
        }
        let to_stdout = tables
            .iter()
            .chain([&&self.next_round])
            .filter(|t| t.as_deref().is_some_and(is_stdout))
            .count()
            + usize::from(self.frontier || self.best);
        if to_stdout > 1 {
            return usage("only one of --frontier/--best, --table -, --best-table -, --compare-table - and --next-round - can have stdout: give the others a file");
        }
        let search = self.search()?;
        if self.report.as_deref().is_some_and(is_stdout) {
            return usage("--report needs a file name (the report is a file to open or mail)");
        }
        if self.at.is_some()
            && !(self.best || self.compare_table.is_some() || self.report.is_some())
        {
            return usage(
                "--at needs --best, --compare-table FILE or --report FILE (where comparisons go)",
            );
        }
        if self.label.iter().any(|l| {
            let name = l.split_once('=').map_or(l.as_str(), |(_, n)| n);
            name.trim().is_empty()
        }) {
            return usage("--label: a name cannot be empty (NAME or DIR=NAME)");
        }
        if !self.label.is_empty() && !self.wanted() {
            return usage("--label names sweeps in results: give --results (or an output of it)");
        }
        if self.max_result_bytes == 0 {
            return usage("--max-result-bytes must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.max_failed_fraction) {
            return usage("--max-failed-fraction must be a number from 0 to 1 (0.05: up to 5% of the requests may fail)");
        }
        if !self.wanted() {
            return Ok(None);
        }
        let as_usage = |e: anyhow::Error| sweep::cli::UsageError(format!("{e:#}"));
        let slo = match &self.slo {
            Some(text) => super::parse_slo(text).map_err(as_usage)?,
            None => Vec::new(),
        };
        let at = match &self.at {
            Some(text) => Some(super::compare::parse_at(text).map_err(as_usage)?),
            None => None,
        };
        let table_file = |name: &str, path: &Option<PathBuf>| -> Result<_> {
            match path {
                Some(path) => {
                    let format = self.table_format.or_else(|| TableFormat::from_path(path));
                    let Some(format) = format else {
                        return sweep::cli::usage(format!("{name}: say the format with a .csv or .jsonl extension, or --table-format csv|jsonl"));
                    };
                    Ok(Some((path.clone(), format)))
                }
                None => Ok(None),
            }
        };
        Ok(Some(Options {
            slo,
            max_bytes: self.max_result_bytes,
            max_failed_fraction: self.max_failed_fraction,
            table: table_file("--table", &self.table)?,
            plot: self.plot.clone(),
            color_by: self.color_by.clone(),
            point_labels: self.point_labels.unwrap_or(PointLabels::Index),
            best_table: table_file("--best-table", &self.best_table)?,
            compare_table: table_file("--compare-table", &self.compare_table)?,
            report: self.report.clone(),
            labels: self.label.clone(),
            at,
            current_only: self.current_only,
            frontier: self.frontier,
            best: self.best,
            next_round: search,
        }))
    }
}

impl Options {
    /// True when stdout carries a human view or a table instead of the manifest.
    pub fn takes_stdout(&self) -> bool {
        self.frontier
            || self.best
            || [&self.table, &self.best_table, &self.compare_table]
                .iter()
                .any(|t| t.as_ref().is_some_and(|(p, _)| is_stdout(p)))
            || self.next_round.as_ref().is_some_and(|(p, _)| is_stdout(p))
    }
}

/// The results of a run, for the output: `results_of` gives a record's `results`; `stdout` is what
/// goes to stdout instead of the manifest, if anything.
pub struct Applied {
    found: Vec<super::Found>,
    pub stdout: Option<Vec<u8>>,
}

impl Applied {
    /// The `results` of record `i`, as JSON (made only when the record is written).
    pub fn results_of(&self, i: usize) -> Option<serde_json::Value> {
        self.found.get(i).map(|f| f.to_json())
    }
}

/// Reads the results of `records`; prints the lines of counts (stderr), and the frontier and
/// best-under-SLO tables where they go (stdout with --frontier or --best, else stderr on a
/// terminal). `sweep_order`: the sweep directories in input order.
pub fn apply(
    opts: &Options,
    records: &[Record],
    sweep_order: &[Option<String>],
) -> Result<Applied> {
    let outcome = super::run(records, sweep_order, opts)?;
    for line in outcome.note.iter().chain(&outcome.search) {
        sweep::cli::warn(line);
    }
    let stdout = if opts.frontier || opts.best {
        let mut text = String::new();
        if opts.frontier {
            text.push_str(&outcome.summary);
        }
        if opts.best {
            if opts.frontier {
                text.push('\n');
            }
            text.push_str(&outcome.answer);
        }
        Some(text.into_bytes())
    } else {
        if outcome.table_stdout.is_none() && std::io::stderr().is_terminal() {
            let mut text = outcome.summary.clone();
            if !opts.slo.is_empty() {
                text.push('\n');
                text.push_str(&outcome.answer);
            }
            sweep::cli::show(&text);
        }
        outcome.table_stdout
    };
    Ok(Applied {
        found: outcome.found,
        stdout,
    })
}
