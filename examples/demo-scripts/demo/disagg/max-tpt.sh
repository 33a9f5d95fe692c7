#!/bin/bash
# Demo launch script (disaggregated): what a real one would run, printed instead of run.
# worker_setup.py calls it as `max-tpt.sh prefill|decode` with the seed's environment.
mode=${1:?usage: $0 prefill|decode}
case $mode in prefill|decode) ;; *) echo "mode must be prefill or decode, got $mode" >&2; exit 1 ;; esac
for v in HOST_IP_MACHINE PORT TOTAL_GPUS RANK TOTAL_NODES USE_INIT_LOCATIONS USE_DYNAMO_WHLS; do
    [ -n "${!v:-}" ] || { echo "$v is not set" >&2; exit 1; }
done
suffix=()
if [ -n "${SGLANG_CONFIG_PATH:-}" ]; then suffix+=(--config "$SGLANG_CONFIG_PATH" --config-key "$mode"); fi
if [ -n "${DUMP_CONFIG_PATH:-}" ]; then suffix+=(--dump-config-to "$DUMP_CONFIG_PATH"); fi
printf 'would run:'
printf ' %q' python3 -m dynamo.sglang --model-path "${MODEL_DIR:-/model/}" \
    --disaggregation-mode "$mode" --dist-init-addr "$HOST_IP_MACHINE:$PORT" \
    --nnodes "$TOTAL_NODES" --node-rank "$RANK" --tp-size "$TOTAL_GPUS" "${suffix[@]}"
printf '\n'
