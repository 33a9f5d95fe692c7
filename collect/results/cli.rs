//! The options of `--results` and its companions, and where their output goes: the records'
//! `results` (in the manifest), files (`--table`, `--plot`), the frontier for people (stderr
//! on a terminal, or stdout with `--frontier`, never mixed into JSON on stdout).

use super::{Options, TableFormat};
use anyhow::Result;
use std::io::IsTerminal;
use std::path::PathBuf;
use sweep::Record;

/// `sweep-collect` options about benchmark results.
// The field docs are the --help text, where `<log_dir>/<job ID>/` reads right and backticks
// would not.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args, Debug, Clone)]
pub struct ResultsArgs {
    /// Read the benchmark results that each record's current jobs wrote under
    /// <log_dir>/<job ID>/ (SGLang bench_serving JSON Lines, vLLM bench serve JSON, AIPerf's
    /// profile_export_aiperf.json; every other file there is listed as not a result) into its
    /// `results`, judge each point valid or not, and flag the Pareto frontier of output
    /// tokens/s per GPU against output tokens/s per user
    #[arg(long)]
    pub results: bool,
    /// Limits a point must meet to be on the frontier, e.g. 'ttft_p99_ms<=2000,itl_p99_ms<=50'
    /// (any metric name of a point, <= or >=; implies --results)
    #[arg(long, value_name = "LIMITS")]
    pub slo: Option<String>,
    /// Write one row per point, with the record's parameters as columns, to FILE: CSV or JSON
    /// Lines by its extension (.csv, .jsonl) or --table-format; '-' is stdout (then the
    /// manifest goes only to --output). Implies --results
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// Format of --table, when its extension does not say
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub table_format: Option<TableFormat>,
    /// Draw every valid point and the frontier to FILE (SVG). Implies --results
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Colour the plot's points by this parameter: 'mem-fraction-static', or with its section,
    /// 'slurm.decode_nodes'
    #[arg(long, value_name = "KEY")]
    pub color_by: Option<String>,
    /// Print the frontier table on stdout instead of the manifest (which then goes only to
    /// --output). Without it the table goes to stderr when stderr is a terminal. Implies
    /// --results
    #[arg(long)]
    pub frontier: bool,
    /// Largest result file read, in bytes; a larger one is an error on its record
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_result_bytes: u64,
    /// Share of failed requests (0 to 1) a point may have and still be valid; by default a
    /// single failed request makes it invalid
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub max_failed_fraction: f64,
}

impl ResultsArgs {
    /// True when results are to be read.
    pub fn wanted(&self) -> bool {
        self.results
            || self.slo.is_some()
            || self.table.is_some()
            || self.plot.is_some()
            || self.frontier
    }

    /// The options below clap, `None` when no results are asked for; usage errors, before
    /// anything is read.
    pub fn check(&self) -> Result<Option<Options>> {
        let usage = |m: &str| sweep::cli::usage::<Option<Options>>(m.to_string());
        if self.color_by.is_some() && self.plot.is_none() {
            return usage("--color-by needs --plot FILE");
        }
        if self.table_format.is_some() && self.table.is_none() {
            return usage("--table-format needs --table FILE");
        }
        if self.frontier && self.table.as_deref().is_some_and(|t| t.as_os_str() == "-") {
            return usage("--frontier and --table - both want stdout: give --table a file");
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
        let slo = match &self.slo {
            Some(text) => {
                super::parse_slo(text).map_err(|e| sweep::cli::UsageError(format!("{e:#}")))?
            }
            None => Vec::new(),
        };
        let table = match &self.table {
            Some(path) => {
                let format = self.table_format.or_else(|| TableFormat::from_path(path));
                let Some(format) = format else {
                    return usage("--table: say the format with a .csv or .jsonl extension, or --table-format csv|jsonl");
                };
                Some((path.clone(), format))
            }
            None => None,
        };
        Ok(Some(Options {
            slo,
            max_bytes: self.max_result_bytes,
            max_failed_fraction: self.max_failed_fraction,
            table,
            plot: self.plot.clone(),
            color_by: self.color_by.clone(),
            frontier: self.frontier,
        }))
    }
}

/// The results of a run, for the output: `results_of` gives a record's `results`; `stdout` is what
/// goes to stdout instead of the manifest, if anything.
pub struct Applied {
    found: Vec<super::Found>,
    pub stdout: Option<Vec<u8>>,
}

impl Applied {
    /// Adds record `i`'s `results` to its output fields.
    /// The `results` of record `i`, as JSON (made only when the record is written).
    pub fn results_of(&self, i: usize) -> Option<serde_json::Value> {
        self.found.get(i).map(|f| f.to_json())
    }
}

/// Reads the results of `records`; prints the one-line note (stderr) and the frontier
/// (stderr on a terminal, or stdout with --frontier).
pub fn apply(opts: &Options, records: &[Record]) -> Result<Applied> {
    let outcome = super::run(records, opts)?;
    for line in &outcome.note {
        sweep::cli::warn(line);
    }
    let stdout = if opts.frontier {
        Some(outcome.summary.into_bytes())
    } else {
        if outcome.table_stdout.is_none() && std::io::stderr().is_terminal() {
            sweep::cli::show(&outcome.summary);
        }
        outcome.table_stdout
    };
    Ok(Applied {
        found: outcome.found,
        stdout,
    })
}
