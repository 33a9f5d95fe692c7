#!/usr/bin/env bash
# bench/submit_memory.sh: sweep-submit's memory and time per record at scale (issue 16).
#
#   bench/submit_memory.sh [BIG] [SMALL] [REAL]   # defaults: 100000, 10000, 2000
#
# 1. `--dry-run` of SMALL and of BIG records (every job script written and synced, nothing
#    submitted): time and peak RSS of each. Memory must not grow with the number of records
#    (target: under 64 MiB at 100,000), and time must grow linearly: the baseline for BIG is
#    BIG/SMALL times the SMALL run, measured in the same run.
# 2. A real submission of REAL 36-node records (they pend; the local cluster must be up)
#    against a bare `sbatch --parsable` loop over the same saved scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIG=${1:-100000}
SMALL=${2:-10000}
REAL=${3:-2000}
cargo build --release --locked --quiet --bin sweep-submit
BIN=$PWD/target/release/sweep-submit
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench/submit_memory.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/sweep-bench-submit-memory.XXXXXX)
cancel_all() {
  { grep -ho '"job_id":"[0-9]*"' "$TMP"/real.jsonl | grep -o '[0-9]*'; cat "$TMP"/bare.ids; } 2>/dev/null |
    xargs -r -n 500 scancel 2>/dev/null || true
}
trap 'cancel_all; rm -rf "$TMP"' EXIT

records() { # N: disaggregated 36-node records, distinct ids
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"index\":%d,\"id\":\"mb%014x\",\"mode\":\"disagg\",\"total_nodes\":36,\"parameters\":{\"slurm\":{\"prefill_nodes\":12,\"decode_nodes\":24,\"prefill_workers\":3,\"decode_workers\":1},\"sglang\":{}}}\n", i, i }'
}
OPTS=(--account sweepacct --partition batch --model-dir /models/m --config-dir /cfg
      --scripts-dir examples/demo-scripts --gpu-type demo --script-variant max-tpt)

dry() { # N -> "seconds kib"
  records "$1" >"$TMP/r$1.jsonl"
  rm -rf "$TMP/dry$1" && mkdir -p "$TMP/dry$1"
  # A dry run saves its scripts under $TMPDIR (never in the sweep directory): here.
  TMPDIR="$TMP/dry$1" "$TIME" -f '%e %M' -o "$TMP/dry$1.time" "$BIN" "${OPTS[@]}" --dry-run --output-dir "$TMP/dry$1/sweep" \
    "$TMP/r$1.jsonl" >"$TMP/dry$1.jsonl"
  [ "$(wc -l <"$TMP/dry$1.jsonl")" = "$1" ] || { echo "dry run of $1: wrong number of records" >&2; exit 1; }
  rm -rf "$TMP/dry$1"
  cat "$TMP/dry$1.time"
}
read -r small_s small_k < <(dry "$SMALL")
read -r big_s big_k < <(dry "$BIG")
linear=$(awk -v s="$small_s" -v a="$SMALL" -v b="$BIG" 'BEGIN { printf "%.2f", s * b / a }')
printf '%-34s %10s %12s %14s\n' "sweep-submit --dry-run" "seconds" "us/record" "peak RSS KiB"
for row in "$SMALL $small_s $small_k" "$BIG $big_s $big_k"; do
  read -r n s k <<<"$row"
  printf '%-34s %10s %12s %14s\n' "$n records" "$s" "$(awk -v s="$s" -v n="$n" 'BEGIN { printf "%.0f", s * 1e6 / n }')" "$k"
done
echo "peak RSS $BIG / $SMALL records: $(awk -v a="$big_k" -v b="$small_k" 'BEGIN { printf "%.2f", a / b }')x; time: $(awk -v a="$big_s" -v b="$linear" 'BEGIN { printf "%.2f", a / b }')x of linear"
bench_row submit "--dry-run of $BIG records (memory flat)" "$BIG/$SMALL x the $SMALL run" "$linear" "$big_s" "$big_k"

if scontrol ping 2>/dev/null | grep -q 'is UP'; then
  records "$REAL" >"$TMP/real_in.jsonl"
  "$TIME" -f '%e %M' -o "$TMP/real.time" "$BIN" "${OPTS[@]}" --output-dir "$TMP/real" \
    "$TMP/real_in.jsonl" >"$TMP/real.jsonl"
  got=$(grep -c '"job_id"' "$TMP/real.jsonl")
  [ "$got" = "$REAL" ] || { echo "sweep-submit submitted $got of $REAL" >&2; exit 1; }
  grep -o '"job_id":"[0-9]*"' "$TMP/real.jsonl" | grep -o '[0-9]*' | xargs -r -n 500 scancel
  for ((i = 0; i < REAL; i++)); do echo "$TMP/real/job_$i.sh"; done >"$TMP/scripts"
  # shellcheck disable=SC2016 # $s is the inner shell's loop variable
  "$TIME" -f '%e %M' -o "$TMP/bare.time" bash -c 'while read -r s; do sbatch --parsable "$s"; done' \
    <"$TMP/scripts" >"$TMP/bare.ids"
  xargs -r -n 500 scancel <"$TMP/bare.ids"
  read -r real_s real_k <"$TMP/real.time"
  read -r bare_s _ <"$TMP/bare.time"
  printf '%-34s %10s %14s\n' "$REAL real submissions" "seconds" "peak RSS KiB"
  printf '%-34s %10s %14s\n' "bare sbatch --parsable loop" "$bare_s" "-"
  printf '%-34s %10s %14s\n' "sweep-submit" "$real_s" "$real_k"
  bench_row submit "$REAL submissions, 36-node jobs (pending)" "bare sbatch --parsable loop" "$bare_s" "$real_s" "$real_k"
else
  echo "bench/submit_memory.sh: no Slurm controller: the real submission was left out" >&2
fi
