#!/bin/bash
#SBATCH --job-name=tpt_sweep1
#SBATCH --nodes=8
#SBATCH --ntasks-per-node=1
#SBATCH --account=sweepacct
#SBATCH --partition=batch
#SBATCH --time=00:05:00
#SBATCH --output=@TMP@/sweep/logs/tpt_sweep1/%j.out
#SBATCH --error=@TMP@/sweep/logs/tpt_sweep1/%j.err

# sweep-submit: record 1 (disagg). Values below are single-quoted: nothing in them runs.
# prefill: 4 nodes, 2 workers of 2 nodes, first node 0
# decode: 4 nodes, 1 workers of 4 nodes, first node 4
LOG_DIR='@TMP@/sweep/logs/tpt_sweep1'
SCRIPTS_DIR='@REPO@/examples/demo-scripts'
NETWORK_INTERFACE='lo'
TOTAL_NODES='8'
# Everything the steps write goes to this job's own directory (sbatch's %j.out stays in LOG_DIR).
JOB_LOG_DIR=$LOG_DIR/${SLURM_JOB_ID:?this script runs as a Slurm batch job}
# Paths as the workers see them: the container's mount points.
W_SCRIPTS=/scripts
W_LOGS=/logs
export MODEL_DIR=/model/ CONFIG_DIR=/configs/
CONTAINER=(--container-image='nvcr.io/nvidia/sglang:it'\''s' --no-container-entrypoint --no-container-mount-home --container-mounts='@TMP@/model:/model/,@TMP@/configs:/configs/,@REPO@/examples/demo-scripts:/scripts/,'"$JOB_LOG_DIR:/logs/,$JOB_LOG_DIR/outputs:/outputs/"',@TMP@/sweep:/sweep/')
export SWEEP_LOG_DIR=$W_LOGS
export SWEEP_RECORD_INDEX=1 SWEEP_RECORD_ID='0000000000000001'
export SGLANG_CONFIG_PATH='/sweep/sglang_config_1.yaml'
unset SGLANG_CONFIG_KEY
mkdir -p "$JOB_LOG_DIR/outputs" || exit 1

fail() { echo "sweep job: $*" >&2; exit 1; }

mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
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

# The master node runs NATS/etcd and the first frontend (started by worker_setup.py).
MASTER_NODE=${nodes[1]}
MASTER_IP=${addr[$MASTER_NODE]}
echo "master: node 1 $MASTER_NODE ($MASTER_IP)"

# Every launched step reports "NAME STATUS LOG" on fd 3 when it ends.
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

WORKER_ARGS=(--gpu_type 'demo' --script-variant 'max-tpt' --gpus_per_node 4 --master_ip "$MASTER_IP" --sglang-config-path '/sweep/sglang_config_1.yaml' --multiple-frontends-enabled --use_init_locations --use-dynamo-whls)

# nginx on node 0; frontends on nodes 1, 2, 4, 6
FRONTEND_IPS=("${addr[${nodes[1]}]}" "${addr[${nodes[2]}]}" "${addr[${nodes[4]}]}" "${addr[${nodes[6]}]}")
python3 - "$SCRIPTS_DIR/nginx.conf.j2" "$JOB_LOG_DIR/nginx.conf" "${FRONTEND_IPS[@]}" <<'PY' || fail "could not render $JOB_LOG_DIR/nginx.conf (needs python3 with jinja2)"
import sys
from jinja2 import Template
src, dst, *hosts = sys.argv[1:]
with open(src) as f:
    template = Template(f.read())
with open(dst, "w") as f:
    f.write(template.render(frontend_hosts=hosts))
PY
launch nginx "${nodes[0]}" "${nodes[0]}_nginx" python3 "$W_SCRIPTS/worker_setup.py" --worker_type nginx --nginx_config "$W_LOGS/nginx.conf" "${WORKER_ARGS[@]}"
launch frontend_0 "${nodes[1]}" "${nodes[1]}_frontend_0" python3 "$W_SCRIPTS/worker_setup.py" --worker_type frontend --worker_idx 0 "${WORKER_ARGS[@]}"
launch frontend_1 "${nodes[2]}" "${nodes[2]}_frontend_1" python3 "$W_SCRIPTS/worker_setup.py" --worker_type frontend --worker_idx 1 "${WORKER_ARGS[@]}"
launch frontend_2 "${nodes[4]}" "${nodes[4]}_frontend_2" python3 "$W_SCRIPTS/worker_setup.py" --worker_type frontend --worker_idx 2 "${WORKER_ARGS[@]}"
launch frontend_3 "${nodes[6]}" "${nodes[6]}_frontend_3" python3 "$W_SCRIPTS/worker_setup.py" --worker_type frontend --worker_idx 3 "${WORKER_ARGS[@]}"

# prefill worker 0: nodes 0-1, leader node 0
launch prefill_w0_r0 "${nodes[0]}" "${nodes[0]}_prefill_w0" env SGLANG_CONFIG_KEY=prefill python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[0]}]}" --worker_idx 0 --local_rank 0 --nodes_per_worker 2 --worker_type prefill --gpu_utilization_log "$W_LOGS/${nodes[0]}_prefill_w0_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key prefill
launch prefill_w0_r1 "${nodes[1]}" "${nodes[1]}_prefill_w0" env SGLANG_CONFIG_KEY=prefill python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[0]}]}" --worker_idx 0 --local_rank 1 --nodes_per_worker 2 --worker_type prefill --gpu_utilization_log "$W_LOGS/${nodes[1]}_prefill_w0_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key prefill

