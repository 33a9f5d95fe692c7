#!/usr/bin/env python3
"""The demo benchmarks' stand-in client (sglang/bench.sh, aiperf/bench.sh): writes, for each
concurrency, what the real client writes, in its own file layout, with SYNTHETIC numbers.

    demo_bench.py sglang|aiperf JOB_DIR/bench N_PREFILL N_DECODE PREFILL_GPUS DECODE_GPUS ISL OSL CONCURRENCIES [REQ_RATE]

No model runs. The numbers come from the swept values the job was handed (mem-fraction-static
and max-running-requests in the rendered config), the GPU counts and the concurrency, by a
made-up formula, so that a sweep over them has a throughput/latency trade-off and a Pareto
frontier to look at.

A known law instead: when the config holds `demo-tpot-ms` (A) and `demo-tpot-ms-per-request`
(B), the median time per output token at concurrency C is exactly A + B x min(C,
max-running-requests) ms, whatever the GPUs, so a configuration's SLO boundary is known (with
`--slo tpot_median_ms<=T` it is (T - A) / B): what the adaptive search's tests measure against.

- sglang: one line per concurrency appended to OUT_DIR/bench_serving.jsonl, the fields and
  their order as `python -m sglang.bench_serving --output-file` writes them (`Infinity` for an
  unlimited request rate; no failed count, as SGLang writes none).
- aiperf: one artifact directory per concurrency, OUT_DIR/aiperf_c<C>/, laid out as
  `aiperf profile --output-artifact-dir` 0.13.0 lays it out: profile_export_aiperf.json (every
  metric as {unit, avg, p1 ... p99, min, max, std, count, sum}, input_config with its phases
  and dataset), profile_export_aiperf.csv, the per-phase copies under phases/, phase_manifest.json,
  profile_export.jsonl (per-request records; the stand-in writes the first 100), inputs.json,
  logs/aiperf.log and, last, .aiperf_results_ready.json.

Environment: SWEEP_BENCH_REQUESTS_PER_CONCURRENCY (the job's requests-per-concurrency: each
concurrency C sends that many times C requests; default 4); SWEEP_DEMO_BENCH_FAIL_EVERY=N
makes every Nth request fail (HTTP 500, as a real server's error); SWEEP_DEMO_BENCH_EMPTY=1
makes every run report no completed request.
"""
import glob
import json
import math
import os
import sys
import time


def wait_for_workers(job_dir):
    """Waits (up to a minute) until every node's worker has reported in job_dir/nodes/, as a
    real benchmark waits for the model to serve."""
    want = int(os.environ.get("SLURM_JOB_NUM_NODES") or 1)
    for _ in range(120):
        ready = [f for f in glob.glob(os.path.join(job_dir, "nodes", "*.json"))
                 if any(r in os.path.basename(f) for r in ("_prefill_", "_decode_", "_aggregated_"))]
        if len(ready) >= want:
            return
        time.sleep(0.5)


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
        return float(found[key]) if key in found else default
    except ValueError:
        return default


class Run:
    """One concurrency's synthetic measurement."""

    def __init__(self, c, isl, osl, gpus, rate):
        mem = swept("mem-fraction-static", 0.8)
        max_running = swept("max-running-requests", 1024)
        # A batch of b requests decodes at tpot ms per token. More memory for the KV cache
        # (mem-fraction-static) makes large batches cheaper but leaves less for the rest, which
        # slows small ones: a trade-off, so each value wins somewhere on the frontier.
        b = min(c, max_running)
        self.c, self.isl, self.osl, self.rate, self.batch = c, isl, osl, rate, b
        base, per_request = swept("demo-tpot-ms", None), swept("demo-tpot-ms-per-request", None)
        if base is not None and per_request is not None:
            self.tpot = base + per_request * b
        else:
            self.tpot = (5.0 + 20.0 * (mem - 0.8) + 0.04 * (0.8 / mem) ** 3 * b) * (16.0 / gpus) ** 0.5
        self.ttft = isl * 0.02 * (1.0 + c / 64.0)
        self.e2e = self.ttft + osl * self.tpot
        self.itl = self.tpot * 0.98
        per = int(os.environ.get("SWEEP_BENCH_REQUESTS_PER_CONCURRENCY") or 4)
        self.requested = per * c
        every = int(os.environ.get("SWEEP_DEMO_BENCH_FAIL_EVERY") or 0)
        self.failed = self.requested // every if every > 0 else 0
        self.completed = self.requested - self.failed
        if os.environ.get("SWEEP_DEMO_BENCH_EMPTY") == "1":
            self.completed = 0
        self.duration = self.requested / b * self.e2e / 1000.0
        self.out_tok, self.in_tok = self.completed * osl, self.completed * isl


