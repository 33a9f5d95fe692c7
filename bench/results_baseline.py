#!/usr/bin/env python3
"""bench/results_baseline.py RECORDS OUT.csv: the straightforward Python way to do what
`sweep-collect --results --table OUT.csv` does, for bench/results.sh: for every record, walk
its jobs' directories (the generated records have no earlier submissions), json.load every
JSON file and keep the values whose keys make them a benchmark result (SGLang, vLLM, AIPerf),
read the job's sweep_benchmark.json, put the runs in sweep-collect's metric names with the
same derived figures, validity and Pareto flags (one frontier per workload shape), and write
the same CSV table with the csv module.
"""

import csv
import json
import math
import os
import sys

BEFORE = ["job_id", "file", "line", "format", "dataset", "isl", "osl", "rate_mode",
          "concurrency", "request_rate", "duration_s", "requested", "completed", "failed",
          "input_tokens", "output_tokens", "request_throughput", "input_throughput",
          "output_throughput", "total_throughput"]
AFTER = ["measured_concurrency", "gpus", "output_tps_per_gpu", "total_tps_per_gpu",
         "output_tps_per_user", "valid", "invalid_reason", "unplaced_reason", "meets_slo",
         "pareto"]
METRICS = {"ttft": 0, "tpot": 1, "itl": 2, "e2el": 3, "e2e_latency": 3}
NAMES = ["ttft", "tpot", "itl", "e2e"]
STATS = {"mean": 0, "median": 1, "std": 2}
AIPERF_LATENCIES = [("time_to_first_token", "ttft"), ("inter_token_latency", "tpot"),
                    ("inter_chunk_latency", "itl"), ("request_latency", "e2e")]


def latency(key):
    """(order, our name) of a tool's latency key, or None."""
    if not key.endswith("_ms") or "_" not in key[:-3]:
        return None
    stat, metric = key[:-3].split("_", 1)
    if metric not in METRICS:
        return None
    m = METRICS[metric]
    if stat in STATS:
        return (m, STATS[stat], 0.0), "%s_%s_ms" % (NAMES[m], stat)
    if stat.startswith("p"):
        try:
            p = float(stat[1:])
        except ValueError:
            return None
        if 0 < p <= 100:
            return (m, 3, p), "%s_%s_ms" % (NAMES[m], stat)
    return None


def values(text):
    """(line, value) of every JSON value in a file's text."""
    dec = json.JSONDecoder(parse_constant=lambda c: c)
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, end = dec.raw_decode(text, pos)
        yield text.count("\n", 0, pos) + 1, obj
        pos = end


def kind(d):
    """Which tool wrote a JSON value, by its keys (None: not a result)."""
    if not isinstance(d, dict):
        return None
    if "aiperf_version" in d or "benchmark_duration" in d:
        return "aiperf"
    if "output_throughput" in d and ("total_token_throughput" in d
                                     or any(k.endswith("_e2el_ms") for k in d)):
        return "vllm"
    if "output_throughput" in d and ("total_throughput" in d or "concurrency" in d
                                     or any(k.endswith("_e2e_latency_ms") for k in d)):
        return "sglang"
    return None


def flat(fmt, d, bench):
    p = {"format": fmt}
    if fmt == "sglang":
        ds = d.get("dataset_name")
        if ds is not None:
            p["dataset"] = ds
        if ds and ds.startswith("random"):
            p["isl"], p["osl"] = d.get("random_input_len"), d.get("random_output_len")
    if d.get("max_concurrency") is not None:
        p["concurrency"] = d["max_concurrency"]
    rate = d.get("request_rate")
    if rate not in (None, "inf", "Infinity") and rate != float("inf"):
        p["request_rate"] = float(rate)
    p["duration_s"] = float(d["duration"])
    if fmt == "vllm" and d.get("num_prompts") is not None:
        p["requested"] = d["num_prompts"]
    p["completed"] = d["completed"]
    if d.get("failed") is not None:
        p["failed"] = d["failed"]
    if d.get("total_input_tokens") is not None:
        p["input_tokens"] = d["total_input_tokens"]
    p["output_tokens"] = d["total_output_tokens"]
    for k in ("request_throughput", "input_throughput"):
        if d.get(k) is not None:
            p[k] = float(d[k])
    p["output_throughput"] = float(d["output_throughput"])
    total = d.get("total_token_throughput", d.get("total_throughput"))
    if total is not None:
        p["total_throughput"] = float(total)
    lat = sorted(latency(k) + (float(v),) for k, v in d.items() if latency(k) and v is not None)
    for _, name, v in lat:
        p.setdefault(name, v)
    if d.get("concurrency") is not None:
        p["measured_concurrency"] = float(d["concurrency"])
    if fmt == "sglang" and "requested" not in p and bench:
        per, c = bench.get("requests_per_concurrency"), p.get("concurrency")
        if per and c in bench.get("concurrencies", []):
            p["requested"] = per * c
            if p["completed"] <= p["requested"]:
                p["failed"] = p["requested"] - p["completed"]
    return p


