//! Many AWS accounts from one controller: the real binary assumes each account's role through
//! the simulator's STS (`AWS_ENDPOINT_URL_STS`), and the simulator keeps each account's ECS
//! state apart by the access key id the calls are signed with. Everything is read back per
//! account from the simulator.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use common::{free_port, http, sim_json, wait_for_port};
use serde_json::Value;
use tokio::process::{Child, Command};

const SPEED: &str = "50";
const ALPHA: &str = "111111111111";
const BETA: &str = "222222222222";
const DEFAULT_ACCOUNT: &str = "000000000000";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const EXTERNAL_ID: &str = "alpha-external-id";
const AWS_SECRET: &str = "aws-secret-key-never-logged";

fn accounts_yaml() -> String {
    format!(
        "- name: alpha\n  roleArn: arn:aws:iam::{ALPHA}:role/ecs-gitops\n  externalId: {EXTERNAL_ID}\n  regions: [us-east-1, eu-west-1]\n- name: beta\n  roleArn: arn:aws:iam::{BETA}:role/ecs-gitops\n"
    )
}

fn placed(account: &str, region: &str) -> String {
    format!("  account: {account}\n  region: {region}\n")
}

/// An EcsCluster named after its place, whose ECS name is `c1` everywhere.
fn cluster(account: &str, region: &str) -> String {
    format!(
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c1-{account}-{region}\nspec:\n  clusterName: c1\n{}",
        placed(account, region)
    )
}

