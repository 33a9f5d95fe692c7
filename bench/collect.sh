#!/usr/bin/env bash
# bench/collect.sh: states of N real jobs on the local cluster, read by `sweep-collect --status`
# (batched squeue, then sacct for ended jobs) versus one `squeue -j ID` per job, in the same
# run, twice: while the jobs pend, and after they were cancelled (then sweep-collect also asks
# sacct for their exit codes).
#
#   scripts/local-slurm start && bench/collect.sh [N] [RUNS]     # defaults: 1000 jobs, 3 runs
#
# The jobs ask for 36 nodes (only 4 are real), so they pend; all are cancelled at the end (and
# on any exit). Prints wall time per run, medians, their ratio, Slurm calls and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
RUNS=${2:-3}

scontrol ping | grep -q 'is UP' || { echo "bench/collect.sh: no Slurm controller (scripts/local-slurm start)" >&2; exit 1; }
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench/collect.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin sweep-collect
BIN=$PWD/target/release/sweep-collect
TMP=$(mktemp -d /tmp/sweep-bench-collect.XXXXXX)
cancel_all() { if [ -s "$TMP/ids" ]; then xargs -n 200 scancel < "$TMP/ids" || true; fi; }
trap 'cancel_all; rm -rf "$TMP"' EXIT

SWEEP_DIR=$TMP/sweep_20260101_000000
echo "submitting $N pending 36-node jobs..." >&2
for ((i = 0; i < N; i++)); do
  id=$(printf 'bc%014x' "$i")
  tag="sweep:bench-collect-$$:$id:$i"
  job=$(sbatch --parsable --comment="$tag" -A sweepacct -p batch -N 36 -o /dev/null --wrap true)
  echo "$job" >> "$TMP/ids"
  printf '{"index":%d,"id":"%s","mode":"agg","parameters":{"slurm":{"agg_nodes":36,"agg_workers":1}},"sweep_dir":"%s","tag":"%s","submit_status":"submitted","job_id":"%s"}\n' \
    "$i" "$id" "$SWEEP_DIR" "$tag" "$job"
done > "$TMP/records.jsonl"

# Wrappers first on PATH count the Slurm calls of sweep-collect.
mkdir -p "$TMP/bin"
for cmd in squeue sacct; do
  printf '#!/bin/sh\necho %s >> %s/calls.log\nexec %s "$@"\n' "$cmd" "$TMP" "$(command -v $cmd)" > "$TMP/bin/$cmd"
  chmod +x "$TMP/bin/$cmd"
done

cat > "$TMP/per_job.sh" <<'EOF'
while read -r id; do squeue -h -t all -j "$id" -o '%i|%T|%r|%M|%N|%V|%l|%e|%k'; done < "$1"
EOF

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }

# One scenario: RUNS alternating runs of each strategy; prints a table.
scenario() {
  local name=$1 expect=$2 col_t=() col_m=() base_t=() base_m=() calls=0
  for ((r = 1; r <= RUNS; r++)); do
    : > "$TMP/calls.log"
    PATH=$TMP/bin:$PATH "$TIME" -f '%e %M' -o "$TMP/c.time" "$BIN" --status --jsonl "$TMP/records.jsonl" > "$TMP/states.jsonl"
    calls=$(wc -l < "$TMP/calls.log")
    got=$(grep -c "\"state\":\"$expect\"" "$TMP/states.jsonl" || true)
    [ "$got" = "$N" ] || { echo "bench/collect.sh: $got of $N jobs $expect" >&2; exit 1; }
    "$TIME" -f '%e %M' -o "$TMP/b.time" bash "$TMP/per_job.sh" "$TMP/ids" > "$TMP/per_job.out"
    [ "$(grep -c "|$expect|" "$TMP/per_job.out")" = "$N" ] || { echo "bench/collect.sh: per-job loop saw other states" >&2; exit 1; }
    read -r t m < "$TMP/c.time"; col_t+=("$t"); col_m+=("$m")
    read -r t m < "$TMP/b.time"; base_t+=("$t"); base_m+=("$m")
    printf '%s run %d: sweep-collect --status %ss (%d calls), squeue -j per job %ss\n' "$name" "$r" "${col_t[-1]}" "$calls" "${base_t[-1]}" >&2
  done
  local mc mb
  mc=$(median "${col_t[@]}"); mb=$(median "${base_t[@]}")
  bench_row collect "states of $N $name jobs ($calls Slurm calls)" "squeue -j per job" "$mb" "$mc" "$(max "${col_m[@]}")"
  printf '\n%-34s %10s %8s %8s %14s\n' "$N jobs, $name" "median s" "ratio" "calls" "peak RSS KiB"
  printf '%-34s %10s %8s %8s %14s\n' "squeue -j ID, one call per job" "$mb" "1.00" "$N" "$(max "${base_m[@]}")"
  printf '%-34s %10s %8s %8s %14s\n' "sweep-collect --status" "$mc" \
    "$(awk -v a="$mc" -v b="$mb" 'BEGIN {printf "%.3f", a / b}')" "$calls" "$(max "${col_m[@]}")"
}

scenario "pending" PENDING
cancel_all
sleep 1
scenario "cancelled" CANCELLED
