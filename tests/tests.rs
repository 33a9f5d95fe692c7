//! The one integration-test binary: black-box tests of the four programs, a module per area.
#![recursion_limit = "256"]
//!
//! Tests that need the local Slurm cluster (`scripts/local-slurm start`) live in the modules
//! whose names end in `_slurm`; they fail when `SWEEP_REQUIRE_SLURM=1` (CI) and Slurm is not
//! reachable, and skip loudly otherwise.

// A test that skips says so on stderr, where `cargo test` shows it (the programs themselves
// print diagnostics only through sweep::cli).
#![allow(clippy::print_stderr)]
#![forbid(unsafe_code)]

mod answer;
mod cli_docs;
mod collect;
mod collect_slurm;
mod common;
mod container_slurm;
mod daily;
mod daily_slurm;
mod demo;
mod docs;
mod examples;
mod expand;
mod inputs;
mod jobscript;
mod jobscript_slurm;
mod lib_record;
mod never_twice_slurm;
mod queue;
mod queue_slurm;
mod render;
mod report;
mod results;
mod results_real;
mod results_slurm;
mod search;
mod search_slurm;
mod shared_cluster_slurm;
mod submit;
mod submit_slurm;
