//! Acting on jobs by ID, batched: releasing held jobs (`scontrol release`) and cancelling
//! (`scancel`). Both take a list of IDs per call, never one call per job.

use super::{Slurm, Unreachable};

/// IDs per `scontrol release` / `scancel` call: a command line stays far below ARG_MAX.
const PER_CALL: usize = 1000;

/// What one batched action left undone.
#[derive(Debug, Default)]
pub struct Refused {
    /// Jobs Slurm does not know (purged, or never existed): nothing to do for them.
    pub unknown: Vec<String>,
}

impl Slurm {
    /// Releases the held jobs `ids` (`scontrol release ID,ID,...`): they may start. Jobs that are
    /// not held are left as they are; jobs Slurm does not know are returned in
    /// [`Refused::unknown`]. Any other failure (controller unreachable) is an error: the jobs
    /// stay held, and releasing them again later is safe.
    pub fn release(&self, ids: &[String]) -> Result<Refused, Unreachable> {
        let mut refused = Refused::default();
        for chunk in ids.chunks(PER_CALL) {
            let args = vec!["release".to_string(), chunk.join(",")];
            match self.call(&self.scontrol, &args) {
                Ok(_) => {}
                Err(e) => {
                    // "Invalid job id specified for job 99999" for each unknown job; the
                    // others of the list were released (checked on Slurm 22.05).
                    let unknown = invalid_ids(&e.0);
                    if unknown.is_empty() {
                        return Err(e);
                    }
                    refused.unknown.extend(unknown);
                }
            }
        }
        Ok(refused)
    }

    /// Cancels `ids` (`scancel ID ID ...`); unknown jobs are silently fine (scancel says
    /// nothing about them).
    pub fn cancel(&self, ids: &[String]) -> Result<(), Unreachable> {
        self.cancel_on(None, ids)
    }

    /// Cancels `ids` of `cluster` (`scancel -M CLUSTER ID ...`; `None`: the default cluster).
    pub fn cancel_on(&self, cluster: Option<&str>, ids: &[String]) -> Result<(), Unreachable> {
        for chunk in ids.chunks(PER_CALL) {
            let mut args: Vec<String> = Vec::with_capacity(chunk.len() + 2);
            if let Some(c) = cluster {
                args.extend(["-M".to_string(), c.to_string()]);
            }
            args.extend(chunk.iter().cloned());
            self.call(&self.scancel, &args)?;
        }
        Ok(())
    }
}

/// The job IDs named by "Invalid job id specified for job N" in a message; empty when the
/// message says anything else.
fn invalid_ids(message: &str) -> Vec<String> {
    const MARK: &str = "Invalid job id specified for job ";
    let mut ids = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        rest = &rest[at + MARK.len()..];
        let id: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !id.is_empty() {
            ids.push(id);
        }
    }
    if message.contains("Unable to contact") || message.contains("timed out") {
        return Vec::new();
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_jobs_are_read_from_scontrols_message() {
        assert_eq!(
            invalid_ids("scontrol: Invalid job id specified for job 99999; slurm_suspend error: Invalid job id specified"),
            ["99999"]
        );
        assert!(
            invalid_ids("scontrol: slurm_suspend error: Unable to contact slurm controller")
                .is_empty()
        );
    }
}
