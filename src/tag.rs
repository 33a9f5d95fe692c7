//! The tag that `sweep-submit` puts on every job (`sbatch --comment`) so that the jobs of a
//! sweep can be found in Slurm even when the record that names them was never written (the
//! submitting process killed between `sbatch` returning and the record reaching stdout).
//!
//! Format: `sweep:<sweep key>:<record id>:<index>`, where the sweep key is the sweep
//! directory's name plus a short hash of its absolute path (`sweep_20251113_123456-1a2b3c4d`),
//! unique per sweep directory and short enough for `squeue -o %k`. A job that measures its
//! record's own concurrencies (a follow-up round of the adaptive search) says which:
//! `sweep:<sweep key>:<record id>:<index>:c24x32x45`, so that its measurement is known from
//! Slurm alone, as its combination is.

use sha2::{Digest, Sha256};

/// Prefix of every tag.
pub const PREFIX: &str = "sweep:";

/// The sweep key for a sweep directory (absolute path).
pub fn sweep_key(sweep_dir: &str) -> String {
    let name = std::path::Path::new(sweep_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sweep".to_string());
    // Keep the key to characters that survive Slurm's comment field and shell quoting.
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = Sha256::digest(sweep_dir.as_bytes());
    format!(
        "{name}-{:02x}{:02x}{:02x}{:02x}",
        hash[0], hash[1], hash[2], hash[3]
    )
}

/// The tag of one job: `sweep:<sweep key>:<id>:<index>`.
pub fn format(sweep_key: &str, id: &str, index: u64) -> String {
    format!("{PREFIX}{sweep_key}:{id}:{index}")
}

/// The tag of one job that measures `concurrencies` (none: `--profiler`'s, and the tag is
/// [`format()`]'s): `sweep:<sweep key>:<id>:<index>:c24x32`.
pub fn format_measured(
    sweep_key: &str,
    id: &str,
    index: u64,
    concurrencies: Option<&[u64]>,
) -> String {
    let mut tag = format(sweep_key, id, index);
    if let Some(c) = concurrencies {
        tag.push_str(":c");
        tag.push_str(&crate::concurrencies::text(c));
    }
    tag
}

/// `tag` for a job of the same combination that measures `concurrencies` (what it measured
/// replaced); a comment that is not one of our tags, unchanged.
pub fn measuring(tag: &str, concurrencies: Option<&[u64]>) -> String {
    match parse(tag) {
        Some(t) => Tag {
            concurrencies: concurrencies.map(<[u64]>::to_vec),
            ..t
        }
        .text(),
        None => tag.to_string(),
    }
}

/// A parsed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The sweep key.
    pub sweep_key: String,
    /// The record id.
    pub id: String,
    /// The record index.
    pub index: u64,
    /// The concurrencies the job measures, when not `--profiler`'s.
    pub concurrencies: Option<Vec<u64>>,
}

impl Tag {
    /// The tag as text again.
    pub fn text(&self) -> String {
        format_measured(
            &self.sweep_key,
            &self.id,
            self.index,
            self.concurrencies.as_deref(),
        )
    }
}

/// Parses a job comment; `None` when it is not one of our tags.
pub fn parse(comment: &str) -> Option<Tag> {
    let rest = comment.trim().strip_prefix(PREFIX)?;
    let (rest, concurrencies) = match rest.rsplit_once(':') {
        Some((head, last)) if last.starts_with('c') => {
            (head, Some(crate::concurrencies::parse(&last[1..])?))
        }
        _ => (rest, None),
    };
    let mut parts = rest.rsplitn(3, ':');
    let index = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_string();
    let sweep_key = parts.next()?.to_string();
    if sweep_key.is_empty() || id.is_empty() {
        return None;
    }
    Some(Tag {
        sweep_key,
        id,
        index,
        concurrencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = sweep_key("/data/sweeps/sweep_20251113_123456");
        assert!(key.starts_with("sweep_20251113_123456-"));
        let t = format(&key, "0123abcd", 7);
        let p = parse(&t).unwrap();
        assert_eq!(
            (p.sweep_key.as_str(), p.id.as_str(), p.index),
            (key.as_str(), "0123abcd", 7)
        );
        assert_eq!(parse("something else"), None);
        assert_eq!(p.concurrencies, None);
        assert_eq!(p.text(), t);
        let m = format_measured(&key, "0123abcd", 7, Some(&[24, 32]));
        assert_eq!(m, format!("{t}:c24x32"));
        let p = parse(&m).unwrap();
        assert_eq!(
            (p.id.as_str(), p.index, p.concurrencies.as_deref()),
            ("0123abcd", 7, Some(&[24u64, 32][..]))
        );
        assert_eq!(p.text(), m);
        assert_eq!(format_measured(&key, "a", 1, None), format(&key, "a", 1));
        assert_eq!(measuring(&m, None), t);
        assert_eq!(measuring(&t, Some(&[24, 32])), m);
        assert_eq!(measuring(&m, Some(&[5])), format!("{t}:c5"));
        assert_eq!(measuring("colleague", Some(&[5])), "colleague");
        // Not a tag of ours: a bad list, or one that is not ascending.
        assert_eq!(parse(&format!("{t}:c")), None);
        assert_eq!(parse(&format!("{t}:c32x24")), None);
        assert_ne!(sweep_key("/a/sweep_x"), sweep_key("/b/sweep_x"));
    }
}
