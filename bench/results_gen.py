#!/usr/bin/env python3
"""bench/results_gen.py DIR N: the files of N finished jobs as the jobs would lay them out,
for bench/results.sh, and their records (DIR/records.jsonl).

Each job has the record's log directory DIR/logs/sweep_job_sweep{i}/ with sbatch's
{job}.out/.err, and its own directory {job}/ with step logs, the demo's node report (a JSON
file that is not a result), the job's sweep_benchmark.json (what the job script writes: the
benchmark's request) and 4 benchmark results: even jobs SGLang bench_serving JSON Lines
(bench/bench_serving.jsonl, 4 lines), odd jobs vLLM/sa-bench JSON files
(sa-bench_isl_1024_osl_256/results_concurrency_{C}_gpus_16.json, with short per-request
arrays). Numbers are synthetic and deterministic.
"""

import json
import os
import sys

CONCURRENCIES = [4, 16, 64, 256]


def sglang(c, mem, i):
    tpot = 5.0 + 0.04 * c * (0.8 / mem) ** 3 + (i % 7) * 0.1
    out = c * 1000.0 / tpot
    return {
        "backend": "sglang", "dataset_name": "random", "request_rate": float("inf"),
        "max_concurrency": c, "sharegpt_output_len": None, "random_input_len": 1024,
        "random_output_len": 256, "random_range_ratio": 1.0, "duration": 4 * c * 256 / out,
        "completed": 4 * c, "total_input_tokens": 4 * c * 1024, "total_output_tokens": 4 * c * 256,
        "total_output_tokens_retokenized": 4 * c * 256, "request_throughput": out / 256,
        "input_throughput": out * 4, "output_throughput": out, "total_throughput": out * 5,
        "mean_e2e_latency_ms": 256 * tpot + 50, "median_e2e_latency_ms": 256 * tpot + 40,
        "std_e2e_latency_ms": 12.5, "p99_e2e_latency_ms": 256 * tpot * 1.3,
        "mean_ttft_ms": 20.0 + c, "median_ttft_ms": 18.0 + c, "std_ttft_ms": 3.5,
        "p99_ttft_ms": 40.0 + 2 * c, "mean_tpot_ms": tpot * 1.01, "median_tpot_ms": tpot,
        "std_tpot_ms": 0.25, "p99_tpot_ms": tpot * 1.4, "mean_itl_ms": tpot,
        "median_itl_ms": tpot * 0.98, "std_itl_ms": 1.5, "p95_itl_ms": tpot * 1.6,
        "p99_itl_ms": tpot * 2.5, "concurrency": c * 0.97, "accept_length": None,
    }


def vllm(c, mem, i):
    tpot = 6.0 + 0.035 * c * (0.8 / mem) ** 3 + (i % 5) * 0.1
    out = c * 1000.0 / tpot
    n = 10 * c
    return {
        "date": "20251113-123456", "backend": "dynamo", "model_id": "deepseek-ai/DeepSeek-R1",
        "tokenizer_id": "deepseek-ai/DeepSeek-R1", "best_of": 1, "num_prompts": n,
        "request_rate": "inf", "burstiness": 1.0, "max_concurrency": c,
        "duration": n * 256 / out, "completed": n, "failed": 0, "total_input_tokens": n * 1024,
        "total_output_tokens": n * 256, "request_throughput": out / 256, "request_goodput": None,
        "output_throughput": out, "peak_output_tokens_per_s": out * 1.3,
        "total_token_throughput": out * 5,
        "input_lens": [1024] * 8, "output_lens": [256] * 8, "ttfts": [0.02] * 8,
        "itls": [[0.005] * 4] * 8, "generated_texts": ["lorem ipsum"] * 8, "errors": [""] * 8,
        "mean_ttft_ms": 25.0 + c, "median_ttft_ms": 22.0 + c, "std_ttft_ms": 4.0,
        "p99_ttft_ms": 50.0 + 2 * c, "mean_tpot_ms": tpot, "median_tpot_ms": tpot,
        "std_tpot_ms": 0.3, "p99_tpot_ms": tpot * 1.5, "mean_itl_ms": tpot,
        "median_itl_ms": tpot, "std_itl_ms": 1.2, "p99_itl_ms": tpot * 2.4,
        "mean_e2el_ms": 256 * tpot + 60, "median_e2el_ms": 256 * tpot + 45,
        "std_e2el_ms": 14.0, "p99_e2el_ms": 256 * tpot * 1.35,
    }


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    mems = [0.78, 0.8, 0.82, 0.84, 0.86]
    with open(os.path.join(root, "records.jsonl"), "w") as recs:
        for i in range(n):
            job = str(100000 + i)
            mem = mems[i % len(mems)]
            log_dir = os.path.join(root, "logs", "sweep_job_sweep%d" % i)
            d = os.path.join(log_dir, job)
            os.makedirs(os.path.join(d, "nodes"))
            for name in (job + ".out", job + ".err"):
                with open(os.path.join(log_dir, name), "w") as f:
                    f.write("node 0: gpu-001\nevery step exited 0\n")
            for name in ("gpu-001_aggregated_w0.out", "gpu-001_aggregated_w0.err", "profile.out"):
                with open(os.path.join(d, name), "w") as f:
                    f.write("would run: python3 -m dynamo.sglang ...\n")
            with open(os.path.join(d, "nodes", "gpu-001_aggregated_w0_r0.json"), "w") as f:
                json.dump({"node": "gpu-001", "role": "aggregated", "config": {"mem-fraction-static": mem}}, f)
            with open(os.path.join(d, "sweep_benchmark.json"), "w") as f:
                json.dump({"type": "sglang" if i % 2 == 0 else "sa-bench", "isl": 1024, "osl": 256,
                           "concurrencies": CONCURRENCIES, "req_rate": "inf",
                           "requests_per_concurrency": 4 if i % 2 == 0 else 10}, f)
            if i % 2 == 0:
                os.makedirs(os.path.join(d, "bench"))
                with open(os.path.join(d, "bench", "bench_serving.jsonl"), "w") as f:
                    for c in CONCURRENCIES:
                        f.write(json.dumps(sglang(c, mem, i)) + "\n")
            else:
                sa = os.path.join(d, "sa-bench_isl_1024_osl_256")
                os.makedirs(sa)
                for c in CONCURRENCIES:
                    with open(os.path.join(sa, "results_concurrency_%d_gpus_16.json" % c), "w") as f:
                        json.dump(vllm(c, mem, i), f)
            rec = {
                "index": i, "id": "%016x" % (0xB00000 + i), "mode": "agg", "total_nodes": 2,
                "parameters": {"slurm": {"agg_nodes": 2, "agg_workers": 1},
                               "sglang": {"mem-fraction-static": mem, "max-running-requests": 1024 * (1 + i % 4)}},
                "sweep_dir": root, "job_name": "sweep_job_sweep%d" % i, "log_dir": log_dir,
                "gpus_per_node": 8, "submit_status": "submitted", "job_id": job, "state": "COMPLETED",
            }
            recs.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
