//! What a reconcile sweep costs: ECS calls by operation, wall and CPU time, peak memory, for
//! N = 100, 1,000 and 5,000 services across 5 clusters; and how close a deploy wave under
//! ECS's throttling gets to the bound its token buckets set.
//!
//! The simulator runs as its own process (`ecs-gitops sim`), so the figures are the
//! controller's alone. `cargo bench --bench reconcile` prints them; nothing asserts on them.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecs_gitops::api::parse_file;
use ecs_gitops::diff::plan::{Desired, Prune, plan};
use ecs_gitops::ecs::{Calls, EcsConfig, Owner, SdkEcs};
use ecs_gitops::reconcile::{Follow, Options, Reconciler};

const CLUSTERS: usize = 5;

struct Sim {
    child: Child,
    endpoint: String,
}

impl Sim {
    fn start(speed: f64, throttle: bool) -> Sim {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"));
        command.args([
            "sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--speed",
            &speed.to_string(),
        ]);
        if !throttle {
            command.arg("--no-throttle");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Sim {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifests(services: usize, image: &str) -> String {
    let mut yaml = String::new();
    for c in 0..CLUSTERS {
        yaml.push_str(&format!("---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c{c}\nspec: {{}}\n"));
    }
    for i in 0..services {
        yaml.push_str(&format!(
            "---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: svc-{i:05}\nspec:\n  cluster: c{}\n  desiredCount: 1\n  taskDefinition:\n    containerDefinitions:\n      - name: app\n        image: {image}\n        memory: 128\n        environment:\n          - {{name: MODE, value: bench}}\n",
            i % CLUSTERS
        ));
    }
    yaml
}

fn desired(services: usize, image: &str, region: &str) -> Desired {
    let mut parsed = parse_file("bench.yaml", &manifests(services, image));
    parsed.check_rules();
    assert_eq!(parsed.errors(), 0, "{:?}", parsed.diagnostics.first());
    Desired::from_manifests(&parsed.manifests, region, Owner::new("bench"))
}

/// CPU time of the calling thread (the whole controller runs on it: a current-thread runtime).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        stat.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn calls_since(ecs: &SdkEcs, before: &Calls) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, count) in ecs.calls() {
        let delta = count - before.get(&key).copied().unwrap_or(0);
        if delta > 0 {
            let (_, operation, outcome) = key;
            *out.entry(format!("{operation}:{outcome}")).or_default() += delta;
        }
    }
    out
}

async fn client(endpoint: &str, budget_scale: f64) -> SdkEcs {
    SdkEcs::new(EcsConfig {
        endpoint_url: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        budget_scale,
        anonymous: true,
        ..EcsConfig::default()
    })
    .await
}

async fn steady_sweep(services: usize) {
    let sim = Sim::start(1000.0, false);
    let ecs = client(&sim.endpoint, 1000.0).await;
    let desired = desired(services, "nginx:1", "us-east-1");
    let reconciler = Reconciler::new(ecs);
    let options = Options {
        poll: Duration::from_millis(200),
        concurrency: 32,
        ..Options::default()
    };
    let start = Instant::now();
    let observed = reconciler.observe(&desired, false).await.unwrap();
    let report = reconciler
        .execute(&plan(&desired, &observed, Prune::Off), &options, &|_, _| {})
        .await;
    assert_eq!(report.failed(), 0, "{report:?}");
    let create = start.elapsed();
    // The first sweep after creation reads what changed; the ones after it are steady.
    reconciler.observe(&desired, false).await.unwrap();
    let before = reconciler.ecs.calls();
    let (cpu, wall) = (thread_cpu(), Instant::now());
    let observed = reconciler.observe(&desired, false).await.unwrap();
    let steady = plan(&desired, &observed, Prune::Off);
    let (wall, cpu) = (wall.elapsed(), thread_cpu() - cpu);
    assert!(steady.in_sync() && steady.actions.is_empty());
    let calls = calls_since(&reconciler.ecs, &before);
    let expected: usize = (0..CLUSTERS)
        .map(|c| (services / CLUSTERS + usize::from(c < services % CLUSTERS)).div_ceil(10))
        .sum();
    println!(
        "N={services:>5}: created in {:.1}s; steady sweep: {wall:.1?} wall, {cpu:.1?} CPU; calls {calls:?} (Σ⌈Nᵢ/10⌉ = {expected}); peak RSS {:.1} MiB",
        create.as_secs_f64(),
        peak_rss_mib()
    );
}

async fn deploy_wave(services: usize, speed: f64) {
    let sim = Sim::start(speed, true);
    let ecs = client(&sim.endpoint, speed).await;
    let reconciler = Reconciler::new(ecs);
    let options = Options {
        follow: Follow::Not,
        concurrency: 32,
        ..Options::default()
    };
    let first = desired(services, "nginx:1", "us-east-1");
    let observed = reconciler.observe(&first, false).await.unwrap();
    reconciler
        .execute(&plan(&first, &observed, Prune::Off), &options, &|_, _| {})
        .await;
    // Let the buckets refill before the wave.
    tokio::time::sleep(Duration::from_secs_f64(25.0 / speed + 0.5)).await;
    let second = desired(services, "nginx:2", "us-east-1");
    let start = Instant::now();
    let observed = reconciler.observe(&second, false).await.unwrap();
    let report = reconciler
        .execute(&plan(&second, &observed, Prune::Off), &options, &|_, _| {})
        .await;
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(report.failed(), 0, "{report:?}");
    // 20 registrations at once, then one per second of simulated time.
    let bound = (services as f64 - 20.0) / speed;
    println!(
        "deploy wave N={services}, throttling on, speed {speed}: {wall:.2}s wall; bucket bound {bound:.2}s ({:+.1} %), i.e. {:.0}s at speed 1",
        (wall / bound - 1.0) * 100.0,
        wall * speed
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for services in [100, 1_000, 5_000] {
            steady_sweep(services).await;
        }
        deploy_wave(100, 10.0).await;
    });
}
