#!/usr/bin/env bash
# bench/stall.sh: trials of a controller stalled past sbatch's timeout while sweep-submit runs
# (issue 10): for each pause length and run, 20 records of 36-node jobs (they pend) are
# submitted at 4 per second; after 1.2 s slurmctld is frozen (SIGSTOP) for the pause, then
# resumed. Afterwards Slurm is asked, per record, how many of its jobs could run (not held,
# not cancelled): never twice means exactly one, the record's. Prints one line per trial.
#
#   bench/stall.sh                         # pauses 3 6 12 30, 2 runs each (as root)
#   PAUSES="6 6 6" RUNS=3 bench/stall.sh
#   SWEEP_BIN_DIR=/other/build bench/stall.sh   # another build of the four programs
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pauses=${PAUSES:-3 6 12 30}
runs=${RUNS:-2}
if [ "$(id -u)" = 0 ]; then scripts/local-slurm start >/dev/null 2>&1; fi
eval "$(scripts/local-slurm env)"
if [ -z "${SWEEP_BIN_DIR:-}" ]; then
  cargo build --release --locked --quiet --bins
  SWEEP_BIN_DIR=$root/target/release
fi
work=$(mktemp -d)
trap 'scripts/local-slurm resume-controller >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for i in $(seq 0 19); do
  printf '{"index":%d,"id":"5ta11%011d","mode":"agg","total_nodes":36,"parameters":{"slurm":{"agg_nodes":36,"agg_workers":1},"sglang":{}}}\n' "$i" "$i"
done >"$work/records.jsonl"
required=(--account sweepacct --partition batch --model-dir /m --config-dir /c --gpu-type demo
  --script-variant max-tpt --scripts-dir "$root/examples/demo-scripts" --network-interface lo)
total=0 bad=0
for pause in $pauses; do
  for run in $(seq 1 "$runs"); do
    sweep=$work/sweep_${total}_${pause}s_$run
    "$SWEEP_BIN_DIR/sweep-submit" "${required[@]}" --output-dir "$sweep" --max-submit-rate 4 \
      "$work/records.jsonl" >"$sweep.out" 2>"$sweep.err" &
    pid=$!
    sleep 1.2
    scripts/local-slurm pause-controller >/dev/null 2>&1
    sleep "$pause"
    scripts/local-slurm resume-controller >/dev/null 2>&1
    rc=0
    wait "$pid" || rc=$?
    sleep 2
    # Every job of this sweep's tag, with whether it could run.
    key=$(jq -r '.tag // empty' "$sweep.out" | head -n 1 | cut -d: -f2)
    squeue --me -h -t all -o '%i|%T|%r|%k' | awk -F'|' -v p="sweep:$key:" 'index($4, p) == 1' >"$sweep.jobs"
    read -r jobs runnable worst < <(awk -F'|' '
      { n++; if (!($2 == "PENDING" && $3 ~ /^JobHeld/) && $2 !~ /^CANCELLED/) { r++; per[$4]++ } }
      END { w = 0; for (t in per) if (per[t] > w) w = per[t]; print n + 0, r + 0, w + 0 }' "$sweep.jobs")
    records=$(wc -l <"$sweep.out")
    mismatch=$(jq -r '"\(.tag)|\(.job_id)"' "$sweep.out" | while IFS='|' read -r tag id; do
      awk -F'|' -v t="$tag" -v id="$id" '$4 == t && $1 != id && !($2 == "PENDING" && $3 ~ /^JobHeld/) && $2 !~ /^CANCELLED/' "$sweep.jobs"
    done | wc -l)
    # DOUBLED: two jobs of one record could run; UNTRACKED: a job runs that no record names
    # (its record says it failed); INCOMPLETE: the run gave up with records not submitted.
    verdict=ok
    if [ "$worst" -gt 1 ]; then verdict=DOUBLED
    elif [ "$mismatch" -gt 0 ]; then verdict=UNTRACKED
    elif [ "$rc" -ne 0 ] || [ "$runnable" -ne 20 ]; then verdict=INCOMPLETE; fi
    [ "$verdict" = ok ] || bad=$((bad + 1))
    total=$((total + 1))
    printf 'pause %2ss run %d: exit %d, %d records, %d jobs in Slurm, %d runnable, at most %d runnable per record, %d not the record'"'"'s: %s\n' \
      "$pause" "$run" "$rc" "$records" "$jobs" "$runnable" "$worst" "$mismatch" "$verdict"
    cut -d'|' -f1 "$sweep.jobs" | xargs -r scancel
  done
done
echo "stall trials: $total, not ok: $bad"
[ "$bad" -eq 0 ]
