//! `ecs-gitops run` as it runs for real: the controller, the simulator and `git daemon` as
//! separate processes over loopback, a bare repository pushed to with git.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ecs_client, free_port, http, sim_calls, wait_for_port};
use serde_json::Value;
use tokio::process::{Child, Command};

const SPEED: &str = "50";
const GIT_TOKEN: &str = "ghp-sekr3t-token-never-logged";
const AWS_SECRET: &str = "aws-secret-key-never-logged";
const AWS_KEY_ID: &str = "AKIDNEVERLOGGED";
const HOOK_TOKEN: &str = "hook-token-123";

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A bare repository served by `git daemon`, and a work tree that pushes to it.
struct Repo {
    root: PathBuf,
    work: PathBuf,
    port: u16,
    daemon: Option<Child>,
}

impl Repo {
    async fn new(root: &Path) -> Repo {
        let bare = root.join("repo.git");
        let work = root.join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(
            root,
            &["init", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        git(&work, &["init", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        let mut repo = Repo {
            root: root.to_path_buf(),
            work,
            port: free_port(),
            daemon: None,
        };
        repo.serve().await;
        repo
    }

    async fn serve(&mut self) {
        // The daemon itself, not the `git daemon` wrapper: killing the wrapper would leave
        // the daemon serving.
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap();
        let daemon =
            PathBuf::from(String::from_utf8(exec_path.stdout).unwrap().trim()).join("git-daemon");
        let child = Command::new(daemon)
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--base-path={}", self.root.display()))
            .arg(self.root.to_str().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("git daemon");
        self.daemon = Some(child);
        wait_for_port(self.port).await;
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            child.kill().await.unwrap();
        }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/repo.git", self.port)
    }

    fn commit(&self, file: &str, text: &str) {
        std::fs::create_dir_all(self.work.join("deploy")).unwrap();
        std::fs::write(self.work.join("deploy").join(file), text).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-m", "change"]);
        git(&self.work, &["push", "origin", "HEAD:main"]);
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.work.join("deploy").join(file)).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-m", "remove"]);
        git(&self.work, &["push", "origin", "HEAD:main"]);
    }
}

fn service(name: &str, image: &str, desired: u32, extra: &str) -> String {
    format!(
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: {name}\nspec:\n  cluster: c1\n  desiredCount: {desired}\n{extra}  taskDefinition:\n    containerDefinitions:\n      - name: app\n        image: {image}\n        memory: 128\n"
    )
}

const CLUSTER: &str =
    "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c1\nspec: {}\n";

/// The simulator and the controller, each its own process.
struct Setup {
    /// Killed when the test ends.
    _sim: Child,
    sim_addr: std::net::SocketAddr,
    controller: Option<Child>,
    web: u16,
    log: PathBuf,
    cache: PathBuf,
}

impl Setup {
    async fn new(root: &Path, speed: &str) -> Setup {
        let (sim, sim_addr) = common::sim_process(speed).await;
        Setup {
            _sim: sim,
            sim_addr,
            controller: None,
            web: free_port(),
            log: root.join("controller.log"),
            cache: root.join("cache"),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.sim_addr)
    }

    async fn start(&mut self, url: &str, interval: &str, speed: &str, extra: &[&str]) {
        self.start_with(&["--git", url, "--path", "deploy"], interval, speed, extra)
            .await;
    }

    async fn start_with(&mut self, source: &[&str], interval: &str, speed: &str, extra: &[&str]) {
        let child = self.spawn(source, interval, speed, extra, self.web, &self.log);
        self.controller = Some(child);
        wait_for_port(self.web).await;
    }

    /// A controller process serving on `web` and logging to `log`.
    fn spawn(
        &self,
        source: &[&str],
        interval: &str,
        speed: &str,
        extra: &[&str],
        web: u16,
        log: &Path,
    ) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .arg("run")
            .args(source)
            .args(["--interval", interval, "--poll", "100ms"])
            .args([
                "--endpoint-url",
                &self.endpoint(),
                "--api-budget-scale",
                speed,
            ])
            .args(["--listen", &format!("127.0.0.1:{web}")])
            .args(["--cache-dir", self.cache.to_str().unwrap()])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("ECS_GITOPS_GIT_TOKEN", GIT_TOKEN)
            .env("ECS_GITOPS_HOOK_TOKEN", HOOK_TOKEN)
            .env("RUST_LOG", "debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.controller.take() {
            child.kill().await.unwrap(); // SIGKILL
        }
    }

    async fn status(&self) -> Value {
        status_at(self.web).await
    }

    async fn hook(&self, headers: &[(&str, &str)]) -> u16 {
        http(
            format!("127.0.0.1:{}", self.web).parse().unwrap(),
            "POST",
            "/hook",
            headers,
            "{}",
        )
        .await
        .0
    }

    /// Waits until the status satisfies `done`.
    async fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {status:#}\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn status_at(web: u16) -> Value {
    let (code, body) = http(
        format!("127.0.0.1:{web}").parse().unwrap(),
        "GET",
        "/api/status",
        &[],
        "",
    )
    .await;
    assert_eq!(code, 200);
    serde_json::from_str(&body).unwrap()
}

fn task_definition(status: &Value, object: &str) -> String {
    status["objects"][object]["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn settled(status: &Value, object: &str, task_definition: &str) -> bool {
    let o = &status["objects"][object];
    o["taskDefinition"] == task_definition
        && o["rollout"]["state"] == "COMPLETED"
        && o["verdict"] == "inSync"
}

#[tokio::test]
async fn pushes_roll_out_bad_commits_are_refused_and_hooks_are_authenticated() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 2, ""));
    let mut setup = Setup::new(root.path(), SPEED).await;
    // An interval far away: only the webhook can bring changes in quickly.
    setup.start(&repo.url(), "1h", SPEED, &[]).await;
    setup
        .wait_status("first sync", |s| {
            s["ready"] == true && settled(s, "EcsService/web", "web:1")
        })
        .await;
    assert_eq!(
        http(
            format!("127.0.0.1:{}", setup.web).parse().unwrap(),
            "GET",
            "/readyz",
            &[],
            ""
        )
        .await
        .0,
        200
    );

    // Unsigned and forged hooks trigger nothing.
    repo.commit("web.yaml", &service("web", "nginx:2", 2, ""));
    assert_eq!(setup.hook(&[]).await, 401);
    assert_eq!(setup.hook(&[("Authorization", "Bearer wrong")]).await, 401);
    assert_eq!(
        setup.hook(&[("X-Hub-Signature-256", "sha256=00")]).await,
        401
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        task_definition(&setup.status().await, "EcsService/web"),
        "web:1"
    );
    // A valid hook fetches at once.
    assert_eq!(
        setup
            .hook(&[("Authorization", &format!("Bearer {HOOK_TOKEN}"))])
            .await,
        202
    );
    let status = setup
        .wait_status("the pushed image", |s| {
            settled(s, "EcsService/web", "web:2")
        })
        .await;
    let applied = status["lastAppliedRevision"].as_str().unwrap().to_string();

    // A bad commit: nothing reaches ECS, the error says where.
    let before = (
        sim_calls(setup.sim_addr, "RegisterTaskDefinition", "ok").await,
        sim_calls(setup.sim_addr, "UpdateService", "ok").await,
    );
    // The bad commit also carries a compose-style secret: the errors never repeat it.
    repo.commit(
        "web.yaml",
        &service("web", "nginx:3", 2, "").replace(
            "memory: 128",
            "memory: 128\n        esential: true\n        environment: [\"DB_PASSWORD=hunter2-compose-style\"]",
        ),
    );
    setup
        .hook(&[("Authorization", &format!("Bearer {HOOK_TOKEN}"))])
        .await;
    let status = setup
        .wait_status("the bad commit", |s| {
            !s["validationErrors"]
                .as_array()
                .is_none_or(|e| e.is_empty())
        })
        .await;
    let error = status["validationErrors"][0].as_str().unwrap();
    assert!(error.starts_with("deploy/web.yaml:13:9: EcsService/web: spec.taskDefinition.containerDefinitions[0].esential: unknown field \"esential\""), "{error}");
    assert_eq!(
        status["validationErrors"][1],
        "deploy/web.yaml:14:23: EcsService/web: spec.taskDefinition.containerDefinitions[0].environment[0]: expected a mapping, got string"
    );
    assert_eq!(status["validationErrors"].as_array().unwrap().len(), 2);
    let page = http(
        format!("127.0.0.1:{}", setup.web).parse().unwrap(),
        "GET",
        "/",
        &[],
        "",
    )
    .await
    .1;
    assert!(page.contains("expected a mapping, got string"), "{page}");
    for output in [status.to_string(), page, setup.log()] {
        assert!(!output.contains("hunter2"), "{output}");
    }
    assert_eq!(status["lastAppliedRevision"], applied.as_str());
    assert_ne!(status["lastAttemptedRevision"], applied.as_str());
    let after = (
        sim_calls(setup.sim_addr, "RegisterTaskDefinition", "ok").await,
        sim_calls(setup.sim_addr, "UpdateService", "ok").await,
    );
    assert_eq!(before, after, "an invalid revision changes nothing");
    // The next good commit is applied.
    repo.commit("web.yaml", &service("web", "nginx:4", 2, ""));
    setup
        .hook(&[("Authorization", &format!("Bearer {HOOK_TOKEN}"))])
        .await;
    setup
        .wait_status("the fixed commit", |s| {
            settled(s, "EcsService/web", "web:3")
        })
        .await;

    let metrics = http(
        format!("127.0.0.1:{}", setup.web).parse().unwrap(),
        "GET",
        "/metrics",
        &[],
        "",
    )
    .await
    .1;
    assert!(
        metrics.contains("ecs_gitops_reconciles_total{result=\"invalid\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "ecs_gitops_ecs_calls_total{account=\"\",operation=\"UpdateService\",outcome=\"ok\"}"
        ),
        "{metrics}"
    );
    let page = http(
        format!("127.0.0.1:{}", setup.web).parse().unwrap(),
        "GET",
        "/",
        &[],
        "",
    )
    .await
    .1;
    assert!(
        page.contains("EcsService/web") && page.contains("web:3"),
        "{page}"
    );
    let log = setup.log();
    assert!(
        !log.contains(GIT_TOKEN) && !log.contains(AWS_SECRET),
        "a secret reached the log"
    );
    // RUST_LOG=debug: the AWS SDK's debug lines would carry the access key id.
    assert!(log.contains("DEBUG"), "the log is at debug");
    assert!(
        !log.contains(AWS_KEY_ID),
        "the access key id reached the log"
    );
    // A file, not a terminal: no colour codes.
    assert!(!log.contains('\x1b'), "ANSI codes in a log file");
    setup.kill().await;
}

#[tokio::test]
async fn drift_is_repaired_unowned_services_are_left_and_prune_removes_only_owned() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 2, ""));
    repo.commit(
        "worker.yaml",
        &service(
            "worker",
            "busybox:1",
            1,
            "  ignoreDifferences: [desiredCount]\n",
        ),
    );
    repo.commit("old.yaml", &service("old", "busybox:1", 1, ""));
    let mut setup = Setup::new(root.path(), SPEED).await;
    setup.start(&repo.url(), "1s", SPEED, &["--prune"]).await;
    setup
        .wait_status("first sync", |s| {
            settled(s, "EcsService/old", "old:1") && settled(s, "EcsService/web", "web:1")
        })
        .await;
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    // Someone else's service in the same cluster.
    common::create_unowned_service(&ecs, "c1", "legacy").await;
    // Drift behind the controller's back: repaired, except the ignored field.
    ecs.update_service()
        .cluster("c1")
        .service("web")
        .desired_count(5)
        .send()
        .await
        .unwrap();
    ecs.update_service()
        .cluster("c1")
        .service("worker")
        .desired_count(4)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ecs
            .describe_services()
            .cluster("c1")
            .services("web")
            .services("worker")
            .send()
            .await
            .unwrap();
        let counts: Vec<i32> = out.services().iter().map(|s| s.desired_count()).collect();
        if counts == [2, 4] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drift not repaired: {counts:?}\n{}",
            setup.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Removed from the source: the owned service goes, the unowned one stays.
    repo.remove("old.yaml");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ecs
            .describe_services()
            .cluster("c1")
            .services("old")
            .services("legacy")
            .send()
            .await
            .unwrap();
        let statuses: Vec<&str> = out
            .services()
            .iter()
            .map(|s| s.status().unwrap_or_default())
            .collect();
        if statuses[0] != "ACTIVE" {
            assert_eq!(statuses[1], "ACTIVE", "the unowned service is untouched");
            break;
        }
        assert!(Instant::now() < deadline, "not pruned\n{}", setup.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sim_calls(setup.sim_addr, "DeleteService", "ok").await, 1);
    setup.kill().await;
}

