#!/usr/bin/env bash
# bench/results.sh: sweep-collect --results (release) against a straightforward Python script
# (bench/results_baseline.py: os.walk + json + csv) that produces the same table, on the
# files of N finished jobs with 4 benchmark points each, laid out as the jobs write them
# (bench/results_gen.py: half SGLang bench_serving JSON Lines, half vLLM/sa-bench JSON files,
# next to step logs and other JSON files). Checks first that both write the same CSV, byte
# for byte, then times RUNS runs of each, taking turns, and prints median wall time, ratio and
# peak RSS; also times the same run writing the manifest with every record's results, and the
# one-page report (--report, with an SLO: the best under it per combination and shape, the
# plot with a hover text per point) against the table run, the target being within 1.5x of
# its time and peak memory.
#
#   bench/results.sh              # N=10000 jobs, RUNS=3
#   N=2000 RUNS=5 bench/results.sh
#   BENCH_DIR=/dev/shm bench/results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-10000}
runs=${RUNS:-3}

cargo build --release --quiet --bin sweep-collect
bin=$PWD/target/release/sweep-collect
[ -x /usr/bin/time ] || { echo "bench/results.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

tmp=$(mktemp -d "${BENCH_DIR:-/tmp}/bench-results.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 bench/results_gen.py "$tmp" "$n"
echo "jobs: $n, result points: $((4 * n)), files: $(find "$tmp/logs" -type f | wc -l)"

records=$tmp/records.jsonl
ours=("$bin" --results --table "$tmp/ours.csv" --frontier "$records")
with_manifest=("$bin" --results --table "$tmp/ours.csv" --output "$tmp/manifest.json" "$records")
python=(python3 bench/results_baseline.py "$records" "$tmp/python.csv")
report=("$bin" --results --slo 'itl_p99_ms<=60,ttft_p99_ms<=400' --report "$tmp/report.html" --frontier "$records")

# The same table, byte for byte.
"${ours[@]}" > /dev/null 2>&1
"${python[@]}"
if cmp -s "$tmp/ours.csv" "$tmp/python.csv"; then
  echo "tables: identical ($(wc -l < "$tmp/ours.csv") lines, $(wc -c < "$tmp/ours.csv") bytes)"
else
  echo "bench/results.sh: the tables differ" >&2
  diff <(head -3 "$tmp/ours.csv") <(head -3 "$tmp/python.csv") >&2 || true
  exit 1
fi

# The report holds every point, with its hover text, and a best-under-SLO row per combination
# and shape (the generator's two: SGLang's random dataset, vLLM's files that name none).
"${report[@]}" > /dev/null 2>&1
marks=$(grep -o '<g class="point">' "$tmp/report.html" | wc -l)
tables=$(grep -c '<h3>Best under the SLO, per combination</h3>' "$tmp/report.html")
if [ "$marks" != $((4 * n)) ] || [ "$tables" != 2 ]; then
  echo "bench/results.sh: the report draws $marks points, not $((4 * n)), in $tables workloads, not 2" >&2
  exit 1
fi
echo "report: $marks points drawn, $(wc -c < "$tmp/report.html") bytes"

# Turns: python, ours, ours + manifest, report, RUNS times; each "seconds max_rss_kib" per file.
# CPU time (user + system) too: on a machine shared with other work, wall time also measures
# the neighbours.
# Each run starts after a sync: the previous run's written files (the manifest is 88 MB for
# N = 10,000) are not still being flushed to disk while the next one writes and syncs its own.
for i in $(seq "$runs"); do
  sync; /usr/bin/time -f '%e %M %U %S' -o "$tmp/t.python.$i" "${python[@]}"
  sync; /usr/bin/time -f '%e %M %U %S' -o "$tmp/t.ours.$i" "${ours[@]}" > /dev/null 2>&1
  sync; /usr/bin/time -f '%e %M %U %S' -o "$tmp/t.manifest.$i" "${with_manifest[@]}" > /dev/null 2>&1
  sync; /usr/bin/time -f '%e %M %U %S' -o "$tmp/t.report.$i" "${report[@]}" > /dev/null 2>&1
done
# median NAME: "median_wall_s max_rss_kib median_cpu_s"
median() {
  local wall cpu
  wall=$(cat "$tmp/t.$1".* | sort -n | awk -v r="$runs" '
    { t[NR] = $1; if ($2 > m) m = $2 } END { printf "%s %d", t[int((r + 1) / 2)], m }')
  cpu=$(cat "$tmp/t.$1".* | awk '{ print $3 + $4 }' | sort -n | awk -v r="$runs" '
    { c[NR] = $1 } END { print c[int((r + 1) / 2)] }')
  echo "$wall $cpu"
}
read -r py_s py_kib py_cpu < <(median python)
read -r rust_s rust_kib rust_cpu < <(median ours)
read -r man_s man_kib man_cpu < <(median manifest)
read -r rep_s rep_kib rep_cpu < <(median report)
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_row results "results of $n jobs x 4 points -> CSV table" "python glob + json.load" "$py_s" "$rust_s" "$rust_kib"
bench_row results "... and the manifest with every point" "python glob + json.load" "$py_s" "$man_s" "$man_kib"
bench_row results "report of $n jobs x 4 points (--report, --slo)" "sweep-collect --results --table" "$rust_s" "$rep_s" "$rep_kib"

awk -v xs="$rep_s" -v xk="$rep_kib" -v xc="$rep_cpu" -v runs="$runs" -v rs="$rust_s" -v rk="$rust_kib" -v rc="$rust_cpu" -v ms="$man_s" -v mk="$man_kib" -v mc="$man_cpu" \
    -v ps="$py_s" -v pk="$py_kib" -v pc="$py_cpu" 'BEGIN {
  printf "\n%-42s %10s %7s %9s %7s %15s\n", "program (" runs " runs)", "median (s)", "speed", "CPU (s)", "speed", "peak RSS (MiB)"
  printf "%-42s %10.2f %7s %9.2f %7s %15.1f\n", "python3 results_baseline.py (table)", ps, "1.0x", pc, "1.0x", pk / 1024
  printf "%-42s %10.2f %6.1fx %9.2f %6.1fx %15.1f\n", "sweep-collect --results --table", rs, ps / rs, rc, pc / rc, rk / 1024
  printf "%-42s %10.2f %6.1fx %9.2f %6.1fx %15.1f\n", "sweep-collect --results --table --output", ms, ps / ms, mc, pc / mc, mk / 1024
  printf "%-42s %10.2f %6.1fx %9.2f %6.1fx %15.1f\n", "sweep-collect --results --slo --report", xs, ps / xs, xc, pc / xc, xk / 1024
  printf "\nthe report against the table run: %.2fx its wall time, %.2fx its CPU time, %.2fx its peak memory (target: at most 1.5x)\n", xs / rs, xc / rc, xk / rk
}'
