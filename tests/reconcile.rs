//! `apply` and `diff` against the simulator over HTTP (and against moto for CRUD): what they
//! change, what they leave alone, and what each costs in ECS calls.

mod common;

use std::path::Path;
use std::process::Stdio;

use std::time::{Duration, Instant};
use tokio::process::Command;

use common::{ecs_client, sim_calls, sim_json};
use ecs_gitops::sim::{SimConfig, Simulator};

const SPEED: f64 = 100.0;

async fn simulator() -> Simulator {
    Simulator::start(SimConfig {
        speed: SPEED,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn command(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"));
    command.args(args).args([
        "--endpoint-url",
        endpoint,
        "--api-budget-scale",
        &SPEED.to_string(),
    ]);
    if args[0] == "apply" {
        command.args(["--poll", "50ms"]);
    }
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_REGION", "us-east-1")
        .env("NO_COLOR", "1");
    command
}

async fn run(endpoint: &str, args: &[&str]) -> (i32, String) {
    let out = command(endpoint, args).output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Manifests of a cluster and `count` services running `image`.
fn write_services(dir: &Path, count: usize, image: &str, extra: &str) {
    let mut yaml = String::from(
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c1\nspec: {}\n",
    );
    for i in 0..count {
        yaml.push_str(&format!(
            "---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: svc-{i:03}\nspec:\n  cluster: c1\n  desiredCount: 1\n{extra}  taskDefinition:\n    containerDefinitions:\n      - name: app\n        image: {image}\n        memory: 128\n        environment:\n          - {{name: B, value: \"2\"}}\n          - {{name: A, value: \"1\"}}\n"
        ));
    }
    std::fs::write(dir.join("services.yaml"), yaml).unwrap();
}

async fn mutating_calls(sim: &Simulator) -> u64 {
    let mut total = 0;
    for op in [
        "CreateCluster",
        "RegisterTaskDefinition",
        "CreateService",
        "UpdateService",
        "DeleteService",
        "TagResource",
        "UntagResource",
    ] {
        total += sim_calls(sim.addr(), op, "ok").await;
    }
    total
}

#[tokio::test]
async fn create_then_steady_state_costs_one_describe_per_ten_services() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_services(dir.path(), 25, "nginx:1", "");
    let path = dir.path().to_str().unwrap();
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(sim_calls(sim.addr(), "CreateService", "ok").await, 25);
    assert_eq!(
        sim_calls(sim.addr(), "RegisterTaskDefinition", "ok").await,
        25
    );
    assert!(
        out.contains("EcsService/svc-000: rollout COMPLETED"),
        "{out}"
    );

    sim_json(sim.addr(), "DELETE", "/_sim/stats", "").await;
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(mutating_calls(&sim).await, 0, "{out}");
    assert_eq!(
        sim_calls(sim.addr(), "DescribeServices", "ok").await,
        3,
        "⌈25/10⌉"
    );
    assert_eq!(
        sim_calls(sim.addr(), "DescribeTaskDefinition", "ok").await,
        0,
        "the service tags prove the revision"
    );

    let (code, out) = run(&sim.endpoint(), &["diff", path]).await;
    assert_eq!(code, 0, "ECS defaults never show as a diff: {out}");
}

#[tokio::test]
async fn an_image_change_registers_once_and_updates_once() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_services(dir.path(), 3, "nginx:1", "");
    assert_eq!(run(&sim.endpoint(), &["apply", path]).await.0, 0);
    write_services(dir.path(), 3, "nginx:1", "");
    let mut yaml = std::fs::read_to_string(dir.path().join("services.yaml")).unwrap();
    yaml = yaml.replacen("image: nginx:1", "image: nginx:2", 1);
    std::fs::write(dir.path().join("services.yaml"), yaml).unwrap();
    let (code, out) = run(&sim.endpoint(), &["diff", path]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("~ EcsService/svc-000: update taskDefinition"),
        "{out}"
    );
    assert!(
        out.contains("taskDefinition.containerDefinitions[app].image: \"nginx:1\" → \"nginx:2\""),
        "{out}"
    );
    sim_json(sim.addr(), "DELETE", "/_sim/stats", "").await;
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        sim_calls(sim.addr(), "RegisterTaskDefinition", "ok").await,
        1
    );
    assert_eq!(sim_calls(sim.addr(), "UpdateService", "ok").await, 1);
    assert_eq!(sim_calls(sim.addr(), "CreateService", "ok").await, 0);
    assert_eq!(run(&sim.endpoint(), &["diff", path]).await.0, 0);
}

#[tokio::test]
async fn a_failing_image_is_rolled_back_and_quarantined() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let breaker = "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true, rollback: true}\n";
    write_services(dir.path(), 1, "nginx:1", breaker);
    assert_eq!(run(&sim.endpoint(), &["apply", path]).await.0, 0);
    write_services(dir.path(), 1, "nginx:fail-1", breaker);
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("rollout of svc-000:2 FAILED: ECS deployment circuit breaker"),
        "{out}"
    );
    assert!(
        out.contains("Task failed container health checks")
            || out.contains("Essential container in task exited"),
        "{out}"
    );
    assert!(out.contains("ECS rolled back to svc-000:1"), "{out}");
    // The failed spec is not applied again until it changes.
    sim_json(sim.addr(), "DELETE", "/_sim/stats", "").await;
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert!(out.contains("quarantined"), "{out}");
    assert_eq!(code, 0, "{out}");
    assert_eq!(sim_calls(sim.addr(), "UpdateService", "ok").await, 0);
    // A new spec is tried.
    write_services(dir.path(), 1, "nginx:3", breaker);
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(run(&sim.endpoint(), &["diff", path]).await.0, 0);
}

