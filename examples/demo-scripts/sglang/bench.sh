#!/bin/bash
# Demo benchmark (type=sglang), a stand-in for `python -m sglang.bench_serving`: waits until
# every node's worker has reported (as a real benchmark waits for the model), records its
# arguments as the seed's bench.sh gets them:
#   N_PREFILL N_DECODE PREFILL_GPUS DECODE_GPUS ISL OSL CONCURRENCIES [REQ_RATE]
# in <job dir>/bench/args.json, then writes one result per concurrency to
# <job dir>/bench/bench_serving.jsonl in SGLang bench_serving's JSON Lines format (the fields
# and their order as `--output-file` writes them, `Infinity` for an unlimited request rate).
#
# THE NUMBERS ARE SYNTHETIC: no model runs. They are computed from the swept values the job
# was handed (mem-fraction-static and max-running-requests in the rendered config, the GPU
# counts and the concurrency) by a made-up formula, so that a sweep over them has a
# throughput/latency trade-off and a Pareto frontier to look at.
# SWEEP_DEMO_BENCH_EXIT=N makes the benchmark exit N after writing (to test failing jobs);
# SWEEP_DEMO_BENCH_EMPTY=1 makes every run report no completed request (a job that completes
# without a valid result).
dir="${SWEEP_LOG_DIR:-.}"
mkdir -p "$dir/nodes" "$dir/bench"
for _ in $(seq 1 120); do
    ready=$(find "$dir/nodes" -name '*_prefill_*.json' -o -name '*_decode_*.json' -o -name '*_aggregated_*.json' | wc -l)
    [ "$ready" -ge "${SLURM_JOB_NUM_NODES:-1}" ] && break
    sleep 0.5
done
python3 - "$dir/bench" "$@" <<'PY' || exit 1
import json, math, os, sys

out, args = sys.argv[1], sys.argv[2:]
with open(os.path.join(out, "args.json"), "w") as f:
    json.dump({"args": args}, f)

n_prefill, n_decode, prefill_gpus, decode_gpus, isl, osl = (int(a) for a in args[:6])
concurrencies = [int(c) for c in args[6].split("x")]
rate = float(args[7]) if len(args) > 7 else float("inf")


def swept(key, default):
    """A value of the rendered config (the decode section of a disaggregated one)."""
    path = os.environ.get("SGLANG_CONFIG_PATH")
    if not path:
        return default
    section, found = None, {}
    for line in open(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" ") and line.rstrip().endswith(":"):
            section = line.strip()[:-1]
            continue
        k, _, v = line.strip().partition(":")
        if section in (None, "decode"):
            found[k] = v.strip()
    try:
        return float(found.get(key, default))
    except ValueError:
        return default


mem = swept("mem-fraction-static", 0.8)
max_running = swept("max-running-requests", 1024)
gpus = max(prefill_gpus + decode_gpus, 1)
# Synthetic model: a batch of b requests decodes at tpot ms per token. More memory for the KV
# cache (mem-fraction-static) makes large batches cheaper but leaves less for the rest, which
# slows small ones: a trade-off, so each value wins somewhere on the frontier.
for c in concurrencies:
    b = min(c, max_running)
    tpot = (5.0 + 20.0 * (mem - 0.8) + 0.04 * (0.8 / mem) ** 3 * b) * (16.0 / gpus) ** 0.5
    ttft = isl * 0.02 * (1.0 + c / 64.0)
    e2e = ttft + osl * tpot
    prompts = 4 * c
    duration = prompts / b * e2e / 1000.0
    out_tok, in_tok = prompts * osl, prompts * isl
    itl = tpot * 0.98
    result = {
        "backend": "sglang",
        "dataset_name": "random",
        "request_rate": rate,
        "max_concurrency": c,
        "sharegpt_output_len": None,
        "random_input_len": isl,
        "random_output_len": osl,
        "random_range_ratio": 1.0,
        "duration": duration,
        "completed": prompts,
        "total_input_tokens": in_tok,
        "total_output_tokens": out_tok,
        "total_output_tokens_retokenized": out_tok,
        "request_throughput": prompts / duration,
        "input_throughput": in_tok / duration,
        "output_throughput": out_tok / duration,
        "total_throughput": (in_tok + out_tok) / duration,
        "mean_e2e_latency_ms": e2e,
        "median_e2e_latency_ms": e2e * 0.99,
        "std_e2e_latency_ms": e2e * 0.05,
        "p99_e2e_latency_ms": e2e * 1.2,
        "mean_ttft_ms": ttft,
        "median_ttft_ms": ttft * 0.95,
        "std_ttft_ms": ttft * 0.2,
        "p99_ttft_ms": ttft * 1.8,
        "mean_tpot_ms": tpot * 1.01,
        "median_tpot_ms": tpot,
        "std_tpot_ms": tpot * 0.05,
        "p99_tpot_ms": tpot * 1.3,
        "mean_itl_ms": itl,
        "median_itl_ms": itl * 0.97,
        "std_itl_ms": itl * 0.3,
        "p95_itl_ms": itl * 1.5,
        "p99_itl_ms": itl * 2.5,
        "concurrency": b * 0.97,
        "accept_length": None,
    }
    if os.environ.get("SWEEP_DEMO_BENCH_EMPTY") == "1":
        result.update(completed=0, total_output_tokens=0, output_throughput=0.0)
    # bench_serving appends one line per run to --output-file.
    with open(os.path.join(out, "bench_serving.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    print("concurrency %d: %.0f output tok/s, median TPOT %.1f ms" % (c, result["output_throughput"], tpot))
PY
exit "${SWEEP_DEMO_BENCH_EXIT:-0}"