#[tokio::test]
async fn after_kill_9_mid_rollout_the_restart_neither_registers_nor_updates_again() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 2, ""));
    // Slow enough that the rollout is still going when the controller dies.
    let speed = "3";
    let mut setup = Setup::new(root.path(), speed).await;
    setup.start(&repo.url(), "1h", speed, &[]).await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    repo.commit("web.yaml", &service("web", "nginx:2", 2, ""));
    setup
        .hook(&[("Authorization", &format!("Bearer {HOOK_TOKEN}"))])
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim_calls(setup.sim_addr, "UpdateService", "ok").await < 1 {
        assert!(Instant::now() < deadline, "no update\n{}", setup.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    setup.kill().await;
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.services()[0].deployments()[0]
            .rollout_state()
            .map(|s| s.as_str()),
        Some("IN_PROGRESS"),
        "killed mid-rollout"
    );
    setup.start(&repo.url(), "1h", speed, &[]).await;
    setup
        .wait_status("the rollout followed to its end", |s| {
            settled(s, "EcsService/web", "web:2")
        })
        .await;
    assert_eq!(
        sim_calls(setup.sim_addr, "RegisterTaskDefinition", "ok").await,
        2,
        "one revision per change"
    );
    assert_eq!(
        sim_calls(setup.sim_addr, "UpdateService", "ok").await,
        1,
        "no second UpdateService"
    );
    setup.kill().await;
}

