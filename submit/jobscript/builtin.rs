//! The built-in job script: the seed's serving layout as a plain bash script, one `srun`
//! line per process, with the layout computed at submit time ([`super::Layout`]) and every
//! value from the sweep or the options single-quoted ([`super::quote::sh`]).

use super::layout::Group;
use super::quote::sh;
use super::Context;
use std::fmt::Write as _;

/// Prints the node list, reads every node's address on the interface (on the node itself, one
/// step for all nodes) and fails unless every node has one.
const NODES: &str = r#"mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
if [ "${#nodes[@]}" -ne "$TOTAL_NODES" ]; then
    fail "expected $TOTAL_NODES nodes, got ${#nodes[@]}: ${nodes[*]}"
fi
for i in "${!nodes[@]}"; do echo "node $i: ${nodes[$i]}"; done

# The IPv4 address of every node on $NETWORK_INTERFACE, read on the node itself, with the
# node's interfaces that have one (named when the asked one has none).
ADDR_CMD='a=$(ip -o -4 addr show dev "$1" 2>/dev/null | sed -n "s/.* inet \([0-9.]*\)\/.*/\1/p" | head -n 1); all=$(ip -o -4 addr 2>/dev/null | awk "{printf \"%s%s %s\", (NR > 1 ? \", \" : \"\"), \$2, \$4}"); printf "%s %s %s\n" "$SLURMD_NODENAME" "${a:--}" "${all:-none}"'
declare -A addr ifaces
while read -r node ip all; do
    [ "$ip" = - ] || addr[$node]=$ip
    ifaces[$node]=$all
done < <(srun --nodes="$TOTAL_NODES" --ntasks="$TOTAL_NODES" --ntasks-per-node=1 bash -c "$ADDR_CMD" _ "$NETWORK_INTERFACE")
for node in "${nodes[@]}"; do
    [ -n "${addr[$node]:-}" ] || fail "no IPv4 address on interface $NETWORK_INTERFACE (--network-interface) on node $node; its interfaces with one: ${ifaces[$node]:-unknown}"
done
"#;

/// Starts one step in the background; its name, exit status and log name come back through
/// fd 3.
const LAUNCH: &str = r#"# Every launched step reports "NAME STATUS LOG" on fd 3 when it ends.
STATUS_DIR=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$STATUS_DIR"' EXIT
mkfifo "$STATUS_DIR/status" || fail "mkfifo failed"
exec 3<>"$STATUS_DIR/status"
running=0
launch() { # NAME NODE LOG_NAME COMMAND...
    local name=$1 node=$2 log=$3
    shift 3
    echo "launching $name on $node: $*"
    {
        srun --overlap --nodes=1 --ntasks=1 --nodelist="$node" \
            --output="$JOB_LOG_DIR/$log.out" --error="$JOB_LOG_DIR/$log.err" \
            ${CONTAINER[@]+"${CONTAINER[@]}"} "$@"
        echo "$name $? $log" >&3
    } &
    running=$((running + 1))
}
"#;

/// Renders the whole script.
pub fn render(ctx: &Context) -> String {
    let mut s = String::with_capacity(8 * 1024);
    header(&mut s, ctx);
    values(&mut s, ctx);
    s.push_str("\nfail() { echo \"sweep job: $*\" >&2; exit 1; }\n\n");
    s.push_str(NODES);
    master(&mut s, ctx);
    s.push('\n');
    s.push_str(LAUNCH);
    worker_args(&mut s, ctx);
    if ctx.args().enable_multiple_frontends {
        frontends(&mut s, ctx);
    }
    for g in &ctx.layout.groups {
        workers(&mut s, ctx, g);
    }
    benchmark(&mut s, ctx);
    wait_all(&mut s, ctx);
    s
}

