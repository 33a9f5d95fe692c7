#!/usr/bin/env bash
# bench/submit.sh: 500 submissions by sweep-submit versus a bare shell loop of
# `sbatch --parsable` over the same 500 saved job scripts, against the local cluster, in the
# same run. Target: sweep-submit within 1.2x of the bare loop.
#
#   scripts/local-slurm start && bench/submit.sh [N] [RUNS]     # defaults: 500 jobs, 3 runs
#
# The jobs ask for 36 nodes (only 4 are real), so nothing runs; every job is cancelled right
# after each run. Prints wall time per run, the medians, their ratio and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${1:-500}
RUNS=${2:-3}

scontrol ping | grep -q 'is UP' || { echo "bench/submit.sh: no Slurm controller (scripts/local-slurm start)" >&2; exit 1; }
cargo build --release --quiet --bin sweep-submit
BIN=target/release/sweep-submit
TMP=$(mktemp -d /tmp/sweep-bench-submit.XXXXXX)
# On any exit (a failed run included), cancel every job a run submitted: the cluster is shared.
cancel_all() {
  { grep -ho '"job_id":"[0-9]*"' "$TMP"/sub_*.jsonl | grep -o '[0-9]*'; cat "$TMP"/bare_*.ids; } 2>/dev/null |
    xargs -r -n 200 scancel 2>/dev/null || true
}
trap 'cancel_all; rm -rf "$TMP"' EXIT

# N disaggregated 36-node records (12 prefill + 24 decode), distinct ids.
for ((i = 0; i < N; i++)); do
  printf '{"index":%d,"id":"be%014x","mode":"disagg","total_nodes":36,"parameters":{"slurm":{"prefill_nodes":12,"decode_nodes":24,"prefill_workers":3,"decode_workers":1},"sglang":{}}}\n' "$i" "$i"
done > "$TMP/records.jsonl"

OPTS=(--account sweepacct --partition batch --model-dir /models/m --config-dir /cfg
      --scripts-dir examples/demo-scripts --gpu-type demo --script-variant max-tpt)
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench/submit.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

cancel_ids() { # file of job IDs, one a line
  if [ -s "$1" ]; then xargs -n 200 scancel < "$1" || true; fi
}

# Wall seconds and peak RSS (KiB) of one command, via GNU time.
measure() {
  local log=$1; shift
  "$TIME" -f '%e %M' -o "$log" "$@"
}

sub_t=() bare_t=() sub_m=() bare_m=()
for ((r = 1; r <= RUNS; r++)); do
  sw=$TMP/sweep_$r
  measure "$TMP/sub_$r.time" "$BIN" "${OPTS[@]}" --output-dir "$sw" "$TMP/records.jsonl" > "$TMP/sub_$r.jsonl"
  grep -o '"job_id":"[0-9]*"' "$TMP/sub_$r.jsonl" | grep -o '[0-9]*' > "$TMP/sub_$r.ids"
  [ "$(wc -l < "$TMP/sub_$r.ids")" = "$N" ] || { echo "sweep-submit submitted $(wc -l < "$TMP/sub_$r.ids") of $N" >&2; cancel_ids "$TMP/sub_$r.ids"; exit 1; }
  cancel_ids "$TMP/sub_$r.ids"

  # The bare loop over the very scripts sweep-submit saved.
  cat > "$TMP/bare.sh" <<EOF
for ((i = 0; i < $N; i++)); do sbatch --parsable "$sw/job_\$i.sh"; done
EOF
  measure "$TMP/bare_$r.time" bash "$TMP/bare.sh" > "$TMP/bare_$r.ids"
  cancel_ids "$TMP/bare_$r.ids"

  read -r t m < "$TMP/sub_$r.time"; sub_t+=("$t"); sub_m+=("$m")
  read -r t m < "$TMP/bare_$r.time"; bare_t+=("$t"); bare_m+=("$m")
  printf 'run %d: sweep-submit %ss, bare sbatch loop %ss\n' "$r" "${sub_t[-1]}" "${bare_t[-1]}"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
ms=$(median "${sub_t[@]}"); mb=$(median "${bare_t[@]}")
printf '\n%-28s %10s %10s %14s\n' "$N submissions" "median s" "ratio" "peak RSS KiB"
printf '%-28s %10s %10s %14s\n' "bare sbatch --parsable loop" "$mb" "1.00" "$(max "${bare_m[@]}")"
printf '%-28s %10s %10s %14s\n' "sweep-submit" "$ms" "$(awk -v a="$ms" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')" "$(max "${sub_m[@]}")"
bench_row submit "$N submissions, 36-node jobs (pending)" "bare sbatch --parsable loop" "$mb" "$ms" "$(max "${sub_m[@]}")"