#[tokio::test]
async fn without_the_circuit_breaker_the_controller_rolls_back_itself() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let policy = "  rollout: {timeout: 2s, onFailure: rollback}\n";
    write_services(dir.path(), 1, "nginx:1", policy);
    assert_eq!(run(&sim.endpoint(), &["apply", path]).await.0, 0);
    write_services(dir.path(), 1, "nginx:missing", policy);
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("timed out"), "{out}");
    assert!(out.contains("CannotPullContainerError"), "{out}");
    assert!(
        out.contains("rolled back to svc-000:1 by ecs-gitops"),
        "{out}"
    );
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("svc-000")
        .send()
        .await
        .unwrap();
    assert!(
        live.services()[0]
            .task_definition()
            .unwrap()
            .ends_with("svc-000:1")
    );
}

#[tokio::test]
async fn a_crash_between_register_and_update_makes_no_second_revision() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_services(dir.path(), 1, "nginx:1", "");
    assert_eq!(run(&sim.endpoint(), &["apply", path]).await.0, 0);
    write_services(dir.path(), 1, "nginx:2", "");
    // UpdateService hangs, so the process is killed after registering and before updating.
    sim_json(
        sim.addr(),
        "POST",
        "/_sim/faults",
        r#"{"operations": ["UpdateService"], "latencyMs": 30000}"#,
    )
    .await;
    let mut child = command(&sim.endpoint(), &["apply", path])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim_calls(sim.addr(), "RegisterTaskDefinition", "ok").await < 2 {
        assert!(Instant::now() < deadline, "no registration");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().await.unwrap(); // SIGKILL

    assert_eq!(
        sim_calls(sim.addr(), "UpdateService", "ok").await,
        0,
        "killed before the update"
    );
    sim_json(sim.addr(), "DELETE", "/_sim/faults", "").await;
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        sim_calls(sim.addr(), "RegisterTaskDefinition", "ok").await,
        2,
        "the revision of the killed run was reused: {out}"
    );
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let revisions = ecs
        .list_task_definitions()
        .family_prefix("svc-000")
        .send()
        .await
        .unwrap();
    assert_eq!(revisions.task_definition_arns().len(), 2);
}

#[tokio::test]
async fn a_throttling_storm_still_converges() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_services(dir.path(), 12, "nginx:1", "");
    sim_json(
        sim.addr(),
        "POST",
        "/_sim/faults",
        r#"{"throttleRate": 0.5}"#,
    )
    .await;
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    let stats = sim_json(sim.addr(), "GET", "/_sim/stats", "").await;
    let throttled: u64 = stats["calls"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|o| o["ThrottlingException"].as_u64())
        .sum();
    assert!(throttled > 10, "the storm happened: {stats}");
    sim_json(sim.addr(), "DELETE", "/_sim/faults", "").await;
    assert_eq!(run(&sim.endpoint(), &["diff", path]).await.0, 0);
}

#[tokio::test]
async fn ignored_fields_and_unowned_services_are_left_alone() {
    let sim = simulator().await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_services(
        dir.path(),
        2,
        "nginx:1",
        "  ignoreDifferences: [desiredCount]\n",
    );
    assert_eq!(run(&sim.endpoint(), &["apply", path]).await.0, 0);
    // Autoscaling changes the count; someone else runs a service in the same cluster.
    ecs.update_service()
        .cluster("c1")
        .service("svc-000")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    common::create_unowned_service(&ecs, "c1", "legacy").await;
    sim_json(sim.addr(), "DELETE", "/_sim/stats", "").await;
    let (code, out) = run(&sim.endpoint(), &["apply", "--prune", path]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(mutating_calls(&sim).await, 0, "{out}");
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("svc-000")
        .services("legacy")
        .send()
        .await
        .unwrap();
    assert_eq!(live.services()[0].desired_count(), 3);
    assert_eq!(live.services()[1].status(), Some("ACTIVE"));
    // A manifest naming the unowned service does not take it over.
    std::fs::write(
        dir.path().join("legacy.yaml"),
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: legacy\nspec:\n  cluster: c1\n  desiredCount: 5\n  taskDefinition: legacy:1\n",
    )
    .unwrap();
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not managed by ecs-gitops"), "{out}");
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("legacy")
        .send()
        .await
        .unwrap();
    assert_eq!(live.services()[0].desired_count(), 1);
}

#[tokio::test]
async fn prune_deletes_owned_services_that_left_the_source() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_services(dir.path(), 3, "nginx:1", "");
    assert_eq!(run(&sim.endpoint(), &["apply", path]).await.0, 0);
    write_services(dir.path(), 2, "nginx:1", "");
    let (code, out) = run(&sim.endpoint(), &["diff", "--prune", path]).await;
    assert_eq!(code, 1);
    assert!(out.contains("- service c1/svc-002: delete"), "{out}");
    let (code, out) = run(&sim.endpoint(), &["apply", "--prune", path]).await;
    assert_eq!(code, 0, "{out}");
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("svc-002")
        .send()
        .await
        .unwrap();
    assert_ne!(live.services()[0].status(), Some("ACTIVE"));
    assert_eq!(sim_calls(sim.addr(), "DeleteService", "ok").await, 1);
}