fn header(s: &mut String, ctx: &Context) {
    let a = ctx.args();
    let log = ctx.job.log_dir.display();
    let _ = write!(
        s,
        "#!/bin/bash\n#SBATCH --job-name={}\n#SBATCH --nodes={}\n#SBATCH --ntasks-per-node=1\n\
         #SBATCH --account={}\n#SBATCH --partition={}\n#SBATCH --time={}\n\
         #SBATCH --output={log}/%j.out\n#SBATCH --error={log}/%j.err\n\n",
        ctx.job.job_name, ctx.layout.total_nodes, a.account, a.partition, a.time_limit
    );
    let _ = writeln!(
        s,
        "# sweep-submit: record {} ({}). Values below are single-quoted: nothing in them runs.",
        ctx.job.record.index,
        ctx.layout.mode.as_str()
    );
    for g in &ctx.layout.groups {
        let _ = writeln!(
            s,
            "# {}: {} nodes, {} workers of {} nodes, first node {}",
            g.worker_type, g.nodes, g.workers, g.per_worker, g.first
        );
    }
}

/// Shell variables holding every value from the options and the record.
fn values(s: &mut String, ctx: &Context) {
    let a = ctx.args();
    let b = ctx.b;
    let mut var = |name: &str, value: &str| {
        let _ = writeln!(s, "{name}={}", sh(value));
    };
    var("LOG_DIR", &ctx.job.log_dir.display().to_string());
    var("SCRIPTS_DIR", &b.scripts_dir.display().to_string());
    var("NETWORK_INTERFACE", &a.network_interface);
    var("TOTAL_NODES", &ctx.layout.total_nodes.to_string());
    // One directory per job: a re-submission or a --retries follow-up never overwrites the
    // step logs and benchmark results of an earlier job of the same combination.
    s.push_str("# Everything the steps write goes to this job's own directory (sbatch's %j.out stays in LOG_DIR).\n");
    s.push_str("JOB_LOG_DIR=$LOG_DIR/${SLURM_JOB_ID:?this script runs as a Slurm batch job}\n");
    match ctx.container() {
        Some(image) => {
            let head = format!(
                "{}:/model/,{}:/configs/,{}:/scripts/,",
                b.model_dir.display(),
                b.config_dir.display(),
                b.scripts_dir.display(),
            );
            let tail = match ctx.config.and_then(|c| c.parent()) {
                Some(dir) => format!(",{}:/sweep/", dir.display()),
                None => String::new(),
            };
            // The job's own directory is known only at run time: it is spliced in unquoted
            // ("$JOB_LOG_DIR"), between the single-quoted values.
            let mounts = format!(
                "{}\"$JOB_LOG_DIR:/logs/,$JOB_LOG_DIR/outputs:/outputs/\"{}",
                sh(&head),
                if tail.is_empty() {
                    String::new()
                } else {
                    sh(&tail)
                }
            );
            s.push_str("# Paths as the workers see them: the container's mount points.\n");
            s.push_str(
                "W_SCRIPTS=/scripts\nW_LOGS=/logs\nexport MODEL_DIR=/model/ CONFIG_DIR=/configs/\n",
            );
            let _ = writeln!(
                s,
                "CONTAINER=(--container-image={} --no-container-entrypoint --no-container-mount-home --container-mounts={mounts})",
                sh(image),
            );
        }
        None => {
            s.push_str("# No container: the workers see the host paths.\n");
            s.push_str("W_SCRIPTS=$SCRIPTS_DIR\nW_LOGS=$JOB_LOG_DIR\n");
            let _ = writeln!(
                s,
                "export MODEL_DIR={} CONFIG_DIR={}",
                sh(&b.model_dir.display().to_string()),
                sh(&b.config_dir.display().to_string())
            );
            s.push_str("CONTAINER=()\n");
        }
    }
    s.push_str("export SWEEP_LOG_DIR=$W_LOGS\n");
    let _ = writeln!(
        s,
        "export SWEEP_RECORD_INDEX={} SWEEP_RECORD_ID={}",
        ctx.job.record.index,
        sh(&ctx.job.record.id)
    );
    match ctx.config_in_worker() {
        Some(path) => {
            let _ = writeln!(s, "export SGLANG_CONFIG_PATH={}", sh(&path));
        }
        None => s.push_str("unset SGLANG_CONFIG_PATH\n"),
    }
    s.push_str("unset SGLANG_CONFIG_KEY\nmkdir -p \"$JOB_LOG_DIR/outputs\" || exit 1\n");
}

