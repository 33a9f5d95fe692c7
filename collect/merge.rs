//! Merging: every version of one combination (same record `id`, in the same sweep directory)
//! becomes one record. The same combination in two sweep directories is two records (two
//! sweeps, to be compared, each with its own jobs); a version without a sweep directory (a
//! record straight from sweep-expand) joins the combination's one sweep directory, if it has
//! exactly one.
//!
//! The current version is the newest submission: a version with a job ID beats one whose
//! submission failed or never happened, which beats one without any submission fields; among
//! equals the latest `submitted_at` wins, and on a tie (or without times) the one read last.
//! Every other job ID seen for the combination goes into the current version's `history`,
//! oldest first, once each, with its state when one was known.

use crate::compact::Compact;
use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;
use sweep::{Record, Submission, Timestamp};

/// Merges records by `id` and sweep directory; the result is sorted by `index` (then `id`,
/// then sweep directory).
pub fn merge(records: Vec<Record>) -> Vec<Record> {
    let merged: Result<Vec<Record>, std::convert::Infallible> = merge_by(
        records,
        |r| (&r.id, r.index, r.sweep_dir.as_deref()),
        |group| Ok(merge_group(group)),
    );
    match merged {
        Ok(records) => records,
        Err(never) => match never {},
    }
}

/// Merges compact records by `id` and sweep directory (see [`merge`]): only combinations read
/// more than once, or with earlier submissions to put in order, are parsed to be merged.
pub fn merge_compact(records: Vec<Compact>) -> Result<Vec<Compact>> {
    merge_by(
        records,
        |c| (&c.id, c.index, c.sweep_dir.as_deref()),
        |mut group| {
            if let [one] = group.as_slice() {
                if !one.has_history {
                    // Nothing to merge and no history to order: the record as it is.
                    return Ok(group.remove(0));
                }
            }
            let versions = group
                .iter()
                .map(Compact::record)
                .collect::<Result<Vec<Record>>>()?;
            Compact::of(&merge_group(versions))
        },
    )
}

/// Groups `items` by id and sweep directory (`key` gives id, index and sweep directory; a
/// version without a directory joins the id's only one), merges each group (`merge_one`, the
/// versions in input order), and sorts the result by index, then id, then sweep directory.
///
/// Records are big structs: they are grouped and sorted by position, and each is moved a
/// fixed number of times (sorting the records themselves moved each one log n times, most of
/// the time of collecting 100,000 records).
fn merge_by<T, E>(
    items: Vec<T>,
    key: impl Fn(&T) -> (&str, u64, Option<&str>),
    mut merge_one: impl FnMut(Vec<T>) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut groups: BTreeMap<(&str, Option<&str>), Vec<usize>> = BTreeMap::new();
    let mut order: Vec<(u64, String, Option<String>)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (id, _, dir) = key(item);
        groups.entry((id, dir)).or_default().push(i);
    }
    // Versions without a sweep directory join the combination's only one. Keys are sorted:
    // an id's (id, None) comes first, its directories right after it.
    let keys: Vec<(&str, Option<&str>)> = groups.keys().copied().collect();
    for (k, &(id, dir)) in keys.iter().enumerate() {
        if dir.is_some() {
            continue;
        }
        let dirs: Vec<&(&str, Option<&str>)> = keys[k + 1..]
            .iter()
            .take_while(|(other, _)| *other == id)
            .collect();
        if let [only] = dirs.as_slice() {
            let mut moved = groups.remove(&(id, None)).unwrap_or_default();
            let into = groups.entry(**only).or_default();
            into.append(&mut moved);
            into.sort_unstable(); // input order
        }
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut merged: Vec<T> = Vec::with_capacity(groups.len());
    for group in groups {
        let versions: Vec<T> = group.iter().filter_map(|&i| slots[i].take()).collect();
        let one = merge_one(versions)?;
        let (id, index, dir) = key(&one);
        order.push((index, id.to_string(), dir.map(str::to_string)));
        merged.push(one);
    }
    drop(slots);
    let mut positions: Vec<usize> = (0..merged.len()).collect();
    positions.sort_by(|&a, &b| order[a].cmp(&order[b]));
    permute(&mut merged, positions);
    Ok(merged)
}

/// Reorders `v` in place so that position i holds what was at `order[i]`: each cycle of the
/// permutation is followed once, so each element moves once.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        let mut at = start;
        // A position already done points to itself.
        while order[at] != at {
            let next = order[at];
            order[at] = at;
            if next == start {
                break;
            }
            v.swap(at, next);
            at = next;
        }
    }
}

