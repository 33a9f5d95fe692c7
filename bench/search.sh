#!/usr/bin/env bash
# bench/search.sh: the adaptive search (sweep-collect --next-round) against a fixed ladder fine
# enough to know every SLO boundary to 10%, for 20 configurations with known boundaries spread
# over two decades of load, on a SIMULATED CLOCK (bench/search_sim.py says how: no job runs,
# each "job" is the result file its loads would give; the real sweep-expand and sweep-collect
# do the rest, round by round, as the documented loop does). Prints, per seed, the GPU-hours
# (sum over jobs of elapsed x nodes x GPUs per node) and jobs of each side and their ratio,
# and checks that the search finds every boundary within 10% (--no-prune) and the ladder's
# best configuration (with and without pruning).
#
#   bench/search.sh                 # seeds 22 to 26
#   SEEDS="22" bench/search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-22 23 24 25 26}
cargo build --release --quiet --bin sweep-expand --bin sweep-collect
tmp=$(mktemp -d "${BENCH_DIR:-/tmp}/bench-search.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '%-5s %-18s %6s %6s %12s %8s %15s %8s %s\n' seed side jobs loads "GPU-h fixed" ratio "GPU-h requests" ratio "best (margin)"
for seed in $seeds; do
  mkdir "$tmp/$seed"
  python3 bench/search_sim.py target/release/sweep-expand target/release/sweep-collect "$tmp/$seed" "$seed" > "$tmp/$seed.json"
  python3 - "$tmp/$seed.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lad = r["ladder"]
for side, f in (("ladder (x1.1)", lad), ("search", r["search"]), ("search --no-prune", r["search_no_prune"])):
    print("%-5d %-18s %6d %6d %12.1f %7.2fx %15.1f %7.2fx %d (+%.0f%%)" % (
        r["seed"], side, f["jobs"], f["loads"], f["gpu_hours_fixed"], f["gpu_hours_fixed"] / lad["gpu_hours_fixed"],
        f["gpu_hours_requests"], f["gpu_hours_requests"] / lad["gpu_hours_requests"], r["best"], 100 * r["best_margin"]))
PY
done
echo "(ratio: GPU-hours over the ladder's, same seed; every seed checked: every boundary within 10% with --no-prune, the same best configuration as the ladder)"
