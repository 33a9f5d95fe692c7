#!/usr/bin/env bash
# bench/render.sh: sweep-render against a straightforward Python loop writing the same config
# files with PyYAML (yaml.safe_dump(..., sort_keys=False)), in the same run.
#
#   bench/render.sh                         # 10,000 records, 5 runs each, files under $TMPDIR
#   N=50000 RUNS=3 BENCH_DIR=/dev/shm bench/render.sh   # elsewhere (tmpfs: no disk in the way)
#
# Records have the seed's disaggregated shape; every third has per-role values. Each run writes
# into a fresh directory (re-rendering into the same one would be a no-op). Prints median wall
# time, ratio to the baseline and peak RSS; then checks that a sample of files parse to the same
# data from both. A faster C-accelerated PyYAML variant (CSafeDumper) is shown for reference.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
RUNS=${RUNS:-5}

python3 -c 'import yaml' || { echo "bench/render.sh: needs python3 with PyYAML" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/render.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin sweep-render
bin=$PWD/target/release/sweep-render

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-render.XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 - "$N" > "$work/records.jsonl" <<'EOF'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    r = {"index": i, "id": f"{i:016x}", "mode": "disagg", "total_nodes": 18,
         "parameters": {
             "slurm": {"prefill_nodes": 6, "decode_nodes": 12, "prefill_workers": 3, "decode_workers": 1},
             "sglang": {"max-running-requests": 5000 + i % 3000, "context-length": [2176, 4096][i % 2],
                        "mem-fraction-static": [0.8, 0.82, 0.84][i % 3], "kv-cache-dtype": "fp8_e4m3",
                        "attention-backend": "trtllm_mla", "disable-radix-cache": True}},
         "sweep_file": "/home/user/sweeps/tpt.yaml"}
    if i % 3 == 0:
        r["role_parameters"] = {"prefill": {"chunked-prefill-size": 262144},
                                "decode": {"cuda-graph-bs": [1, 2, 4, 8, 16, 32], "max-running-requests": 8000}}
    print(json.dumps(r, separators=(",", ":")))
EOF

# The baseline: what the seed's loop does, per record, with the record written on as JSON.
cat > "$work/baseline.py" <<'EOF'
import json, os, sys, yaml
dumper = yaml.CSafeDumper if sys.argv[1] == "c" else yaml.SafeDumper
out_dir = os.path.abspath(sys.argv[2])
os.makedirs(out_dir, exist_ok=True)
for line in sys.stdin:
    r = json.loads(line)
    common = r["parameters"].get("sglang") or {}
    roles = r.get("role_parameters") or {}
    if r["mode"] == "disagg":
        cfg = {role: {**common, **roles.get(role, {})} for role in ("prefill", "decode")}
    else:
        cfg = dict(common)
    path = os.path.join(out_dir, f"sglang_config_{r['index']}.yaml")
    with open(path, "w") as f:
        yaml.dump(cfg, f, Dumper=dumper, sort_keys=False)
    r["sweep_dir"], r["config_path"] = out_dir, path
    sys.stdout.write(json.dumps(r, separators=(",", ":")) + "\n")
EOF

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The floor: only the file-system work, creating the same number of files (fixed content, a
# temporary name then rename, as sweep-render does), without any YAML.
cat > "$work/floor.py" <<'EOF'
import os, sys
out_dir = os.path.abspath(sys.argv[1])
os.makedirs(out_dir, exist_ok=True)
data = b"prefill:\n  max-running-requests: 5632\ndecode:\n  max-running-requests: 5632\n" * 3
for line in sys.stdin:
    i = line[len('{"index":'):].split(",", 1)[0]
    path = os.path.join(out_dir, f"sglang_config_{i}.yaml")
    fd = os.open(path + ".tmp", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
    os.rename(path + ".tmp", path)
EOF

# once K NAME CMD...: one timed run into a fresh $work/NAME.K; appends "wall cpu rss_kb" to
# $work/NAME.times. The programs take turns run by run, so load from other processes on the
# machine falls on all of them alike.
once() {
  local k=$1 name=$2; shift 2
  local dir="$work/$name.$k"
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" "$dir" < "$work/records.jsonl" > "$work/$name.out"
  read -r t u s m < "$work/time"
  echo "$t $(echo "$u + $s" | bc -l) $m" >> "$work/$name.times"
  local files; files=$(find "$dir" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)
  [ "$files" = "$N" ] || { echo "$name wrote $files files, expected $N" >&2; exit 1; }
  [ "$k" = 1 ] || rm -rf "$dir"
}

# summary NAME: "median_wall_s median_cpu_s peak_rss_kb"
summary() {
  local f="$work/$1.times"
  echo "$(cut -d' ' -f1 "$f" | median) $(cut -d' ' -f2 "$f" | median) $(cut -d' ' -f3 "$f" | sort -n | tail -1)"
}

for k in $(seq 1 "$RUNS"); do
  once "$k" rust "$bin" --out-dir
  once "$k" py python3 "$work/baseline.py" pure
  once "$k" pyc python3 "$work/baseline.py" c
  once "$k" floor python3 "$work/floor.py"
done
read -r t_rust c_rust m_rust < <(summary rust)
read -r t_py c_py m_py < <(summary py)
read -r t_pyc c_pyc m_pyc < <(summary pyc)
read -r t_floor c_floor m_floor < <(summary floor)

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
fs=$(df --output=fstype "$work" | tail -1 | tr -d ' ')
bench_row render "$N configs on $fs" "python yaml.safe_dump loop" "$t_py" "$t_rust" "$m_rust"
bench_row render "$N configs on $fs, CPU time" "python yaml.safe_dump loop" "$c_py" "$c_rust" "$m_rust"

echo "sweep-render vs Python + PyYAML: $N configs in $(df --output=fstype "$work" | tail -1) $work, median of $RUNS runs"
printf '%-34s %8s %7s %8s %7s %9s\n' program "wall s" ratio "CPU s" ratio "RSS MiB"
row() {
  printf '%-34s %8.3f %6.1fx %8.3f %6.1fx %9.1f\n' "$1" "$2" "$(echo "$t_py / $2" | bc -l)" \
    "$3" "$(echo "$c_py / $3" | bc -l)" "$(echo "$4 / 1024" | bc -l)"
}
row "sweep-render" "$t_rust" "$c_rust" "$m_rust"
row "python yaml.safe_dump (baseline)" "$t_py" "$c_py" "$m_py"
row "python CSafeDumper (reference)" "$t_pyc" "$c_pyc" "$m_pyc"
row "floor: create the files, no YAML" "$t_floor" "$c_floor" "$m_floor"
echo "(ratio = baseline / this; CPU = user + sys; RSS = peak resident set)"

# Same data from both: PyYAML reads a sample of files from each and compares.
python3 - "$work/rust.1" "$work/py.1" "$N" <<'EOF'
import os, random, sys, yaml
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sample = random.Random(1).sample(range(n), min(n, 200))
for i in sample:
    name = f"sglang_config_{i}.yaml"
    with open(os.path.join(a, name)) as fa, open(os.path.join(b, name)) as fb:
        x, y = yaml.safe_load(fa), yaml.safe_load(fb)
    if x != y or list(x) != list(y) or any(list(x[k]) != list(y[k]) for k in x):
        sys.exit(f"{name}: sweep-render {x!r} != PyYAML {y!r}")
print(f"checked {len(sample)} sampled files: same data and key order from both")
EOF