/// How strongly a version claims to be the current one (see the module docs).
fn rank(r: &Record) -> (u8, Option<DateTime<FixedOffset>>) {
    let level = if r.job_id.is_some() {
        2
    } else if r.submit_status.is_some() {
        1
    } else {
        0
    };
    (level, instant(&r.submitted_at))
}

/// The instant of a submission time; `None` when unknown or unreadable (all alike: ties).
fn instant(t: &Option<Timestamp>) -> Option<DateTime<FixedOffset>> {
    t.as_ref().and_then(Timestamp::instant)
}

/// One combination's versions (in input order) into one record. A union: every job ID any
/// version mentions (current, follow-up, history) is kept somewhere in the result.
fn merge_group(versions: Vec<Record>) -> Record {
    // max_by_key keeps the last of equal maxima: later input wins ties.
    let pos = (0..versions.len())
        .max_by_key(|&i| rank(&versions[i]))
        .expect("a group is never empty");
    let mut others = versions;
    let mut current = others.remove(pos);
    if current.sweep_dir.is_none() {
        // A version without a directory joined the combination's one: it keeps it.
        current.sweep_dir = others.iter().find_map(|o| o.sweep_dir.clone());
    }
    let mut history: Vec<Submission> = Vec::new();
    for other in &others {
        add_history(&mut history, &other.history);
        if let Some(job_id) = &other.job_id {
            if Some(job_id) == current.job_id.as_ref() {
                // The same job read twice (a manifest and the stream it came from): keep the
                // state one of them knows, and every follow-up either one knows.
                if current.status.state.is_none() && other.status.state.is_some() {
                    current.status = other.status.clone();
                }
                union(&mut current.retry_job_ids, &other.retry_job_ids);
                continue;
            }
            add_history(&mut history, &[as_submission(other, job_id)]);
        }
    }
    add_history(&mut history, &std::mem::take(&mut current.history));
    // A history entry of the current job itself (a manifest re-read after re-submission) only
    // adds the follow-ups it knows.
    if let Some(job_id) = &current.job_id {
        for h in history.iter().filter(|h| &h.job_id == job_id) {
            union(&mut current.retry_job_ids, &h.retry_job_ids);
        }
    }
    history.retain(|h| Some(&h.job_id) != current.job_id.as_ref());
    // Stable sort: entries without a time keep the order they were first seen in, first.
    history.sort_by_key(|h| instant(&h.submitted_at));
    current.history = history;
    current
}

