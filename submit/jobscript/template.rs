//! `--template FILE`: a Jinja job template (the seed's were Jinja2), rendered by minijinja with
//! Python string methods (`.startswith(...)`) and strict undefined: a missing variable is an
//! error naming it and the template line, never an empty string.

use super::quote::sh;
use super::Context;
use anyhow::{bail, Context as _, Result};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde_json::{json, Map};
use std::path::{Path, PathBuf};

/// Every variable a template gets (the seed's names first).
pub const VARIABLES: &[&str] = &[
    "job_name",
    "total_nodes",
    "account",
    "time_limit",
    "log_dir_prefix",
    "partition",
    "prefill_nodes",
    "decode_nodes",
    "prefill_workers",
    "decode_workers",
    "agg_nodes",
    "agg_workers",
    "is_aggregated",
    "model_dir",
    "config_dir",
    "container_image",
    "gpus_per_node",
    "network_interface",
    "gpu_type",
    "script_variant",
    "timestamp",
    "enable_multiple_frontends",
    "num_additional_frontends",
    "use_init_location",
    "enable_config_dump",
    "use_dynamo_whls",
    "do_profile",
    "profiler_type",
    "profiler_arg",
    "isl",
    "osl",
    "concurrencies",
    "req_rate",
    "requests_per_concurrency",
    "benchmark_json",
    "sglang_config",
    "sglang_config_path",
    "sglang_config_host_path",
    "log_dir",
    "job_log_dir",
    "failed_step_file",
    "scripts_dir",
    "sweep_dir",
    "script_path",
    "tag",
    "record",
];

/// Names minijinja provides itself.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug"];

/// A loaded, compiled template.
pub struct Custom {
    env: Environment<'static>,
    path: PathBuf,
}

impl Custom {
    /// Reads and compiles `path`; a syntax error or a variable no template gets is an error
    /// with the template's line.
    pub fn load(path: &Path) -> Result<Custom> {
        let path = sweep::fsutil::absolute(path)?;
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read template {}", path.display()))?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_debug(true);
        env.add_filter("sh", |v: String| sh(&v));
        let name = path.display().to_string();
        env.add_template_owned(name.clone(), source.clone())
            .map_err(|e| describe(&path, &e))?;
        let unknown = {
            let t = env.get_template(&name).map_err(|e| describe(&path, &e))?;
            let mut u: Vec<String> = t
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !VARIABLES.contains(&v.as_str()) && !GLOBALS.contains(&v.as_str()))
                .collect();
            u.sort();
            u
        };
        if let Some(first) = unknown.first() {
            let line = line_of(&source, first).map_or(String::new(), |l| format!("{l}:"));
            bail!(
                "{}:{line} undefined variable {first:?} (a template gets: {})",
                path.display(),
                VARIABLES.join(", ")
            );
        }
        Ok(Custom { env, path })
    }

    /// Renders one job's script.
    pub fn render(&self, ctx: &Context) -> Result<String> {
        let t = self
            .env
            .get_template(&self.path.display().to_string())
            .map_err(|e| describe(&self.path, &e))?;
        let vars = jinja_value(&serde_json::Value::Object(variables(ctx)));
        t.render(vars).map_err(|e| describe(&self.path, &e))
    }
}

/// A JSON value as a template value. Not through serde: a number that keeps its text
/// (serde_json's `arbitrary_precision`) serializes as a private one-entry map, which a template
/// would see as a map; each number becomes an integer (of any size minijinja holds) or a float.
fn jinja_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i128() {
                Value::from(i)
            } else {
                Value::from(n.to_string().parse::<f64>().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(items.iter().map(jinja_value).collect::<Vec<_>>()),
        J::Object(map) => Value::from_iter(map.iter().map(|(k, v)| (k.clone(), jinja_value(v)))),
    }
}

/// `path:LINE: message`, naming the failing expression for undefined values.
fn describe(path: &Path, e: &minijinja::Error) -> anyhow::Error {
    let line = e.line().map_or(String::new(), |l| format!("{l}:"));
    let expr = match (e.template_source(), e.range()) {
        (Some(src), Some(r)) => expression(src, r),
        _ => None,
    };
    match (e.kind(), expr) {
        (ErrorKind::UndefinedError, Some(expr)) => {
            anyhow::anyhow!("{}:{line} undefined value `{expr}`", path.display())
        }
        _ => {
            let detail = e.detail().map_or(String::new(), |d| format!(": {d}"));
            anyhow::anyhow!("{}:{line} {}{detail}", path.display(), e.kind())
        }
    }
}

/// The source of the failing expression; an attribute lookup's span starts at its `.`, so
/// take the name it is looked up on too (`record.parameters.nope`).
fn expression(src: &str, r: std::ops::Range<usize>) -> Option<String> {
    let head = src.get(..r.start)?;
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map_or(r.start, |(i, _)| i);
    src.get(start..r.end).map(|s| s.trim().to_string())
}

/// First line where `name` is used inside a `{{ }}` or `{% %}` tag on one line.
fn line_of(source: &str, name: &str) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (n, line) in source.lines().enumerate() {
        let mut rest = line;
        while let Some(open) = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min()
        {
            let tail = &rest[open + 2..];
            let close = [tail.find("}}"), tail.find("%}")]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(tail.len());
            let tag = &tail[..close];
            let mut from = 0;
            while let Some(p) = tag[from..].find(name) {
                let (s, e) = (from + p, from + p + name.len());
                let before = tag[..s]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !is_word(c) && c != '.');
                let after = tag[e..].chars().next().is_none_or(|c| !is_word(c));
                if before && after {
                    return Some(n + 1);
                }
                from = e;
            }
            rest = &tail[close..];
        }
    }
    None
}

