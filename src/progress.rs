//! Progress on stderr, the same way in every program: a bar redrawn in place when stderr is a
//! terminal, one line per change when it is a file (a log), nothing at all on a pipe (a
//! reader of stderr wants diagnostics, not a stream of counters).
//!
//! While a bar is drawn, [`crate::cli::warn`] prints its line above the bar instead of through
//! it (see [`suspended`]).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// Where progress goes: decided once, from what stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// stderr is a terminal: a bar.
    Terminal,
    /// stderr is a regular file: a line per change.
    File,
    /// Anything else (a pipe, /dev/null): nothing.
    Quiet,
}

impl Sink {
    /// What this process's stderr is.
    pub fn of_stderr() -> Sink {
        let err = std::io::stderr();
        if err.is_terminal() {
            return Sink::Terminal;
        }
        // Linux: /proc/self/fd/2 follows the descriptor to what it is open on.
        match std::fs::metadata("/proc/self/fd/2") {
            Ok(m) if m.is_file() => Sink::File,
            _ => Sink::Quiet,
        }
    }
}

/// The bar being drawn, if any: warnings are printed around it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `print` (which writes to stderr) with the bar hidden, so that the line lands above it
/// and the bar is redrawn below.
pub fn suspended<R>(print: impl FnOnce() -> R) -> R {
    let bar = ACTIVE.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

/// Shows `line` as the message of the bar being drawn, if any (a pause between steps, such as
/// sweep-submit waiting for room in the queue); false when no bar is drawn.
pub fn show_status(line: &str) -> bool {
    let bar = ACTIVE.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(bar) => {
            bar.set_message(line.to_string());
            true
        }
        None => false,
    }
}

/// Progress through `total` steps, or an open-ended status (total 0).
pub struct Progress {
    sink: Sink,
    bar: Option<ProgressBar>,
    /// Steps done, of `total` (0: no known total).
    done: u64,
    total: u64,
    /// The last line written to a log, not written again.
    last: String,
}

impl Progress {
    /// Progress through `total` steps (0: no known total), shown as `prefix`.
    pub fn new(total: u64, prefix: &str) -> Progress {
        Progress::with_sink(Sink::of_stderr(), total, prefix)
    }

    /// Progress through `total` steps into `sink`.
    pub fn with_sink(sink: Sink, total: u64, prefix: &str) -> Progress {
        let bar = (sink == Sink::Terminal).then(|| {
            let bar = ProgressBar::new(total);
            let template = if total > 0 {
                "{prefix} [{wide_bar:.cyan/blue}] {pos}/{len} {elapsed} {msg}"
            } else {
                "{prefix} {spinner} {elapsed} {wide_msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(prefix.to_string());
            bar.enable_steady_tick(Duration::from_millis(250));
            if let Ok(mut active) = ACTIVE.lock() {
                *active = Some(bar.clone());
            }
            bar
        });
        Progress {
            sink,
            bar,
            done: 0,
            total,
            last: String::new(),
        }
    }

    /// Where this progress goes.
    pub fn sink(&self) -> Sink {
        self.sink
    }

    /// One step done: the bar moves on and shows `line`; a log gets `[done/total] line`.
    pub fn step(&mut self, line: &str) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(line.to_string());
        }
        self.log(&self.counted(line));
    }

    /// `[done/total] line`, or `line` without a total.
    fn counted(&self, line: &str) -> String {
        match self.total {
            0 => line.to_string(),
            total => format!("[{}/{total}] {line}", self.done),
        }
    }

    /// Sets how many steps are done and what is happening (`line`); a log gets `line` when it
    /// differs from the last one written.
    pub fn set(&mut self, done: u64, line: &str) {
        self.done = done;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(line.to_string());
        }
        self.log(line);
    }

    /// What is happening now, without a step done (`waiting for room in the queue`): the
    /// bar's message; a log gets `[done/total] line`.
    pub fn status(&mut self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(line.to_string());
        }
        self.log(&self.counted(line));
    }

    fn log(&mut self, line: &str) {
        if self.sink == Sink::File && line != self.last {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {line}",
                crate::cli::program()
            );
            self.last = line.to_string();
        }
    }

    /// Removes the bar (the terminal is left as it was before it); a log is left as it is.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