/// Every real-world task definition that validates, applied and then diffed: no false diffs.
#[tokio::test]
async fn real_world_task_definitions_never_show_a_false_diff() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(shared.join("realworld/taskdefs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut applied = 0;
    for file in files {
        let name = file.file_stem().unwrap().to_str().unwrap();
        let body = std::fs::read_to_string(&file).unwrap();
        let manifest = format!(
            "{{\"apiVersion\": \"ecs-gitops.dev/v1alpha1\", \"kind\": \"EcsTaskDefinition\", \"metadata\": {{\"name\": \"rw-{}\"}}, \"spec\": {body}}}",
            &name[..2]
        );
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, &manifest).unwrap();
        let path = path.to_str().unwrap();
        let valid = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args(["validate", path])
            .output()
            .await
            .unwrap();
        if !valid.status.success() {
            continue; // the known bugs and skeletons: validation names them (tests/realworld.rs)
        }
        let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
        assert_eq!(code, 0, "{name}: {out}");
        let (code, out) = run(&sim.endpoint(), &["diff", path]).await;
        assert_eq!(code, 0, "{name} shows a false diff: {out}");
        applied += 1;
    }
    assert!(applied >= 26, "{applied}");
}

/// The same CRUD through moto's server: created, then in sync.
#[tokio::test]
async fn on_moto_apply_then_diff_is_in_sync() {
    let Some(moto) = common::Moto::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_services(dir.path(), 3, "nginx:1", "  launchType: EC2\n");
    let (code, out) = run(&moto.endpoint, &["apply", "--no-wait", path]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&moto.endpoint, &["diff", path]).await;
    assert_eq!(code, 0, "{out}");
    write_services(dir.path(), 3, "nginx:2", "  launchType: EC2\n");
    let (code, out) = run(&moto.endpoint, &["diff", path]).await;
    assert_eq!(code, 1, "{out}");
}

/// Secret-looking values never leave: not in diff's text or JSON, not in apply's output, not
/// when a whole container or a whole `environment` is added.
#[tokio::test]
async fn secret_looking_values_are_masked_in_diff_and_apply() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let manifest = |password: &str, extra: &str| {
        format!(
            "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c1\nspec: {{}}\n---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: web\nspec:\n  cluster: c1\n  desiredCount: 1\n  taskDefinition:\n    containerDefinitions:\n      - name: app\n        image: nginx:1\n        memory: 128\n        environment:\n          - {{name: DB_PASSWORD, value: {password}}}\n          - {{name: LOG_LEVEL, value: info}}\n{extra}"
        )
    };
    std::fs::write(
        dir.path().join("web.yaml"),
        manifest(
            "hunter2-value",
            "      - {name: log, image: log:1, memory: 64}\n",
        ),
    )
    .unwrap();
    let (code, out) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("hunter2-value"), "{out}");

    let sidecar = "      - name: sidecar\n        image: sidecar:1\n        memory: 64\n        environment: [{name: SIDECAR_SECRET, value: sidecar-s3cr3t}]\n      - name: log\n        image: log:1\n        memory: 64\n        environment: [{name: API_TOKEN, value: api-t0ken-value}]\n";
    std::fs::write(
        dir.path().join("web.yaml"),
        manifest("hunter3-newvalue", sidecar),
    )
    .unwrap();
    let secrets = [
        "hunter2-value",
        "hunter3-newvalue",
        "sidecar-s3cr3t",
        "api-t0ken-value",
    ];
    let (code, text) = run(&sim.endpoint(), &["diff", path]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("environment[DB_PASSWORD].value: \"***\" → \"***\""),
        "{text}"
    );
    assert!(
        text.contains("containerDefinitions[sidecar]: (unset) → {")
            && text.contains("\"SIDECAR_SECRET\",\"value\":\"***\""),
        "{text}"
    );
    assert!(
        text.contains("containerDefinitions[log].environment: (unset) → [{\"name\":\"API_TOKEN\",\"value\":\"***\"}]"),
        "{text}"
    );
    let (code, json) = run(&sim.endpoint(), &["diff", "--output", "json", path]).await;
    assert_eq!(code, 1, "{json}");
    assert!(json.contains("\"***\""), "{json}");
    let (code, applied) = run(&sim.endpoint(), &["apply", path]).await;
    assert_eq!(code, 0, "{applied}");
    for output in [&text, &json, &applied] {
        for secret in secrets {
            assert!(!output.contains(secret), "{secret} shown:\n{output}");
        }
    }
}
