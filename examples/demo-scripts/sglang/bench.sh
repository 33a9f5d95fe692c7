#!/bin/bash
# Demo benchmark (type=sglang): records its arguments, as the seed's bench.sh receives them:
# N_PREFILL N_DECODE PREFILL_GPUS DECODE_GPUS ISL OSL CONCURRENCIES [REQ_RATE]
out="${SWEEP_LOG_DIR:-.}/nodes/benchmark.json"
mkdir -p "$(dirname "$out")"
python3 - "$out" "$@" <<'PY' || exit 1
import json, sys
with open(sys.argv[1], "w") as f:
    json.dump({"args": sys.argv[2:]}, f)
PY
exit "${SWEEP_DEMO_BENCH_EXIT:-0}"
