#!/usr/bin/env python3
"""The adaptive search against a fixed ladder, on a SIMULATED CLOCK (bench/search.sh runs it).

    search_sim.py SWEEP_EXPAND SWEEP_COLLECT WORK_DIR [SEED]

20 configurations with known SLO boundaries spread over two decades of load (concurrency 10 to
1000, log-uniform, from a fixed seed), each on 1, 2 or 4 nodes of 8 GPUs. Each one's time per
output token grows with concurrency by a known law, TPOT = a + b x C ms (ITL p99 = TPOT), TTFT
p99 = 300 + 2 x C ms, and output tokens/s = C x 1000 / TPOT; the SLO is
'ttft_p99_ms<=2000,itl_p99_ms<=50', so each boundary is min((50 - a) / b, 850).

No job runs: a "job" is its result file (SGLang bench_serving JSON Lines, one line per
concurrency, written where sweep-collect reads them) and a record that says it COMPLETED. The
real sweep-collect (sweep-expand for the records) does everything else, as the documented loop
does: `sweep-collect --slo ... --next-round next.jsonl M`, each round's records given jobs,
merged back with `sweep-collect M round.jsonl --output M`, until the round is empty.

Compared, for the same configurations and range of loads (4 to 1024):
- the fixed ladder fine enough to know every boundary to 10%: each load at most 10% above the
  one before (4, 5, ..., 19, 20, 22, 24, ..., 1024), one job per configuration;
- the search (round 1: 4x16x64x256x1024, then --next-round's rounds, 3 loads a job), with
  pruning (the default) and with --no-prune (every boundary located).

GPU-hours = sum over jobs of elapsed x nodes x 8 GPUs, elapsed on two simulated clocks:
- "fixed": 10 minutes to start the job (load the model, warm up), then 5 minutes per
  concurrency (a benchmark of fixed duration);
- "requests": 10 minutes to start, then per concurrency C, 10 x C requests of 256 output
  tokens at C at a time: 10 x (TTFT + 256 x TPOT) (mean latencies as the p99s here), capped
  at 30 minutes (a benchmark's timeout), plus 30 s: loads far above the boundary cost more.

Checks, and exits 1 if one fails: with --no-prune every boundary is within 10% and inside its
bracket; the ladder's boundaries are too; the search (both ways) and the ladder name the same
best configuration. Prints one JSON object with the figures on stdout.
"""
import json
import math
import os
import random
import subprocess
import sys
import time

N_CONFIGS = 20
GPUS_PER_NODE = 8
SLO = "ttft_p99_ms<=2000,itl_p99_ms<=50"
FIRST = [4, 16, 64, 256, 1024]
LO, HI = 4, 1024


def laws(seed=22):
    rng = random.Random(seed)
    out = []
    for i in range(N_CONFIGS):
        a = rng.uniform(5.0, 30.0)
        boundary = 10.0 * 100.0 ** rng.random()  # 10 to 1000
        out.append({"a": a, "b": (50.0 - a) / boundary, "nodes": [1, 2, 4][i % 3]})
    return out


def tpot(law, c):
    return law["a"] + law["b"] * c


def ttft(c):
    return 300.0 + 2.0 * c


def boundary(law):
    return min((50.0 - law["a"]) / law["b"], (2000.0 - 300.0) / 2.0)


def line(law, c):
    """One SGLang bench_serving line at concurrency c."""
    t = tpot(law, c)
    out_tps = c * 1000.0 / t
    duration = 100.0
    completed = 10 * c
    return json.dumps({
        "backend": "sglang", "dataset_name": "random", "request_rate": float("inf"),
        "max_concurrency": c, "random_input_len": 1024, "random_output_len": 256,
        "duration": duration, "completed": completed,
        "total_input_tokens": completed * 1024, "total_output_tokens": int(out_tps * duration),
        "request_throughput": completed / duration, "input_throughput": completed * 1024 / duration,
        "output_throughput": out_tps, "total_throughput": out_tps + completed * 1024 / duration,
        "mean_e2e_latency_ms": ttft(c) + 256 * t, "median_e2e_latency_ms": ttft(c) + 256 * t,
        "p99_e2e_latency_ms": ttft(c) + 256 * t,
        "mean_ttft_ms": ttft(c), "median_ttft_ms": ttft(c), "p99_ttft_ms": ttft(c),
        "mean_tpot_ms": t, "median_tpot_ms": t, "p99_tpot_ms": t,
        "mean_itl_ms": t, "median_itl_ms": t, "p99_itl_ms": t,
        "concurrency": c * 0.97,
    })


