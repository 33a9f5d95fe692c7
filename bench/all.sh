#!/usr/bin/env bash
# bench/all.sh: every benchmark of the project, each against its baseline measured in the
# same run, printed as one table (median of several runs, speed-up over the baseline, peak
# memory of our program; search reports GPU-hours on a simulated clock instead, beside the
# table). expand, render, results and search need nothing; submit, collect and
# queue need the local Slurm cluster (started here when run as root).
#
#   bench/all.sh                 # all of them
#   bench/all.sh expand render   # some
set -euo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(expand render submit submit_memory collect collect_input results search queue)
# GNU time for peak memory (looked for by path: `command -v time` finds the shell keyword),
# bc for ratios.
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null 2>&1 || true
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null 2>&1 || true
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
for s in "${stages[@]}"; do
  case $s in submit|submit_memory|collect|queue)
    if [ "$(id -u)" = 0 ]; then scripts/local-slurm start; eval "$(scripts/local-slurm env)"; fi ;;
  esac
done
cargo build --release --locked --quiet --bins
BENCH_ROWS=$(mktemp); export BENCH_ROWS
trap 'rm -f "$BENCH_ROWS"' EXIT
for s in "${stages[@]}"; do
  echo "== bench/$s.sh" >&2
  "bench/$s.sh" >&2
done
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2)"
echo
printf '| %-8s | %-44s | %-26s | %12s | %10s | %9s | %13s |\n' stage case baseline "baseline (s)" "sweep (s)" speed-up "sweep peak RSS"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ---------- ---------------------------------------------- ---------------------------- --------------: ------------: -----------: ---------------:
while IFS=$'\t' read -r stage what base base_s ours_s kib; do
  awk -v st="$stage" -v w="$what" -v b="$base" -v bs="$base_s" -v os="$ours_s" -v k="$kib" 'BEGIN {
    printf "| %-8s | %-44s | %-26s | %12.3f | %10.3f | %8.1fx | %10.1f MiB |\n", st, w, b, bs, os, (os + 0 > 0 ? bs / os : 0), k / 1024 }'
done < "$BENCH_ROWS"
