//! A point in time as records and the journal carry it (RFC 3339 text with the local offset,
//! `2026-03-29T01:59:00+01:00`), compared as the instant it names, never as text: around a
//! daylight-saving change `02:30+02:00` comes before `02:10+01:00`.

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, SecondsFormat, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;

/// A time as written (kept, so a record passes through unchanged) and the instant it names,
/// when it names one.
///
/// Order: by instant; text that is not an RFC 3339 time comes before every instant (as an
/// unknown time always did), and such texts among themselves in text order. Equal means the
/// same instant (or the same unreadable text).
#[derive(Debug, Clone)]
pub struct Timestamp {
    text: String,
    instant: Option<DateTime<FixedOffset>>,
}

impl Timestamp {
    /// `text` as a timestamp (it may name no instant: see the type's docs).
    pub fn parse(text: &str) -> Timestamp {
        Timestamp {
            text: text.to_string(),
            instant: DateTime::parse_from_rfc3339(text).ok(),
        }
    }

    /// Now, in this host's zone, to the second: what sweep-submit writes when `sbatch`
    /// returns.
    pub fn now() -> Timestamp {
        let now = Local::now().fixed_offset();
        Timestamp {
            text: now.to_rfc3339_opts(SecondsFormat::Secs, false),
            instant: Some(now),
        }
    }

    /// A time Slurm printed (the controller's local time, without a zone) in this host's
    /// zone, the zone Slurm printed it in on a login node; `None` for a local time that does
    /// not exist (skipped by a daylight-saving change).
    pub fn from_slurm(t: NaiveDateTime) -> Option<Timestamp> {
        let instant = Local.from_local_datetime(&t).earliest()?.fixed_offset();
        Some(Timestamp {
            text: instant.to_rfc3339(),
            instant: Some(instant),
        })
    }

    /// The text, as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The instant, when the text names one.
    pub fn instant(&self) -> Option<DateTime<FixedOffset>> {
        self.instant
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Timestamp) -> Ordering {
        match (self.instant, other.instant) {
            (Some(a), Some(b)) => a.cmp(&b),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => self.text.cmp(&other.text),
        }
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Timestamp) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Timestamp) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Timestamp {}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        let instant = DateTime::parse_from_rfc3339(&text).ok();
        Ok(Timestamp { text, instant })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_not_text_decide_the_order() {
        // One hour apart in text order, the other way round in time: the autumn change of
        // Central European time (03:00+02:00 became 02:00+01:00).
        let before = Timestamp::parse("2026-10-25T02:30:00+02:00");
        let after = Timestamp::parse("2026-10-25T02:10:00+01:00");
        assert!(before.as_str() > after.as_str());
        assert!(before < after);
        assert_eq!(
            Timestamp::parse("2026-01-01T00:00:00Z"),
            Timestamp::parse("2026-01-01T01:00:00+01:00")
        );
        // Unreadable text first, and kept as written.
        let odd = Timestamp::parse("yesterday");
        assert!(odd < before && odd.instant().is_none());
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"yesterday\"");
        let read: Timestamp = serde_json::from_str("\"2026-10-25T02:30:00+02:00\"").unwrap();
        assert_eq!(read.as_str(), "2026-10-25T02:30:00+02:00");
        assert_eq!(read, before);
    }

    #[test]
    fn slurm_times_and_now() {
        let t = crate::slurm::parse_time("2025-11-13T12:34:56").unwrap();
        let s = Timestamp::from_slurm(t).unwrap();
        assert!(s.as_str().starts_with("2025-11-13T12:34:56"), "{s}");
        let now = Timestamp::now();
        assert!(now.instant().is_some() && now.as_str().len() == 25, "{now}");
    }
}
