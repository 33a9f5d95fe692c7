#!/usr/bin/env bash
# bench/queue.sh: feeding a capped queue. N quick jobs (each sleeps SECS, one CPU) submitted by
# `sweep-submit --max-queued auto` under an association limit of CAP queued jobs
# (MaxSubmitJobs), against an ideal scheduler with the same cap: the jobs' own run times
# (measured inside each job) summed and spread over CAP slots, in the same run. Also counts
# every Slurm call sweep-submit makes (pass-through wrappers first in its directory) and the
# most jobs ever queued (squeue sampled every 0.1 s). Targets: under 1.2x the ideal, under 2
# Slurm calls per job. For scale, a bare shell feeder (no hold, squeue every 0.1 s) runs the
# same jobs once in the same run: what Slurm itself costs between one job leaving and the
# next starting (on this cluster a released job starts 0.5 s later, a new one sooner).
#
#   scripts/local-slurm start && bench/queue.sh [N] [CAP] [SECS] [RUNS]   # 200 20 10 3 (~8 min)
#
# As root it creates the account `benchcap` (MaxSubmitJobs=CAP on root's association) once.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${1:-200}
CAP=${2:-20}
SECS=${3:-10}
RUNS=${4:-3}

[ -x /usr/bin/time ] || { echo "bench/queue.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
scontrol ping | grep -q 'is UP' || { echo "bench/queue.sh: no Slurm controller (scripts/local-slurm start)" >&2; exit 1; }
cargo build --release --quiet --bins
BIN=$PWD/target/release
TMP=$(mktemp -d /tmp/sweep-bench-queue.XXXXXX)
cancel_all() { squeue --me -h -A benchcap -o %i | xargs -r scancel 2>/dev/null || true; }
trap 'cancel_all; kill "${SAMPLER:-}" 2>/dev/null || true; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$TMP"' EXIT

# The limit, on root's association with a dedicated account (idempotent), and slurmctld
# must have it before the first sbatch.
USER_NAME=$(id -un)
sacctmgr -i add account benchcap Description=bench Organization=sweep >/dev/null 2>&1 || true
sacctmgr -i add user "$USER_NAME" Account=benchcap >/dev/null 2>&1 || true
sacctmgr -i modify user where name="$USER_NAME" account=benchcap set MaxSubmitJobs="$CAP" >/dev/null 2>&1 || true
for _ in $(seq 1 100); do
  scontrol show assoc_mgr users="$USER_NAME" accounts=benchcap flags=assoc 2>/dev/null |
    grep -q "MaxSubmitJobs=$CAP(" && break
  sleep 0.1
done
cancel_all

# Pass-through wrappers that count every Slurm call (sweep-submit takes squeue, scontrol,
# sacctmgr, ... from the directory of --sbatch).
mkdir -p "$TMP/bin"
for p in sbatch squeue scontrol scancel sacct sacctmgr; do
  real=$(command -v "$p")
  # shellcheck disable=SC2016 # $(date) and "$@" are for the wrapper to expand
  printf '#!/bin/sh\necho "%s $(date +%%s.%%N)" >> %s/calls\nexec %s "$@"\n' "$p" "$TMP" "$real" > "$TMP/bin/$p"
  chmod +x "$TMP/bin/$p"
done

# A one-CPU job that writes its own start and end time.
cat > "$TMP/job.j2" <<EOF
#!/bin/bash
#SBATCH --job-name={{ job_name }}
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --account={{ account }}
#SBATCH --partition={{ partition }}
#SBATCH --time={{ time_limit }}
#SBATCH --output={{ log_dir }}/%j.out
s=\$(date +%s.%N)
sleep $SECS
echo "\$s \$(date +%s.%N)" > {{ log_dir }}/times
EOF
{
  echo "slurm: {agg_nodes: [1], agg_workers: [1]}"
  printf 'sglang:\n  max-running-requests: [%s]\n' "$(seq -s, 1 "$N")"
} > "$TMP/sweep.yaml"


# The floor, in the same run: a bare shell feeder (no hold, no journal, no record) that asks
# squeue every 0.1 s and submits the moment the count allows.
cat > "$TMP/bare_job.sh" <<EOF
#!/bin/bash
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --account=benchcap
#SBATCH --partition=batch
#SBATCH --output=/dev/null
s=\$(date +%s.%N)
sleep $SECS
echo "\$s \$(date +%s.%N)" > "\$BARE_DIR/times.\$SLURM_JOB_ID"
EOF
bare_feeder() { # DIR
  local n=0 room
  while [ "$n" -lt "$N" ]; do
    room=$((CAP - $(squeue --me -h -A benchcap -o %i | wc -l)))
    while [ "$room" -gt 0 ] && [ "$n" -lt "$N" ]; do
      BARE_DIR=$1 sbatch --parsable "$TMP/bare_job.sh" > /dev/null
      n=$((n + 1)) room=$((room - 1))
    done
    sleep 0.1
  done
}

# "IDEAL MAKESPAN" of one side from its jobs' times: the run time spread over CAP slots, and
# the time from T0 to the last job's end.
figures() { # T0 TIMES...
  local t0=$1
  shift
  cat "$@" | awk -v cap="$CAP" -v t0="$t0" '{ s += $2 - $1; if ($2 > m) m = $2 } END { printf "%.3f %.3f", s / cap, m - t0 }'
}
wait_empty() { while [ -n "$(squeue --me -h -A benchcap -o %i)" ]; do sleep 0.2; done; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
per_job() { awk -v c="$1" -v n="$N" 'BEGIN { printf "%.2f", c / n }'; }

ratios=() calls=() ideal_t=() ours_t=() peak=() rss=() bare_r=() bare_c=()
for ((r = 1; r <= RUNS; r++)); do
  sw=$TMP/sweep_$r
  "$BIN/sweep-expand" "$TMP/sweep.yaml" | "$BIN/sweep-render" --out-dir "$sw" > "$TMP/records_$r.jsonl"
  : > "$TMP/calls"
  (while sleep 0.1; do squeue --me -h -A benchcap -o %i | wc -l; done) > "$TMP/samples_$r" 2>/dev/null &
  SAMPLER=$!
  t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$TMP/rss_$r" "$BIN/sweep-submit" --account benchcap --partition batch --model-dir /m --config-dir /c \
    --gpu-type demo --script-variant max-tpt --scripts-dir examples/demo-scripts \
    --template "$TMP/job.j2" --sbatch "$TMP/bin/sbatch" --max-queued auto \
    "$TMP/records_$r.jsonl" > "$TMP/sub_$r.jsonl" 2> "$TMP/sub_$r.err"
  wait_empty
  kill "$SAMPLER"
  SAMPLER=
  done_jobs=$(cat "$sw"/logs/*/times 2>/dev/null | wc -l)
  [ "$done_jobs" = "$N" ] || { echo "bench/queue.sh: $done_jobs of $N jobs ran (stderr: $(cat "$TMP/sub_$r.err"))" >&2; exit 1; }
  read -r ideal ours <<<"$(figures "$t0" "$sw"/logs/*/times)"
  ncalls=$(wc -l < "$TMP/calls")
  ideal_t+=("$ideal") ours_t+=("$ours")
  ratios+=("$(ratio "$ours" "$ideal")")
  calls+=("$(per_job "$ncalls")")
  peak+=("$(sort -n "$TMP/samples_$r" | tail -1)")
  rss+=("$(cat "$TMP/rss_$r")")
  printf 'run %d: ideal %ss, sweep-submit %ss (%sx), %s Slurm calls (%s), at most %s queued\n' \
    "$r" "$ideal" "$ours" "${ratios[-1]}" "$ncalls" "$(cut -d' ' -f1 "$TMP/calls" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')" "${peak[-1]}"
  cancel_all

  # The floor once (it takes as long as a run): it is context, not the figure.
  [ "$r" = 1 ] || continue
  mkdir -p "$TMP/bare_$r"
  t0=$(date +%s.%N)
  PATH=$TMP/bin:$PATH bare_feeder "$TMP/bare_$r"
  wait_empty
  bare_jobs=$(cat "$TMP/bare_$r"/times.* 2>/dev/null | wc -l)
  [ "$bare_jobs" = "$N" ] || { echo "bench/queue.sh: the bare feeder ran $bare_jobs of $N jobs" >&2; exit 1; }
  read -r bideal bours <<<"$(figures "$t0" "$TMP/bare_$r"/times.*)"
  bcalls=$(($(wc -l < "$TMP/calls") - ncalls))
  bare_r+=("$(ratio "$bours" "$bideal")")
  bare_c+=("$(per_job "$bcalls")")
  printf 'run %d: bare feeder: ideal %ss, %ss (%sx), %s Slurm calls\n' "$r" "$bideal" "$bours" "${bare_r[-1]}" "$bcalls"
  cancel_all
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
printf '\n%s jobs of %ss under a cap of %s, median of %s runs:\n' "$N" "$SECS" "$CAP" "$RUNS"
printf '  sweep-submit --max-queued auto  %sx the ideal, %s Slurm calls per job, at most %s queued\n' \
  "$(median "${ratios[@]}")" "$(median "${calls[@]}")" "$(max "${peak[@]}")"
printf '  bare feeder (squeue every 0.1s) %sx the ideal, %s Slurm calls per job (run 1)\n' \
  "${bare_r[0]}" "${bare_c[0]}"
bench_row queue "$N jobs of ${SECS}s under cap $CAP, $(median "${calls[@]}") calls/job" "ideal: run time / $CAP slots" \
  "$(median "${ideal_t[@]}")" "$(median "${ours_t[@]}")" "$(max "${rss[@]}")"
