//! The CRDs and the examples against a real Kubernetes API server: the unmodified upstream
//! kube-apiserver and etcd that `scripts/k8s-up` builds (once, into a cache outside the
//! repository) and starts on loopback. What only a real server checks: that it accepts the
//! CRDs' structural schemas, prunes nothing from our objects, rejects unknown fields and wrong
//! types, and enforces RBAC on the controller's service account.
//!
//! One API server serves every test of this file. `scripts/k8s-up --owner-pid` stops it
//! (`scripts/k8s-down`) as soon as this test process exits, whether it ends normally, after
//! failed tests, by an abort or by a signal: a static fixture's `Drop` never runs, so the
//! stop is tied to the process rather than to a guard.
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

const GROUP: &str = "ecs-gitops.dev";
const KINDS: [&str; 3] = ["ecsclusters", "ecstaskdefinitions", "ecsservices"];
const CONTROLLER_USER: &str = "system:serviceaccount:ecs-gitops:ecs-gitops";

/// Every kubectl call is bounded by this; the server answers in well under a second.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);
/// A cold build of kube-apiserver and etcd (`scripts/test` does it before `cargo test`).
const BUILD_TIMEOUT: Duration = Duration::from_secs(50 * 60);
const UP_TIMEOUT: Duration = Duration::from_secs(180);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/ecs-gitops`, where `scripts/test` installs kubectl and
/// helm and `scripts/k8s-build` keeps the binaries.
fn cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("ecs-gitops"))
}

/// `$KUBECTL`, the kubectl `scripts/test` installs (of the API server's minor version),
/// or the first on PATH.
fn find_kubectl() -> Option<PathBuf> {
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
fn run(mut cmd: Command, timeout: Duration) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Bench {
    dir: PathBuf,
    kubectl: PathBuf,
}

enum Who {
    Admin,
    Controller,
}

impl Bench {
    fn kubectl(&self, who: Who, args: &[&str]) -> Output {
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
    fn admin(&self, args: &[&str]) -> String {
        let out = self.kubectl(Who::Admin, args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn get_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.admin(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?}: not JSON: {e}"))
    }
}

/// The shared API server, started on first use; `None` when the tests must skip.
fn bench() -> Option<&'static Bench> {
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
fn with_crds() -> Option<&'static Bench> {
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

/// Words of `s`, single-spaced: kubectl explain wraps descriptions at its own width.
fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `kubectl explain FIELD`. The server publishes a new CRD's OpenAPI a moment after the CRD
/// is Established; until then kubectl cannot find the resource, so that is waited out (30 s).
fn explain(bench: &Bench, field: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = bench.kubectl(Who::Admin, &["explain", field]);
        let message = text(&out.stderr);
        if out.status.success() {
            return text(&out.stdout);
        }
        assert!(
            message.contains("couldn't find resource") && Instant::now() < deadline,
            "kubectl explain {field}: {message}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn crds_are_established_and_explained() {
    let Some(bench) = with_crds() else { return };

    let crds = bench.get_json(&["get", "crds"]);
    let ours: Vec<&Value> = crds["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["spec"]["group"] == GROUP)
        .collect();
    let mut names: Vec<&str> = ours
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ecsclusters.ecs-gitops.dev",
            "ecsservices.ecs-gitops.dev",
            "ecstaskdefinitions.ecs-gitops.dev"
        ]
    );
    for crd in ours {
        let name = crd["metadata"]["name"].as_str().unwrap();
        for condition in ["Established", "NamesAccepted"] {
            let status = crd["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == condition)
                .map(|c| c["status"].clone());
            assert_eq!(status, Some("True".into()), "{name}: {condition}");
        }
        // A schema the server finds non-structural is served without pruning or validation.
        let non_structural = crd["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "NonStructuralSchema" && c["status"] == "True");
        assert!(
            !non_structural,
            "{name}: the server finds its schema non-structural"
        );
    }

    // `kubectl explain` reads the published OpenAPI: the ECS documentation must be in it.
    let explained = words(&explain(bench, "ecsservice.spec.deploymentConfiguration"));
    for phrase in [
        "Optional deployment parameters that control how many tasks run during the deployment and the ordering of stopping and starting tasks.",
        "deploymentCircuitBreaker",
        "minimumHealthyPercent",
    ] {
        assert!(
            explained.contains(phrase),
            "explain lacks {phrase:?}:\n{explained}"
        );
    }
    let explained = words(&explain(bench, "ecsservice.spec.taskDefinitionRef"));
    assert!(
        explained.contains("The name of an EcsTaskDefinition of the same source"),
        "{explained}"
    );
}

/// Every manifest file under `dir`, recursively, in a stable order.
fn manifest_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(manifest_files(&path));
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The first place where `a` and `b` differ, as a JSON path.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let (l, r) = (x.get(key), y.get(key));
                match (l, r) {
                    (Some(l), Some(r)) => {
                        if let Some(d) = first_difference(&format!("{path}.{key}"), l, r) {
                            return Some(d);
                        }
                    }
                    _ => {
                        let show = |v: Option<&Value>| v.map_or("nothing".into(), Value::to_string);
                        return Some(format!(
                            "{path}.{key}: sent {}, read back {}",
                            show(l),
                            show(r)
                        ));
                    }
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (l, r))| first_difference(&format!("{path}[{i}]"), l, r)),
        _ if a == b => None,
        _ => Some(format!("{path}: sent {a}, read back {b}")),
    }
}

#[test]
fn examples_are_accepted_and_read_back_unchanged() {
    let Some(bench) = with_crds() else { return };
    let ns = "examples";
    bench.admin(&["create", "namespace", ns]);

    let mut checked = 0;
    for file in manifest_files(&repo().join("examples")) {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        bench.admin(&[
            "apply",
            "--server-side",
            "--validate=strict",
            "--field-manager=k8s-bench",
            "-n",
            ns,
            "-f",
            file.to_str().unwrap(),
        ]);
        for doc in docs
            .iter()
            .filter(|d| d["apiVersion"] == "ecs-gitops.dev/v1alpha1")
        {
            let kind = doc["kind"].as_str().unwrap().to_lowercase();
            let name = doc["metadata"]["name"].as_str().unwrap();
            let live = bench.get_json(&["get", "-n", ns, &format!("{kind}.{GROUP}/{name}")]);
            let what = format!("{}: {kind}/{name}", file.display());
            assert_eq!(
                first_difference("spec", &doc["spec"], &live["spec"]),
                None,
                "{what}: the server changed the spec (sent, then read back)"
            );
            assert_eq!(doc["spec"], live["spec"], "{what}");
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} example objects found");
}

/// A valid EcsService, then the same with one mistake: each is refused by the server
/// (strict field validation, the structural schema), naming the field.
#[test]
fn unknown_fields_and_wrong_types_are_rejected() {
    let Some(bench) = with_crds() else { return };
    let ns = "invalid";
    bench.admin(&["create", "namespace", ns]);
    let files = tempfile::tempdir().unwrap();
    let service = |name: &str, spec_extra: &str| {
        format!(
            "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: {name}\n\
             spec:\n  cluster: quickstart\n  taskDefinitionRef: worker\n{spec_extra}"
        )
    };
    let apply = |name: &str, spec_extra: &str| {
        let path = files.path().join(format!("{name}.yaml"));
        std::fs::write(&path, service(name, spec_extra)).unwrap();
        bench.kubectl(
            Who::Admin,
            &[
                "apply",
                "--validate=strict",
                "-n",
                ns,
                "-f",
                path.to_str().unwrap(),
            ],
        )
    };

    // The baseline is accepted, so what follows fails for its one mistake only.
    let ok = apply("baseline", "  desiredCount: 2\n");
    assert!(
        ok.status.success(),
        "baseline refused: {}",
        text(&ok.stderr)
    );

    for (name, extra, expected) in [
        (
            "unknown",
            "  desiredCountt: 2\n",
            &["desiredCountt", "unknown field"][..],
        ),
        (
            "unknown-nested",
            "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true, rolback: true}\n",
            &[
                "spec.deploymentConfiguration.deploymentCircuitBreaker.rolback",
                "unknown field",
            ],
        ),
        (
            "wrong-type",
            "  desiredCount: two\n",
            &["spec.desiredCount", "must be of type integer"],
        ),
        (
            "wrong-type-nested",
            "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: sometimes, rollback: true}\n",
            &[
                "spec.deploymentConfiguration.deploymentCircuitBreaker.enable",
                "must be of type boolean",
            ],
        ),
    ] {
        let out = apply(name, extra);
        let message = text(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted:\n{extra}");
        assert!(
            // BadRequest (strict decoding) or Invalid (schema validation), from the server.
            message.contains("Error from server (BadRequest)")
                || message.contains(&format!("The EcsService \"{name}\" is invalid")),
            "{name}: not refused by the server: {message}"
        );
        for want in expected {
            assert!(
                message.contains(want),
                "{name}: {want:?} not in {message:?}"
            );
        }
        let get = bench.kubectl(
            Who::Admin,
            &["get", "-n", ns, &format!("ecsservice.{GROUP}/{name}")],
        );
        assert!(
            !get.status.success() && text(&get.stderr).contains("NotFound"),
            "{name}: the refused object exists"
        );
    }
}

/// Before any RBAC is installed, the controller's service account may do nothing the
/// controller needs (the bench really enforces RBAC), while the admin may.
/// No test of this file grants the service account anything.
#[test]
fn controller_token_is_forbidden_without_rbac() {
    let Some(bench) = with_crds() else { return };
    let mut requests: Vec<Vec<String>> = KINDS
        .iter()
        .map(|k| {
            vec![
                "get".into(),
                format!("{k}.{GROUP}"),
                "--all-namespaces".into(),
            ]
        })
        .collect();
    requests.push(vec!["get".into(), "namespaces".into()]);
    requests.push(vec![
        "get".into(),
        "leases.coordination.k8s.io".into(),
        "-n".into(),
        "ecs-gitops".into(),
    ]);
    let files = tempfile::tempdir().unwrap();
    let lease = files.path().join("lease.yaml");
    std::fs::write(
        &lease,
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: ecs-gitops-leader\n  namespace: default\n",
    )
    .unwrap();
    requests.push(vec![
        "create".into(),
        "--dry-run=server".into(),
        "-f".into(),
        lease.to_str().unwrap().into(),
    ]);
    for request in &requests {
        let args: Vec<&str> = request.iter().map(String::as_str).collect();
        bench.admin(&args);
        let out = bench.kubectl(Who::Controller, &args);
        let message = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} allowed to the controller");
        assert!(
            message.contains("(Forbidden)")
                && message.contains(&format!("User \"{CONTROLLER_USER}\"")),
            "{args:?}: not a 403 for the service account: {message}"
        );
    }
    // Authenticated, though: the token is not simply refused (that would be 401).
    let whoami = bench.kubectl(Who::Controller, &["auth", "whoami", "-o", "json"]);
    assert!(whoami.status.success(), "{}", text(&whoami.stderr));
    let review: Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], CONTROLLER_USER);
    let groups = &review["status"]["userInfo"]["groups"];
    for group in [
        "system:serviceaccounts",
        "system:serviceaccounts:ecs-gitops",
    ] {
        assert!(
            groups.as_array().unwrap().iter().any(|g| g == group),
            "{group} not in {groups}"
        );
    }
}
