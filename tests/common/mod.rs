//! Helpers shared by the test modules: running the real binaries, temp dirs, JSON read
//! back, polling until something holds ([`eventually`]), and the start of every test on the
//! local cluster ([`on_slurm`]).

#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of one of the four binaries, built by cargo for this test run.
pub fn bin(name: &str) -> PathBuf {
    match name {
        "sweep-expand" => env!("CARGO_BIN_EXE_sweep-expand").into(),
        "sweep-render" => env!("CARGO_BIN_EXE_sweep-render").into(),
        "sweep-submit" => env!("CARGO_BIN_EXE_sweep-submit").into(),
        "sweep-collect" => env!("CARGO_BIN_EXE_sweep-collect").into(),
        other => panic!("unknown binary {other}"),
    }
}

/// Runs `name args...` with `stdin` fed in full; returns the finished output.
pub fn run(name: &str, args: &[&str], stdin: &str) -> Output {
    run_in(name, args, stdin, None)
}

/// Like [`run`], in directory `dir` when given.
pub fn run_in(name: &str, args: &[&str], stdin: &str, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin(name));
    // Tables fit COLUMNS off a terminal: a test says the width it wants.
    cmd.env_remove("COLUMNS");
    cmd.env("TMPDIR", tmpdir());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut sin = child.stdin.take().unwrap();
    let input = stdin.as_bytes().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = sin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().unwrap();
    out
}

/// The programs' `$TMPDIR` in the tests (dry runs save their scripts there): under the
/// target directory, so that the tests leave nothing in /tmp.
pub fn tmpdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tmpdir");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Stdout as UTF-8.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

/// Stderr as UTF-8.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// A fresh directory under the target dir, removed and recreated for each call with the same
/// name (tests stay inspectable after a failure). Names must be unique per test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory whose path no earlier run used, under [`temp_dir`]`(name)`: job tags are made
/// from the sweep directory's path, and the shared cluster remembers earlier runs' jobs.
pub fn fresh_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = temp_dir(name).join(nanos.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes an executable script (a stand-in or a wrapper of a Slurm command) to `path`.
pub fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The JSON document in `path` (a manifest).
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The JSON Lines in `path`, one value a line (none when the file is missing).
pub fn json_lines(path: &Path) -> Vec<Value> {
    parse_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

/// The JSON Lines a program wrote on stdout.
pub fn stdout_lines(out: &Output) -> Vec<Value> {
    parse_lines(&stdout(out))
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Asks `check` every `every` until it holds (`Ok`), for at most `within`; when the time is
/// up, panics with what it saw last (its `Err`).
pub fn eventually<T>(
    within: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let t0 = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(seen) if t0.elapsed() >= within => {
                panic!("not so within {}s: {seen}", within.as_secs_f64())
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// Runs a shell pipeline with `set -o pipefail`, the four binaries' directory first on PATH.
pub fn sh(script: &str, dir: &Path) -> Output {
    let bindir = bin("sweep-expand").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir)
        .env("PATH", path)
        // Tables fit COLUMNS off a terminal: a test says the width it wants.
        .env_remove("COLUMNS")
        .env("TMPDIR", tmpdir())
        .output()
        .expect("spawn bash")
}

/// Whether the local Slurm cluster answers. When `SWEEP_REQUIRE_SLURM=1` (CI) and it does not,
/// this panics: a test that needs Slurm must fail, not pass, when the run asks for Slurm.
/// Otherwise it prints a loud SKIP line and returns false.
pub fn slurm_available(test: &str) -> bool {
    let up = Command::new("scontrol")
        .arg("ping")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("is UP"))
        .unwrap_or(false);
    if up {
        return true;
    }
    if std::env::var("SWEEP_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("{test}: SWEEP_REQUIRE_SLURM=1 but no Slurm controller answers `scontrol ping` (start it with scripts/local-slurm start)");
    }
    eprintln!("SKIP {test}: no Slurm controller answers (run scripts/local-slurm start as root, or set SWEEP_REQUIRE_SLURM=1 to make this a failure)");
    false
}

/// The start of a test on the local cluster: the hold of a test that uses it normally (many
/// at once), or `None` when no cluster answers and the run does not require one (the test
/// then skips, saying so: see [`slurm_available`]).
///
/// ```ignore
/// let Some(_slurm) = on_slurm("my_test") else { return };
/// ```
pub fn on_slurm(test: &str) -> Option<std::sync::RwLockReadGuard<'static, ()>> {
    slurm_available(test).then(slurm_shared)
}

/// Like [`on_slurm`], for a test that disturbs the cluster (pauses or stops slurmctld): no
/// other Slurm test runs meanwhile.
pub fn on_slurm_alone(test: &str) -> Option<std::sync::RwLockWriteGuard<'static, ()>> {
    slurm_available(test).then(slurm_exclusive)
}

static SLURM_LOCK: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by every test that uses the shared local cluster normally (many at once).
pub fn slurm_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    SLURM_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test that disturbs the shared cluster (pauses or stops slurmctld): no other Slurm
/// test runs meanwhile. Prefer a private `SLURM_CONF` pointing at a dead port where possible.
pub fn slurm_exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    SLURM_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// Cancels the listed Slurm jobs when dropped, so a test cleans up after itself whether it
/// passes or panics (the local cluster is shared by every test of the run).
pub struct Cancel(pub Vec<String>);

impl Cancel {
    /// One more job to cancel at the end.
    pub fn push(&mut self, job_id: String) {
        self.0.push(job_id);
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("scancel").args(&self.0).status();
        }
    }
}

