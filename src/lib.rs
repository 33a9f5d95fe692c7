//! Shared support for the four `sweep-*` programs: the record, JSON Lines I/O, the `main`
//! wrapper, progress on stderr, talking to Slurm.
//!
//! Only what two or more programs need lives here; stage-specific code stays in its folder.

#![forbid(unsafe_code)]

pub mod cli;
pub mod concurrencies;
pub mod fsutil;
pub mod job_state;
pub mod jsonl;
pub mod progress;
pub mod record;
pub mod slurm;
pub mod state;
pub mod submission;
pub mod table;
pub mod tag;
pub mod timestamp;

pub use job_state::JobState;
pub use record::{Mode, Record, Role, SlurmKey};
pub use submission::Submission;
pub use timestamp::Timestamp;
