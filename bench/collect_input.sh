#!/usr/bin/env bash
# bench/collect_input.sh: sweep-collect reading 100,000 records (no Slurm), three ways in the
# same run: as JSON Lines, as the same records in one manifest, and a Python loop that reads
# the JSON Lines with json.loads and writes the same manifest with json.dump. Reading was
# quadratic in the number of JSON Lines records (each line number was found by rescanning
# the input: 40,000 records took 57 s); it must be linear, and the JSON Lines case close to
# the manifest case. Memory: sweep-collect's peak must stay within twice the manifest's size
# (it held five times: every record as a struct); the script fails when it does not.
#
#   bench/collect_input.sh [N] [RUNS]     # defaults: 100000 records, 3 runs
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
RUNS=${2:-3}
[ -x /usr/bin/time ] || { echo "bench/collect_input.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin sweep-collect
BIN=$PWD/target/release/sweep-collect
TMP=$(mktemp -d /tmp/sweep-bench-collect-input.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Records as sweep-submit writes them: parameters, paths, tag, job ID, submit time.
python3 - "$N" "$TMP/records.jsonl" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        rid = "%016x" % (i * 2654435761 % (1 << 64))
        d = "/data/sweeps/sweep_20251113_123456"
        rec = {"index": i, "id": rid, "mode": "disagg", "total_nodes": 18,
               "parameters": {"slurm": {"prefill_nodes": 6, "decode_nodes": 12, "prefill_workers": 3, "decode_workers": 1},
                              "sglang": {"max-running-requests": 5632 + i, "context-length": 2176, "mem-fraction-static": 0.82, "cuda-graph-bs": [1, 2, 4, 8]}},
               "sweep_dir": d, "config_path": "%s/sglang_config_%d.yaml" % (d, i),
               "job_name": "bench_sweep%d" % i, "job_script": "%s/jobs/job_%d.sh" % (d, i),
               "log_dir": "%s/logs/%d" % (d, i), "tag": "sweep:bench-1a2b3c4d:%s:%d" % (rid, i),
               "submit_status": "submitted", "job_id": str(100000 + i), "submitted_at": "2025-11-13T12:35:00+00:00"}
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")
PY
"$BIN" "$TMP/records.jsonl" > "$TMP/manifest.json"
cat > "$TMP/loop.py" <<'PY'
import json, sys
jobs = []
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            jobs.append(json.loads(line))
jobs.sort(key=lambda r: r["index"])
json.dump({"sweep_timestamp": "2025-11-13 12:34:56", "total_jobs": len(jobs), "jobs": jobs}, sys.stdout, indent=2)
sys.stdout.write("\n")
PY
# Same records both ways.
cmp <("$BIN" --jsonl "$TMP/records.jsonl") <("$BIN" --jsonl "$TMP/manifest.json") ||
  { echo "bench/collect_input.sh: JSON Lines and manifest give different records" >&2; exit 1; }
echo "$N records: $(wc -c < "$TMP/records.jsonl") bytes of JSON Lines, $(wc -c < "$TMP/manifest.json") bytes of manifest" >&2

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
jt=(); jm=(); mt=(); mm=(); pt=(); pm=()
for ((r = 1; r <= RUNS; r++)); do
  /usr/bin/time -f '%e %M' -o "$TMP/t" "$BIN" "$TMP/records.jsonl" > /dev/null; read -r t m < "$TMP/t"; jt+=("$t"); jm+=("$m")
  /usr/bin/time -f '%e %M' -o "$TMP/t" "$BIN" "$TMP/manifest.json" > /dev/null; read -r t m < "$TMP/t"; mt+=("$t"); mm+=("$m")
  /usr/bin/time -f '%e %M' -o "$TMP/t" python3 "$TMP/loop.py" "$TMP/records.jsonl" > /dev/null; read -r t m < "$TMP/t"; pt+=("$t"); pm+=("$m")
  echo "run $r: JSON Lines ${jt[-1]}s, one manifest ${mt[-1]}s, python json.loads loop ${pt[-1]}s" >&2
done
j=$(median "${jt[@]}"); m=$(median "${mt[@]}"); p=$(median "${pt[@]}")
# Peak memory against the manifest's size (peak RSS is in KiB).
manifest_bytes=$(wc -c < "$TMP/manifest.json")
ratio() { awk -v k="$1" -v b="$manifest_bytes" 'BEGIN {printf "%.2f", k * 1024 / b}'; }
jr=$(ratio "$(max "${jm[@]}")"); mr=$(ratio "$(max "${mm[@]}")")
bench_row collect "$N records, JSON Lines -> manifest (peak ${jr}x manifest)" "python json.loads loop" "$p" "$j" "$(max "${jm[@]}")"
bench_row collect "$N records, one manifest -> manifest (peak ${mr}x manifest)" "python json.loads loop" "$p" "$m" "$(max "${mm[@]}")"
printf '\n%-36s %10s %8s %14s\n' "$N records -> manifest" "median s" "ratio" "peak RSS KiB"
printf '%-36s %10s %8s %14s\n' "python json.loads loop + json.dump" "$p" "1.00" "$(max "${pm[@]}")"
printf '%-36s %10s %8s %14s\n' "sweep-collect, JSON Lines" "$j" "$(awk -v a="$j" -v b="$p" 'BEGIN {printf "%.3f", a / b}')" "$(max "${jm[@]}")"
printf '%-36s %10s %8s %14s\n' "sweep-collect, one manifest" "$m" "$(awk -v a="$m" -v b="$p" 'BEGIN {printf "%.3f", a / b}')" "$(max "${mm[@]}")"
printf '%-36s %10s %8s\n' "peak RSS / manifest size (<= 2)" "JSON Lines" "$jr"
printf '%-36s %10s %8s\n' "" "manifest" "$mr"
for r in "$jr" "$mr"; do
  awk -v r="$r" 'BEGIN {exit !(r <= 2)}' ||
    { echo "bench/collect_input.sh: sweep-collect's peak memory is ${r}x the manifest's size (target: at most 2x)" >&2; exit 1; }
done
