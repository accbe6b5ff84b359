//! `ecs-gitops controller` as it runs for real: the real API server (`common::k8s`), the ECS
//! simulator and the controller as separate processes. The controller runs with the service
//! account token of the install (`manifests/`), so a missing RBAC rule fails these tests.
//! Each test has its own namespace, simulator and controller.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::k8s::{Bench, Who, text, with_crds};
use common::{ecs_client, free_port, sim_calls, wait_for_port};
use serde_json::Value;
use tokio::process::{Child, Command};

const SPEED: &str = "50";

/// The bench with the CRDs and the install's service account and RBAC (`manifests/`).
fn installed() -> Option<&'static Bench> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let bench = with_crds()?;
    INSTALLED.get_or_init(|| {
        bench.admin(&["apply", "--server-side", "-f", "manifests/"]);
    });
    Some(bench)
}

/// A namespace, a simulator and (started on demand) controllers, for one test.
struct Setup {
    bench: &'static Bench,
    ns: String,
    sim: Child,
    sim_addr: std::net::SocketAddr,
    root: tempfile::TempDir,
}

struct Running {
    child: Child,
    web: u16,
    log: PathBuf,
}

impl Setup {
    async fn new(name: &str) -> Option<Setup> {
        let bench = installed()?;
        let ns = format!("crd-{name}");
        bench.admin(&["create", "namespace", &ns]);
        let (sim, sim_addr) = common::sim_process(SPEED).await;
        Some(Setup {
            bench,
            ns,
            sim,
            sim_addr,
            root: tempfile::tempdir().unwrap(),
        })
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.sim_addr)
    }

    /// A controller process for this namespace, with the service account's token.
    async fn controller(&self, name: &str, extra: &[&str]) -> Running {
        let web = free_port();
        let log = self.root.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args(["controller", "--namespace", &self.ns])
            .args([
                "--endpoint-url",
                &self.endpoint(),
                "--api-budget-scale",
                SPEED,
            ])
            .args(["--listen", &format!("127.0.0.1:{web}")])
            .args([
                "--poll",
                "300ms",
                "--resync",
                "3s",
                "--cluster-name",
                "bench",
            ])
            .args(extra)
            .env("KUBECONFIG", self.bench.dir.join("kubeconfig-controller"))
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_STS", self.endpoint())
            .env("HOSTNAME", name)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_for_port(web).await;
        Running { child, web, log }
    }

    fn apply(&self, yaml: &str) {
        let file = self.root.path().join("object.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.bench
            .admin(&["apply", "-n", &self.ns, "-f", file.to_str().unwrap()]);
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["-n", &self.ns]);
        self.bench.admin(&all)
    }

    /// A JSON-patch `replace` of one field, as `kubectl patch` does it.
    fn replace(&self, object: &str, path: &str, value: &str) {
        let patch = serde_json::json!([{"op": "replace", "path": path, "value": value}]);
        self.kubectl(&["patch", object, "--type=json", "-p", &patch.to_string()]);
    }

    fn get(&self, what: &str) -> Value {
        let out = self.kubectl(&["get", what, "-o", "json"]);
        serde_json::from_str(&out).unwrap()
    }

    /// Waits until `done` holds for the object's JSON.
    async fn wait(&self, what: &str, running: &Running, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let object = self.get(what);
            if done(&object) {
                return object;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {:#}\n{}",
                object["status"],
                std::fs::read_to_string(&running.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn events(&self) -> Vec<(String, String)> {
        let out = self.kubectl(&["get", "events.events.k8s.io", "-o", "json"]);
        let events: Value = serde_json::from_str(&out).unwrap();
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or_default().to_string(),
                    e["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Waits until an event with one of `reasons` is there: it follows the status it tells
    /// of by a moment.
    async fn wait_event(&self, reasons: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self
            .events()
            .iter()
            .any(|(r, _)| reasons.contains(&r.as_str()))
        {
            assert!(
                Instant::now() < deadline,
                "no {reasons:?} event: {:?}",
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn calls(&self, operation: &str) -> u64 {
        sim_calls(self.sim_addr, operation, "ok").await
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.sim.start_kill();
        // Finalizers would hold the namespace forever on a server without a controller.
        let _ = self.bench.kubectl(
            Who::Admin,
            &[
                "patch",
                "ecsservices",
                "--all",
                "-n",
                &self.ns,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
        );
    }
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn is(object: &Value, type_: &str, status: &str) -> bool {
    condition(object, type_).is_some_and(|c| c["status"] == status)
}

fn service(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: {name}\nspec:\n  cluster: c1\n  desiredCount: 2\n{extra}  taskDefinition:\n    containerDefinitions:\n      - {{name: app, image: \"{image}\", memory: 128}}\n"
    )
}

const CLUSTER: &str =
    "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c1\nspec: {}\n";

#[tokio::test]
async fn services_are_created_updated_and_failing_rollouts_quarantined() {
    let Some(setup) = Setup::new("lifecycle").await else {
        return;
    };
    let controller = setup.controller("lifecycle", &[]).await;
    let breaker = "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true, rollback: true}\n";
    setup.apply(&format!(
        "{CLUSTER}---\n{}",
        service("web", "nginx:1", breaker)
    ));
    let web = setup
        .wait("ecsservice/web", &controller, |o| is(o, "Ready", "True"))
        .await;
    assert_eq!(web["status"]["taskDefinition"], "web:1");
    assert_eq!(web["status"]["rollout"]["state"], "COMPLETED");
    assert_eq!(
        web["status"]["observedGeneration"],
        web["metadata"]["generation"]
    );
    assert!(web["metadata"]["finalizers"][0] == "ecs-gitops.dev/finalizer");
    // kubectl wait and get work on the status as people use them.
    setup.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "ecsservice/web",
        "--timeout=5s",
    ]);
    let listed = setup.kubectl(&["get", "ecsservices"]);
    assert!(
        listed.contains("True") && listed.contains("web:1") && listed.contains("COMPLETED"),
        "{listed}"
    );
    setup.wait_event(&["Created"]).await;
    setup.wait_event(&["RolloutCompleted"]).await;
    // The owner identity names the object.
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("web")
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let owner = live.services()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("ecs-gitops.dev/owner"))
        .and_then(|t| t.value().map(str::to_string));
    assert_eq!(owner.as_deref(), Some("bench/crd-lifecycle/EcsService/web"));
    // The same status at /api/status, as Git mode serves it.
    let (code, body) = common::http(
        format!("127.0.0.1:{}", controller.web).parse().unwrap(),
        "GET",
        "/api/status",
        &[],
        "",
    )
    .await;
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    let shown = &status["objects"]["EcsService/crd-lifecycle/web"];
    assert_eq!(shown["taskDefinition"], "web:1", "{status:#}");
    assert_eq!(shown["conditions"][0]["type"], "Ready");

    // An image change: one revision, one UpdateService, followed in the status.
    let (registered, updated) = (
        setup.calls("RegisterTaskDefinition").await,
        setup.calls("UpdateService").await,
    );
    setup.replace(
        "ecsservice/web",
        "/spec/taskDefinition/containerDefinitions/0/image",
        "nginx:2",
    );
    setup
        .wait("ecsservice/web", &controller, |o| {
            o["status"]["taskDefinition"] == "web:2" && is(o, "Ready", "True")
        })
        .await;
    assert_eq!(setup.calls("RegisterTaskDefinition").await, registered + 1);
    assert_eq!(setup.calls("UpdateService").await, updated + 1);

    // A failing image: ECS's circuit breaker rolls back; Stalled with ECS's reason, quarantined.
    setup.replace(
        "ecsservice/web",
        "/spec/taskDefinition/containerDefinitions/0/image",
        "nginx:fail-3",
    );
    let failed = setup
        .wait("ecsservice/web", &controller, |o| {
            is(o, "Stalled", "True") && o["status"]["quarantinedSpecHash"].is_string()
        })
        .await;
    let error = failed["status"]["lastError"].as_str().unwrap();
    assert!(error.contains("rolled back to web:2"), "{error}");
    assert!(is(&failed, "Ready", "False"));
    let updates = setup.calls("UpdateService").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        setup.calls("UpdateService").await,
        updates,
        "no retry loop on a quarantined spec"
    );
    setup.wait_event(&["RolledBack", "RolloutFailed"]).await;
    // The install's RBAC is enough for all of it.
    let log = std::fs::read_to_string(&controller.log).unwrap();
    assert!(!log.contains("Forbidden") && !log.contains("403"), "{log}");
    drop(controller);
}

#[tokio::test]
async fn an_invalid_spec_makes_no_ecs_call_and_a_missing_reference_waits() {
    let Some(setup) = Setup::new("invalid").await else {
        return;
    };
    let controller = setup.controller("invalid", &[]).await;
    // Two containers named alike: the API server takes it, ECS's rules do not.
    setup.apply("apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: bad\nspec:\n  cluster: c1\n  taskDefinition:\n    containerDefinitions:\n      - {name: app, image: \"nginx:1\", memory: 128}\n      - {name: app, image: \"nginx:1\", memory: 128}\n");
    let bad = setup
        .wait("ecsservice/bad", &controller, |o| is(o, "Stalled", "True"))
        .await;
    assert_eq!(condition(&bad, "Ready").unwrap()["reason"], "InvalidSpec");
    let message = bad["status"]["lastError"].as_str().unwrap();
    assert!(message.contains("containerDefinitions"), "{message}");
    setup.apply("apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: refers\nspec:\n  cluster: c1\n  taskDefinitionRef: job\n");
    let waiting = setup
        .wait("ecsservice/refers", &controller, |o| {
            is(o, "Reconciling", "True")
        })
        .await;
    assert_eq!(
        condition(&waiting, "Ready").unwrap()["reason"],
        "DependencyNotReady"
    );
    let stats = common::sim_json(setup.sim_addr, "GET", "/_sim/stats", "").await;
    assert_eq!(
        stats["calls"],
        serde_json::json!({}),
        "no ECS call at all: {stats}"
    );
    setup.wait_event(&["InvalidSpec"]).await;

    // The task definition appears: the referring service is created, and a change to it rolls.
    setup.apply(&format!("{CLUSTER}---\napiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsTaskDefinition\nmetadata:\n  name: job\nspec:\n  containerDefinitions:\n    - {{name: job, image: \"job:1\", memory: 128}}\n"));
    setup
        .wait("ecsservice/refers", &controller, |o| {
            is(o, "Ready", "True") && o["status"]["taskDefinition"] == "job:1"
        })
        .await;
    setup.replace(
        "ecstaskdefinition/job",
        "/spec/containerDefinitions/0/image",
        "job:2",
    );
    setup
        .wait("ecsservice/refers", &controller, |o| {
            is(o, "Ready", "True") && o["status"]["taskDefinition"] == "job:2"
        })
        .await;
    assert_eq!(
        setup.calls("RegisterTaskDefinition").await,
        2,
        "one revision per content, shared by the service and the task definition object"
    );
    drop(controller);
}

#[tokio::test]
async fn objects_name_the_controllers_accounts_and_land_in_them() {
    let Some(setup) = Setup::new("accounts").await else {
        return;
    };
    let accounts = setup.root.path().join("accounts.yaml");
    let roles = "- name: alpha\n  roleArn: arn:aws:iam::111111111111:role/ecs-gitops\n";
    std::fs::write(&accounts, roles).unwrap();
    let file = accounts.to_str().unwrap();
    let controller = setup.controller("accounts", &["--accounts", file]).await;
    // An account the controller was not given: refused before any ECS call.
    setup.apply(&service("nowhere", "nginx:1", "  account: gamma\n"));
    let refused = setup
        .wait("ecsservice/nowhere", &controller, |o| {
            is(o, "Stalled", "True")
        })
        .await;
    assert_eq!(
        condition(&refused, "Ready").unwrap()["reason"],
        "InvalidSpec"
    );
    assert_eq!(
        refused["status"]["lastError"],
        format!(
            "spec.account: account \"gamma\" is not configured: the accounts file {file} names alpha"
        )
    );
    let stats = common::sim_json(setup.sim_addr, "GET", "/_sim/stats", "").await;
    assert_eq!(stats["calls"], serde_json::json!({}), "{stats}");

    // alpha's cluster and service land in alpha's account, and say so.
    let alpha = "  account: alpha\n";
    setup.apply(&CLUSTER.replace("spec: {}\n", &format!("spec:\n{alpha}")));
    setup.apply(&service("web", "nginx:1", alpha));
    let web = setup
        .wait("ecsservice/web", &controller, |o| is(o, "Ready", "True"))
        .await;
    assert_eq!(web["status"]["account"], "alpha");
    assert_eq!(web["status"]["region"], "us-east-1");
    assert_eq!(
        web["status"]["serviceArn"],
        "arn:aws:ecs:us-east-1:111111111111:service/c1/web"
    );
    let path = "/_sim/state?account=111111111111";
    let in_alpha = common::sim_json(setup.sim_addr, "GET", path, "").await;
    let clusters = &in_alpha["regions"]["us-east-1"]["clusters"];
    assert_eq!(*clusters, serde_json::json!(["c1"]));
    let default = common::sim_json(setup.sim_addr, "GET", "/_sim/state", "").await;
    assert_eq!(default["regions"], serde_json::json!({}));
    setup.wait_event(&["Created"]).await;
    let created: Vec<String> = setup
        .events()
        .into_iter()
        .filter(|(reason, _)| reason == "Created")
        .map(|(_, note)| note)
        .collect();
    assert!(
        created.contains(&"created the ECS service in us-east-1 of account alpha".to_string()),
        "{created:?}"
    );
    drop(controller);
}

#[tokio::test]
async fn deletion_follows_the_policy_and_drift_is_repaired() {
    let Some(setup) = Setup::new("delete").await else {
        return;
    };
    let controller = setup.controller("delete", &[]).await;
    setup.apply(&format!(
        "{CLUSTER}---\n{}---\n{}",
        service("gone", "nginx:1", ""),
        service("kept", "nginx:1", "  deletionPolicy: Retain\n")
    ));
    for name in ["gone", "kept"] {
        setup
            .wait(&format!("ecsservice/{name}"), &controller, |o| {
                is(o, "Ready", "True")
            })
            .await;
    }
    // Drift behind its back: repaired at the next resync.
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    ecs.update_service()
        .cluster("c1")
        .service("kept")
        .desired_count(5)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = ecs
            .describe_services()
            .cluster("c1")
            .services("kept")
            .send()
            .await
            .unwrap();
        if live.services()[0].desired_count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "drift not repaired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    setup.wait_event(&["DriftRepaired"]).await;

    setup.kubectl(&[
        "delete",
        "ecsservice/gone",
        "ecsservice/kept",
        "--timeout=30s",
    ]);
    let active = |name: &'static str| {
        let ecs = ecs.clone();
        async move {
            let live = ecs
                .describe_services()
                .cluster("c1")
                .services(name)
                .send()
                .await
                .unwrap();
            live.services().first().and_then(|s| s.status()) == Some("ACTIVE")
        }
    };
    assert!(!active("gone").await, "Delete: the ECS service is deleted");
    assert!(
        active("kept").await,
        "Retain: the ECS service keeps running"
    );
    assert_eq!(setup.calls("DeleteService").await, 1);
    drop(controller);
}

#[tokio::test]
async fn after_kill_9_mid_rollout_the_restart_only_follows_it() {
    let Some(setup) = Setup::new("restart").await else {
        return;
    };
    let mut controller = setup.controller("restart-1", &[]).await;
    setup.apply(&format!("{CLUSTER}---\n{}", service("web", "nginx:1", "")));
    setup
        .wait("ecsservice/web", &controller, |o| is(o, "Ready", "True"))
        .await;
    // The tagging after UpdateService hangs, so the kill comes after the update and before
    // the service's tags say so.
    common::sim_json(
        setup.sim_addr,
        "POST",
        "/_sim/faults",
        r#"{"operations": ["TagResource"], "latencyMs": 30000}"#,
    )
    .await;
    setup.replace(
        "ecsservice/web",
        "/spec/taskDefinition/containerDefinitions/0/image",
        "nginx:2",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while setup.calls("UpdateService").await < 1 {
        assert!(Instant::now() < deadline, "no update");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    controller.child.kill().await.unwrap(); // SIGKILL
    common::sim_json(setup.sim_addr, "DELETE", "/_sim/faults", "").await;
    let controller = setup.controller("restart-2", &[]).await;
    setup
        .wait("ecsservice/web", &controller, |o| {
            is(o, "Ready", "True") && o["status"]["taskDefinition"] == "web:2"
        })
        .await;
    assert_eq!(setup.calls("RegisterTaskDefinition").await, 2);
    assert_eq!(
        setup.calls("UpdateService").await,
        1,
        "no second UpdateService"
    );
    drop(controller);
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over() {
    let Some(setup) = Setup::new("leader").await else {
        return;
    };
    let lease = [
        "--leader-elect",
        "--lease-namespace",
        "ecs-gitops",
        "--lease-name",
        "ecs-gitops",
        "--lease-duration",
        "4s",
    ];
    let mut first = setup.controller("replica-a", &lease).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&first.log)
        .unwrap_or_default()
        .contains("leading")
    {
        assert!(Instant::now() < deadline, "replica-a never leads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = setup.controller("replica-b", &lease).await;
    let holder = setup.bench.admin(&[
        "get",
        "lease",
        "ecs-gitops",
        "-n",
        "ecs-gitops",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(holder.starts_with("replica-a"), "{holder}");
    setup.apply(&format!("{CLUSTER}---\n{}", service("web", "nginx:1", "")));
    setup
        .wait("ecsservice/web", &first, |o| is(o, "Ready", "True"))
        .await;
    let log = std::fs::read_to_string(&second.log).unwrap();
    assert!(
        log.contains("waiting to lead") && !log.contains("leading"),
        "{log}"
    );
    assert!(
        !log.contains("created service"),
        "the standby changed nothing: {log}"
    );

    first.child.kill().await.unwrap(); // SIGKILL: no release, the lease lapses
    setup.replace(
        "ecsservice/web",
        "/spec/taskDefinition/containerDefinitions/0/image",
        "nginx:2",
    );
    setup
        .wait("ecsservice/web", &second, |o| {
            is(o, "Ready", "True") && o["status"]["taskDefinition"] == "web:2"
        })
        .await;
    let log = std::fs::read_to_string(&second.log).unwrap();
    assert!(log.contains("leading"), "{log}");
    drop(second);
}

#[tokio::test]
async fn a_git_mode_run_and_the_controller_share_a_cluster_without_touching_each_other() {
    let Some(setup) = Setup::new("shared").await else {
        return;
    };
    let controller = setup.controller("shared", &[]).await;
    setup.apply(&format!(
        "{CLUSTER}---\n{}",
        service("crd-web", "nginx:1", "")
    ));
    setup
        .wait("ecsservice/crd-web", &controller, |o| {
            is(o, "Ready", "True")
        })
        .await;
    // A directory source on the same ECS cluster, pruning.
    let dir = setup.root.path().join("git");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.yaml"), service("git-web", "nginx:1", "")).unwrap();
    let apply = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ecs-gitops"));
        command
            .args(args)
            .args([
                "--endpoint-url",
                &setup.endpoint(),
                "--api-budget-scale",
                SPEED,
            ])
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .env("AWS_REGION", "us-east-1");
        let out = command.output().unwrap();
        (
            out.status.code(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    };
    let path = dir.to_str().unwrap();
    let (code, out) = apply(&["apply", path, "--prune", "--poll", "100ms"]);
    assert_eq!(code, Some(0), "{out}");
    // The directory names the CRD's service too: blocked, not changed.
    std::fs::write(dir.join("crd.yaml"), service("crd-web", "nginx:9", "")).unwrap();
    let (code, out) = apply(&["apply", path, "--prune", "--poll", "100ms"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("is owned by bench/crd-shared/EcsService/crd-web"),
        "{out}"
    );
    std::fs::remove_file(dir.join("crd.yaml")).unwrap();
    let (code, out) = apply(&["apply", path, "--prune", "--poll", "100ms"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        setup.calls("DeleteService").await,
        0,
        "nobody's service pruned"
    );
    let crd = setup.get("ecsservice/crd-web");
    assert!(is(&crd, "Ready", "True"));
    assert_eq!(crd["status"]["taskDefinition"], "crd-web:1");
    drop(controller);
}

/// Git mode in Kubernetes: `run --leader-elect` replicas take turns on the same Lease.
#[tokio::test]
async fn git_mode_replicas_elect_a_leader_too() {
    let Some(setup) = Setup::new("run-lease").await else {
        return;
    };
    let dir = setup.root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("web.yaml"),
        format!("{CLUSTER}---\n{}", service("run-web", "nginx:1", "")),
    )
    .unwrap();
    let run = |name: &str| {
        let web = free_port();
        let log = setup.root.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args(["run", "--dir", dir.to_str().unwrap(), "--interval", "500ms"])
            .args([
                "--endpoint-url",
                &setup.endpoint(),
                "--api-budget-scale",
                SPEED,
            ])
            .args(["--listen", &format!("127.0.0.1:{web}")])
            .args(["--leader-elect", "--lease-namespace", "ecs-gitops"])
            // A lease of its own: the CRD replicas' test holds the install's one.
            .args(["--lease-name", "ecs-gitops-git", "--lease-duration", "4s"])
            .env("KUBECONFIG", setup.bench.dir.join("kubeconfig"))
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .env("AWS_REGION", "us-east-1")
            .env("HOSTNAME", name)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        (child, log)
    };
    let wait_log = |log: PathBuf, word: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(word) {
                return text;
            }
            assert!(Instant::now() < deadline, "never said {word:?}: {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (mut first, first_log) = run("git-a");
    wait_log(first_log, "leading").await;
    let (_second, second_log) = run("git-b");
    wait_log(second_log.clone(), "waiting to lead").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while setup.calls("CreateService").await < 1 {
        assert!(Instant::now() < deadline, "the leader created nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&second_log).unwrap();
    assert!(!text.contains("leading"), "two leaders: {text}");
    first.kill().await.unwrap(); // SIGKILL: the lease lapses
    wait_log(second_log, "leading").await;
    // A few of the new leader's sweeps (500 ms apart): it finds the service, creates none.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(setup.calls("CreateService").await, 1, "no second creation");
}

#[tokio::test]
async fn pre_deploy_tasks_gate_the_update_and_are_shown_in_the_status_and_events() {
    let Some(setup) = Setup::new("predeploy").await else {
        return;
    };
    let controller = setup.controller("predeploy", &[]).await;
    let migrate = |image: &str| {
        format!(
            "  rollout:\n    preDeploy:\n      - name: migrate\n        useServiceTaskDefinition: true\n        overrides: {{containerOverrides: [{{name: app, command: [migrate]}}]}}\n      - name: seed\n        taskDefinition: {{containerDefinitions: [{{name: seed, image: \"{image}\", memory: 128}}]}}\n"
        )
    };
    setup.apply(&format!(
        "{CLUSTER}---\n{}",
        service("web", "nginx:1", &migrate("seed:1"))
    ));
    let web = setup
        .wait("ecsservice/web", &controller, |o| is(o, "Ready", "True"))
        .await;
    let tasks = &web["status"]["preDeploy"];
    assert_eq!(tasks[0]["name"], "migrate", "{web:#}");
    assert_eq!(tasks[0]["exitCode"], 0, "{web:#}");
    assert_eq!(tasks[1]["name"], "seed", "{web:#}");
    assert_eq!(tasks[1]["succeeded"], true, "{web:#}");
    assert_eq!(setup.calls("RunTask").await, 2);
    setup.wait_event(&["PreDeployTaskSucceeded"]).await;

    // A failing seed: the service stays on web:1, Stalled with the exit code, quarantined,
    // and no task is started again on later reconciles.
    let updates = setup.calls("UpdateService").await;
    setup.apply(&format!(
        "{CLUSTER}---\n{}",
        service("web", "nginx:2", &migrate("seed:fail-2"))
    ));
    let failed = setup
        .wait("ecsservice/web", &controller, |o| {
            is(o, "Stalled", "True") && o["status"]["quarantinedSpecHash"].is_string()
        })
        .await;
    let error = failed["status"]["lastError"].as_str().unwrap();
    assert!(
        error.contains("pre-deploy task seed (") && error.contains(") exited 1"),
        "{error}"
    );
    assert_eq!(failed["status"]["taskDefinition"], "web:1");
    assert_eq!(
        failed["status"]["preDeploy"][1]["exitCode"], 1,
        "{failed:#}"
    );
    setup.wait_event(&["PreDeployTaskFailed"]).await;
    let started = setup.calls("RunTask").await;
    assert_eq!(started, 4);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(setup.calls("RunTask").await, started, "no second run");
    assert_eq!(
        setup.calls("UpdateService").await,
        updates,
        "service untouched"
    );
    drop(controller);
}

#[tokio::test]
async fn a_capacity_provider_is_created_made_ready_and_deleted_with_its_object() {
    let Some(setup) = Setup::new("capacity").await else {
        return;
    };
    let controller = setup.controller("capacity", &[]).await;
    let provider = |name: &str, group: &str, policy: &str| {
        format!(
            "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCapacityProvider\nmetadata:\n  name: {name}\nspec:\n  deletionPolicy: {policy}\n  autoScalingGroupProvider:\n    autoScalingGroupArn: \"arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:0f1e2d3c-aaaa-bbbb-cccc-00000000000{group}:autoScalingGroupName/{name}\"\n    managedScaling: {{status: ENABLED, targetCapacity: 75}}\n"
        )
    };
    setup.apply(&format!(
        "{}---\n{}",
        provider("spot", "1", "Delete"),
        provider("kept", "2", "Retain")
    ));
    let spot = setup
        .wait("ecscapacityprovider/spot", &controller, |o| {
            is(o, "Ready", "True")
        })
        .await;
    assert!(
        spot["status"]["capacityProviderArn"]
            .as_str()
            .is_some_and(|a| a.ends_with(":capacity-provider/spot")),
        "{spot:#}"
    );
    assert_eq!(spot["status"]["capacityProviderStatus"], "ACTIVE");
    setup
        .wait("ecscapacityprovider/kept", &controller, |o| {
            is(o, "Ready", "True")
        })
        .await;
    setup.wait_event(&["Created"]).await;
    let listed = setup.kubectl(&["get", "ecscp"]);
    assert!(
        listed.contains("spot") && listed.contains("ACTIVE"),
        "{listed}"
    );

    setup.kubectl(&[
        "delete",
        "ecscapacityprovider/spot",
        "ecscapacityprovider/kept",
        "--timeout=30s",
    ]);
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    let found = ecs
        .describe_capacity_providers()
        .capacity_providers("spot")
        .capacity_providers("kept")
        .send()
        .await
        .unwrap();
    let deleting = |name: &str| {
        found
            .capacity_providers()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.update_status())
            .is_some_and(|s| s.as_str().starts_with("DELETE"))
    };
    assert!(deleting("spot"), "Delete: deleted in ECS");
    assert!(!deleting("kept"), "Retain: left in ECS");
    assert_eq!(setup.calls("DeleteCapacityProvider").await, 1);
    drop(controller);
}