#[tokio::test]
async fn the_git_server_going_away_keeps_the_last_good_revision() {
    let root = tempfile::tempdir().unwrap();
    let mut repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 1, ""));
    let mut setup = Setup::new(root.path(), SPEED).await;
    setup.start(&repo.url(), "500ms", SPEED, &[]).await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    repo.stop().await;
    let status = setup
        .wait_status("the outage noticed", |s| {
            s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("fetching"))
        })
        .await;
    assert_eq!(task_definition(&status, "EcsService/web"), "web:1");
    assert_eq!(
        http(
            format!("127.0.0.1:{}", setup.web).parse().unwrap(),
            "GET",
            "/healthz",
            &[],
            ""
        )
        .await
        .0,
        200
    );
    repo.serve().await;
    repo.commit("web.yaml", &service("web", "nginx:2", 1, ""));
    setup
        .wait_status("recovered", |s| {
            settled(s, "EcsService/web", "web:2") && s["lastError"].is_null()
        })
        .await;
    setup.kill().await;
}

#[tokio::test]
async fn a_file_url_and_a_force_push_work_and_sigterm_stops_it_within_ten_seconds() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 1, ""));
    let mut setup = Setup::new(root.path(), SPEED).await;
    let url = format!("file://{}", root.path().join("repo.git").display());
    setup.start(&url, "1h", SPEED, &[]).await;
    setup
        .wait_status("first sync over file://", |s| {
            settled(s, "EcsService/web", "web:1")
        })
        .await;
    // History rewritten and force-pushed: the controller follows the new branch head.
    git(&repo.work, &["reset", "--hard", "HEAD~1"]);
    std::fs::write(
        repo.work.join("deploy/web.yaml"),
        service("web", "nginx:rewritten", 1, ""),
    )
    .unwrap();
    git(&repo.work, &["add", "-A"]);
    git(&repo.work, &["commit", "-m", "rewritten"]);
    git(&repo.work, &["push", "--force", "origin", "HEAD:main"]);
    setup
        .hook(&[("Authorization", &format!("Bearer {HOOK_TOKEN}"))])
        .await;
    let status = setup
        .wait_status("the force-pushed head", |s| {
            settled(s, "EcsService/web", "web:2")
        })
        .await;
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&repo.work)
        .output()
        .unwrap();
    assert_eq!(
        status["lastAppliedRevision"],
        String::from_utf8(head.stdout).unwrap().trim()
    );
    let mut child = setup.controller.take().unwrap();
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stopped within 10 s")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(setup.log().contains("shutting down"), "{}", setup.log());
}

