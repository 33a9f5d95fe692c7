//! Containers for real (issue 25): the built-in job script's steps run through pyxis and
//! enroot on the local cluster, in the image of scripts/local-image. The demo's
//! disaggregated sweep runs inside it, every process checking what the job script promised
//! it; the failures a user meets first (no image file, an image without python, a mount
//! source missing on the node, the wrong directory mounted) end FAILED with pyxis', enroot's
//! or the engine's own words as the cause in `sweep-collect --status`.
//!
//! These tests need pyxis and enroot on the machine (docs/local-cluster.md#containers):
//! without them they skip loudly, and fail when `SWEEP_REQUIRE_CONTAINERS=1`.

use crate::common::{
    self, bin, containers_available, read_json, slurm_shared, stderr, stdout, temp_dir,
    PrivateCluster,
};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_runs_inside_the_image() {
    let Some(images) = containers_available("the_demo_runs_inside_the_image") else {
        return;
    };
    let _slurm = slurm_shared();
    let dir = temp_dir("container_demo");
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo"))
        .current_dir(&dir)
        .env("SWEEP_BIN_DIR", bin("sweep-expand").parent().unwrap())
        .env("SWEEP_DEMO_DIR", dir.join("run"))
        .env("SWEEP_DEMO_CONTAINER", "1")
        .output()
        .unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "scripts/demo failed:\n{o}{e}");
    let m = read_json(&dir.join("run/sweep/sweep_manifest.json"));
    assert_eq!(m["counts"]["by_state"]["COMPLETED"], 2, "{m}");
    // Every job script asks pyxis for the image; every process of both jobs (2 prefill
    // workers of 1 node, 1 decode worker of 2 nodes) saw it, the mounts and the variables.
    for job in m["jobs"].as_array().unwrap() {
        let script = std::fs::read_to_string(job["job_script"].as_str().unwrap()).unwrap();
        assert!(
            script.contains(&format!("--container-image='{}'", images.python)),
            "{script}"
        );
    }
    let key = Path::new(&images.python)
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let inside = format!("in image {key} (");
    let promised =
        "model, configs and config mounted where the script says, exported variables arrived";
    assert_eq!(
        o.lines()
            .filter(|l| l.contains(&inside) && l.ends_with(promised))
            .count(),
        8,
        "{o}"
    );
    assert_eq!(o.matches("swept values received").count(), 8, "{o}");
    assert!(!o.contains("MISMATCH"), "{o}");
    // The reports themselves: written from inside the image (its python, not the host's).
    let job = &m["jobs"][0];
    let nodes = Path::new(job["log_dir"].as_str().unwrap())
        .join(job["job_id"].as_str().unwrap())
        .join("nodes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&nodes).unwrap() {
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        assert!(
            report["image"]
                .as_str()
                .unwrap()
                .starts_with(&format!("sweep local image {key}:")),
            "{report}"
        );
        assert!(
            report["python"]
                .as_str()
                .unwrap()
                .starts_with("/usr/bin/python3"),
            "{report}"
        );
        assert_eq!(report["env"]["MODEL_DIR"], "/model/");
        assert_eq!(report["check"], "ok", "{report}");
        seen += 1;
    }
    assert_eq!(seen, 4, "{}", nodes.display());
}

/// One failure case: a one-node aggregated job submitted with `image` and `model_dir`.
struct Case {
    name: &'static str,
    image: String,
    model_dir: String,
    cause: String,
}