fn master(s: &mut String, ctx: &Context) {
    let m = ctx.layout.master(ctx.args().enable_multiple_frontends);
    let _ = writeln!(
        s,
        "\n# The master node runs NATS/etcd and the first frontend (started by worker_setup.py).\n\
         MASTER_NODE=${{nodes[{m}]}}\nMASTER_IP=${{addr[$MASTER_NODE]}}\n\
         echo \"master: node {m} $MASTER_NODE ($MASTER_IP)\""
    );
}

/// The arguments every worker_setup.py gets, in the seed's order and spelling.
fn worker_args(s: &mut String, ctx: &Context) {
    let a = ctx.args();
    let _ = write!(
        s,
        "\nWORKER_ARGS=(--gpu_type {} --script-variant {} --gpus_per_node {} --master_ip \"$MASTER_IP\"",
        sh(&a.gpu_type),
        sh(&a.script_variant),
        a.gpus_per_node
    );
    if let Some(path) = ctx.config_in_worker() {
        let _ = write!(s, " --sglang-config-path {}", sh(&path));
    }
    if a.enable_multiple_frontends {
        s.push_str(" --multiple-frontends-enabled");
    }
    // As in the seed: init expert locations are a disaggregated-only option.
    if a.use_init_location && ctx.layout.mode == sweep::Mode::Disagg {
        s.push_str(" --use_init_locations");
    }
    if a.use_dynamo_whls {
        s.push_str(" --use-dynamo-whls");
    }
    s.push_str(")\n");
}

/// nginx on node 0 in front of frontend 0 (node 1) and the additional ones; its upstream
/// list and the launched frontends come from the same node list.
fn frontends(s: &mut String, ctx: &Context) {
    let mut nodes = vec![1];
    nodes.extend(&ctx.layout.extra_frontends);
    let ips: Vec<String> = nodes
        .iter()
        .map(|n| format!("\"${{addr[${{nodes[{n}]}}]}}\""))
        .collect();
    let _ = write!(
        s,
        "\n# nginx on node 0; frontends on nodes {}\nFRONTEND_IPS=({})\n",
        nodes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        ips.join(" ")
    );
    s.push_str(
        "python3 - \"$SCRIPTS_DIR/nginx.conf.j2\" \"$JOB_LOG_DIR/nginx.conf\" \"${FRONTEND_IPS[@]}\" <<'PY' || fail \"could not render $JOB_LOG_DIR/nginx.conf (needs python3 with jinja2)\"\n\
         import sys\nfrom jinja2 import Template\nsrc, dst, *hosts = sys.argv[1:]\n\
         with open(src) as f:\n    template = Template(f.read())\n\
         with open(dst, \"w\") as f:\n    f.write(template.render(frontend_hosts=hosts))\nPY\n",
    );
    s.push_str("launch nginx \"${nodes[0]}\" \"${nodes[0]}_nginx\" python3 \"$W_SCRIPTS/worker_setup.py\" --worker_type nginx --nginx_config \"$W_LOGS/nginx.conf\" \"${WORKER_ARGS[@]}\"\n");
    for (idx, n) in nodes.iter().enumerate() {
        let _ = writeln!(
            s,
            "launch frontend_{idx} \"${{nodes[{n}]}}\" \"${{nodes[{n}]}}_frontend_{idx}\" python3 \"$W_SCRIPTS/worker_setup.py\" --worker_type frontend --worker_idx {idx} \"${{WORKER_ARGS[@]}}\""
        );
    }
}

