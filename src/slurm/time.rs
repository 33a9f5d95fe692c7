//! Slurm's times: `squeue %V` and `sacct Submit` print the controller's local time as
//! `2025-11-13T12:34:56`, without a zone.

use chrono::NaiveDateTime;

/// `2025-11-13T12:34:56` (surrounding white space allowed); `None` for anything else
/// (`N/A`, `Unknown`, empty).
pub fn parse_time(t: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%dT%H:%M:%S").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times() {
        let t = parse_time(" 2025-11-13T12:34:56\n").unwrap();
        assert_eq!(t.to_string(), "2025-11-13 12:34:56");
        for bad in ["N/A", "Unknown", "", "2025-11-13 12:34:56"] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }
}