#[test]
fn container_failures_end_failed_with_their_cause() {
    let Some(images) = containers_available("container_failures_end_failed_with_their_cause")
    else {
        return;
    };
    let _slurm = slurm_shared();
    let dir = temp_dir("container_failures");
    std::fs::write(
        dir.join("sweep.yaml"),
        "slurm:\n  agg_nodes: [1]\n  agg_workers: [1]\nsglang:\n  mem-fraction-static: 0.8\n",
    )
    .unwrap();
    let model = dir.join("model");
    let configs = dir.join("configs");
    let empty = dir.join("empty-model");
    for d in [&model, &configs, &empty] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(model.join("sweep-demo-model.json"), "{}\n").unwrap();
    std::fs::write(configs.join("sweep-demo-configs.json"), "{}\n").unwrap();
    let missing_image = dir.join("no-such-image.sqsh").display().to_string();
    let missing_model = dir.join("no-such-model").display().to_string();
    let model = model.display().to_string();
    let cases = [
        Case {
            name: "missing-image",
            image: missing_image.clone(),
            model_dir: model.clone(),
            cause: format!("error: pyxis: [ERROR] No such file or directory: {missing_image}"),
        },
        Case {
            name: "no-python",
            image: images.no_python.clone(),
            model_dir: model.clone(),
            // slurmstepd's words (`execve(): python3: No such file or directory`), or
            // env's when the image's entry goes through it (`/usr/bin/env: 'python3': ...`)
            cause: "python3".to_string(),
        },
        Case {
            name: "missing-mount",
            image: images.python.clone(),
            model_dir: missing_model.clone(),
            cause: format!(
                "error: pyxis: --container-mounts: source path does not exist: {missing_model}"
            ),
        },
        // The engine's own check, from inside the container: a directory without the
        // model's files is mounted at /model/.
        Case {
            name: "wrong-mount",
            image: images.python.clone(),
            model_dir: empty.display().to_string(),
            cause: "MODEL_DIR=/model/ does not hold sweep-demo-model.json: another directory is mounted there".to_string(),
        },
    ];
    let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo-scripts");
    let mut cancel = common::Cancel(Vec::new());
    for c in &cases {
        let out = common::sh(
            &format!(
                "export SWEEP_DEMO_CHECK_MOUNTS=1
sweep-expand sweep.yaml | sweep-render --out-dir {name} \
  | sweep-submit --account sweepacct --partition batch --model-dir '{model}' --config-dir '{configs}' \
      --scripts-dir '{scripts}' --gpu-type demo --script-variant max-tpt --network-interface lo \
      --time-limit 00:05:00 --container-image '{image}' \
  | sweep-collect --output {name}/m.json",
                name = c.name,
                model = c.model_dir,
                configs = configs.display(),
                image = c.image,
            ),
            &dir,
        );
        assert!(out.status.success(), "{}: {}", c.name, stderr(&out));
        let m = read_json(&dir.join(c.name).join("m.json"));
        cancel.push(m["jobs"][0]["job_id"].as_str().unwrap().to_string());
    }
    for c in &cases {
        let m = dir.join(c.name).join("m.json").display().to_string();
        let wait = common::run(
            "sweep-collect",
            &[
                "--wait",
                "--poll-interval",
                "1",
                "--max-interval",
                "2",
                "--timeout",
                "240",
                &m,
            ],
            "",
        );
        assert_eq!(wait.status.code(), Some(1), "{}: {}", c.name, stderr(&wait));
        let mut table = Command::new(bin("sweep-collect"));
        table
            .args(["--status", "--format", "table", &m])
            .env("COLUMNS", "400");
        let shown = table.output().unwrap();
        let text = stdout(&shown);
        let row = text
            .lines()
            .find(|l| l.contains("FAILED"))
            .unwrap_or_else(|| panic!("{}: no FAILED row in\n{text}{}", c.name, stderr(&shown)));
        assert!(row.contains(&c.cause), "{}: {row}", c.name);
        if c.name == "no-python" {
            assert!(row.contains("No such file or directory"), "{row}");
        }
        let job = &read_json(Path::new(&m))["jobs"][0];
        assert_eq!(job["state"], "FAILED", "{}: {job}", c.name);
        let file = job["failure"]["file"].as_str().unwrap();
        assert!(
            file.ends_with("_agg_w0.err"),
            "{}: the cause comes from the step's own stderr: {job}",
            c.name
        );
    }
}

#[test]
fn local_slurm_loads_pyxis_only_where_it_is_and_when_asked() {
    let test = "local_slurm_loads_pyxis_only_where_it_is_and_when_asked";
    // Starting a cluster needs root, which the shared cluster's presence implies here.
    if !common::slurm_available(test) {
        return;
    }
    // One node, no accounting: it starts in about a second.
    let c = PrivateCluster::new(
        "container_cluster",
        &[
            ("SWEEP_SLURM_ACCOUNTING", "none"),
            ("SWEEP_SLURM_NODES", "1"),
            ("SWEEP_SLURM_REAL_NODES", "1"),
        ],
    );
    // Required but absent: start refuses, naming what it looked for.
    let o = c.run(
        "start",
        &[
            ("SWEEP_SLURM_CONTAINERS", "1"),
            ("SWEEP_SLURM_PYXIS", "/nonexistent/spank_pyxis.so"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "SWEEP_SLURM_CONTAINERS=1 but no pyxis plugin (looked for: /nonexistent/spank_pyxis.so"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(c.run("status", &[]).status.code(), Some(3));
    // Off: no plugstack.conf, so srun does not know --container-image.
    let o = c.run("start", &[("SWEEP_SLURM_CONTAINERS", "0")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plugstack = c.dir.join("etc/plugstack.conf");
    assert!(!plugstack.exists());
    assert!(stdout(&c.run("status", &[])).contains("containers: off\n"));
    let help = stdout(&c.client("srun", &["--help"]));
    assert!(!help.contains("--container-image"), "{help}");
    // On, where pyxis and enroot are installed: the settings changed, so start restarts with
    // the plugin loaded, and a step really runs in the image on this node's own enroot state.
    let Some(images) = containers_available(test) else {
        return;
    };
    let o = c.run("start", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("running with other settings"),
        "{}",
        stderr(&o)
    );
    let conf = std::fs::read_to_string(&plugstack).unwrap();
    assert!(
        conf.starts_with("required /") && conf.contains("spank_pyxis.so runtime_path="),
        "{conf}"
    );
    assert!(stdout(&c.run("status", &[])).contains("containers: pyxis /"));
    let help = stdout(&c.client("srun", &["--help"]));
    assert!(help.contains("--container-image"), "{help}");
    let image = format!("--container-image={}", images.python);
    let step = c.client(
        "srun",
        &[
            "-N1",
            &image,
            "sh",
            "-c",
            "cat /etc/sweep-image; echo $ENROOT_DATA_PATH",
        ],
    );
    assert!(step.status.success(), "{}", stderr(&step));
    assert!(
        stdout(&step).starts_with("sweep local image "),
        "{}",
        stdout(&step)
    );
    let wrapper = std::fs::read_to_string(c.dir.join("enroot/gpu-001/bin/enroot")).unwrap();
    let data = wrapper
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ENROOT_DATA_PATH="))
        .unwrap()
        .trim_end_matches("/$u")
        .to_string();
    assert!(
        data.contains("/sweep-enroot-") && data.ends_with("/gpu-001"),
        "{wrapper}"
    );
    assert!(Path::new(&data).is_dir());
    // stop removes the cluster's unpacked containers.
    assert!(c.run("stop", &[]).status.success());
    assert!(!Path::new(&data).parent().unwrap().exists(), "{data}");
}