/// The template variables of one job (see [`VARIABLES`] and docs/jobscript.md).
fn variables(ctx: &Context) -> Map<String, serde_json::Value> {
    let a = ctx.args();
    let count = |role: &str, f: fn(&super::layout::Group) -> u64| {
        ctx.layout
            .groups
            .iter()
            .find(|g| g.log_name == role)
            .map_or(0, f)
    };
    let p = ctx.profiler.as_ref();
    let log_dir = ctx.job.log_dir.display().to_string();
    let config_worker = ctx.config_in_worker().unwrap_or_default();
    let mut m = Map::new();
    let mut set = |k: &str, v: serde_json::Value| {
        m.insert(k.to_string(), v);
    };
    set("job_name", json!(ctx.job.job_name));
    set("total_nodes", json!(ctx.layout.total_nodes));
    set("account", json!(a.account));
    set("time_limit", json!(a.time_limit));
    set("log_dir_prefix", json!(log_dir));
    set("partition", json!(a.partition));
    set("prefill_nodes", json!(count("prefill", |g| g.nodes)));
    set("decode_nodes", json!(count("decode", |g| g.nodes)));
    set("prefill_workers", json!(count("prefill", |g| g.workers)));
    set("decode_workers", json!(count("decode", |g| g.workers)));
    set("agg_nodes", json!(count("agg", |g| g.nodes)));
    set("agg_workers", json!(count("agg", |g| g.workers)));
    set("is_aggregated", json!(ctx.layout.mode == sweep::Mode::Agg));
    set("model_dir", json!(ctx.b.model_dir.display().to_string()));
    set("config_dir", json!(ctx.b.config_dir.display().to_string()));
    set(
        "container_image",
        json!(a.container_image.clone().unwrap_or_default()),
    );
    set("gpus_per_node", json!(a.gpus_per_node));
    set("network_interface", json!(a.network_interface));
    set("gpu_type", json!(a.gpu_type));
    set("script_variant", json!(a.script_variant));
    set("timestamp", json!(timestamp()));
    set(
        "enable_multiple_frontends",
        json!(a.enable_multiple_frontends),
    );
    set(
        "num_additional_frontends",
        json!(a.num_additional_frontends),
    );
    set("use_init_location", json!(a.use_init_location));
    set("enable_config_dump", json!(!a.disable_config_dump));
    set("use_dynamo_whls", json!(a.use_dynamo_whls));
    set("do_profile", json!(p.is_some()));
    set(
        "profiler_type",
        json!(p.map_or("manual".to_string(), |p| p.kind.clone())),
    );
    set(
        "profiler_arg",
        json!(p.map_or(String::new(), |p| p
            .args()
            .iter()
            .map(|x| format!(" {x}"))
            .collect())),
    );
    set("isl", json!(p.map_or(String::new(), |p| p.isl.to_string())));
    set("osl", json!(p.map_or(String::new(), |p| p.osl.to_string())));
    set(
        "concurrencies",
        json!(p.map_or(String::new(), |p| p.concurrencies.clone())),
    );
    set(
        "req_rate",
        json!(p.and_then(|p| p.req_rate.clone()).unwrap_or_default()),
    );
    set(
        "requests_per_concurrency",
        json!(p
            .and_then(|p| p.requests_per_concurrency)
            .map_or(String::new(), |n| n.to_string())),
    );
    set(
        "benchmark_json",
        json!(p.map_or(String::new(), |p| p.spec_json())),
    );
    set("sglang_config", json!(config_worker));
    set("sglang_config_path", json!(config_worker));
    set(
        "sglang_config_host_path",
        json!(ctx
            .config
            .map(|c| c.display().to_string())
            .unwrap_or_default()),
    );
    set("log_dir", json!(log_dir));
    // The job's own directory, for the script to create at run time (the job ID is not known
    // before sbatch): everything the steps write goes there, as in the built-in script.
    set("job_log_dir", json!(format!("{log_dir}/$SLURM_JOB_ID")));
    // Where a template names the step that failed ("NAME STATUS LOG"), for sweep-collect to
    // read the cause from LOG.err in the job's directory (as the built-in script does).
    set(
        "failed_step_file",
        json!(format!("{log_dir}/$SLURM_JOB_ID/failed_step")),
    );
    set(
        "scripts_dir",
        json!(ctx.b.scripts_dir.display().to_string()),
    );
    set("sweep_dir", json!(ctx.job.sweep_dir.display().to_string()));
    set(
        "script_path",
        json!(ctx.job.script_path.display().to_string()),
    );
    set("tag", json!(ctx.job.tag));
    set("record", json!(ctx.job.record));
    m
}

/// `YYYYMMDD_HHMMSS` local time as the seed stamped it, or `$SWEEP_TIMESTAMP` when set (for
/// reproducible renders).
fn timestamp() -> String {
    std::env::var("SWEEP_TIMESTAMP")
        .unwrap_or_else(|_| chrono::Local::now().format("%Y%m%d_%H%M%S").to_string())
}