def sglang(out, runs):
    for r in runs:
        d = r.duration
        result = {
            "backend": "sglang",
            "dataset_name": "random",
            "request_rate": r.rate,
            "max_concurrency": r.c,
            "sharegpt_output_len": None,
            "random_input_len": r.isl,
            "random_output_len": r.osl,
            "random_range_ratio": 1.0,
            "duration": d,
            "completed": r.completed,
            "total_input_tokens": r.in_tok,
            "total_output_tokens": r.out_tok,
            "total_output_tokens_retokenized": r.out_tok,
            "request_throughput": r.completed / d,
            "input_throughput": r.in_tok / d,
            "output_throughput": r.out_tok / d,
            "total_throughput": (r.in_tok + r.out_tok) / d,
            "mean_e2e_latency_ms": r.e2e,
            "median_e2e_latency_ms": r.e2e * 0.99,
            "std_e2e_latency_ms": r.e2e * 0.05,
            "p99_e2e_latency_ms": r.e2e * 1.2,
            "mean_ttft_ms": r.ttft,
            "median_ttft_ms": r.ttft * 0.95,
            "std_ttft_ms": r.ttft * 0.2,
            "p99_ttft_ms": r.ttft * 1.8,
            "mean_tpot_ms": r.tpot * 1.01,
            "median_tpot_ms": r.tpot,
            "std_tpot_ms": r.tpot * 0.05,
            "p99_tpot_ms": r.tpot * 1.3,
            "mean_itl_ms": r.itl,
            "median_itl_ms": r.itl * 0.97,
            "std_itl_ms": r.itl * 0.3,
            "p95_itl_ms": r.itl * 1.5,
            "p99_itl_ms": r.itl * 2.5,
            "concurrency": r.batch * 0.97,
            "accept_length": None,
        }
        # bench_serving appends one line per run to --output-file.
        with open(os.path.join(out, "bench_serving.jsonl"), "a") as f:
            f.write(json.dumps(result) + "\n")
        print("concurrency %d: %.0f output tok/s, median TPOT %.1f ms" % (r.c, result["output_throughput"], r.tpot))


PCTS = [1, 5, 10, 25, 50, 75, 90, 95, 99]


def stats(unit, values):
    """An AIPerf metric over per-request values: {unit, avg, p1 ... p99, min, max, std, count, sum}."""
    v = sorted(values)
    n = len(v)
    m = {"unit": unit}
    if n == 0:
        return m
    avg = sum(v) / n
    m["avg"] = avg
    for p in PCTS:
        # numpy's default (linear) percentile, as AIPerf computes it.
        k = (n - 1) * p / 100.0
        lo, hi = math.floor(k), math.ceil(k)
        m["p%d" % p] = v[lo] + (v[hi] - v[lo]) * (k - lo)
    m.update(min=v[0], max=v[-1], std=math.sqrt(sum((x - avg) ** 2 for x in v) / n), count=n, sum=sum(v))
    return m


def total(unit, value):
    return {"unit": unit, "avg": value}


