#!/usr/bin/env python3
"""bench/results_baseline.py RECORDS OUT.csv: the straightforward Python way to do what
`sweep-collect --results --table OUT.csv` does, for bench/results.sh: for every record, glob
its current jobs' directories, json.load the benchmark results (recognised by content, as
sweep-collect does), put them in sweep-collect's metric names with the same derived figures,
validity and Pareto flags, and write the same CSV table with the csv module.
"""

import csv
import glob
import json
import os
import sys

BEFORE = ["job_id", "file", "line", "format", "concurrency", "request_rate", "duration_s",
          "completed", "failed", "input_tokens", "output_tokens", "request_throughput",
          "input_throughput", "output_throughput", "total_throughput"]
AFTER = ["measured_concurrency", "gpus", "output_tps_per_gpu", "total_tps_per_gpu",
         "output_tps_per_user", "valid", "invalid_reason", "meets_slo", "pareto"]
METRICS = {"ttft": 0, "tpot": 1, "itl": 2, "e2el": 3, "e2e_latency": 3}
NAMES = ["ttft", "tpot", "itl", "e2e"]
STATS = {"mean": 0, "median": 1, "std": 2}


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


def is_result(path):
    name = os.path.basename(path)
    if name.startswith("results_") and name.endswith(".json") and not name.endswith(".pytorch.json"):
        return True
    with open(path, "rb") as f:
        head = f.read(65536)
    return head.lstrip()[:1] == b"{" and b'"output_throughput"' in head


def runs(path):
    """(line, object) of every JSON value in the file."""
    text = open(path).read()
    dec = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, end = dec.raw_decode(text, pos)
        yield text.count("\n", 0, pos) + 1, obj
        pos = end


def point(job_id, path, line, d, gpus):
    vllm = "total_token_throughput" in d or any(k.endswith("_e2el_ms") for k in d)
    p = {"job_id": job_id, "file": path, "line": line, "format": "vllm" if vllm else "sglang"}
    if d.get("max_concurrency") is not None:
        p["concurrency"] = d["max_concurrency"]
    rate = d.get("request_rate")
    if rate not in (None, "inf") and rate != float("inf"):
        p["request_rate"] = float(rate)
    p["duration_s"] = float(d["duration"])
    p["completed"] = d["completed"]
    if d.get("failed") is not None:
        p["failed"] = d["failed"]
    if d.get("total_input_tokens") is not None:
        p["input_tokens"] = d["total_input_tokens"]
    p["output_tokens"] = d["total_output_tokens"]
    for k in ("request_throughput", "input_throughput"):
        if d.get(k) is not None:
            p[k] = float(d[k])
    if "input_throughput" not in p and "input_tokens" in p and p["duration_s"] > 0:
        p["input_throughput"] = p["input_tokens"] / p["duration_s"]
    p["output_throughput"] = float(d["output_throughput"])
    total = d.get("total_token_throughput", d.get("total_throughput"))
    if total is not None:
        p["total_throughput"] = float(total)
    elif "input_throughput" in p:
        p["total_throughput"] = p["input_throughput"] + p["output_throughput"]
    lat = sorted(latency(k) + (float(v),) for k, v in d.items() if latency(k) and v is not None)
    for _, name, v in lat:
        p[name] = v
    if d.get("concurrency") is not None:
        p["measured_concurrency"] = float(d["concurrency"])
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
    if p.get("failed"):
        why.append("%d failed requests" % p["failed"])
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
            d = os.path.join(r["log_dir"], job_id)
            files = sorted(f for f in glob.glob(d + "/**/*.json*", recursive=True)
                           if f.endswith((".json", ".jsonl")) and is_result(f))
            for path in files:
                for line, obj in runs(path):
                    p = point(job_id, path, line, obj, gpus)
                    judge(p, r.get("state"), job_id)
                    p["pareto"] = False
                    rows.append((head, p))
    pareto([p for _, p in rows])
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
