//! CRD mode at scale: N EcsService objects in 5 ECS clusters on the real API server
//! (`scripts/k8s-up`) and the simulator, reconciled by a real `ecs-gitops controller`
//! process. Prints the time from a cold start to all Ready, the ECS calls of one steady
//! resync, the controller's RSS at steady state, and the time from a patched image to its
//! UpdateService. `cargo bench --bench crd` (N from BENCH_SERVICES, default 1,000); nothing
//! asserts on the figures.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLUSTERS: usize = 5;
const SPEED: &str = "20";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GET on loopback, the body as JSON.
fn get_json(port: u16, path: &str) -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_default()
}

fn delete(port: u16, path: &str) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl(dir: &Path, args: &[&str]) -> String {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/ecs-gitops/bin/kubectl")
    });
    let out = Command::new(kubectl)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ready_count(dir: &Path) -> usize {
    let listed = kubectl(
        dir,
        &[
            "get",
            "ecsservices",
            "-n",
            "bench",
            "-o",
            "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ],
    );
    listed.lines().filter(|l| *l == "True").count()
}

fn calls(sim: u16) -> serde_json::Value {
    get_json(sim, "/_sim/stats")["calls"].clone()
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let services: usize = std::env::var("BENCH_SERVICES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::Builder::new()
        .prefix("ecs-gitops-crd-bench-")
        .tempdir()
        .unwrap()
        .keep();
    let up = Command::new(repo.join("scripts/k8s-up"))
        .arg(&dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .status()
        .unwrap();
    assert!(up.success(), "scripts/k8s-up failed");
    kubectl(
        &dir,
        &[
            "apply",
            "--server-side",
            "-f",
            repo.join("crds").to_str().unwrap(),
        ],
    );
    kubectl(
        &dir,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    );
    kubectl(&dir, &["create", "namespace", "bench"]);

    let sim_port = free_port();
    let _sim = Killed(
        Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args([
                "sim",
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
                "--speed",
                SPEED,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(sim_port);

    let mut yaml = String::new();
    for c in 0..CLUSTERS {
        yaml.push_str(&format!(
            "---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c{c}\n  namespace: bench\nspec: {{}}\n"
        ));
    }
    for i in 0..services {
        yaml.push_str(&format!(
            "---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: svc-{i:04}\n  namespace: bench\nspec:\n  cluster: c{}\n  desiredCount: 1\n  taskDefinition:\n    containerDefinitions:\n      - {{name: app, image: \"nginx:1\", memory: 128}}\n",
            i % CLUSTERS
        ));
    }
    let file = dir.join("objects.yaml");
    std::fs::write(&file, yaml).unwrap();
    let applying = Instant::now();
    kubectl(&dir, &["create", "-f", file.to_str().unwrap()]);
    println!(
        "{services} EcsService objects created in {:.1} s (kubectl)",
        applying.elapsed().as_secs_f64()
    );

    let web = free_port();
    let resync = Duration::from_secs(30);
    let started = Instant::now();
    let controller = Killed(
        Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args([
                "controller",
                "--namespace",
                "bench",
                "--cluster-name",
                "bench",
            ])
            .args(["--endpoint-url", &format!("http://127.0.0.1:{sim_port}")])
            .args([
                "--api-budget-scale",
                SPEED,
                "--poll",
                "2s",
                "--resync",
                "30s",
            ])
            .args(["--listen", &format!("127.0.0.1:{web}")])
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = controller.0.id();
    loop {
        let ready = ready_count(&dir);
        if ready >= services {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "only {ready} ready"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    println!(
        "cold start to all {services} Ready: {:.1} s (simulator at speed {SPEED})",
        started.elapsed().as_secs_f64()
    );

    // One steady resync round: clear the counts, wait a round and a half, read them.
    std::thread::sleep(resync);
    delete(sim_port, "/_sim/stats");
    std::thread::sleep(resync + resync / 2);
    println!(
        "ECS calls in one steady resync of {services} services in {CLUSTERS} clusters (target: {} DescribeServices and nothing else): {}",
        services.div_ceil(10),
        calls(sim_port)
    );
    println!("controller RSS at steady state: {:.1} MiB", rss_mib(pid));

    // A patched image to its UpdateService.
    let before = calls(sim_port)["UpdateService"]["ok"].as_u64().unwrap_or(0);
    let patched = Instant::now();
    kubectl(
        &dir,
        &[
            "patch",
            "ecsservice/svc-0000",
            "-n",
            "bench",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/taskDefinition/containerDefinitions/0/image","value":"nginx:2"}]"#,
        ],
    );
    loop {
        if calls(sim_port)["UpdateService"]["ok"].as_u64().unwrap_or(0) > before {
            break;
        }
        assert!(
            patched.elapsed() < Duration::from_secs(60),
            "no UpdateService"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "kubectl patch of one image to its UpdateService: {} ms (including kubectl's own start)",
        patched.elapsed().as_millis()
    );
    drop(controller);
    let _ = Command::new(repo.join("scripts/k8s-down"))
        .arg(&dir)
        .status();
}
