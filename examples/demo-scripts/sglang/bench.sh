#!/bin/bash
# Demo benchmark (type=sglang): waits until every node's worker has reported (as a real
# benchmark waits for the model), then records its arguments as the seed's bench.sh gets them:
# N_PREFILL N_DECODE PREFILL_GPUS DECODE_GPUS ISL OSL CONCURRENCIES [REQ_RATE]
dir="${SWEEP_LOG_DIR:-.}/nodes"
mkdir -p "$dir"
for _ in $(seq 1 120); do
    ready=$(find "$dir" -name '*_prefill_*.json' -o -name '*_decode_*.json' -o -name '*_aggregated_*.json' | wc -l)
    [ "$ready" -ge "${SLURM_JOB_NUM_NODES:-1}" ] && break
    sleep 0.5
done
python3 - "$dir/benchmark.json" "$@" <<'PY' || exit 1
import json, sys
with open(sys.argv[1], "w") as f:
    json.dump({"args": sys.argv[2:]}, f)
PY
exit "${SWEEP_DEMO_BENCH_EXIT:-0}"
