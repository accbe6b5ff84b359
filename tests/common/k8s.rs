//! A real Kubernetes API server for the tests: the unmodified upstream kube-apiserver and
//! etcd that `scripts/k8s-up` builds (once, into a cache outside the repository) and starts on
//! loopback, one per test process.
//!
//! `scripts/k8s-up --owner-pid` stops it (`scripts/k8s-down`) as soon as the test process
//! exits, whether it ends normally, after failed tests, by an abort or by a signal: a static
//! fixture's `Drop` never runs, so the stop is tied to the process rather than to a guard.
//!
//! Without Go (or the cached binaries), openssl, curl, python3 or kubectl, the tests skip
//! with a loud message outside CI and fail in CI.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const GROUP: &str = "ecs-gitops.dev";
pub const KINDS: [&str; 4] = [
    "ecscapacityproviders",
    "ecsclusters",
    "ecstaskdefinitions",
    "ecsservices",
];
pub const CONTROLLER_USER: &str = "system:serviceaccount:ecs-gitops:ecs-gitops";

/// Every kubectl call is bounded by this; the server answers in well under a second.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);
/// A cold build of kube-apiserver and etcd (`scripts/test` does it before `cargo test`).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(50 * 60);
pub const UP_TIMEOUT: Duration = Duration::from_secs(180);

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/ecs-gitops`, where `scripts/test` installs kubectl and
/// helm and `scripts/k8s-build` keeps the binaries.
pub fn cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("ecs-gitops"))
}

/// `$KUBECTL`, the kubectl `scripts/test` installs (of the API server's minor version),
/// or the first on PATH.
pub fn find_kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(cached) = cache_root().map(|c| c.join("bin/kubectl"))
        && cached.is_file()
    {
        return Some(cached);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
}

/// Runs a command to its end, or kills it and panics after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub struct Bench {
    /// Where `scripts/k8s-up` wrote `kubeconfig` (admin) and `kubeconfig-controller`.
    pub dir: PathBuf,
    pub kubectl: PathBuf,
}

pub enum Who {
    Admin,
    Controller,
}

impl Bench {
    pub fn kubectl(&self, who: Who, args: &[&str]) -> Output {
        let config = match who {
            Who::Admin => "kubeconfig",
            Who::Controller => "kubeconfig-controller",
        };
        let mut cmd = Command::new(&self.kubectl);
        cmd.env("KUBECONFIG", self.dir.join(config))
            .arg("--request-timeout=60s")
            // Discovery and OpenAPI caches in DIR (scripts/k8s-down removes them), not in ~/.kube.
            .arg(format!(
                "--cache-dir={}",
                self.dir.join("kubectl-cache").display()
            ))
            .args(args)
            .current_dir(repo());
        run(cmd, KUBECTL_TIMEOUT)
    }

    /// kubectl as the admin; panics with its output unless it succeeds.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.kubectl(Who::Admin, args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.admin(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?}: not JSON: {e}"))
    }
}

/// The shared API server, started on first use; `None` when the tests must skip.
pub fn bench() -> Option<&'static Bench> {
    static BENCH: OnceLock<Result<Option<Bench>, String>> = OnceLock::new();
    // A panic while starting (a timeout) is kept too, so the next test does not start again.
    let started = BENCH.get_or_init(|| {
        std::panic::catch_unwind(start).unwrap_or_else(|panic| {
            Err(panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "starting the API server panicked".into()))
        })
    });
    match started {
        Ok(bench) => bench.as_ref(),
        Err(e) => panic!("{e}"),
    }
}

fn unavailable(why: &str) -> Result<Option<Bench>, String> {
    let how = "./scripts/test installs kubectl and builds the binaries with the machine's Go";
    if std::env::var_os("CI").is_some() {
        return Err(format!(
            "the Kubernetes test bench is unavailable in CI: {why} ({how})"
        ));
    }
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "!!! SKIPPED: the Kubernetes API server tests: {why} ({how})"
    );
    Ok(None)
}

fn start() -> Result<Option<Bench>, String> {
    let Some(kubectl) = find_kubectl() else {
        return unavailable("kubectl not found");
    };
    // The build first, with its own bound: cold, it takes minutes.
    let build = run(
        Command::new(repo().join("scripts/k8s-build")),
        BUILD_TIMEOUT,
    );
    match build.status.code() {
        Some(0) => {}
        Some(3) => return unavailable(text(&build.stderr).trim()),
        _ => {
            return Err(format!(
                "scripts/k8s-build failed ({}): {}",
                build.status,
                text(&build.stderr)
            ));
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("ecs-gitops-k8s-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep(); // scripts/k8s-down removes it
    let mut up = Command::new(repo().join("scripts/k8s-up"));
    up.arg(&dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string());
    let out = run(up, UP_TIMEOUT);
    match out.status.code() {
        Some(0) => {}
        Some(3) => return unavailable(text(&out.stderr).trim()),
        _ => {
            return Err(format!(
                "scripts/k8s-up failed ({}):\n{}",
                out.status,
                text(&out.stderr)
            ));
        }
    }
    eprintln!("{}", text(&out.stderr).trim());
    Ok(Some(Bench { dir, kubectl }))
}

/// Installs `crds/` once (server-side apply) and waits until every CRD is Established.
pub fn with_crds() -> Option<&'static Bench> {
    static CRDS: OnceLock<Result<(), String>> = OnceLock::new();
    let bench = bench()?;
    let installed = CRDS.get_or_init(|| {
        let apply = bench.kubectl(Who::Admin, &["apply", "--server-side", "-f", "crds/"]);
        if !apply.status.success() {
            return Err(format!(
                "kubectl apply --server-side -f crds/: {}{}",
                text(&apply.stdout),
                text(&apply.stderr)
            ));
        }
        let mut wait = vec![
            "wait".to_string(),
            "--for=condition=Established".into(),
            "--timeout=60s".into(),
        ];
        wait.extend(KINDS.iter().map(|k| format!("crd/{k}.{GROUP}")));
        let wait: Vec<&str> = wait.iter().map(String::as_str).collect();
        let out = bench.kubectl(Who::Admin, &wait);
        if !out.status.success() {
            return Err(format!(
                "CRDs not Established: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            ));
        }
        // Discovery follows a moment later; kubectl needs it to map kinds to resources.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = bench.kubectl(
                Who::Admin,
                &["api-resources", "--api-group", GROUP, "-o", "name"],
            );
            let listed = text(&out.stdout);
            if KINDS
                .iter()
                .all(|k| listed.lines().any(|l| l == format!("{k}.{GROUP}")))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{GROUP} not in discovery after 30 s: {listed}{}",
                    text(&out.stderr)
                ));
            }
            thread::sleep(Duration::from_millis(250));
        }
    });
    if let Err(e) = installed {
        panic!("{e}");
    }
    Some(bench)
}
