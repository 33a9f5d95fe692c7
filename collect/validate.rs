//! Checks of the input and options that would otherwise reach Slurm: a job ID, cluster or
//! `--since` time that Slurm cannot read is the user's mistake, reported as such (naming the
//! record, field and value) before any Slurm call, never as "Slurm unreachable" (which
//! `--allow-missing-status` would then excuse).

use anyhow::Result;
use sweep::Record;

/// Every job ID and cluster name of `r` that a Slurm lookup would pass on: job IDs are
/// positive integers, cluster names one word. The error names the field (`history[0].job_id:
/// "x" is not ...`); the caller puts the record's position before it.
pub fn for_slurm(r: &Record) -> Result<()> {
    if let Some((field, value, what)) = first_bad(r) {
        anyhow::bail!("{field}: {value:?} is not {what}");
    }
    Ok(())
}

const JOB_ID: &str = "a Slurm job ID (a positive integer)";

/// The first field of `r` that Slurm could not be asked about: (field path, value, what it
/// should be).
fn first_bad(r: &Record) -> Option<(String, &str, &'static str)> {
    let mut ids: Vec<(String, &str)> = Vec::new();
    ids.extend(r.job_id.as_deref().map(|id| ("job_id".to_string(), id)));
    for (i, id) in r.retry_job_ids.iter().enumerate() {
        ids.push((format!("retry_job_ids[{i}]"), id));
    }
    for (h, sub) in r.history.iter().enumerate() {
        ids.push((format!("history[{h}].job_id"), &sub.job_id));
        for (i, id) in sub.retry_job_ids.iter().enumerate() {
            ids.push((format!("history[{h}].retry_job_ids[{i}]"), id));
        }
    }
    if let Some((field, id)) = ids.into_iter().find(|(_, id)| !is_job_id(id)) {
        return Some((field, id, JOB_ID));
    }
    let cluster = r.cluster.as_deref().filter(|c| !is_cluster(c))?;
    Some((
        "cluster".to_string(),
        cluster,
        "a Slurm cluster name (letters, digits, - _ .)",
    ))
}

/// A Slurm job ID: a positive integer.
pub fn is_job_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) && id != "0"
}

fn is_cluster(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `--since`: one of the forms `sacct --starttime` reads, else a usage error.
pub fn since(value: &str) -> Result<()> {
    if is_slurm_time(value) {
        return Ok(());
    }
    sweep::cli::usage(format!(
        "--since {value:?}: not a time sacct reads (e.g. now-7days, now-12hours, today, 2025-11-13, 2025-11-13T08:00, 11/13, 08:00)"
    ))
}

/// Slurm's time formats (`man sacct`, `--starttime`): `HH:MM[:SS][AM|PM]`,
/// `MMDD[YY][-HH:MM[:SS]]`, `MM.DD[.YY][-...]`, `MM/DD[/YY][-...]`,
/// `YYYY-MM-DD[THH:MM[:SS]]`, `today`, `midnight`, `noon`, `elevenses`, `fika`, `teatime`,
/// `tomorrow`, `now[{+|-}count[seconds|minutes|hours|days|weeks]]`.
fn is_slurm_time(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let words = [
        "now",
        "today",
        "midnight",
        "noon",
        "elevenses",
        "fika",
        "teatime",
        "tomorrow",
    ];
    if words.contains(&lower.as_str()) {
        return true;
    }
    if let Some(rest) = lower.strip_prefix("now") {
        return is_offset(rest);
    }
    let clock = ["", "-D:dd", "-D:dd:dd"];
    let dated = |date: &str| clock.iter().any(|c| shape(s, &format!("{date}{c}")));
    let time = s
        .strip_suffix("AM")
        .or_else(|| s.strip_suffix("PM"))
        .unwrap_or(s);
    ["D:dd", "D:dd:dd"].iter().any(|p| shape(time, p))
        || ["dddd-dd-dd", "dddd-dd-ddTD:dd", "dddd-dd-ddTD:dd:dd"]
            .iter()
            .any(|p| shape(s, p))
        || ["dddd", "dddddd", "D.D", "D.D.dd", "D/D", "D/D/dd"]
            .iter()
            .any(|d| dated(d))
}

/// `+7days`, `-12hours`, `-3600`: a sign, a count, an optional unit.
fn is_offset(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix(['+', '-']) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let unit = &rest[digits..];
    let units = [
        "", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "hour",
        "hours", "day", "days", "week", "weeks",
    ];
    digits > 0 && units.contains(&unit)
}

/// `s` matches `pattern`: `d` is one digit, `D` one or two digits, anything else itself.
fn shape(s: &str, pattern: &str) -> bool {
    fn at(s: &[u8], p: &[u8]) -> bool {
        let digit = |i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
        match p.split_first() {
            None => s.is_empty(),
            Some((b'd', p)) => digit(0) && at(&s[1..], p),
            Some((b'D', p)) => digit(0) && (at(&s[1..], p) || digit(1) && at(&s[2..], p)),
            Some((c, p)) => s.first() == Some(c) && at(&s[1..], p),
        }
    }
    at(s.as_bytes(), pattern.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times_are_told_from_garbage() {
        for ok in [
            "now-7days",
            "now+1hour",
            "now-3600",
            "NOW",
            "today",
            "teatime",
            "2025-11-13",
            "2025-11-13T08:00",
            "2025-11-13T08:00:30",
            "08:00",
            "8:00:01PM",
            "1113",
            "111325-08:00",
            "11/13",
            "11/13/25-08:00:00",
            "11.13.25",
        ] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in [
            "garbage",
            "",
            "now-",
            "now-7 days",
            "now7days",
            "2025-11-1",
            "2025/11/13",
            "25:00:00:00",
            "11/13/2025",
            "yesterday",
        ] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
    }

    #[test]
    fn job_ids_are_positive_integers() {
        assert!(is_job_id("12345"));
        for bad in ["", "0", "abc", "12a", "failed_3", "-1", "1 2", "123;c"] {
            assert!(!is_job_id(bad), "{bad}");
        }
        assert!(is_cluster("gpu-east_2.a"));
        assert!(!is_cluster("a,b"));
        assert!(!is_cluster(""));
    }
}