def aiperf(d):
    p = {"format": "aiperf"}
    avg = lambda k: d[k]["avg"] if isinstance(d.get(k), dict) and "avg" in d[k] else None
    cfg = d.get("input_config") or {}
    ds = (cfg.get("datasets") or [{}])[0]
    if ds.get("type") is not None:
        p["dataset"] = ds["type"]
    for k in ("isl", "osl"):
        m = ((ds.get("prompts") or {}).get(k) or {}).get("mean")
        if m is not None:
            p[k] = int(round(m))
    phase = next((ph for ph in reversed(cfg.get("phases") or []) if ph.get("kind") == "profiling"), {})
    if phase.get("concurrency"):
        p["concurrency"] = phase["concurrency"]
    if phase.get("rate"):
        p["request_rate"] = float(phase["rate"])
    p["duration_s"] = avg("benchmark_duration")
    if phase.get("requests"):
        p["requested"] = phase["requests"]
    p["completed"] = int(avg("request_count"))
    if avg("error_request_count") is not None:
        p["failed"] = int(avg("error_request_count"))
    elif avg("completed_request_count") is not None:
        p["failed"] = int(avg("completed_request_count")) - p["completed"]
    else:
        p["failed"] = 0
    p["input_tokens"] = int(avg("total_isl"))
    p["output_tokens"] = int(avg("total_osl"))
    for ours, theirs in [("request_throughput", "request_throughput"),
                         ("input_throughput", "input_token_throughput"),
                         ("output_throughput", "output_token_throughput"),
                         ("total_throughput", "total_token_throughput")]:
        if avg(theirs) is not None:
            p[ours] = avg(theirs)
    lat = []
    for theirs, ours in AIPERF_LATENCIES:
        for stat, v in (d.get(theirs) or {}).items():
            key = {"avg": "mean", "p50": "median"}.get(stat, stat)
            l = latency("%s_%s_ms" % (key, {"e2e": "e2el"}.get(ours, ours)))
            if l:
                lat.append(l + (float(v),))
    for _, name, v in sorted(lat):
        p[name] = v
    if avg("effective_concurrency") is not None:
        p["measured_concurrency"] = avg("effective_concurrency")
    return p


def point(job_id, path, line, d, gpus, bench):
    fmt = kind(d)
    p = aiperf(d) if fmt == "aiperf" else flat(fmt, d, bench)
    if "isl" not in p and "osl" not in p and "dataset" not in p and bench:
        p["isl"], p["osl"] = bench.get("isl"), bench.get("osl")
    if "request_rate" in p:
        p["rate_mode"] = "request_rate"
    elif "concurrency" in p:
        p["rate_mode"] = "concurrency"
    else:
        p["rate_mode"] = "unlimited"
    if "input_throughput" not in p and "input_tokens" in p and p["duration_s"] > 0:
        p["input_throughput"] = p["input_tokens"] / p["duration_s"]
    if "total_throughput" not in p and "input_throughput" in p:
        p["total_throughput"] = p["input_throughput"] + p["output_throughput"]
    p = {"job_id": job_id, "file": path, "line": line, **p}
    p["gpus"] = gpus
    p["output_tps_per_gpu"] = p["output_throughput"] / gpus
    if "total_throughput" in p:
        p["total_tps_per_gpu"] = p["total_throughput"] / gpus
    tpot = p.get("tpot_median_ms")
    if tpot and tpot > 0:
        p["output_tps_per_user"] = 1000.0 / tpot
    return p