def aiperf(out, runs, tokenizer):
    for r in runs:
        d = os.path.join(out, "aiperf_c%d" % r.c)
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        n = r.completed
        # Per-request figures spread around the model's, deterministically.
        spread = [1.0 + 0.1 * math.sin(i * 2.399) for i in range(n)]
        ttft = [r.ttft * s for s in spread]
        itl = [r.tpot * (2.0 - s) for s in spread]
        lat = [t + (r.osl - 1) * i for t, i in zip(ttft, itl)]
        dur = r.duration
        start = time.time()
        metrics = {
            "request_throughput": total("requests/sec", n / dur),
            "request_latency": stats("ms", lat),
            "request_count": total("requests", float(n)),
            "time_to_first_token": stats("ms", ttft),
            "time_to_second_token": stats("ms", itl),
            "inter_token_latency": stats("ms", itl),
            "output_token_throughput": total("tokens/sec", r.out_tok / dur),
            "output_token_throughput_per_user": stats("tokens/sec/user", [1000.0 / i for i in itl]),
            "output_sequence_length": stats("tokens", [float(r.osl)] * n),
            "input_sequence_length": stats("tokens", [float(r.isl)] * n),
            "output_token_count": stats("tokens", [float(r.osl)] * n),
            "inter_chunk_latency": stats("ms", [i * 0.98 for i in itl]),
            "total_output_tokens": total("tokens", float(r.out_tok)),
            "benchmark_duration": total("sec", dur),
            "total_isl": total("tokens", float(r.in_tok)),
            "total_osl": total("tokens", float(r.out_tok)),
        }
        if r.failed:
            metrics["error_request_count"] = total("requests", float(r.failed))
        metrics.update({
            "request_error_rate": total("%", 100.0 * r.failed / max(r.requested, 1)),
            "completed_request_count": total("requests", float(n + r.failed)),
            "input_token_throughput": total("tokens/sec", r.in_tok / dur),
            "total_token_throughput": total("tokens/sec", (r.in_tok + r.out_tok) / dur),
            "effective_concurrency": {k: v for k, v in stats("requests", [r.batch * 0.97] * max(n, 1)).items()
                                      if k in ("unit", "avg", "p50", "p90", "p95", "p99", "min", "max", "std")},
        })
        phase = {"name": "profiling", "kind": "profiling", "requests": r.requested}
        if r.rate != float("inf"):
            phase.update(type="poisson", rate=r.rate)
            if r.c:
                phase["concurrency"] = r.c
        else:
            phase.update(type="concurrency", concurrency=r.c)
        warmup = {"name": "warmup", "kind": "warmup", "type": "concurrency", "exclude_from_results": True,
                  "requests": 2, "concurrency": r.c}
        config = {
            "models": {"items": [{"name": "demo-model"}]},
            "endpoint": {"urls": ["http://localhost:8000"], "type": "chat", "streaming": True},
            "datasets": [{"name": "main", "type": "synthetic", "entries": r.requested,
                          "prompts": {"isl": {"mean": float(r.isl), "stddev": 0.0},
                                      "osl": {"mean": float(r.osl), "stddev": 0.0}}}],
            "phases": [warmup, phase],
            "artifacts": {"dir": d, "auto_plot": False, "plot_required": False},
            "tokenizer": {"name": tokenizer},
            "runtime": {"ui": "none"},
        }
        errors = [{"error_details": {"code": 500, "type": "Internal Server Error", "message": "demo failure"},
                   "count": r.failed}] if r.failed else []
        export = {
            "schema_version": "1.4",
            "aiperf_version": "0.13.0",
            "benchmark_id": "demo-c%d" % r.c,
            **metrics,
            "telemetry_data": {"summary": {"endpoints_configured": []}, "endpoints": {}, "error_summary": []},
            "input_config": config,
            "run_info": {"benchmark_id": "demo", "trial": 0,
                         "cli_command": "aiperf profile --concurrency %d --request-count %d (stand-in)" % (r.c, r.requested)},
            "was_cancelled": False,
            "is_complete": True,
            "error_summary": errors,
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start)),
            "end_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start + dur)),
            "warmup_metrics": {"request_count": total("requests", 2.0)},
        }
        per_phase = {k: v for k, v in export.items() if k not in ("telemetry_data", "warmup_metrics")}
        warm = dict(per_phase, request_count=total("requests", 2.0))
        manifest = {"phases": [], "schema_version": 1}
        for i, (name, body) in enumerate([("warmup", warm), ("profiling", per_phase)]):
            pd = os.path.join(d, "phases", name)
            os.makedirs(pd, exist_ok=True)
            write_json(os.path.join(pd, "profile_export_aiperf.json"), body)
            write_csv(os.path.join(pd, "profile_export_aiperf.csv"), body)
            manifest["phases"].append({
                "phase_index": i, "phase_kind": name, "phase_name": name,
                "metrics_json": "phases/%s/profile_export_aiperf.json" % name,
                "metrics_csv": "phases/%s/profile_export_aiperf.csv" % name,
                "successful_request_count": 2 if name == "warmup" else n,
                "error_request_count": 0 if name == "warmup" else r.failed,
                "total_request_count": 2 if name == "warmup" else n + r.failed,
                "error_summary": [], "was_cancelled": False,
            })
        write_json(os.path.join(d, "phase_manifest.json"), manifest)
        with open(os.path.join(d, "profile_export.jsonl"), "w") as f:
            for i in range(min(n, 100)):
                f.write(json.dumps({
                    "metadata": {"session_num": i, "benchmark_phase": "profiling", "phase_name": "profiling",
                                 "phase_kind": "profiling", "was_cancelled": False},
                    "metrics": {"time_to_first_token": {"value": ttft[i], "unit": "ms"},
                                "inter_token_latency": {"value": itl[i], "unit": "ms"},
                                "request_latency": {"value": lat[i], "unit": "ms"},
                                "output_sequence_length": {"value": r.osl, "unit": "tokens"}},
                }, separators=(",", ":")) + "\n")
        write_json(os.path.join(d, "inputs.json"), {"data": [{"session_id": "s%d" % i, "payloads": []} for i in range(3)]})
        with open(os.path.join(d, "logs", "aiperf.log"), "w") as f:
            f.write("stand-in aiperf: %d requests at concurrency %d\n" % (r.requested, r.c))
        write_json(os.path.join(d, "profile_export_aiperf.json"), export)
        write_csv(os.path.join(d, "profile_export_aiperf.csv"), export)
        # Written last: the results are complete.
        with open(os.path.join(d, ".aiperf_results_ready.json"), "w") as f:
            f.write('{"ready":true,"was_cancelled":false,"partial":false}')
        print("concurrency %d: %.0f output tok/s, median ITL %.1f ms (%d of %d requests failed)"
              % (r.c, r.out_tok / dur, metrics["inter_token_latency"].get("p50", 0.0), r.failed, r.requested))


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def write_csv(path, export):
    with open(path, "w") as f:
        f.write("Metric,avg,min,max,p99,p90,p50,std\n")
        for k, v in export.items():
            if isinstance(v, dict) and "unit" in v and "avg" in v:
                row = [v.get(s, "") for s in ("avg", "min", "max", "p99", "p90", "p50", "std")]
                f.write("%s (%s),%s\n" % (k, v["unit"], ",".join("%.2f" % x if x != "" else "" for x in row)))


def main():
    kind, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    wait_for_workers(os.path.dirname(os.path.abspath(out)))
    with open(os.path.join(out, "args.json"), "w") as f:
        json.dump({"args": args}, f)
    n_prefill, n_decode, prefill_gpus, decode_gpus, isl, osl = (int(a) for a in args[:6])
    concurrencies = [int(c) for c in args[6].split("x")]
    rate = float(args[7]) if len(args) > 7 else float("inf")
    gpus = max(prefill_gpus + decode_gpus, 1)
    runs = [Run(c, isl, osl, gpus, rate) for c in concurrencies]
    if kind == "sglang":
        sglang(out, runs)
    elif kind == "aiperf":
        aiperf(out, runs, os.environ.get("MODEL_DIR", "/model"))
    else:
        sys.exit("demo_bench.py: unknown benchmark %r" % kind)


if __name__ == "__main__":
    main()
