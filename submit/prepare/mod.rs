//! Pass 3, prepare: each record to submit gets its options (given, else its combination's
//! last submission's, else the sweep's, else the defaults: [`options::Layer`]), which are
//! saved with the sweep; the record is checked against them and its job script rendered
//! ([`plan::Plan::prepare`]). So every error comes before the first `sbatch`. The scripts are
//! rendered again, and saved, in the submission pass, each before its own `sbatch`.

pub mod options;
pub mod plan;
pub mod refused;

use crate::jobscript::Builder;
use crate::judge::{self, Fate};
use crate::read::{DirId, Placed, Spool};
use crate::sweeps::Sweeps;
use anyhow::{Context, Result};
use options::{JobOptions, Layer, Unresolved};
use plan::Plan;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use sweep::cli::{warn, UsageError};

/// One distinct set of job options of the run: saved under `hash`, its scripts made by
/// `builder`.
pub struct Distinct {
    pub options: JobOptions,
    pub hash: String,
    pub builder: Builder,
}

/// Each record's options and the builders that make their job scripts: one per distinct
/// options, each record to submit holding an index.
#[derive(Default)]
pub struct Prepared {
    distinct: Vec<Rc<Distinct>>,
    /// Index into `distinct` by the options' JSON text.
    by_text: BTreeMap<String, usize>,
    /// The sweep directories each entry of `distinct` is saved in (this run).
    saved_in: BTreeSet<(DirId, usize)>,
    /// One per record to submit, in order: its entry in `distinct`.
    of_record: Vec<u32>,
    /// Where the submission pass is in `of_record`.
    next: usize,
    /// By record (its position in the run): the options that differ from its combination's
    /// last submission, as `--time-limit 08:00:00 (was 00:10:00)`.
    pub changes: BTreeMap<usize, Vec<String>>,
}

/// Resolves every record's options, checks them and the record, and renders its job script:
/// any error stops the run before the first `sbatch`. Options are saved in each sweep
/// directory they are used in when the run `writes` (not in a plan or a dry run); the
/// changes of options are said on stderr when it submits (a plan shows them per record).
pub fn all(
    given: &Layer,
    plan: &Plan,
    sweeps: &mut Sweeps,
    spool: &Spool,
    fates: &[Fate],
    writes: bool,
) -> Result<Prepared> {
    let mut prepared = Prepared::default();
    let mut changes: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for item in spool.records()? {
        let (i, mut p) = item?;
        if fates[i] != Fate::Submit {
            continue;
        }
        judge::fill(sweeps, &mut p, &fates[i]);
        let saved = sweeps
            .saved_options(p.dir, &p.record.id)
            .with_context(|| p.origin.clone())?;
        let options = resolve(given, saved.as_ref(), &p, sweeps)?;
        if let Some(before) = saved.filter(|_| sweeps.was_submitted(p.dir, &p.record.id)) {
            let mine = options.changes_from(&before);
            for change in &mine {
                changes
                    .entry(change.clone())
                    .or_insert((0, p.origin.clone()))
                    .0 += 1;
            }
            if !mine.is_empty() {
                prepared.changes.insert(i, mine);
            }
        }
        let k = prepared.index_of(writes, sweeps, p.dir, options)?;
        let d = &prepared.distinct[k];
        for warning in d
            .builder
            .check(&p.record, plan.configs_unrendered)
            .with_context(|| p.origin.clone())?
        {
            warn(format_args!("{}: warning: {warning}", p.origin));
        }
        // Rendered to check it (errors name their own position: the template's file and
        // line, or the directory); rendered again, and saved, when its turn comes.
        plan.prepare(&mut p.record, &sweeps[p.dir], &d.options, &d.builder)?;
        prepared
            .of_record
            .push(u32::try_from(k).context("too many distinct options")?);
    }
    for (change, (n, first)) in changes.into_iter().filter(|_| writes) {
        warn(format_args!(
            "note: {n} re-submitted record(s) with {change} (first: {first})"
        ));
    }
    Ok(prepared)
}

/// A record's options: `given`, over `saved`, over the defaults.
fn resolve(
    given: &Layer,
    saved: Option<&JobOptions>,
    p: &Placed,
    sweeps: &Sweeps,
) -> Result<JobOptions> {
    let layers = match saved {
        Some(saved) => given.clone().or(Layer::saved(saved)),
        None => given.clone(),
    };
    layers
        .resolve(p.record.sweep_file.as_deref())
        .map_err(|e| match e {
            Unresolved::Missing(missing) => UsageError(format!(
                "{}: {} required: {} has no earlier submission to take {} from",
                p.origin,
                missing.join(", "),
                sweeps[p.dir].path.display(),
                if missing.len() == 1 { "it" } else { "them" }
            )),
            Unresolved::ScriptsDir(e) => UsageError(format!("{}: {e}", p.origin)),
        })
        .map_err(anyhow::Error::from)
}

impl Prepared {
    /// The entry of `options` (added, with its builder and saved hash, when new), saved in
    /// sweep directory `dir` once.
    fn index_of(
        &mut self,
        writes: bool,
        sweeps: &mut Sweeps,
        dir: DirId,
        options: JobOptions,
    ) -> Result<usize> {
        let value = options.to_value();
        let text = value.to_string();
        let k = match self.by_text.get(&text) {
            Some(&k) => k,
            None => {
                let builder = Builder::new(&options)?;
                let hash = sweep::state::options_hash(&value)?;
                self.distinct.push(Rc::new(Distinct {
                    options,
                    hash,
                    builder,
                }));
                self.by_text.insert(text, self.distinct.len() - 1);
                self.distinct.len() - 1
            }
        };
        // Saved once per sweep directory and options (the hash is the same in every one).
        if writes && self.saved_in.insert((dir, k)) {
            sweeps.save_options(dir, &self.distinct[k].options)?;
        }
        Ok(k)
    }

    /// The next record to submit's options, in order.
    pub fn next(&mut self) -> Rc<Distinct> {
        let k = self.of_record[self.next] as usize;
        self.next += 1;
        Rc::clone(&self.distinct[k])
    }
}