# prefill worker 1: nodes 2-3, leader node 2
launch prefill_w1_r0 "${nodes[2]}" "${nodes[2]}_prefill_w1" env SGLANG_CONFIG_KEY=prefill python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[2]}]}" --worker_idx 1 --local_rank 0 --nodes_per_worker 2 --worker_type prefill --gpu_utilization_log "$W_LOGS/${nodes[2]}_prefill_w1_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key prefill
launch prefill_w1_r1 "${nodes[3]}" "${nodes[3]}_prefill_w1" env SGLANG_CONFIG_KEY=prefill python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[2]}]}" --worker_idx 1 --local_rank 1 --nodes_per_worker 2 --worker_type prefill --gpu_utilization_log "$W_LOGS/${nodes[3]}_prefill_w1_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key prefill

# decode worker 0: nodes 4-7, leader node 4
launch decode_w0_r0 "${nodes[4]}" "${nodes[4]}_decode_w0" env SGLANG_CONFIG_KEY=decode python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[4]}]}" --worker_idx 0 --local_rank 0 --nodes_per_worker 4 --worker_type decode --gpu_utilization_log "$W_LOGS/${nodes[4]}_decode_w0_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key decode
launch decode_w0_r1 "${nodes[5]}" "${nodes[5]}_decode_w0" env SGLANG_CONFIG_KEY=decode python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[4]}]}" --worker_idx 0 --local_rank 1 --nodes_per_worker 4 --worker_type decode --gpu_utilization_log "$W_LOGS/${nodes[5]}_decode_w0_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key decode
launch decode_w0_r2 "${nodes[6]}" "${nodes[6]}_decode_w0" env SGLANG_CONFIG_KEY=decode python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[4]}]}" --worker_idx 0 --local_rank 2 --nodes_per_worker 4 --worker_type decode --gpu_utilization_log "$W_LOGS/${nodes[6]}_decode_w0_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key decode
launch decode_w0_r3 "${nodes[7]}" "${nodes[7]}_decode_w0" env SGLANG_CONFIG_KEY=decode python3 "$W_SCRIPTS/worker_setup.py" --leader_ip "${addr[${nodes[4]}]}" --worker_idx 0 --local_rank 3 --nodes_per_worker 4 --worker_type decode --gpu_utilization_log "$W_LOGS/${nodes[7]}_decode_w0_gpu_utilization.log" "${WORKER_ARGS[@]}" --config-key decode

# What the benchmark is asked for, next to its results (sweep-collect reads it).
printf '%s\n' '{"type":"sglang","isl":1024,"osl":128,"concurrencies":[4,8],"req_rate":"inf"}' > "$JOB_LOG_DIR/sweep_benchmark.json"
# Benchmark on node 0; the job ends when it does, with its status.
launch benchmark "${nodes[0]}" profile bash "$W_SCRIPTS/"'sglang'"/bench.sh" 2 1 16 16 '1024' '128' '4x8' 'inf'

# Wait: a step that fails ends the job with its status (FAILED in Slurm), and is named
# in $JOB_LOG_DIR/failed_step ("NAME STATUS LOG": sweep-collect reads LOG.err for the cause).
while [ "$running" -gt 0 ]; do
    read -r name rc log <&3 || fail "lost the status channel"
    running=$((running - 1))
    echo "$name exited with status $rc"
    if [ "$rc" -ne 0 ]; then
        echo "$name $rc $log" > "$JOB_LOG_DIR/failed_step"
        echo "sweep job: $name failed with status $rc" >&2
        exit "$rc"
    fi
    if [ "$name" = benchmark ]; then exit 0; fi
done
echo "every step exited 0"
