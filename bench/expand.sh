#!/usr/bin/env bash
# bench/expand.sh: sweep-expand (release) against a straightforward Python implementation of
# the seed's itertools.product expansion (bench/expand_baseline.py) on a sweep of 1,000,000
# combinations (bench/expand_sweep.yaml). Checks first that both write the same bytes, then
# times RUNS runs of each (stdout to /dev/null) and prints median wall time, ratio, peak RSS.
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
read -r py_s py_kib < <(measure python python3 bench/expand_baseline.py "$sweep")

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_row expand "$n combinations -> JSON Lines" "python itertools.product" "$py_s" "$rust_s" "$rust_kib"

awk -v runs="$runs" -v rs="$rust_s" -v rk="$rust_kib" -v ps="$py_s" -v pk="$py_kib" 'BEGIN {
  printf "\n%-30s %11s %8s %15s\n", "program (" runs " runs)", "median (s)", "speed", "peak RSS (MiB)"
  printf "%-30s %11.2f %8s %15.1f\n", "python3 expand_baseline.py", ps, "1.0x", pk / 1024
  printf "%-30s %11.2f %7.1fx %15.1f\n", "sweep-expand (release)", rs, ps / rs, rk / 1024
}'