#[tokio::test]
async fn a_watched_directory_rolls_out_edits_and_dry_run_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.join("web.yaml"), service("web", "nginx:1", 1, "")).unwrap();
    let mut setup = Setup::new(root.path(), SPEED).await;
    let dir_arg = dir.to_str().unwrap();
    setup
        .start_with(&["--dir", dir_arg], "1h", SPEED, &["--dry-run"])
        .await;
    let status = setup
        .wait_status("a dry run", |s| {
            s["objects"]["EcsService/web"]["verdict"] == "create"
        })
        .await;
    assert_eq!(status["ready"], false);
    let conditions: Vec<(&str, &str)> = status["objects"]["EcsService/web"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(conditions, [("Reconciling", "True"), ("Ready", "False")]);
    assert_eq!(
        sim_calls(setup.sim_addr, "CreateService", "ok").await,
        0,
        "a dry run changes nothing"
    );
    assert_eq!(sim_calls(setup.sim_addr, "CreateCluster", "ok").await, 0);
    setup.kill().await;
    setup
        .start_with(&["--dir", dir_arg], "1h", SPEED, &[])
        .await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    // An edit is picked up by the watcher, not the (hour-long) interval.
    std::fs::write(dir.join("web.yaml"), service("web", "nginx:2", 1, "")).unwrap();
    setup
        .wait_status("the edit", |s| settled(s, "EcsService/web", "web:2"))
        .await;
    setup.kill().await;
}

#[tokio::test]
async fn an_http_repository_takes_the_token_and_a_wrong_one_is_reported_without_leaking() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 1, ""));
    let port = free_port();
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/git_http_server.py");
    let _server = Command::new("python3")
        .args([
            server,
            root.path().to_str().unwrap(),
            &port.to_string(),
            "x-access-token",
            GIT_TOKEN,
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_port(port).await;
    let url = format!("http://127.0.0.1:{port}/repo.git");
    let mut setup = Setup::new(root.path(), SPEED).await;
    // ECS_GITOPS_GIT_TOKEN carries the right token.
    setup.start(&url, "1h", SPEED, &[]).await;
    setup
        .wait_status("first sync over http with the token", |s| {
            settled(s, "EcsService/web", "web:1")
        })
        .await;
    setup.kill().await;
    let wrong = root.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token").unwrap();
    setup.web = free_port();
    setup
        .start(
            &url,
            "1h",
            SPEED,
            &["--git-token-file", wrong.to_str().unwrap()],
        )
        .await;
    let status = setup
        .wait_status("the refused token", |s| {
            s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("fetching"))
        })
        .await;
    assert!(!status.to_string().contains("not-the-token"));
    setup.kill().await;
    let log = setup.log();
    assert!(
        !log.contains(GIT_TOKEN) && !log.contains("not-the-token"),
        "a token reached the log"
    );
}

