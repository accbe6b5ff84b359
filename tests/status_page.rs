//! The status page as a person sees it: `ecs-gitops run` on a Git repository and the
//! simulator, each its own process, and Debian's headless Chromium loading the page. During
//! a rollout whose tasks keep failing, and after the controller gave up on it, the page must
//! show the service as failing, then failed, in ECS's words. Screenshots are kept under
//! `target/status-page/` for people to look at.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use common::{free_port, http, sim_process, wait_for_port};

/// Debian's Chromium. Outside CI a machine without it skips, loudly; in CI it must be there
/// (scripts/test installs it).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing: scripts/test installs it (apt-get install chromium)"
        );
        eprintln!(
            "!!! SKIPPED: the status page browser test: no chromium on PATH (apt-get install chromium)"
        );
    }
    found
}

/// Headless Chromium on `url` with `args` (`--dump-dom`, `--screenshot=…`): its stdout.
async fn browse(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(chromium)
            .args([
                "--headless",
                // Root in a container has no user namespace for the sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium answers within a minute")
    .unwrap();
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Dana Deployer",
            "-c",
            "user.email=dana@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A Fargate service without the circuit breaker: a bad image fails tasks until the
/// controller's rollout timeout, then it rolls back itself.
fn service(name: &str, image: &str) -> String {
    format!(
        "apiVersion: ecs-gitops.dev/v1alpha1
kind: EcsService
metadata:
  name: {name}
spec:
  cluster: shop
  desiredCount: 1
  launchType: FARGATE
  networkConfiguration:
    awsvpcConfiguration:
      subnets: [subnet-0a1b2c3d4e5f60718]
  rollout: {{timeout: 20s, onFailure: rollback}}
  taskDefinition:
    requiresCompatibilities: [FARGATE]
    networkMode: awsvpc
    cpu: \"256\"
    memory: \"512\"
    containerDefinitions:
      - name: {name}
        image: {image}
        environment:
          - name: DB_PASSWORD
            value: hunter2-never-shown
"
    )
}

const CLUSTER: &str =
    "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: shop\nspec: {}\n";

struct Repo {
    work: PathBuf,
    url: String,
}

impl Repo {
    fn new(root: &Path) -> Repo {
        let bare = root.join("deploy.git");
        let work = root.join("work");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "--initial-branch=main"]);
        std::fs::create_dir_all(work.join("deploy")).unwrap();
        git(&work, &["init", "--initial-branch=main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Repo {
            url: format!("file://{}", bare.display()),
            work,
        }
    }

    fn commit(&self, files: &[(&str, &str)], message: &str) {
        for (name, text) in files {
            std::fs::write(self.work.join("deploy").join(name), text).unwrap();
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-m", message]);
        git(&self.work, &["push", "origin", "HEAD:main"]);
    }
}

async fn status(web: u16) -> serde_json::Value {
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

/// The `<li>` of one object in a dumped page.
fn object_item<'a>(dom: &'a str, key: &str) -> &'a str {
    let id = format!("id=\"object-{}\"", key.replace('/', "-"));
    let at = dom
        .find(&id)
        .unwrap_or_else(|| panic!("{key} is not on the page:\n{dom}"));
    let start = dom[..at].rfind("<li").unwrap();
    let end = dom[at..]
        .find("<li class=\"object\"")
        .map_or(dom.len(), |next| at + next);
    &dom[start..end]
}

/// Loads the page in Chromium until `done` holds for the DOM it ends with.
async fn dom_until(
    chromium: &Path,
    profile: &Path,
    url: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let dom = browse(chromium, profile, &["--dump-dom"], url).await;
        if done(&dom) {
            return dom;
        }
        assert!(Instant::now() < deadline, "{what}: the page shows:\n{dom}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn screenshot(chromium: &Path, profile: &Path, url: &str, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/status-page");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    let _ = std::fs::remove_file(&file);
    browse(
        chromium,
        profile,
        &[
            &format!("--screenshot={}", file.display()),
            "--window-size=1280,1100",
        ],
        url,
    )
    .await;
    let png = std::fs::read(&file).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}");
}

#[tokio::test]
async fn a_failing_rollout_is_shown_as_failing_then_failed_in_ecs_words() {
    let Some(chromium) = chromium() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let profile = root.path().join("chromium");
    let repo = Repo::new(root.path());
    repo.commit(
        &[
            ("cluster.yaml", CLUSTER),
            ("web.yaml", &service("web", "nginx:1.27")),
            ("api.yaml", &service("api", "nginx:1.27")),
        ],
        "Start web and api",
    );
    let (_sim, sim) = sim_process("10").await;
    let web = free_port();
    let _controller = Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
        .args([
            "run",
            "--git",
            &repo.url,
            "--path",
            "deploy",
            "--interval",
            "1s",
        ])
        .args(["--poll", "200ms", "--api-budget-scale", "10"])
        .args(["--endpoint-url", &format!("http://{sim}")])
        .args(["--listen", &format!("127.0.0.1:{web}")])
        .arg("--cache-dir")
        .arg(root.path().join("cache"))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_REGION", "eu-west-1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_port(web).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(web).await["lastAppliedRevision"].is_null() {
        assert!(Instant::now() < deadline, "{:#}", status(web).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    repo.commit(
        &[("web.yaml", &service("web", "nginx:fail-1"))],
        "Roll web to a bad image",
    );
    // During the rollout: failing, in ECS's words, and the problem alone under "Not ready".
    let url = format!("http://127.0.0.1:{web}/?show=not-ready");
    let ecs_reason = "Essential container in task exited";
    let dom = dom_until(&chromium, &profile, &url, "web failing", |dom| {
        dom.contains("id=\"object-EcsService-web\"")
            && object_item(dom, "EcsService/web")
                .contains("<span class=\"health failing\">failing</span>")
            && object_item(dom, "EcsService/web").contains(ecs_reason)
    })
    .await;
    screenshot(&chromium, &profile, &url, "failing-rollout.png").await;
    let web_item = object_item(&dom, "EcsService/web");
    assert!(
        web_item.contains("<details id=\"object-EcsService-web\" open=\"\">"),
        "a problem opens by itself: {web_item}"
    );
    assert!(
        web_item.contains("<span class=\"reason\">ECS: (service web) (task ")
            && web_item.contains(&format!("failed: {ecs_reason}.</span>")),
        "ECS's word is the reason: {web_item}"
    );
    assert!(
        web_item
            .contains("<code>taskDefinition.<wbr>containerDefinitions<wbr>[web].<wbr>image</code>")
            && web_item.contains(
                "<td><code>\"nginx:1.27\"</code></td><td><code>\"nginx:fail-1\"</code></td>"
            ),
        "desired vs live: {web_item}"
    );
    assert!(
        web_item.contains("<li class=\"bad\">") && web_item.contains(" created: web:2</span>"),
        "the timeline: {web_item}"
    );
    assert!(
        !dom.contains("hunter2"),
        "a secret-looking value reached the page"
    );
    // The filter: api is ready, so hidden under "Not ready"; the radio says which is on.
    assert!(
        object_item(&dom, "EcsService/api").starts_with("<li class=\"object\" data-groups=\"\"")
            && object_item(&dom, "EcsService/api").contains(" hidden=\"\"")
    );
    assert!(dom.contains("<input type=\"radio\" name=\"show\" value=\"not-ready\" checked=\"\">"));
    // The top: the Git source, its commit with message and author, the sweeps, the budget.
    for words in [
        "<dt>Source</dt>",
        "<q>Roll web to a bad image</q> by Dana Deployer",
        "<dt>Sweeps</dt><dd>last ",
        "API budget in use: busiest bucket ",
    ] {
        assert!(dom.contains(words), "{words:?} missing:\n{dom}");
    }

    // The controller gives up at the rollout's timeout and rolls back: failed (then
    // quarantined), with ECS's reason.
    let dom = dom_until(&chromium, &profile, &url, "web failed", |dom| {
        let item = object_item(dom, "EcsService/web");
        (item.contains("<span class=\"health failed\">failed</span>")
            || item.contains("<span class=\"health quarantined\">quarantined</span>"))
            && item.contains("FAILED: timed out waiting for the rollout")
    })
    .await;
    screenshot(&chromium, &profile, &url, "failed-rollout.png").await;
    let web_item = object_item(&dom, "EcsService/web");
    assert!(
        web_item.contains(&format!("(stopped tasks: {ecs_reason})")),
        "ECS's reason stays: {web_item}"
    );
    // Searching narrows the list as the server renders it, without the script.
    let dom = browse(
        &chromium,
        &profile,
        &["--dump-dom"],
        &format!("http://127.0.0.1:{web}/?q=service/api"),
    )
    .await;
    assert!(object_item(&dom, "EcsService/web").contains(" hidden=\"\""));
    assert!(!object_item(&dom, "EcsService/api").contains(" hidden=\"\""));
}
