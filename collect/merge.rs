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
//!
//! **A merge never replaces a known value with a missing one.** A field the current version
//! lacks is taken from another version that knows it: the combination's own fields from any
//! version; the submission's fields, its job state and the user's own fields only from a
//! version about the same job (the same `job_id`, or none on both). docs/record.md has the
//! rule field by field ([`fill_from`]).

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
    // The latest versions first: what a later read knows fills a gap before an earlier one.
    for other in others.iter().rev() {
        fill_from(&mut current, other);
    }
    for other in &others {
        add_history(&mut history, &other.history);
        if let Some(job_id) = &other.job_id {
            if Some(job_id) == current.job_id.as_ref() {
                // The same job read twice (a manifest and the stream it came from): every
                // follow-up either one knows.
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

/// Fills what `current` lacks from `other`, another version of its combination, never
/// replacing a value `current` has:
///
/// - the combination's fields (`total_nodes`, `role_parameters`, `sweep_file`, `sweep_dir`,
///   `config_path`) from any version;
/// - when `other` is about the same job (the same `job_id`, or neither has one): the
///   submission's fields (`job_name`, `job_script`, `log_dir`, `gpus_per_node`, `tag`,
///   `submit_status`, `cluster`, `submitted_at`, `submit_error`, `sbatch_command`), the
///   user's own fields and `results`, and the job's `state`; then, from such a version with
///   the same `state`, each state field `current` lacks (`state_reason`, `exit_code`,
///   `elapsed`, `node_list`, `retry_states`, `state_source`, `state_job_id`, `failure`).
///   Two different states are two moments: `current`'s fields are not mixed with another's.
pub fn fill_from(current: &mut Record, other: &Record) {
    fn fill<T: Clone>(known: &mut Option<T>, more: &Option<T>) {
        if known.is_none() {
            known.clone_from(more);
        }
    }
    fill(&mut current.total_nodes, &other.total_nodes);
    fill(&mut current.role_parameters, &other.role_parameters);
    fill(&mut current.sweep_file, &other.sweep_file);
    fill(&mut current.sweep_dir, &other.sweep_dir);
    fill(&mut current.config_path, &other.config_path);
    if current.job_id != other.job_id {
        return;
    }
    fill(&mut current.job_name, &other.job_name);
    fill(&mut current.job_script, &other.job_script);
    fill(&mut current.log_dir, &other.log_dir);
    fill(&mut current.gpus_per_node, &other.gpus_per_node);
    fill(&mut current.tag, &other.tag);
    fill(&mut current.submit_status, &other.submit_status);
    fill(&mut current.cluster, &other.cluster);
    fill(&mut current.submitted_at, &other.submitted_at);
    fill(&mut current.submit_error, &other.submit_error);
    fill(&mut current.sbatch_command, &other.sbatch_command);
    for (key, value) in &other.extra {
        if !current.extra.contains_key(key) {
            current.extra.insert(key.clone(), value.clone());
        }
    }
    let (now, more) = (&mut current.status, &other.status);
    fill(&mut now.state, &more.state);
    if now.state == more.state {
        fill(&mut now.state_reason, &more.state_reason);
        fill(&mut now.exit_code, &more.exit_code);
        fill(&mut now.elapsed, &more.elapsed);
        fill(&mut now.node_list, &more.node_list);
        fill(&mut now.state_source, &more.state_source);
        fill(&mut now.state_job_id, &more.state_job_id);
        fill(&mut now.failure, &more.failure);
        if now.retry_states.is_empty() {
            now.retry_states.clone_from(&more.retry_states);
        }
    }
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
        concurrencies: r.concurrencies.clone(),
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
mod fill_tests {
    use super::*;
    use serde_json::{json, Map, Value};

    /// The fields whose rule is "from a version about the same job".
    const SAME_JOB: [&str; 12] = [
        "job_name",
        "job_script",
        "log_dir",
        "gpus_per_node",
        "tag",
        "submit_status",
        "cluster",
        "submitted_at",
        "submit_error",
        "sbatch_command",
        "results",
        "note",
    ];
    /// The combination's fields: from any version.
    const COMBINATION: [&str; 4] = ["total_nodes", "sweep_file", "sweep_dir", "config_path"];
    /// The job state's fields other than `state`: from a same-job version with the same state.
    const STATE: [&str; 6] = [
        "state_reason",
        "exit_code",
        "elapsed",
        "node_list",
        "state_source",
        "failure",
    ];

    fn object(r: &Record) -> Map<String, Value> {
        match serde_json::to_value(r).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    /// A random version of combination "a": each field present or not, values drawn from a
    /// few, so that versions agree and disagree in every mix.
    fn version(next: &mut impl FnMut(u64) -> u64) -> Record {
        let mut v = json!({"index": 0, "id": "a", "mode": "agg", "parameters": {"slurm": {}}});
        let m = v.as_object_mut().unwrap();
        let pick = |next: &mut dyn FnMut(u64) -> u64, k: &str| -> Option<Value> {
            if next(3) == 0 {
                return None;
            }
            let n = next(2);
            Some(match k {
                "total_nodes" | "gpus_per_node" => json!(4 + n),
                "submitted_at" => json!(format!("2026-01-0{}T00:00:00+00:00", 1 + n)),
                "submit_status" => json!(["submitted", "already_submitted"][n as usize]),
                "sbatch_command" => json!(["sbatch", format!("x{n}")]),
                "results" => json!({"points": [n]}),
                "state" => json!(["COMPLETED", "FAILED"][n as usize]),
                "failure" => json!({"message": format!("m{n}")}),
                _ => json!(format!("{k}{n}")),
            })
        };
        if next(4) > 0 {
            m.insert("job_id".into(), json!(format!("{}", 10 + next(2))));
        }
        let fields = SAME_JOB
            .iter()
            .chain(&COMBINATION)
            .chain(&STATE)
            .chain(&["state"]);
        for k in fields {
            if let Some(value) = pick(next, k) {
                m.insert(k.to_string(), value);
            }
        }
        serde_json::from_value(v).unwrap()
    }

    /// Property: merging never loses a value a version knew and the rule says to keep, never
    /// replaces a value the current version has, and never makes one up.
    #[test]
    fn a_merge_never_replaces_a_known_value_with_a_missing_one() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..3000 {
            let versions: Vec<Record> = (0..1 + next(4)).map(|_| version(&mut next)).collect();
            let pos = (0..versions.len())
                .max_by_key(|&i| rank(&versions[i]))
                .unwrap();
            let chosen = object(&versions[pos]);
            let merged = merge_group(versions.clone());
            let m = object(&merged);
            let all: Vec<Map<String, Value>> = versions.iter().map(object).collect();
            let same_job: Vec<&Map<String, Value>> = all
                .iter()
                .filter(|v| v.get("job_id") == m.get("job_id"))
                .collect();
            let say = || {
                format!(
                    "{}\n=> {}",
                    serde_json::to_string(&all).unwrap(),
                    Value::Object(m.clone())
                )
            };
            // The current version's values stay.
            for (k, v) in &chosen {
                if k != "history" && k != "retry_job_ids" {
                    assert_eq!(m.get(k), Some(v), "{k} replaced: {}", say());
                }
            }
            for k in COMBINATION {
                if all.iter().any(|v| v.contains_key(k)) {
                    assert!(m.contains_key(k), "{k} lost: {}", say());
                }
            }
            for k in SAME_JOB.iter().chain(&["state"]) {
                if same_job.iter().any(|v| v.contains_key(*k)) {
                    assert!(m.contains_key(*k), "{k} lost: {}", say());
                }
            }
            for k in STATE {
                if same_job
                    .iter()
                    .any(|v| v.contains_key(k) && v.get("state") == m.get("state"))
                {
                    assert!(m.contains_key(k), "{k} lost: {}", say());
                }
            }
            // Nothing made up: every value is some version's, the combination's from any,
            // the others from a version about the same job.
            for (k, v) in &m {
                if [
                    "history",
                    "retry_job_ids",
                    "index",
                    "id",
                    "mode",
                    "parameters",
                ]
                .contains(&k.as_str())
                {
                    continue;
                }
                let from: &[&Map<String, Value>] = &same_job;
                let known = match COMBINATION.contains(&k.as_str()) {
                    true => all.iter().any(|o| o.get(k) == Some(v)),
                    false => from.iter().any(|o| o.get(k) == Some(v)),
                };
                assert!(known, "{k} = {v} made up: {}", say());
            }
        }
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