/// A private cluster of `scripts/local-slurm` (its own directory, on ports nobody uses), for a
/// test that restarts, rebuilds or reconfigures one: the shared cluster the other tests use
/// is never touched. Started by [`PrivateCluster::run`]`("start", ...)`; stopped and purged
/// when dropped.
pub struct PrivateCluster {
    pub dir: PathBuf,
    pub base: u16,
    /// The knobs every command of this cluster gets (`SWEEP_SLURM_*`).
    knobs: Vec<(String, String)>,
}

impl PrivateCluster {
    /// A cluster in `temp_dir(name)/cluster` with these knobs (`SWEEP_SLURM_NODES`, ...).
    pub fn new(name: &str, knobs: &[(&str, &str)]) -> PrivateCluster {
        // Ports base+6, +17, +19 and +201.. must be free; try bases far from the usual ones.
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        let seed = (std::process::id() as u16).wrapping_add(name.len() as u16 * 37) % 200;
        let base = (0..200u16)
            .map(|i| 30000 + ((seed + i * 7) % 200) * 100)
            .find(|&b| [6, 17, 19, 201, 202, 203, 204].iter().all(|o| free(b + o)))
            .expect("a free port base");
        PrivateCluster {
            dir: temp_dir(name).join("cluster"),
            base,
            knobs: knobs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// `scripts/local-slurm cmd` for this cluster, with `env` on top of its knobs.
    pub fn run(&self, cmd: &str, env: &[(&str, &str)]) -> Output {
        Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-slurm"))
            .arg(cmd)
            .env("SWEEP_SLURM_DIR", &self.dir)
            .env("SWEEP_SLURM_PORT_BASE", self.base.to_string())
            .env("SWEEP_SLURM_LINK_ETC", "0")
            .env_remove("SLURM_CONF")
            .env_remove("SWEEP_SLURM_CONTAINERS")
            .envs(self.knobs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Its `slurm.conf`: `SLURM_CONF` for its clients.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("etc/slurm.conf")
    }

    /// A Slurm client of this cluster.
    pub fn client(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .unwrap()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.run("stop", &[("SWEEP_SLURM_PURGE", "1")]);
    }
}

/// The images of scripts/local-image: Debian with python3 and PyYAML, and the same without
/// python.
pub struct Images {
    pub python: String,
    pub no_python: String,
}

/// The local images, when the local cluster runs containers: Slurm answers, srun knows
/// `--container-image` (pyxis is loaded from the cluster's plugstack.conf) and
/// scripts/local-image gives both images (built once per machine, then cached). When
/// `SWEEP_REQUIRE_CONTAINERS=1` (scripts/test sets it where pyxis and enroot are installed)
/// and any of that is missing, this panics; otherwise it prints a loud SKIP line and returns
/// `None`.
pub fn containers_available(test: &str) -> Option<&'static Images> {
    static IMAGES: std::sync::OnceLock<Result<Images, String>> = std::sync::OnceLock::new();
    let required = std::env::var("SWEEP_REQUIRE_CONTAINERS").as_deref() == Ok("1");
    if !slurm_available(test) {
        assert!(
            !required,
            "{test}: SWEEP_REQUIRE_CONTAINERS=1 but Slurm is not running"
        );
        return None;
    }
    let found = IMAGES.get_or_init(|| {
        let help = Command::new("srun")
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if !help.contains("--container-image") {
            return Err(
                "srun has no --container-image: the local cluster runs without pyxis \
                        (install pyxis and enroot, then scripts/local-slurm start; see \
                        docs/local-cluster.md#containers)"
                    .to_string(),
            );
        }
        let image = |which: &str| -> Result<String, String> {
            let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-image"))
                .arg(which)
                .output()
                .map_err(|e| format!("scripts/local-image: {e}"))?;
            if !o.status.success() {
                return Err(format!(
                    "scripts/local-image {which} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        Ok(Images {
            python: image("python")?,
            no_python: image("no-python")?,
        })
    });
    match found {
        Ok(images) => Some(images),
        Err(why) if required => panic!("{test}: SWEEP_REQUIRE_CONTAINERS=1 but {why}"),
        Err(why) => {
            eprintln!("SKIP {test}: {why} (set SWEEP_REQUIRE_CONTAINERS=1 to make this a failure)");
            None
        }
    }
}

/// sweep-submit's stderr without the line every run ends with: its summary (`3 new, 0
/// re-run, 0 kept`, `..., 1 not submitted`) or a dry run's (`dry run: 3 job script(s) in
/// DIR, nothing submitted`). Tests about other diagnostics compare the rest.
pub fn without_summary(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !is_summary(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// True for sweep-submit's summary line (see [`without_summary`]).
pub fn is_summary(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("sweep-submit: ") else {
        return false;
    };
    if let Some(dry) = rest.strip_prefix("dry run: ") {
        return dry.contains(" job script(s) in ") && dry.ends_with(", nothing submitted");
    }
    let words: Vec<&str> = rest.split(' ').collect();
    matches!(
        words.as_slice(),
        [_, "new,", _, "re-run,", _, "kept"]
            | [_, "new,", _, "re-run,", _, "kept,", _, "not", "submitted"]
    ) && words[0].parse::<usize>().is_ok()
}

/// Every file and directory under `dir` but those whose name `skip` says, each with its size
/// and modification time: what a run that writes nothing must leave as it was.
pub fn listing(dir: &Path, skip: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if skip(&p.file_name().unwrap().to_string_lossy()) {
                continue;
            }
            let meta = std::fs::metadata(&p).unwrap();
            all.push(format!(
                "{} {} {:?}",
                p.display(),
                meta.len(),
                meta.modified().unwrap()
            ));
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    all.sort();
    all
}
