#!/bin/bash
# Demo launch script (aggregated): what a real one would run, printed instead of run.
for v in HOST_IP_MACHINE PORT TOTAL_GPUS RANK TOTAL_NODES; do
    [ -n "${!v:-}" ] || { echo "$v is not set" >&2; exit 1; }
done
suffix=()
if [ -n "${SGLANG_CONFIG_PATH:-}" ]; then suffix+=(--config "$SGLANG_CONFIG_PATH"); fi
if [ -n "${DUMP_CONFIG_PATH:-}" ]; then suffix+=(--dump-config-to "$DUMP_CONFIG_PATH"); fi
printf 'would run:'
printf ' %q' python3 -m dynamo.sglang --model-path "${MODEL_DIR:-/model/}" \
    --dist-init-addr "$HOST_IP_MACHINE:$PORT" --nnodes "$TOTAL_NODES" --node-rank "$RANK" \
    --tp-size "$TOTAL_GPUS" "${suffix[@]}"
printf '\n'
