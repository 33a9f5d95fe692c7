#!/usr/bin/env bash
# bench/expand.sh: sweep-expand (release) against a straightforward Python implementation of
# the seed's itertools.product expansion (bench/expand_baseline.py) on a sweep of 1,000,000
# combinations (bench/expand_sweep.yaml). Checks first that both write the same bytes, then
# times RUNS runs of each (stdout to /dev/null) and prints median wall time, ratio, peak RSS.
# Then `--count` on a sweep whose slurm axes hold 10,000 node counts each (10^10
# combinations): checking every combination's nodes % workers used to take minutes; the
# baseline is the least any reader does, PyYAML loading the file and multiplying the lengths.
#
#   bench/expand.sh            # RUNS=3 by default
#   RUNS=5 bench/expand.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
sweep=bench/expand_sweep.yaml

cargo build --release --quiet --bin sweep-expand
bin=target/release/sweep-expand
[ -x /usr/bin/time ] || { echo "bench/expand.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
python3 -c 'import yaml' || { echo "bench/expand.sh: needs PyYAML (pip install pyyaml)" >&2; exit 1; }

n=$("$bin" --count "$sweep")
echo "sweep: $sweep, $n combinations"

# Same output, byte for byte (streamed: nothing of this size is kept on disk).
if cmp <("$bin" --max-jobs 0 "$sweep") <(python3 bench/expand_baseline.py "$sweep"); then
  echo "outputs: identical ($("$bin" --max-jobs 0 "$sweep" | wc -c) bytes)"
else
  echo "bench/expand.sh: outputs differ" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NAME CMD...: RUNS runs; prints "median_seconds max_rss_kib".
measure() {
  local name=$1
  shift
  for i in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$tmp/$name.$i" "$@" > /dev/null
  done
  cat "$tmp/$name".* | sort -n | awk -v r="$runs" '
    { t[NR] = $1; if ($2 > m) m = $2 }
    END { printf "%s %d\n", t[int((r + 1) / 2)], m }'
}

read -r rust_s rust_kib < <(measure rust "$bin" --max-jobs 0 "$sweep")

# --count on 10,000 values per node axis: 2 x 10,000 multiples of 2520, workers 1..10.
axis=$tmp/axis.yaml
python3 - "$axis" <<'PY'
import sys
nodes = [2520 * (i + 1) for i in range(10000)]
with open(sys.argv[1], "w") as f:
    f.write("slurm:\n  prefill_nodes: %s\n  decode_nodes: %s\n" % (nodes, nodes))
    f.write("  prefill_workers: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  decode_workers: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n")
PY
cat > "$tmp/count.py" <<'PY'
import sys, yaml
from math import prod
doc = yaml.safe_load(open(sys.argv[1]))
print(prod(len(v) if isinstance(v, list) else 1 for s in doc.values() for v in s.values()))
PY
[ "$("$bin" --count "$axis")" = "$(python3 "$tmp/count.py" "$axis")" ] || { echo "bench/expand.sh: --count differs" >&2; exit 1; }
echo "axis sweep: $(wc -c < "$axis") bytes, $("$bin" --count "$axis") combinations"
# measure_each NAME REPS CMD...: like measure, but each run times REPS calls with a clock finer
# than GNU time's 10 ms (the count answers in milliseconds): "median_seconds max_rss_kib".
measure_each() {
  local name=$1 reps=$2
  shift 2
  /usr/bin/time -f '%M' -o "$tmp/$name.rss" "$@" > /dev/null
  for i in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    for _ in $(seq "$reps"); do "$@" > /dev/null; done
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / reps ))" > "$tmp/$name.ns.$i"
  done
  cat "$tmp/$name".ns.* | sort -n | awk -v r="$runs" -v m="$(cat "$tmp/$name.rss")" '
    { t[NR] = $1 } END { printf "%.4f %d\n", t[int((r + 1) / 2)] / 1e9, m }'
}
read -r count_s count_kib < <(measure_each count 20 "$bin" --count "$axis")
read -r pycount_s pycount_kib < <(measure_each pycount 1 python3 "$tmp/count.py" "$axis")
read -r py_s py_kib < <(measure python python3 bench/expand_baseline.py "$sweep")

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_row expand "$n combinations -> JSON Lines" "python itertools.product" "$py_s" "$rust_s" "$rust_kib"
bench_row expand "--count, 2 axes of 10000 node counts" "python yaml.safe_load + len" "$pycount_s" "$count_s" "$count_kib"

awk -v runs="$runs" -v rs="$rust_s" -v rk="$rust_kib" -v ps="$py_s" -v pk="$py_kib" 'BEGIN {
  printf "\n%-30s %11s %8s %15s\n", "program (" runs " runs)", "median (s)", "speed", "peak RSS (MiB)"
  printf "%-30s %11.2f %8s %15.1f\n", "python3 expand_baseline.py", ps, "1.0x", pk / 1024
  printf "%-30s %11.2f %7.1fx %15.1f\n", "sweep-expand (release)", rs, ps / rs, rk / 1024
}'
awk -v cs="$count_s" -v ck="$count_kib" -v ps="$pycount_s" -v pk="$pycount_kib" 'BEGIN {
  printf "\n%-30s %11s %8s %15s\n", "--count, 10^10 combinations", "median (s)", "speed", "peak RSS (MiB)"
  printf "%-30s %11.4f %8s %15.1f\n", "python3 safe_load + len", ps, "1.0x", pk / 1024
  printf "%-30s %11.4f %7.1fx %15.1f\n", "sweep-expand --count", cs, (cs + 0 > 0 ? ps / cs : 0), ck / 1024
}'
