#!/bin/bash
# Demo benchmark (type=aiperf), a stand-in for NVIDIA AIPerf (`aiperf profile`, the benchmark of
# Dynamo's recipes), run once per concurrency as srt-slurm's aiperf bench.sh runs it: waits
# until every node's worker has reported (as a real benchmark waits for the model), records its
# arguments as the seed's bench.sh gets them:
#   N_PREFILL N_DECODE PREFILL_GPUS DECODE_GPUS ISL OSL CONCURRENCIES [REQ_RATE]
# in <job dir>/bench/args.json, then writes for each concurrency C the artifact directory
# <job dir>/bench/aiperf_c<C>/ that `aiperf profile --concurrency C --request-count N
# --output-artifact-dir ...` 0.13.0 writes (profile_export_aiperf.json and its per-phase
# copies, phase_manifest.json, per-request records, .aiperf_results_ready.json last).
#
# THE NUMBERS ARE SYNTHETIC: no model runs (../demo_bench.py says how they are made). Each
# concurrency C sends SWEEP_BENCH_REQUESTS_PER_CONCURRENCY x C requests (the job's
# requests-per-concurrency; 4 without it). SWEEP_DEMO_BENCH_FAIL_EVERY=N makes every Nth
# request fail (AIPerf counts them in error_request_count); SWEEP_DEMO_BENCH_EXIT=N makes the
# benchmark exit N after writing.
dir="${SWEEP_LOG_DIR:-.}"
python3 "$(dirname "$0")/../demo_bench.py" aiperf "$dir/bench" "$@" || exit 1
exit "${SWEEP_DEMO_BENCH_EXIT:-0}"
