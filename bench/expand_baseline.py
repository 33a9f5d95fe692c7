#!/usr/bin/env python3
"""bench/expand_baseline.py: the seed's expansion (itertools.product over slurm, then sglang),
written straightforwardly in Python, emitting the same JSON Lines as sweep-expand: same
fields, same order, same id (SHA-256 of the canonical JSON, see docs/record.md).

usage: expand_baseline.py SWEEP.yaml > out.jsonl   (`-` reads stdin; no sweep_file then)
"""
import hashlib
import json
import os
import sys
from itertools import product

import yaml


def as_list(v):
    return v if isinstance(v, list) else [v]


def main():
    path = sys.argv[1]
    if path == "-":
        config = yaml.safe_load(sys.stdin)
    else:
        with open(path) as f:
            config = yaml.safe_load(f)
    slurm = config.get("slurm", {})
    sglang = config.get("sglang", {}) or {}
    slurm_keys, sglang_keys = list(slurm), list(sglang)
    slurm_combos = list(product(*(as_list(slurm[k]) for k in slurm_keys)))
    sglang_combos = list(product(*(as_list(sglang[k]) for k in sglang_keys)))
    mode = "agg" if "agg_nodes" in slurm else "disagg"
    sweep_file = None if path == "-" else os.path.abspath(path)
    out = sys.stdout
    index = 0
    for s in slurm_combos:
        slurm_params = dict(zip(slurm_keys, s))
        if mode == "agg":
            total = slurm_params["agg_nodes"]
        else:
            total = slurm_params["prefill_nodes"] + slurm_params["decode_nodes"]
        for g in sglang_combos:
            params = {"slurm": slurm_params, "sglang": dict(zip(sglang_keys, g))}
            canon = json.dumps({"parameters": params}, sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False)
            rec = {
                "index": index,
                "id": hashlib.sha256(canon.encode()).hexdigest()[:16],
                "mode": mode,
                "total_nodes": total,
                "parameters": params,
            }
            if sweep_file is not None:
                rec["sweep_file"] = sweep_file
            out.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
            index += 1


if __name__ == "__main__":
    main()