#[tokio::test]
async fn an_ssh_repository_needs_the_key_and_a_known_host_key() {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "scripts/test installs openssh-server"
        );
        eprintln!("!!! SKIPPED: no /usr/sbin/sshd; run scripts/test once to install it");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 1, ""));
    let keys = root.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for key in ["host_key", "user_key"] {
        let path = keys.join(key);
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
    }
    std::fs::copy(keys.join("user_key.pub"), keys.join("authorized_keys")).unwrap();
    let port = free_port();
    let config = keys.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {k}/host_key\nAuthorizedKeysFile {k}/authorized_keys\n\
             PasswordAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {k}/sshd.pid\n",
            k = keys.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").ok();
    let _sshd = Command::new(sshd)
        .arg("-D")
        .arg("-f")
        .arg(&config)
        .arg("-E")
        .arg(keys.join("sshd.log"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_port(port).await;
    let host_key = std::fs::read_to_string(keys.join("host_key.pub")).unwrap();
    let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    std::fs::write(
        keys.join("known_hosts"),
        format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
    )
    .unwrap();
    std::fs::write(keys.join("other_hosts"), format!("[127.0.0.1]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOth\n")).unwrap();
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let url = format!(
        "ssh://{}@127.0.0.1:{port}{}",
        user.trim(),
        root.path().join("repo.git").display()
    );
    let key = keys.join("user_key");
    let mut setup = Setup::new(root.path(), SPEED).await;
    let ssh_args = |known: &str| {
        [
            "--git",
            &url,
            "--path",
            "deploy",
            "--git-ssh-key",
            key.to_str().unwrap(),
            "--git-known-hosts",
            known,
        ]
        .map(str::to_string)
    };
    let known = keys.join("known_hosts");
    let args = ssh_args(known.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    setup.start_with(&args, "1h", SPEED, &[]).await;
    setup
        .wait_status("first sync over ssh", |s| {
            settled(s, "EcsService/web", "web:1")
        })
        .await;
    setup.kill().await;
    // A host key that is not the known one: refused.
    setup.web = free_port();
    std::fs::remove_dir_all(&setup.cache).unwrap();
    let other = keys.join("other_hosts");
    let args = ssh_args(other.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    setup.start_with(&args, "1h", SPEED, &[]).await;
    let status = setup
        .wait_status("the unknown host key", |s| {
            s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("hostkey"))
        })
        .await;
    assert!(
        status["objects"].as_object().unwrap().is_empty(),
        "nothing applied from an unverified host"
    );
    setup.kill().await;
}

/// Waits until `done` holds for the status served on `web`.
async fn wait_status_at(web: u16, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = status_at(web).await;
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn all_ready(status: &Value) -> bool {
    let objects = status["objects"].as_object();
    objects.is_some_and(|o| {
        !o.is_empty()
            && o.values().all(|o| {
                o["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    })
}

async fn active_services(setup: &Setup) -> Vec<String> {
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    let listed = ecs.list_services().cluster("c1").send().await.unwrap();
    let mut names: Vec<String> = listed
        .service_arns()
        .iter()
        .map(|a| a.rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn two_runs_on_one_cluster_each_keep_and_prune_only_their_own() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("cluster.yaml"), CLUSTER).unwrap();
    for (dir, name) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&b, "b2")] {
        std::fs::write(
            dir.join(format!("{name}.yaml")),
            service(name, "nginx:1", 1, ""),
        )
        .unwrap();
    }
    let mut setup = Setup::new(root.path(), SPEED).await;
    let prune = ["--prune"];
    setup
        .start_with(&["--dir", a.to_str().unwrap()], "300ms", SPEED, &prune)
        .await;
    let b_web = free_port();
    let b_log = root.path().join("b.log");
    let _b = setup.spawn(
        &["--dir", b.to_str().unwrap()],
        "300ms",
        SPEED,
        &prune,
        b_web,
        &b_log,
    );
    wait_for_port(b_web).await;
    setup.wait_status("A in sync", all_ready).await;
    wait_status_at(b_web, "B in sync", all_ready).await;
    assert_eq!(active_services(&setup).await, ["a1", "a2", "b1", "b2"]);

    std::fs::remove_file(a.join("a2.yaml")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while active_services(&setup).await != ["a1", "b1", "b2"] {
        assert!(Instant::now() < deadline, "a2 not pruned\n{}", setup.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more sweeps of both: nothing else goes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(active_services(&setup).await, ["a1", "b1", "b2"]);
    assert_eq!(sim_calls(setup.sim_addr, "DeleteService", "ok").await, 1);
    let b_status = status_at(b_web).await;
    assert!(all_ready(&b_status), "{b_status:#}");
    setup.kill().await;
}

/// SIGTERM, as a supervisor stops a process.
fn terminate(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_restart_during_a_failing_rollout_keeps_its_deadline_rollback_and_quarantine() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    // No circuit breaker: only the controller's deadline ends a failing rollout.
    let policy = "  rollout: {timeout: 6s, onFailure: rollback}\n";
    std::fs::write(dir.join("web.yaml"), service("web", "nginx:1", 2, policy)).unwrap();
    let mut setup = Setup::new(root.path(), SPEED).await;
    let source = ["--dir", dir.to_str().unwrap()];
    setup.start_with(&source, "1h", SPEED, &[]).await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    std::fs::write(
        dir.join("web.yaml"),
        service("web", "nginx:fail-2", 2, policy),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim_calls(setup.sim_addr, "UpdateService", "ok").await < 1 {
        assert!(Instant::now() < deadline, "no update\n{}", setup.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut controller = setup.controller.take().unwrap();
    terminate(&controller);
    tokio::time::timeout(Duration::from_secs(15), controller.wait())
        .await
        .expect("SIGTERM stops it")
        .unwrap();
    setup.start_with(&source, "1h", SPEED, &[]).await;
    // Until the rollout ends it is never Ready on the failing revision.
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        let status = setup.status().await;
        let web = &status["objects"]["EcsService/web"];
        let ready = web["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(
            !(ready && web["taskDefinition"] == "web:2"),
            "Ready on the failing revision: {web:#}"
        );
        if web["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("rolled back to web:1 by ecs-gitops"))
        {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no rollback: {status:#}\n{}",
            setup.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = status["objects"]["EcsService/web"]["lastError"]
        .as_str()
        .unwrap();
    assert!(error.contains("timed out"), "{error}");
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    let live = ecs
        .describe_services()
        .cluster("c1")
        .services("web")
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let live = &live.services()[0];
    assert!(live.task_definition().unwrap().ends_with("web:1"));
    assert!(
        live.tags()
            .iter()
            .any(|t| t.key() == Some("ecs-gitops.dev/failed-spec-hash")),
        "quarantined"
    );
    setup
        .wait_status("quarantined", |s| {
            s["objects"]["EcsService/web"]["verdict"] == "quarantined"
        })
        .await;
    assert_eq!(
        sim_calls(setup.sim_addr, "UpdateService", "ok").await,
        2,
        "the update and the rollback, nothing more"
    );
    setup.kill().await;
}

#[tokio::test]
async fn a_file_rewritten_slowly_is_read_whole_and_prunes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let documents: Vec<String> = std::iter::once(CLUSTER.to_string())
        .chain((0..5).map(|i| service(&format!("s{i}"), "nginx:1", 1, "")))
        .collect();
    let file = dir.join("services.yaml");
    std::fs::write(&file, documents.join("---\n")).unwrap();
    let mut setup = Setup::new(root.path(), SPEED).await;
    setup
        .start_with(
            &["--dir", dir.to_str().unwrap()],
            "200ms",
            SPEED,
            &["--prune"],
        )
        .await;
    setup.wait_status("in sync", all_ready).await;
    // The same content, written in place with a pause after the first two documents.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut out = std::fs::File::create(&file).unwrap();
        out.write_all(documents[..3].join("---\n").as_bytes())
            .unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        out.write_all(b"---\n").unwrap();
        out.write_all(documents[3..].join("---\n").as_bytes())
            .unwrap();
    });
    tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim_calls(setup.sim_addr, "DeleteService", "ok").await,
        0,
        "{}",
        setup.log()
    );
    assert_eq!(sim_calls(setup.sim_addr, "CreateService", "ok").await, 5);
    setup.kill().await;
}

async fn healthz(web: u16) -> (u16, String) {
    http(
        format!("127.0.0.1:{web}").parse().unwrap(),
        "GET",
        "/healthz",
        &[],
        "",
    )
    .await
}

#[tokio::test]
async fn a_hung_ecs_call_is_logged_at_once_and_fails_healthz_until_it_recovers() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.join("web.yaml"), service("web", "nginx:1", 1, "")).unwrap();
    let mut setup = Setup::new(root.path(), SPEED).await;
    let extra = ["--call-timeout", "500ms"];
    setup
        .start_with(&["--dir", dir.to_str().unwrap()], "300ms", SPEED, &extra)
        .await;
    setup.wait_status("in sync", all_ready).await;
    assert_eq!(healthz(setup.web).await.0, 200);
    common::sim_json(
        setup.sim_addr,
        "POST",
        "/_sim/faults",
        r#"{"operations": ["DescribeServices"], "latencyMs": 600000}"#,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let why = loop {
        let (code, body) = healthz(setup.web).await;
        if code == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "healthz stays ok\n{}",
            setup.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(why.contains("no sweep has finished"), "{why}");
    let log = setup.log();
    let warned = log
        .lines()
        .any(|l| l.contains("WARN") && l.contains("DescribeServices") && l.contains("retrying"));
    assert!(warned, "{log}");
    common::sim_json(setup.sim_addr, "DELETE", "/_sim/faults", "").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while healthz(setup.web).await.0 != 200 {
        assert!(Instant::now() < deadline, "no recovery\n{}", setup.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    setup.kill().await;
}

/// A commit with a file over `--max-file-size` or not UTF-8 is refused, each problem on its
/// file; the last good revision stays in force.
#[tokio::test]
async fn a_commit_with_a_file_too_large_or_not_utf8_is_refused_on_that_file() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 1, ""));
    let mut setup = Setup::new(root.path(), SPEED).await;
    setup
        .start(&repo.url(), "1h", SPEED, &["--max-file-size", "2KiB"])
        .await;
    let status = setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    let applied = status["lastAppliedRevision"].clone();
    std::fs::write(
        repo.work.join("deploy/big.yaml"),
        format!("# {}\n", "x".repeat(3000)),
    )
    .unwrap();
    std::fs::write(repo.work.join("deploy/latin1.yaml"), b"# caf\xe9\n").unwrap();
    repo.commit("web.yaml", &service("web", "nginx:2", 1, ""));
    setup
        .hook(&[("Authorization", &format!("Bearer {HOOK_TOKEN}"))])
        .await;
    let status = setup
        .wait_status("the refused commit", |s| {
            s["validationErrors"]
                .as_array()
                .is_some_and(|e| e.len() == 2)
        })
        .await;
    assert_eq!(
        status["validationErrors"],
        serde_json::json!([
            "deploy/big.yaml: the file is larger than 2048 bytes, the limit (--max-file-size): not read",
            "deploy/latin1.yaml:1:6: not UTF-8: invalid byte 0xe9 at byte offset 5",
        ])
    );
    assert_eq!(status["lastAppliedRevision"], applied);
    assert_eq!(task_definition(&status, "EcsService/web"), "web:1");
    setup.kill().await;
}

/// An empty webhook secret or token would accept anything signed or sent with it: `run`
/// refuses to start, whether it comes from the environment, a flag or an empty file.
#[tokio::test]
async fn an_empty_webhook_secret_or_token_is_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let empty = empty.to_str().unwrap();
    // (environment, flags, what the message names)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: [Case; 4] = [
        (&[("ECS_GITOPS_HOOK_SECRET", "")], &[], "the webhook secret"),
        (&[], &["--hook-secret-file", empty], "the webhook secret"),
        (&[("ECS_GITOPS_HOOK_TOKEN", "")], &[], "the webhook token"),
        (&[], &["--hook-token", ""], "the webhook token"),
    ];
    for (env, args, what) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args(["run", "--dir", root.path().to_str().unwrap()])
            .args([
                "--listen",
                "127.0.0.1:0",
                "--endpoint-url",
                "http://127.0.0.1:9",
            ])
            .args(args)
            .envs(env.iter().copied())
            .env_remove("ECS_GITOPS_GIT_TOKEN")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} {args:?}: started");
        assert!(
            stderr.contains(&format!("{what} (")) && stderr.contains("is empty"),
            "{env:?} {args:?}: {stderr}"
        );
    }
}

/// Sweeps so far: the count of the sweep duration histogram.
async fn sweeps(web: u16) -> u64 {
    let metrics = http(
        format!("127.0.0.1:{web}").parse().unwrap(),
        "GET",
        "/metrics",
        &[],
        "",
    )
    .await
    .1;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("ecs_gitops_reconcile_duration_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// `--hook-listen` serves `/hook` alone, so that only it need be public; a burst of hooks
/// makes one sweep, not one each; a secret given as a flag is warned about.
#[tokio::test]
async fn the_hook_listener_serves_only_hooks_and_a_burst_of_hooks_coalesces() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.join("web.yaml"), service("web", "nginx:1", 1, "")).unwrap();
    let mut setup = Setup::new(root.path(), SPEED).await;
    let hook_port = free_port();
    let hook_listen = format!("127.0.0.1:{hook_port}");
    setup
        .start_with(
            &["--dir", dir.to_str().unwrap()],
            "1h",
            SPEED,
            &["--hook-listen", &hook_listen, "--hook-token", "flag-token"],
        )
        .await;
    wait_for_port(hook_port).await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    let hook_addr: std::net::SocketAddr = hook_listen.parse().unwrap();
    let main_addr: std::net::SocketAddr = format!("127.0.0.1:{}", setup.web).parse().unwrap();
    for path in ["/api/status", "/metrics", "/"] {
        assert_eq!(http(hook_addr, "GET", path, &[], "").await.0, 404, "{path}");
    }
    let bearer = [("Authorization", "Bearer flag-token")];
    assert_eq!(http(main_addr, "POST", "/hook", &bearer, "{}").await.0, 404);
    let log = setup.log();
    assert!(
        log.contains("a secret given as a flag is visible to every user of this machine (ps): --hook-token: use ECS_GITOPS_HOOK_TOKEN or --hook-token-file"),
        "{log}"
    );

    let before = sweeps(setup.web).await;
    for _ in 0..100 {
        assert_eq!(http(hook_addr, "POST", "/hook", &bearer, "{}").await.0, 202);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while sweeps(setup.web).await == before {
        assert!(Instant::now() < deadline, "no sweep after the hooks");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for any sweep still owed to the burst.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let made = sweeps(setup.web).await - before;
    assert!(made <= 2, "100 hooks made {made} sweeps");
    setup.kill().await;
}

/// After a failed rollout the status says what `apply` says: ECS's reasons, what it rolled
/// back to, and what changed, also once the spec is quarantined; the log says it at WARN.
/// When ECS cannot be observed, the sweep stops with an ERROR.
#[tokio::test]
async fn a_failed_rollout_is_explained_in_the_status_and_logged_at_warn() {
    let root = tempfile::tempdir().unwrap();
    let repo = Repo::new(root.path()).await;
    let breaker = "  deploymentConfiguration:\n    deploymentCircuitBreaker: {enable: true, rollback: true}\n";
    repo.commit("cluster.yaml", CLUSTER);
    repo.commit("web.yaml", &service("web", "nginx:1", 3, breaker));
    let mut setup = Setup::new(root.path(), SPEED).await;
    setup.start(&repo.url(), "1h", SPEED, &[]).await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    repo.commit("web.yaml", &service("web", "nginx:fail-1", 3, breaker));
    let bearer = [("Authorization", format!("Bearer {HOOK_TOKEN}"))];
    let bearer = [(bearer[0].0, bearer[0].1.as_str())];
    setup.hook(&bearer).await;
    let failed = setup
        .wait_status("the failed rollout", |s| {
            s["objects"]["EcsService/web"]["verdict"] == "failed"
        })
        .await;
    let message = failed["objects"]["EcsService/web"]["lastError"]
        .as_str()
        .unwrap()
        .to_string();
    for words in [
        "rollout of web:2 FAILED: ECS deployment circuit breaker",
        "(stopped tasks: ",
        "; ECS rolled back to web:1",
        "; changed: taskDefinition.containerDefinitions[app].image: \"nginx:1\" → \"nginx:fail-1\"",
    ] {
        assert!(message.contains(words), "{words:?} missing: {message}");
    }
    // The next sweep finds the spec quarantined and still says why.
    setup.hook(&bearer).await;
    let quarantined = setup
        .wait_status("the quarantine", |s| {
            s["objects"]["EcsService/web"]["verdict"] == "quarantined"
        })
        .await;
    let web = &quarantined["objects"]["EcsService/web"];
    assert_eq!(
        web["lastError"].as_str().unwrap(),
        format!("quarantined until the manifest changes: {message}")
    );
    assert_eq!(
        web["changes"][0]["path"],
        "taskDefinition.containerDefinitions[app].image"
    );
    let page = http(
        format!("127.0.0.1:{}", setup.web).parse().unwrap(),
        "GET",
        "/",
        &[],
        "",
    )
    .await
    .1;
    assert!(
        page.contains("ECS rolled back to web:1")
            && page.contains(
                "containerDefinitions[app].image: &quot;nginx:1&quot; → &quot;nginx:fail-1&quot;"
            ),
        "{page}"
    );
    let log = setup.log();
    let warned = log
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("EcsService/web"))
        .collect::<Vec<_>>();
    assert!(
        warned
            .iter()
            .any(|l| l.contains("FAILED: ECS deployment circuit breaker"))
            && warned
                .iter()
                .any(|l| l.contains("quarantined until the manifest changes")),
        "{log}"
    );

    // ECS refuses to be observed: the sweep stops, at ERROR.
    common::sim_json(
        setup.sim_addr,
        "POST",
        "/_sim/faults",
        r#"{"operations": ["DescribeServices"], "errorRate": 1.0, "error": "AccessDeniedException"}"#,
    )
    .await;
    setup.hook(&bearer).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !setup
        .log()
        .lines()
        .any(|l| l.contains(" ERROR ") && l.contains("observing ECS failed"))
    {
        assert!(Instant::now() < deadline, "{}", setup.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    setup.kill().await;
}

/// Service `web` running `image`, migrated first by `migration`.
fn migrated_service(image: &str, migration: &str) -> String {
    let pre_deploy = format!(
        "  rollout:\n    preDeploy:\n      - name: migrate\n        taskDefinition:\n          containerDefinitions:\n            - {{name: db, image: \"{migration}\", memory: 128}}\n"
    );
    service("web", image, 1, &pre_deploy)
}

#[tokio::test]
async fn after_kill_9_during_a_migration_the_restart_finds_the_task_instead_of_starting_another() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(
        dir.join("web.yaml"),
        migrated_service("nginx:1", "migrate:1"),
    )
    .unwrap();
    // Slow enough that the migration (about 23 simulated seconds) is running when it dies.
    let speed = "5";
    let source = ["--dir", dir.to_str().unwrap()];
    let mut setup = Setup::new(root.path(), speed).await;
    setup.start_with(&source, "200ms", speed, &[]).await;
    setup
        .wait_status("first sync", |s| settled(s, "EcsService/web", "web:1"))
        .await;
    assert_eq!(sim_calls(setup.sim_addr, "RunTask", "ok").await, 1);

    std::fs::write(
        dir.join("web.yaml"),
        migrated_service("nginx:2", "migrate:2"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim_calls(setup.sim_addr, "RunTask", "ok").await < 2 {
        assert!(Instant::now() < deadline, "no migration\n{}", setup.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    setup.kill().await;
    let ecs = ecs_client(&setup.endpoint(), "us-east-1", false);
    let running = ecs
        .list_tasks()
        .cluster("c1")
        .family("web-migrate")
        .send()
        .await
        .unwrap();
    assert_eq!(
        running.task_arns().len(),
        1,
        "killed while the migration runs"
    );
    let migration = running.task_arns()[0].clone();

    setup.start_with(&source, "200ms", speed, &[]).await;
    let status = setup
        .wait_status("the update after the migration", |s| {
            settled(s, "EcsService/web", "web:2")
        })
        .await;
    assert_eq!(
        sim_calls(setup.sim_addr, "RunTask", "ok").await,
        2,
        "no second migration\n{}",
        setup.log()
    );
    let tasks = &status["objects"]["EcsService/web"]["preDeploy"];
    assert_eq!(tasks[0]["taskArn"], migration.as_str(), "{status:#}");
    assert_eq!(tasks[0]["exitCode"], 0, "{status:#}");
    assert_eq!(tasks[0]["lastStatus"], "STOPPED", "{status:#}");
    assert!(
        setup
            .log()
            .contains(&format!("pre-deploy task migrate: found {migration}"))
    );
    setup.kill().await;
}