def judge(p, state, job_id):
    why = []
    if p["completed"] == 0:
        why.append("no completed requests")
    failed = p.get("failed")
    ended = p["completed"] + failed if failed is not None else None
    if failed:
        total = p.get("requested") or ended
        why.append("%d of %d requests failed" % (failed, total))
    if p.get("requested") is not None and ended is not None and ended != p["requested"]:
        why.append("requests ended: %d of %d" % (ended, p["requested"]))
    if p["output_tokens"] == 0:
        why.append("no output tokens")
    if p["duration_s"] <= 0:
        why.append("duration is not positive")
    if "output_tps_per_user" not in p:
        why.append("no positive median TPOT (tokens/s per user is undefined)")
    if state != "COMPLETED":
        why.append("job %s ended %s" % (job_id, state))
    p["valid"] = not why
    if why:
        p["invalid_reason"] = "; ".join(why)


def pareto(points):
    cand = [p for p in points if p["valid"]]
    cand.sort(key=lambda p: (-p["output_tps_per_gpu"], -p["output_tps_per_user"]))
    best, i = float("-inf"), 0
    while i < len(cand):
        x, top = cand[i]["output_tps_per_gpu"], cand[i]["output_tps_per_user"]
        j = i
        while j < len(cand) and cand[j]["output_tps_per_gpu"] == x:
            y = cand[j]["output_tps_per_user"]
            cand[j]["pareto"] = y > best and y == top
            j += 1
        best = max(best, top)
        i = j


def cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v) if not isinstance(v, float) else repr(v)


def job_points(job_id, root, gpus, state):
    """Every result in the job's directory; every other file is looked at and passed over."""
    bench, files = None, []
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            if d == root and n == "sweep_benchmark.json":
                bench = json.load(open(path))
            elif n.endswith((".json", ".jsonl")) and not (
                    n == "profile_export_aiperf.json" and os.path.basename(os.path.dirname(d)) == "phases"):
                files.append(path)
    out = []
    for path in sorted(files):
        for line, obj in values(open(path).read()):
            if kind(obj):
                p = point(job_id, path, line, obj, gpus, bench)
                judge(p, state, job_id)
                p["pareto"] = False
                out.append(p)
    return out


def main():
    records = [json.loads(line) for line in open(sys.argv[1])]
    rows = []
    for r in records:
        gpus = r["total_nodes"] * r["gpus_per_node"]
        head = {"index": r["index"], "id": r["id"], "state": r.get("state")}
        for section in ("slurm", "sglang"):
            for k, v in r["parameters"][section].items():
                head["%s.%s" % (section, k)] = v
        for job_id in [r["job_id"]] + r.get("retry_job_ids", []):
            for p in job_points(job_id, os.path.join(r["log_dir"], job_id), gpus, r.get("state")):
                rows.append((head, p))
    # One frontier per workload shape (a frontier across shapes is meaningless); the
    # generator has no repeats, so each load is one point.
    shapes = {}
    for _, p in rows:
        key = (p.get("dataset"), p.get("isl"), p.get("osl"), p.get("rate_mode"))
        shapes.setdefault(key, []).append(p)
    for points in shapes.values():
        pareto(points)
    heads, cols = [], set()
    for h, p in rows:
        for k in h:
            if k not in heads:
                heads.append(k)
        cols.update(p)

    def rank(k):
        if k in BEFORE:
            return (BEFORE.index(k), (0, 0, 0.0))
        if k in AFTER:
            return (len(BEFORE) + 1 + AFTER.index(k), (0, 0, 0.0))
        m, s = k[:-3].split("_", 1)
        return (len(BEFORE), latency("%s_%s_ms" % (s, {"e2e": "e2el"}.get(m, m)))[0])

    columns = heads + sorted(cols, key=rank)
    with open(sys.argv[2], "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for h, p in rows:
            w.writerow(cell(h.get(c, p.get(c))) for c in columns)


if __name__ == "__main__":
    main()
