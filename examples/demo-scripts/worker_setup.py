#!/usr/bin/env python3
"""Stand-in for srt-slurm's worker_setup.py: same arguments, no GPUs, no Dynamo.

Every node of a sweep job runs this (see docs/jobscript.md). It
records what it received as one JSON file per process,
<SWEEP_LOG_DIR>/nodes/<node>_<role>_w<worker_idx>_r<local_rank>.json, then, for prefill,
decode and aggregated workers, runs <gpu_type>/<disagg|agg>/<script_variant>.sh with the
environment the real worker_setup.py gives it. It exits non-zero when the config it was given
cannot be read or the launch script fails. Python standard library only (PyYAML if present).

SWEEP_DEMO_FAIL=<role>_w<idx>_r<rank> makes that process print a CUDA out-of-memory error on
stderr and exit 3 (to test failing jobs and the cause sweep-collect finds).
SWEEP_DEMO_HANG=<role>_w<idx>_r<rank> makes that process print a loading line on stderr and
then never end, as an engine stuck loading its weights (to test jobs that reach their time
limit, or that are cancelled while they run).

Each report also holds what the process saw of its surroundings: the image it runs in (the
first line of /etc/sweep-image, which scripts/local-image writes; null on a bare node), its
python, the variables the job script exports (docs/jobscript.md) and the directories they
name. With SWEEP_DEMO_CHECK_MOUNTS=1 in the job's environment (scripts/demo sets it; the
variable itself must cross into the container to count), the process also checks them and
exits 4, naming the first problem on stderr, unless: MODEL_DIR and CONFIG_DIR are directories
holding the marker files scripts/demo puts in the host directories (the right ones are
mounted where the script says), SWEEP_LOG_DIR is a directory, SWEEP_RECORD_INDEX and
SWEEP_RECORD_ID are set, SGLANG_CONFIG_PATH names the file given as --sglang-config-path, and
a prefill or decode worker's SGLANG_CONFIG_KEY is its role.
"""

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

DIST_INIT_PORT = 29500
# What the job script exports to every process (docs/jobscript.md, "Environment").
EXPORTED = ("SWEEP_LOG_DIR", "SWEEP_RECORD_INDEX", "SWEEP_RECORD_ID", "MODEL_DIR", "CONFIG_DIR",
            "SGLANG_CONFIG_PATH", "SGLANG_CONFIG_KEY")
# Files scripts/demo puts in the model and config directories it passes to sweep-submit.
MARKERS = {"MODEL_DIR": "sweep-demo-model.json", "CONFIG_DIR": "sweep-demo-configs.json"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="worker setup (demo stand-in)")
    p.add_argument("--leader_ip", type=str)
    p.add_argument("--master_ip", type=str, required=True)
    p.add_argument("--worker_idx", type=int)
    p.add_argument("--local_rank", type=int)
    p.add_argument("--nodes_per_worker", type=int)
    p.add_argument("--worker_type", required=True,
                   choices=["decode", "prefill", "frontend", "nginx", "aggregated"])
    p.add_argument("--gpus_per_node", type=int, default=8)
    p.add_argument("--gpu_utilization_log", type=str)
    p.add_argument("--gpu_type", type=str, default="gb200-fp8")
    p.add_argument("--script-variant", type=str)
    p.add_argument("--nginx_config", type=str)
    p.add_argument("--multiple-frontends-enabled", action="store_true")
    p.add_argument("--use_init_locations", action="store_true")
    p.add_argument("--dump-config-path", type=str)
    p.add_argument("--use-dynamo-whls", action="store_true")
    p.add_argument("--sglang-config-path", type=str)
    p.add_argument("--config-key", type=str)
    return p.parse_args(argv)


def scalar(text):
    """One YAML scalar of a simple block document (what sweep-render writes)."""
    text = text.strip()
    if text in ("", "~", "null"):
        return None
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    try:
        return json.loads(text)  # numbers, true/false, "double quoted", [flow, lists]
    except ValueError:
        return text