def elapsed(law, loads, clock):
    """Seconds a job measuring `loads` runs, on the simulated clock."""
    start = 600.0
    if clock == "fixed":
        return start + 300.0 * len(loads)
    total = start
    for c in loads:
        e2e = (ttft(c) + 256 * tpot(law, c)) / 1000.0
        total += min(10 * e2e, 1800.0) + 30.0
    return total


def ladder():
    loads = [LO]
    while loads[-1] < HI:
        c = loads[-1]
        loads.append(min(max(c * 11 // 10, c + 1), HI))
    return loads


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("search_sim.py: %s failed (%d): %s" % (argv[0], r.returncode, r.stderr))
    return r


class Sim:
    """One sweep directory of simulated jobs."""

    def __init__(self, expand, collect, work, name, the_laws):
        self.expand, self.collect = expand, collect
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.laws = the_laws
        self.jobs = []  # (index, loads)
        self.next_job = 1
        self.collect_seconds = 0.0

    def records(self):
        values = ", ".join("%.2f" % (0.5 + i / 100.0) for i in range(N_CONFIGS))
        nodes = ", ".join(str(l["nodes"]) for l in self.laws)
        path = os.path.join(self.dir, "sweep.yaml")
        with open(path, "w") as f:
            f.write("slurm:\n  agg_nodes: [%s]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: [%s]\n"
                    "linked:\n  - [slurm.agg_nodes, sglang.mem-fraction-static]\n" % (nodes, values))
        out = run([self.expand, path]).stdout
        recs = [json.loads(l) for l in out.splitlines()]
        for r in recs:
            r["sweep_dir"] = self.dir
        return recs

    def submit(self, recs, loads_of, when):
        """Gives each record a completed job measuring loads_of(record), with its results."""
        out = []
        for r in recs:
            loads = loads_of(r)
            job = str(self.next_job)
            self.next_job += 1
            law = self.laws[r["index"]]
            r = dict(r)
            r.update(job_id=job, submit_status="submitted", state="COMPLETED",
                     submitted_at="2026-12-%02dT00:00:00+00:00" % when, gpus_per_node=GPUS_PER_NODE,
                     log_dir=os.path.join(self.dir, "logs", str(r["index"])))
            d = os.path.join(r["log_dir"], job)
            os.makedirs(d)
            with open(os.path.join(d, "bench_serving.jsonl"), "w") as f:
                for c in loads:
                    f.write(line(law, c) + "\n")
            self.jobs.append((r["index"], loads))
            out.append(r)
        return out

    def sweep_collect(self, *args):
        t = time.time()
        r = run([self.collect] + list(args))
        self.collect_seconds += time.time() - t
        return r

    def merge(self, recs, name):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
        m = os.path.join(self.dir, "sweep_manifest.json")
        inputs = [m, path] if os.path.exists(m) else [path]
        self.sweep_collect(*inputs, "--output", m)
        return m

    def best(self):
        m = os.path.join(self.dir, "sweep_manifest.json")
        table = os.path.join(self.dir, "best.jsonl")
        self.sweep_collect("--slo", SLO, "--best-table", table, m, "--output", os.devnull)
        with open(table) as f:
            return {r["index"]: r for r in map(json.loads, f)}

    def figures(self):
        out = {"jobs": len(self.jobs), "loads": sum(len(l) for _, l in self.jobs)}
        for clock in ("fixed", "requests"):
            out["gpu_hours_" + clock] = sum(
                elapsed(self.laws[i], loads, clock) / 3600.0 * self.laws[i]["nodes"] * GPUS_PER_NODE
                for i, loads in self.jobs)
        return out


def search(expand, collect, work, name, the_laws, extra):
    sim = Sim(expand, collect, work, name, the_laws)
    m = sim.merge(sim.submit(sim.records(), lambda r: FIRST, 1), "round-1.jsonl")
    nxt = os.path.join(sim.dir, "next.jsonl")
    rounds = 1
    lines = []
    while True:
        r = sim.sweep_collect("--slo", SLO, "--next-round", nxt, *extra, m)
        lines.append([l for l in r.stderr.splitlines() if "search" in l][0])
        with open(nxt) as f:
            recs = [json.loads(l) for l in f]
        if not recs:
            break
        rounds += 1
        if rounds > 10:
            sys.exit("search_sim.py: more than 10 rounds")
        sim.merge(sim.submit(recs, lambda r: r["concurrencies"], rounds), "round-%d.jsonl" % rounds)
    return sim, rounds, lines


def main():
    expand, collect, work = sys.argv[1:4]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 22
    the_laws = laws(seed)
    truth = {i: boundary(l) for i, l in enumerate(the_laws)}

    lad = Sim(expand, collect, work, "ladder", the_laws)
    steps = ladder()
    lad.merge(lad.submit(lad.records(), lambda r: steps, 1), "ladder.jsonl")
    lad_best = lad.best()

    pruned, rounds_p, lines_p = search(expand, collect, work, "search", the_laws, [])
    every, rounds_a, lines_a = search(expand, collect, work, "search-all", the_laws, ["--no-prune"])
    best_p, best_a = pruned.best(), every.best()

    failures = []

    def top(rows):
        return [i for i, r in rows.items() if r.get("rank") == 1][0]

    def check_within(name, rows, indices):
        for i in indices:
            r = rows[i]
            b, f = r.get("best_load"), r.get("fails_at_load")
            if b is None or f is None or not (b <= truth[i] < f) or not (f <= b * 1.1 or f - b <= 1):
                failures.append("%s: index %d: boundary %.1f, bracket [%s, %s)" % (name, i, truth[i], b, f))

    check_within("ladder", lad_best, range(N_CONFIGS))
    check_within("search --no-prune", best_a, range(N_CONFIGS))
    winner = top(lad_best)
    for name, rows in (("search", best_p), ("search --no-prune", best_a)):
        if top(rows) != winner:
            failures.append("%s names index %d the best, the ladder index %d" % (name, top(rows), winner))
    check_within("search (the best)", best_p, [winner])
    # The margin of the best over the second best, at their boundaries (the ladder's figures).
    figures = sorted((r["output_tps_per_gpu"] for r in lad_best.values()), reverse=True)
    result = {
        "seed": seed,
        "configurations": N_CONFIGS,
        "boundaries": [round(truth[i], 1) for i in range(N_CONFIGS)],
        "best": winner,
        "best_margin": round(figures[0] / figures[1] - 1.0, 3),
        "ladder": dict(lad.figures(), loads_per_configuration=len(steps)),
        "search": dict(pruned.figures(), rounds=rounds_p, last_line=lines_p[-1]),
        "search_no_prune": dict(every.figures(), rounds=rounds_a, last_line=lines_a[-1]),
        "sweep_collect_seconds": round(pruned.collect_seconds + every.collect_seconds, 2),
        "failures": failures,
    }
    for k in ("search", "search_no_prune"):
        for clock in ("fixed", "requests"):
            result[k]["ratio_" + clock] = round(
                result[k]["gpu_hours_" + clock] / result["ladder"]["gpu_hours_" + clock], 3)
    print(json.dumps(result, indent=1))
    if failures:
        sys.exit("search_sim.py: " + "; ".join(failures))


if __name__ == "__main__":
    main()