/// Appends the IDs of `more` that `ids` lacks, in their order.
fn union(ids: &mut Vec<String>, more: &[String]) {
    for id in more {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
}

/// A version's current submission as a history entry.
fn as_submission(r: &Record, job_id: &str) -> Submission {
    Submission {
        submitted_at: r.submitted_at.clone(),
        retry_job_ids: r.retry_job_ids.clone(),
        state: r.status.state.clone(),
        ..Submission::of_job(job_id)
    }
}

/// Adds entries to `history`, once per job ID; a later mention fills what an earlier one
/// left unknown, and its state (a later read) replaces an earlier one.
fn add_history(history: &mut Vec<Submission>, entries: &[Submission]) {
    for entry in entries {
        match history.iter_mut().find(|h| h.job_id == entry.job_id) {
            Some(h) => {
                if entry.state.is_some() {
                    h.state = entry.state.clone();
                }
                h.absorb(entry.clone());
            }
            None => history.push(entry.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every job ID a record mentions.
    fn ids(r: &Record) -> BTreeSet<String> {
        r.every_job().cloned().collect()
    }

    fn version(job: Option<u32>, retries: &[u32], history: &[(u32, &[u32])]) -> Record {
        let s = |n: &u32| n.to_string();
        let mut r: Record =
            serde_json::from_str(r#"{"index":0,"id":"a","mode":"agg","parameters":{"slurm":{}}}"#)
                .unwrap();
        r.job_id = job.map(|j| j.to_string());
        r.retry_job_ids = retries.iter().map(s).collect();
        r.history = history
            .iter()
            .map(|(j, rs)| Submission {
                job_id: j.to_string(),
                retry_job_ids: rs.iter().map(s).collect(),
                ..Submission::default()
            })
            .collect();
        r
    }

    #[test]
    fn the_same_job_read_twice_keeps_every_follow_up() {
        // Issue 10, item 8.
        let merged = merge(vec![
            version(Some(100), &[101, 102], &[]),
            version(Some(100), &[101], &[]),
        ]);
        assert_eq!(merged[0].retry_job_ids, ["101", "102"]);
        let merged = merge(vec![
            version(Some(100), &[101], &[]),
            version(Some(100), &[101, 102], &[]),
        ]);
        assert_eq!(merged[0].retry_job_ids, ["101", "102"]);
    }

    #[test]
    fn merging_is_a_union_of_job_ids() {
        // A small deterministic generator: versions of one combination that mention jobs as
        // current, follow-up or history, in every mix.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as u32
        };
        for _ in 0..2000 {
            let versions: Vec<Record> = (0..1 + next(4))
                .map(|_| {
                    let job = (next(3) > 0).then(|| next(6));
                    let retries: Vec<u32> = (0..next(3)).map(|_| 10 + next(6)).collect();
                    let hist: Vec<(u32, Vec<u32>)> = (0..next(3))
                        .map(|_| (next(6), (0..next(2)).map(|_| 10 + next(6)).collect()))
                        .collect();
                    let hist: Vec<(u32, &[u32])> =
                        hist.iter().map(|(j, r)| (*j, r.as_slice())).collect();
                    // A version without a job has no follow-ups of it.
                    let retries = if job.is_some() { retries } else { vec![] };
                    version(job, &retries, &hist)
                })
                .collect();
            let before: BTreeSet<String> = versions.iter().flat_map(ids).collect();
            let merged = merge(versions.clone());
            assert_eq!(merged.len(), 1);
            assert_eq!(ids(&merged[0]), before, "{versions:?}");
            // Merging the result again with any input changes nothing.
            let again = merge(vec![merged[0].clone(), versions[0].clone()]);
            assert_eq!(ids(&again[0]), before);
        }
    }

    #[test]
    fn one_combination_per_sweep_directory() {
        let at = |job: u32, dir: Option<&str>| {
            let mut r = version(Some(job), &[], &[]);
            r.sweep_dir = dir.map(str::to_string);
            r
        };
        // Two sweeps of the same combination stay two records, each with its own job.
        let merged = merge(vec![
            at(1, Some("/s/a")),
            at(2, Some("/s/b")),
            at(3, Some("/s/a")),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].sweep_dir.as_deref(), Some("/s/a"));
        assert_eq!(merged[0].job_id.as_deref(), Some("3"));
        assert_eq!(merged[0].history[0].job_id, "1");
        assert_eq!(merged[1].job_id.as_deref(), Some("2"));
        assert!(merged[1].history.is_empty());
        // A version without a directory joins the only one there is...
        let merged = merge(vec![at(1, None), at(2, Some("/s/a"))]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].job_id.as_deref(), Some("2"));
        assert_eq!(merged[0].history[0].job_id, "1");
        // ...and stays apart when there are several.
        let merged = merge(vec![at(1, None), at(2, Some("/s/a")), at(3, Some("/s/b"))]);
        assert_eq!(merged.len(), 3);
        // The same for records held as text (a run that only merges).
        let compact = |r: Record| Compact::of(&r).unwrap();
        let merged = merge_compact(vec![
            compact(at(1, Some("/s/a"))),
            compact(at(2, Some("/s/b"))),
            compact(at(3, None)),
        ])
        .unwrap();
        assert_eq!(merged.len(), 3);
        let merged =
            merge_compact(vec![compact(at(1, Some("/s/a"))), compact(at(3, None))]).unwrap();
        assert_eq!(merged.len(), 1);
        let one = merged[0].record().unwrap();
        assert_eq!(one.job_id.as_deref(), Some("3"));
        assert_eq!(
            one.sweep_dir.as_deref(),
            Some("/s/a"),
            "the directory is kept"
        );
    }
}

#[cfg(test)]
mod permute_tests {
    use super::permute;

    #[test]
    fn permute_applies_any_order() {
        let mut seed = 7u64;
        for n in 0..40 {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (seed >> 33) as usize % (i + 1));
            }
            let mut v: Vec<usize> = (100..100 + n).collect();
            permute(&mut v, order.clone());
            let want: Vec<usize> = order.iter().map(|&i| 100 + i).collect();
            assert_eq!(v, want, "{order:?}");
        }
    }
}