def tiny_yaml(text):
    """Mappings nested by indentation, scalar values: enough for rendered SGLang configs."""
    root = {}
    stack = [(-1, root)]
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.strip() == "---":
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        key, sep, value = raw.strip().partition(":")
        if not sep:
            raise ValueError("not a 'key: value' line: %r" % raw)
        key = scalar(key)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip() == "":
            parent[key] = {}
            stack.append((indent, parent[key]))
        else:
            parent[key] = scalar(value)
    return root


def read_config(path):
    text = Path(path).read_text()
    try:
        import yaml  # noqa: PLC0415
        return yaml.safe_load(text), "yaml"
    except ImportError:
        return tiny_yaml(text), "tiny"


def directory(path):
    """What a process sees at `path`: whether it is a directory, and its first entries."""
    if not path:
        return None
    try:
        return {"path": path, "is_dir": True, "entries": sorted(os.listdir(path))[:20]}
    except OSError as e:
        return {"path": path, "is_dir": False, "error": e.strerror}


def surroundings(args):
    """The image, python, exported variables and mounted directories this process sees."""
    try:
        image = Path("/etc/sweep-image").read_text().splitlines()[0]
    except (OSError, IndexError):
        image = None
    env = {k: os.environ.get(k) for k in EXPORTED}
    dirs = {k: directory(env[k]) for k in ("MODEL_DIR", "CONFIG_DIR", "SWEEP_LOG_DIR")}
    dirs["scripts"] = directory(str(Path(__file__).resolve().parent))
    if args.sglang_config_path:
        dirs["config"] = directory(str(Path(args.sglang_config_path).parent))
    return {"image": image, "python": "%s %s" % (sys.executable, platform.python_version()),
            "env": env, "dirs": dirs}


def check_surroundings(args, role, seen):
    """The first problem with what the job script promises this process, or None."""
    env = seen["env"]
    for var, marker in MARKERS.items():
        d = seen["dirs"][var]
        if d is None:
            return "%s is not set" % var
        if not d["is_dir"]:
            return "%s=%s is not a directory here (%s)" % (var, d["path"], d["error"])
        if marker not in d["entries"]:
            return "%s=%s does not hold %s: another directory is mounted there" % (var, d["path"], marker)
    d = seen["dirs"]["SWEEP_LOG_DIR"]
    if d is None or not d["is_dir"]:
        return "SWEEP_LOG_DIR=%s is not a directory here" % env["SWEEP_LOG_DIR"]
    for var in ("SWEEP_RECORD_INDEX", "SWEEP_RECORD_ID"):
        if not env[var]:
            return "%s is not set" % var
    if args.sglang_config_path and env["SGLANG_CONFIG_PATH"] != args.sglang_config_path:
        return "SGLANG_CONFIG_PATH=%s but --sglang-config-path %s" % (env["SGLANG_CONFIG_PATH"], args.sglang_config_path)
    if args.sglang_config_path and role in ("prefill", "decode") and env["SGLANG_CONFIG_KEY"] != role:
        return "SGLANG_CONFIG_KEY=%s in a %s worker" % (env["SGLANG_CONFIG_KEY"], role)
    return None


def launch_script(args):
    base = Path(__file__).resolve().parent
    if args.worker_type == "aggregated":
        return [str(base / args.gpu_type / "agg" / (args.script_variant + ".sh"))]
    return [str(base / args.gpu_type / "disagg" / (args.script_variant + ".sh")), args.worker_type]


def run_launch_script(args, config_path):
    env = dict(os.environ)
    nodes = args.nodes_per_worker or 1
    env.update({
        "HOST_IP_MACHINE": args.leader_ip or "",
        "PORT": str(DIST_INIT_PORT),
        "TOTAL_GPUS": str(nodes * args.gpus_per_node),
        "RANK": str(args.local_rank or 0),
        "TOTAL_NODES": str(nodes),
        "USE_INIT_LOCATIONS": str(args.use_init_locations),
        "USE_DYNAMO_WHLS": str(args.use_dynamo_whls),
        "NATS_SERVER": "nats://%s:4222" % args.master_ip,
        "ETCD_ENDPOINTS": "http://%s:2379" % args.master_ip,
    })
    if args.dump_config_path:
        env["DUMP_CONFIG_PATH"] = args.dump_config_path
    if config_path:
        env["SGLANG_CONFIG_PATH"] = config_path
    cmd = ["bash"] + launch_script(args)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return {"command": cmd, "exit": proc.returncode, "stdout": proc.stdout.splitlines()}


