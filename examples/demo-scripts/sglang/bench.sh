#!/bin/bash
# Demo benchmark (type=sglang), a stand-in for `python -m sglang.bench_serving`: waits until
# every node's worker has reported (as a real benchmark waits for the model), records its
# arguments as the seed's bench.sh gets them:
#   N_PREFILL N_DECODE PREFILL_GPUS DECODE_GPUS ISL OSL CONCURRENCIES [REQ_RATE]
# in <job dir>/bench/args.json, then writes one result per concurrency to
# <job dir>/bench/bench_serving.jsonl in SGLang bench_serving's JSON Lines format (the fields
# and their order as `--output-file` writes them, `Infinity` for an unlimited request rate).
#
# THE NUMBERS ARE SYNTHETIC: no model runs (../demo_bench.py says how they are made). Each
# concurrency C sends SWEEP_BENCH_REQUESTS_PER_CONCURRENCY x C requests (the job's
# requests-per-concurrency; 4 without it).
# SWEEP_DEMO_BENCH_EXIT=N makes the benchmark exit N after writing (to test failing jobs);
# SWEEP_DEMO_BENCH_EMPTY=1 makes every run report no completed request (a job that completes
# without a valid result); SWEEP_DEMO_BENCH_FAIL_EVERY=N makes every Nth request fail (SGLang
# then reports fewer completed requests, and no failed count).
dir="${SWEEP_LOG_DIR:-.}"
python3 "$(dirname "$0")/../demo_bench.py" sglang "$dir/bench" "$@" || exit 1
exit "${SWEEP_DEMO_BENCH_EXIT:-0}"
