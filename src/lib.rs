//! Shared support for the four `sweep-*` programs: the record, JSON Lines I/O, the `main`
//! wrapper, progress on stderr, talking to Slurm.
//!
//! Only what two or more programs need lives here; stage-specific code stays in its folder.

pub mod cli;
pub mod fsutil;
pub mod jsonl;
pub mod progress;
pub mod record;
pub mod slurm;
pub mod state;
pub mod tag;

pub use record::{Mode, Record, Role, SlurmKey};