def main():
    args = parse_args()
    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    role = args.worker_type
    idx = args.worker_idx if args.worker_idx is not None else 0
    rank = args.local_rank if args.local_rank is not None else 0
    name = "%s_w%d_r%d" % (role, idx, rank)
    config_path = args.sglang_config_path or os.environ.get("SGLANG_CONFIG_PATH")
    config_key = args.config_key or os.environ.get("SGLANG_CONFIG_KEY")
    out = {
        "node": node,
        "hostname": socket.gethostname(),
        "role": role,
        "worker_idx": args.worker_idx,
        "local_rank": args.local_rank,
        "nodes_per_worker": args.nodes_per_worker,
        "leader_ip": args.leader_ip,
        "master_ip": args.master_ip,
        "gpu_type": args.gpu_type,
        "script_variant": args.script_variant,
        "gpus_per_node": args.gpus_per_node,
        "multiple_frontends": args.multiple_frontends_enabled,
        "use_init_locations": args.use_init_locations,
        "use_dynamo_whls": args.use_dynamo_whls,
        "dump_config_path": args.dump_config_path,
        "gpu_utilization_log": args.gpu_utilization_log,
        "nginx_config": args.nginx_config,
        "config_path_flag": args.sglang_config_path,
        "config_key_flag": args.config_key,
        "config_path_env": os.environ.get("SGLANG_CONFIG_PATH"),
        "config_key_env": os.environ.get("SGLANG_CONFIG_KEY"),
        "argv": sys.argv[1:],
    }
    out.update(surroundings(args))
    status = 0
    if os.environ.get("SWEEP_DEMO_CHECK_MOUNTS") == "1":
        problem = check_surroundings(args, role, out)
        out["check"] = problem or "ok"
        if problem:
            print("sweep demo worker %s on %s: %s" % (name, node, problem), file=sys.stderr)
            status = 4
    if status == 0 and config_path and role in ("prefill", "decode", "aggregated"):
        try:
            config, parser = read_config(config_path)
            out["config_parser"] = parser
            out["config"] = config.get(config_key) if config_key else config
            if out["config"] is None:
                raise KeyError("no section %r in %s" % (config_key, config_path))
        except Exception as e:  # noqa: BLE001
            out["config_error"] = "%s: %s" % (type(e).__name__, e)
            status = 1
    if role == "nginx":
        try:
            out["nginx_conf"] = Path(args.nginx_config).read_text().splitlines()
        except OSError as e:
            out["nginx_error"] = str(e)
            status = 1
    if status == 0 and role in ("prefill", "decode", "aggregated"):
        out["launch"] = run_launch_script(args, config_path)
        status = 1 if out["launch"]["exit"] != 0 else 0
    if os.environ.get("SWEEP_DEMO_HANG") == name:
        # What a real engine prints while it loads, then nothing more.
        print("Loading safetensors checkpoint shards:  40%% (2/5) (stand-in hang of %s on %s)"
              % (name, node), file=sys.stderr, flush=True)
        while True:
            time.sleep(60)
    if os.environ.get("SWEEP_DEMO_FAIL") == name:
        # What a real engine leaves at the end of its stderr when it fails.
        print("Traceback (most recent call last):", file=sys.stderr)
        print('  File "/sgl-workspace/sglang/python/sglang/srt/model_executor/model_runner.py"', file=sys.stderr)
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
              "(stand-in failure of %s on %s)" % (name, node), file=sys.stderr)
        print("", file=sys.stderr)
        status = 3
    out["exit"] = status
    log_dir = Path(os.environ.get("SWEEP_LOG_DIR") or ".") / "nodes"
    log_dir.mkdir(parents=True, exist_ok=True)
    target = log_dir / ("%s_%s.json" % (node, name))
    tmp = target.with_name("." + target.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(target)
    print("%s on %s: %s" % (name, node, "ok" if status == 0 else "exit %d" % status))
    return status


if __name__ == "__main__":
    sys.exit(main())