/// An EcsService `object` whose ECS service and family are `name`, its image telling where it
/// was meant to land.
fn service(object: &str, name: &str, place: &str, image: &str) -> String {
    format!(
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: {object}\nspec:\n  serviceName: {name}\n  cluster: c1\n  desiredCount: 1\n{place}  taskDefinition:\n    family: {name}\n    containerDefinitions:\n      - {{name: app, image: \"{image}\", memory: 128}}\n"
    )
}

/// The simulator and a `run --dir` of the accounts, each its own process.
struct Setup {
    root: tempfile::TempDir,
    _sim: Child,
    sim: std::net::SocketAddr,
    run: Option<Child>,
    web: u16,
}

impl Setup {
    async fn new() -> Setup {
        let (sim, addr) = common::sim_process(SPEED).await;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("deploy")).unwrap();
        std::fs::write(root.path().join("accounts.yaml"), accounts_yaml()).unwrap();
        Setup {
            root,
            _sim: sim,
            sim: addr,
            run: None,
            web: free_port(),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.sim)
    }

    fn write(&self, file: &str, yaml: &str) {
        std::fs::write(self.root.path().join("deploy").join(file), yaml).unwrap();
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("run.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The log's warnings and errors (it runs at trace).
    fn problems(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect();
        lines.join("\n")
    }

    /// `run --dir deploy --accounts accounts.yaml`, STS at the simulator.
    async fn start(&mut self, budget_scale: &str, extra: &[&str]) {
        let log = std::fs::File::create(self.log_path()).unwrap();
        let deploy = self.root.path().join("deploy");
        let accounts = self.root.path().join("accounts.yaml");
        let child = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
            .args(["run", "--dir", deploy.to_str().unwrap()])
            .args(["--accounts", accounts.to_str().unwrap()])
            .args(["--endpoint-url", &self.endpoint(), "--region", "us-east-1"])
            .args(["--interval", "300ms", "--poll", "100ms"])
            .args(["--api-budget-scale", budget_scale])
            .args(["--listen", &format!("127.0.0.1:{}", self.web)])
            .args(extra)
            .env("AWS_ENDPOINT_URL_STS", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", "AKIDNEVERLOGGED")
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "trace")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.run = Some(child);
        wait_for_port(self.web).await;
    }

    async fn get(&self, path: &str) -> String {
        let addr = format!("127.0.0.1:{}", self.web).parse().unwrap();
        let (code, body) = http(addr, "GET", path, &[], "").await;
        assert_eq!(code, 200, "{path}: {body}");
        body
    }

    async fn status(&self) -> Value {
        serde_json::from_str(&self.get("/api/status").await).unwrap()
    }

    async fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {status:#}\n{}",
                self.problems()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One account's ECS state (its regions), as the simulator keeps it.
    async fn state(&self, account: &str) -> Value {
        let path = format!("/_sim/state?account={account}");
        sim_json(self.sim, "GET", &path, "").await["regions"].clone()
    }

    /// One account's calls of `operation` by outcome.
    async fn calls(&self, account: &str, operation: &str) -> Value {
        let path = format!("/_sim/stats?account={account}");
        sim_json(self.sim, "GET", &path, "").await["calls"][operation].clone()
    }

    /// An ECS client signed into `account` as the simulator tells accounts apart: by an
    /// access key id STS issued for a role of it.
    fn ecs_in(&self, account: &str, region: &str) -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(
                format!("ASIA{account}TEST"),
                "not-a-secret",
                None,
                None,
                "tests",
            ))
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    async fn image_of(&self, account: &str, region: &str, family: &str) -> String {
        let described = self
            .ecs_in(account, region)
            .describe_task_definition()
            .task_definition(family)
            .send()
            .await
            .unwrap();
        let td = described.task_definition().unwrap();
        td.container_definitions()[0].image().unwrap().to_string()
    }

    async fn metric(&self, series: &str) -> u64 {
        let metrics = self.get("/metrics").await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn ready(object: &Value) -> bool {
    object["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn all_ready(status: &Value) -> bool {
    status["objects"]
        .as_object()
        .is_some_and(|o| !o.is_empty() && o.values().all(ready))
}

/// The ECS names of a region's services, from a `/_sim/state` region.
fn service_names(region: &Value) -> Vec<String> {
    let mut names: Vec<String> = region["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["status"] == "ACTIVE")
        .filter_map(|s| {
            s["serviceArn"]
                .as_str()?
                .rsplit('/')
                .next()
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn one_run_puts_each_object_in_its_own_account_and_region() {
    let mut setup = Setup::new().await;
    // alpha's role asks for the external id the accounts file gives.
    let role = format!(
        r#"{{"roleArn": "arn:aws:iam::{ALPHA}:role/ecs-gitops", "externalId": "{EXTERNAL_ID}"}}"#
    );
    sim_json(setup.sim, "POST", "/_sim/roles", &role).await;
    for account in ["alpha", "beta"] {
        for region in REGIONS {
            let place = placed(account, region);
            let object = format!("web-{account}-{region}");
            let image = format!("nginx:{account}-{region}");
            setup.write(&format!("{object}-c.yaml"), &cluster(account, region));
            setup.write(
                &format!("{object}.yaml"),
                &service(&object, "web", &place, &image),
            );
        }
    }
    let api = placed("beta", "us-east-1");
    setup.write("api.yaml", &service("api", "api", &api, "nginx:api"));
    // Without an account: the controller's own credentials, as before.
    let plain = "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: plain\nspec: {}\n";
    setup.write("plain.yaml", plain);
    setup.start(SPEED, &["--prune"]).await;
    let status = setup.wait_status("everything ready", all_ready).await;

    for (account, id) in [("alpha", ALPHA), ("beta", BETA)] {
        let regions = setup.state(id).await;
        for region in REGIONS {
            let here = &regions[region];
            assert_eq!(here["clusters"], serde_json::json!(["c1"]), "{id} {region}");
            let web = here["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["serviceArn"].as_str().unwrap().ends_with("/c1/web"))
                .unwrap_or_else(|| panic!("no web in {id} {region}: {here:#}"));
            assert_eq!(
                web["serviceArn"],
                format!("arn:aws:ecs:{region}:{id}:service/c1/web")
            );
            assert_eq!(
                web["taskDefinition"],
                format!("arn:aws:ecs:{region}:{id}:task-definition/web:1")
            );
            let image = setup.image_of(id, region, "web").await;
            assert_eq!(image, format!("nginx:{account}-{region}"));
            let object = &status["objects"][format!("EcsService/web-{account}-{region}")];
            assert_eq!(object["account"], account);
            assert_eq!(object["region"], region);
        }
    }
    assert_eq!(
        service_names(&setup.state(BETA).await["us-east-1"]),
        ["api", "web"]
    );
    let default = setup.state(DEFAULT_ACCOUNT).await;
    assert_eq!(
        default["us-east-1"]["clusters"],
        serde_json::json!(["plain"])
    );
    assert_eq!(default.as_object().unwrap().len(), 1, "{default:#}");
    assert_eq!(status["objects"]["EcsCluster/plain"]["region"], "us-east-1");
    assert!(
        status["objects"]["EcsCluster/plain"]
            .get("account")
            .is_none()
    );

    // One role session per account, shared by its regions' clients and kept across sweeps.
    let sweeps = "ecs_gitops_reconciles_total{result=\"ok\"}";
    let before = setup.metric(sweeps).await;
    while setup.metric(sweeps).await < before + 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let assumed = setup.calls(DEFAULT_ACCOUNT, "AssumeRole").await;
    assert_eq!(assumed, serde_json::json!({"ok": 2}));
    for (account, services) in [("alpha", 2), ("beta", 3)] {
        let series = format!(
            "ecs_gitops_ecs_calls_total{{account=\"{account}\",operation=\"CreateService\",outcome=\"ok\"}}"
        );
        assert_eq!(setup.metric(&series).await, services, "{series}");
    }
    let plain_calls =
        "ecs_gitops_ecs_calls_total{account=\"\",operation=\"CreateCluster\",outcome=\"ok\"}";
    assert_eq!(setup.metric(plain_calls).await, 1);
    let page = setup.get("/").await;
    assert!(
        page.contains("<code>eu-west-1 of account alpha</code>"),
        "{page}"
    );

    // Moving `api` to alpha creates it there and leaves beta's running; removing beta's
    // eu-west-1 web prunes that one service alone.
    setup.write(
        "api.yaml",
        &service("api", "api", &placed("alpha", "us-east-1"), "nginx:api"),
    );
    std::fs::remove_file(setup.root.path().join("deploy/web-beta-eu-west-1.yaml")).unwrap();
    let status = setup
        .wait_status("api moved", |s| {
            s["objects"]["EcsService/api"]["account"] == "alpha"
                && ready(&s["objects"]["EcsService/api"])
                && s["objects"]["service c1/api"]["verdict"] == "blocked"
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !service_names(&setup.state(BETA).await["eu-west-1"]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "beta's eu-west-1 web not pruned\n{}",
            setup.problems()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = &status["objects"]["service c1/api"];
    assert_eq!(kept["verdict"], "blocked", "{status:#}");
    assert_eq!(
        kept["lastError"],
        "not pruned: api now names us-east-1 of account alpha; this service in us-east-1 of account beta keeps running until you delete it"
    );
    let beta = setup.state(BETA).await;
    assert_eq!(service_names(&beta["us-east-1"]), ["api", "web"]);
    assert_eq!(service_names(&beta["eu-west-1"]), Vec::<String>::new());
    let alpha = setup.state(ALPHA).await;
    assert_eq!(service_names(&alpha["us-east-1"]), ["api", "web"]);
    assert_eq!(service_names(&alpha["eu-west-1"]), ["web"]);
    assert_eq!(
        setup.calls(BETA, "DeleteService").await,
        serde_json::json!({"ok": 1})
    );
    assert_eq!(setup.calls(ALPHA, "DeleteService").await, Value::Null);

    // Nothing the SDK was given or STS issued reaches the log, even at trace.
    let log = setup.log();
    for secret in [
        AWS_SECRET,
        "simsecret",
        "simsession",
        &format!("ASIA{ALPHA}"),
        &format!("ASIA{BETA}"),
        EXTERNAL_ID,
    ] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
}

/// The deployments of a service in one account and region, from `/_sim/state`.
fn rolled_out(region: &Value, name: &str) -> bool {
    region["services"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            s["serviceArn"]
                .as_str()
                .is_some_and(|a| a.ends_with(&format!("/{name}")))
                && s["runningCount"] == 1
                && s["deployments"][0]["rolloutState"] == "COMPLETED"
        })
}

#[tokio::test]
async fn a_throttling_storm_in_one_account_leaves_the_others_budget_alone() {
    let mut setup = Setup::new().await;
    // One region for both accounts: only the account tells their budgets apart.
    let (alpha, beta) = (placed("alpha", "us-east-1"), placed("beta", "us-east-1"));
    setup.write("c-alpha.yaml", &cluster("alpha", "us-east-1"));
    setup.write("c-beta.yaml", &cluster("beta", "us-east-1"));
    for i in 1..=6 {
        let name = format!("a{i}");
        setup.write(
            &format!("{name}.yaml"),
            &service(&name, &name, &alpha, "nginx:1"),
        );
    }
    setup.write("b1.yaml", &service("b1", "b1", &beta, "nginx:1"));
    // The storm: ECS throttles every RegisterTaskDefinition of alpha. Each throttled try
    // spends a token of alpha's budget, which refills a thousand times slower than ECS's
    // (--api-budget-scale 0.001): what the storm spends stays spent. beta's first call of
    // its own is held back a few seconds, until alpha's budget is empty for sure.
    let storm = format!(
        r#"{{"account": "{ALPHA}", "operations": ["RegisterTaskDefinition"], "throttleRate": 1.0}}"#
    );
    let late = format!(
        r#"{{"account": "{BETA}", "operations": ["ListTaskDefinitions"], "latencyMs": 3000}}"#
    );
    sim_json(setup.sim, "POST", "/_sim/faults", &storm).await;
    sim_json(setup.sim, "POST", "/_sim/faults", &late).await;
    setup.start("0.001", &[]).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while !rolled_out(&setup.state(BETA).await["us-east-1"], "b1") {
        assert!(
            Instant::now() < deadline,
            "beta's b1 never rolled out: {:#}\nalpha: {}\n{}",
            setup.state(BETA).await,
            setup.calls(ALPHA, "RegisterTaskDefinition").await,
            setup.problems()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // alpha spent its whole burst (ECS's 20 RegisterTaskDefinition) on throttled tries, then
    // its budget held it back; beta registered at once and was never throttled.
    let throttled = serde_json::json!({"ThrottlingException": 20});
    assert_eq!(
        setup.calls(ALPHA, "RegisterTaskDefinition").await,
        throttled
    );
    assert_eq!(
        setup.calls(BETA, "RegisterTaskDefinition").await,
        serde_json::json!({"ok": 1})
    );
    assert_eq!(
        setup.calls(BETA, "CreateService").await,
        serde_json::json!({"ok": 1})
    );
    assert!(service_names(&setup.state(ALPHA).await["us-east-1"]).is_empty());
}

/// `ecs-gitops ARGS` in `dir`: (exit code, stdout, stderr).
fn ecs_gitops(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn validate_rejects_an_account_the_controller_is_not_given_at_its_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    std::fs::write(dir.join("accounts.yaml"), accounts_yaml()).unwrap();
    std::fs::create_dir(dir.join("deploy")).unwrap();
    let web = service("web", "web", &placed("gamma", "us-east-1"), "nginx:1");
    let api = service("api", "api", &placed("alpha", "ap-south-1"), "nginx:1");
    std::fs::write(dir.join("deploy/web.yaml"), format!("{web}---\n{api}")).unwrap();

    let (code, out, _) = ecs_gitops(dir, &["validate", "--accounts", "accounts.yaml", "deploy"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out,
        "deploy/web.yaml:9:3: EcsService/web: spec.account: account \"gamma\" is not configured: the accounts file accounts.yaml names alpha, beta\n\
         deploy/web.yaml:25:3: EcsService/api: spec.region: region \"ap-south-1\" is not allowed for account \"alpha\": its regions are us-east-1, eu-west-1\n\
         invalid: 2 errors, 0 warnings\n"
    );
    let (code, out, _) = ecs_gitops(dir, &["validate", "deploy"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("deploy/web.yaml:9:3: EcsService/web: spec.account: account \"gamma\" is not configured: no accounts file was given"),
        "{out}"
    );
}

#[test]
fn a_bad_accounts_file_stops_every_command_with_its_lines() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    std::fs::write(
        dir.join("accounts.yaml"),
        "- name: alpha\n  roleArn: arn:aws:iam::111:role/x\n  externalID: abc\n",
    )
    .unwrap();
    std::fs::create_dir(dir.join("deploy")).unwrap();
    std::fs::write(dir.join("deploy/c.yaml"), cluster("alpha", "us-east-1")).unwrap();
    let expected = "the accounts file is invalid:\n  \
        accounts.yaml:2:12: [0].roleArn: \"arn:aws:iam::111:role/x\" is not an IAM role ARN: expected arn:aws:iam::123456789012:role/NAME\n  \
        accounts.yaml:3:3: [0].externalID: unknown field \"externalID\", did you mean \"externalId\"?";
    let web = format!("127.0.0.1:{}", free_port());
    for args in [
        &["validate", "--accounts", "accounts.yaml", "deploy"][..],
        &["diff", "--accounts", "accounts.yaml", "--local", "deploy"],
        &[
            "run",
            "--accounts",
            "accounts.yaml",
            "--local",
            "--dir",
            "deploy",
            "--listen",
            &web,
        ],
    ] {
        let (code, _, err) = ecs_gitops(dir, args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn a_role_that_refuses_the_external_id_is_reported_and_nothing_lands() {
    let mut setup = Setup::new().await;
    // beta's role asks for an external id; the accounts file gives none.
    let role = format!(
        r#"{{"roleArn": "arn:aws:iam::{BETA}:role/ecs-gitops", "externalId": "beta-only"}}"#
    );
    sim_json(setup.sim, "POST", "/_sim/roles", &role).await;
    setup.write("c-beta.yaml", &cluster("beta", "us-east-1"));
    setup.start(SPEED, &[]).await;
    let status = setup
        .wait_status("AccessDenied reported", |s| {
            s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("AccessDenied"))
        })
        .await;
    let error = status["lastError"].as_str().unwrap();
    assert!(
        error.starts_with("cannot assume the role of account beta: AccessDenied: ")
            && error.contains("arn:aws:iam::222222222222:role/ecs-gitops"),
        "{error}"
    );
    assert_eq!(setup.state(BETA).await, serde_json::json!({}));
    let assumed = setup.calls(DEFAULT_ACCOUNT, "AssumeRole").await;
    assert!(assumed["AccessDenied"].as_u64() >= Some(1), "{assumed}");
    assert!(!setup.log().contains("beta-only"));
}