/// One launch per node of every worker of group `g`.
fn workers(s: &mut String, ctx: &Context, g: &Group) {
    let a = ctx.args();
    let key = g.config_key.filter(|_| ctx.config.is_some());
    for w in 0..g.workers {
        let leader = g.leader(w);
        let _ = writeln!(
            s,
            "\n# {} worker {w}: nodes {leader}-{}, leader node {leader}",
            g.worker_type,
            leader + g.per_worker - 1
        );
        for rank in 0..g.per_worker {
            let n = leader + rank;
            let node = format!("${{nodes[{n}]}}");
            let base = format!("{node}_{}_w{w}", g.log_name);
            let _ = write!(
                s,
                "launch {}_w{w}_r{rank} \"{node}\" \"{base}\" ",
                g.log_name
            );
            if let Some(k) = key {
                let _ = write!(s, "env SGLANG_CONFIG_KEY={k} ");
            }
            let _ = write!(
                s,
                "python3 \"$W_SCRIPTS/worker_setup.py\" --leader_ip \"${{addr[${{nodes[{leader}]}}]}}\" --worker_idx {w} --local_rank {rank} --nodes_per_worker {} --worker_type {} --gpu_utilization_log \"$W_LOGS/{base}_gpu_utilization.log\" \"${{WORKER_ARGS[@]}}\"",
                g.per_worker, g.worker_type
            );
            if !a.disable_config_dump {
                let _ = write!(s, " --dump-config-path \"$W_LOGS/{node}_config.json\"");
            }
            if let (Some(k), true) = (key, a.pass_config_key) {
                let _ = write!(s, " --config-key {k}");
            }
            s.push('\n');
        }
    }
}

/// `<scripts>/<type>/bench.sh PREFILL_WORKERS DECODE_WORKERS PREFILL_GPUS DECODE_GPUS
/// ISL OSL CONCURRENCIES [REQ_RATE]` on node 0, as the seed ran it. Aggregated jobs pass
/// `0 AGG_WORKERS 0 AGG_GPUS` (the seed slipped in a fifth count that shifted the rest).
/// Before it, what it is asked for goes into the job's `sweep_benchmark.json` (for
/// sweep-collect), and `requests-per-concurrency` into its environment.
fn benchmark(s: &mut String, ctx: &Context) {
    let Some(p) = &ctx.profiler else { return };
    let _ = writeln!(
        s,
        "\n# What the benchmark is asked for, next to its results (sweep-collect reads it).\n\
         printf '%s\\n' {} > \"$JOB_LOG_DIR/sweep_benchmark.json\"",
        sh(&p.spec_json())
    );
    if let Some(n) = p.requests_per_concurrency {
        let _ = writeln!(s, "export SWEEP_BENCH_REQUESTS_PER_CONCURRENCY={n}");
    }
    let gpus = u64::from(ctx.args().gpus_per_node);
    let counts = match ctx.layout.groups.as_slice() {
        [pre, dec] => [pre.workers, dec.workers, pre.nodes * gpus, dec.nodes * gpus],
        [agg] => [0, agg.workers, 0, agg.nodes * gpus],
        _ => [0; 4],
    };
    let _ = write!(
        s,
        "# Benchmark on node 0; the job ends when it does, with its status.\n\
         launch benchmark \"${{nodes[0]}}\" profile bash \"$W_SCRIPTS/\"{}\"/bench.sh\" {} {} {} {}",
        sh(&p.kind),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    for arg in p.args() {
        let _ = write!(s, " {}", sh(&arg));
    }
    s.push('\n');
}

/// Waits for the steps; the first that fails ends the job, and is named in
/// `$JOB_LOG_DIR/failed_step` (`NAME STATUS LOG`), where sweep-collect finds the cause.
fn wait_all(s: &mut String, ctx: &Context) {
    s.push_str(
        "\n# Wait: a step that fails ends the job with its status (FAILED in Slurm), and is named\n\
         # in $JOB_LOG_DIR/failed_step (\"NAME STATUS LOG\": sweep-collect reads LOG.err for the cause).\n\
         while [ \"$running\" -gt 0 ]; do\n    \
         read -r name rc log <&3 || fail \"lost the status channel\"\n    \
         running=$((running - 1))\n    \
         echo \"$name exited with status $rc\"\n    \
         if [ \"$rc\" -ne 0 ]; then\n        \
         echo \"$name $rc $log\" > \"$JOB_LOG_DIR/failed_step\"\n        \
         echo \"sweep job: $name failed with status $rc\" >&2\n        \
         exit \"$rc\"\n    fi\n",
    );
    if ctx.profiler.is_some() {
        s.push_str("    if [ \"$name\" = benchmark ]; then exit 0; fi\n");
    }
    s.push_str("done\necho \"every step exited 0\"\n");
}
