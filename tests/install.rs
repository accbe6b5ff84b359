//! What a platform team installs (issue 14): the Helm chart `charts/ecs-gitops`, the plain
//! YAML of `manifests/` generated from it, the RBAC it grants (against the golden
//! `charts/ecs-gitops.can-i.txt`) and the IAM policies of `manifests/aws/`.
//!
//! Offline: `helm lint --strict`, `helm template` validated by `kubernetes-validate` for the
//! bench's Kubernetes version, the values schema's messages. On the real API server
//! (`common::k8s`): `helm install`, what the controller's service-account token may and may
//! not do, `helm upgrade` and `helm uninstall`, `kubectl apply --server-side -f manifests/`.
//!
//! helm and kubectl come from `scripts/test` (`~/.cache/ecs-gitops/bin`), kubernetes-validate
//! from its `.venv-moto`; without them the tests skip loudly outside CI and fail in CI.
//! `UPDATE_GENERATED=1` rewrites the chart's CRDs, `manifests/` and the golden RBAC list.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use common::k8s::{self, Bench, CONTROLLER_USER, GROUP, KINDS, Who, repo, run, text};
use serde_json::{Value, json};

const CHART: &str = "charts/ecs-gitops";
/// The release and namespace whose service account the bench's controller token belongs to.
const RELEASE: &str = "ecs-gitops";
const NAMESPACE: &str = "ecs-gitops";
const GOLDEN_CAN_I: &str = "charts/ecs-gitops.can-i.txt";
const IAM_POLICY: &str = "manifests/aws/iam-policy.json";
/// helm answers in seconds; this bounds a hung call.
const HELM_TIMEOUT: Duration = Duration::from_secs(180);
/// The values files every offline check runs with, besides the defaults.
const VALUES_FILES: [&str; 2] = ["ci/full-values.yaml", "ci/git-values.yaml"];

fn updating() -> bool {
    std::env::var_os("UPDATE_GENERATED").is_some()
}

/// Skips (loudly) outside CI, fails in CI.
fn missing(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing in CI: scripts/test installs it"
    );
    let _ = writeln!(
        std::io::stderr(),
        "!!! SKIPPED: {what} not found; run scripts/test once to install it"
    );
}

/// `$HELM`, the helm `scripts/test` installs, or the first on PATH.
fn helm() -> Option<PathBuf> {
    let found = std::env::var_os("HELM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            k8s::cache_root()
                .map(|c| c.join("bin/helm"))
                .filter(|p| p.is_file())
        })
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("helm"))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        missing("helm");
    }
    found
}

/// helm's own cache and config, away from the user's (in cargo's target/tmp).
fn helm_home() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm")
}

fn helm_command(helm: &Path, args: &[&str], bench: Option<&Bench>) -> Output {
    let home = helm_home();
    let mut cmd = Command::new(helm);
    cmd.args(args)
        .current_dir(repo())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    match bench {
        Some(bench) => cmd.env("KUBECONFIG", bench.dir.join("kubeconfig")),
        // No cluster: `helm template` and `helm lint` must not need one.
        None => cmd.env("KUBECONFIG", home.join("no-kubeconfig")),
    };
    run(cmd, HELM_TIMEOUT)
}

/// helm's stdout; panics with its output unless it succeeds.
fn helm_ok(helm: &Path, args: &[&str], bench: Option<&Bench>) -> String {
    let out = helm_command(helm, args, bench);
    assert!(
        out.status.success(),
        "helm {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `helm template` of the chart as release ecs-gitops in namespace ecs-gitops.
fn template(helm: &Path, extra: &[&str]) -> String {
    let mut args = vec!["template", RELEASE, CHART, "--namespace", NAMESPACE];
    args.extend(extra);
    helm_ok(helm, &args, None)
}

/// The objects of a multi-document YAML stream.
fn objects(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("not YAML: {e}\n{yaml}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect()
}

fn deployment(objects: &[Value]) -> &Value {
    let found = find(objects, "Deployment");
    assert_eq!(found.len(), 1, "one Deployment expected");
    found[0]
}

fn container(objects: &[Value]) -> &Value {
    &deployment(objects)["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The Kubernetes version of the test bench (`tools/k8s-testbin/go.mod`), as `1.N.0`: the
/// schemas kubernetes-validate validates against.
fn bench_kubernetes_version() -> String {
    let go_mod = std::fs::read_to_string(repo().join("tools/k8s-testbin/go.mod")).unwrap();
    let version = go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("k8s.io/kubernetes v"))
        .expect("go.mod requires k8s.io/kubernetes");
    let mut parts = version.split('.');
    format!("{}.{}.0", parts.next().unwrap(), parts.next().unwrap())
}

fn sync_chart_crds() {
    for entry in std::fs::read_dir(repo().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        let to = repo()
            .join(CHART)
            .join("crds")
            .join(path.file_name().unwrap());
        std::fs::copy(&path, to).unwrap();
    }
}

/// The chart installs the repository's CRDs (`crds/`, generated from the types) and the
/// crate's version of the binary.
#[test]
fn chart_carries_the_crds_and_the_crate_version() {
    if updating() {
        sync_chart_crds();
    }
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let ours = repo().join("crds");
    let chart = repo().join(CHART).join("crds");
    assert_eq!(
        names(&ours),
        names(&chart),
        "{CHART}/crds/ and crds/ differ"
    );
    for name in names(&ours) {
        assert!(
            std::fs::read(ours.join(&name)).unwrap() == std::fs::read(chart.join(&name)).unwrap(),
            "{CHART}/crds/{name} differs from crds/{name}: run `UPDATE_GENERATED=1 cargo test --test install`"
        );
    }

    let chart_yaml: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        chart_yaml["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml's appVersion is not the crate's version"
    );
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        values["image"]["tag"], "",
        "the image tag defaults to appVersion"
    );
}

/// The ECS operations `src/ecs/client.rs` sends: its `const OP: &str = "…"` (and `LIST`,
/// `DESCRIBE`) names, cross-checked with the `aws-sdk-ecs` operations it calls.
fn client_operations() -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo().join("src/ecs/client.rs")).unwrap();
    let named: BTreeSet<String> = source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("const ")?;
            let (_, value) = rest.split_once(": &str = \"")?;
            Some(value.strip_suffix("\";")?.to_string())
        })
        .collect();

    // Every fluent call on the SDK client (`client.describe_services()`, over line breaks)
    // and every request built by `convert::create_service(&client, …)`.
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut called = BTreeSet::new();
    for (start, _) in compact.match_indices("client.") {
        let before = compact[..start].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // another identifier ending in `client`
        }
        let rest = &compact[start + "client.".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if rest[name.len()..].starts_with("()") && name != "clone" {
            called.insert(camel(&name));
        }
    }
    for (start, _) in compact.match_indices("convert::") {
        let rest = &compact[start + "convert::".len()..];
        if let Some((name, _)) = rest.split_once("(&client,") {
            called.insert(camel(name));
        }
    }
    assert_eq!(
        named, called,
        "src/ecs/client.rs: the operation names (const OP) differ from the SDK operations it calls"
    );
    assert!(
        named.len() >= 10,
        "only {named:?} found: has the client moved?"
    );
    named
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The IAM policy allows exactly the ECS operations the client can send, and passes roles
/// to ECS tasks only.
#[test]
fn iam_policy_allows_exactly_what_the_ecs_client_calls() {
    let policy: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join(IAM_POLICY)).unwrap()).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    let mut ecs = BTreeSet::new();
    let mut pass_role = Vec::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        let actions: Vec<&str> = match &statement["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().map(|a| a.as_str().unwrap()).collect(),
            other => panic!("Action {other}"),
        };
        for action in actions {
            assert!(!action.contains('*'), "wildcard action {action}");
            if let Some(op) = action.strip_prefix("ecs:") {
                assert!(ecs.insert(op.to_string()), "{action} listed twice");
                assert!(
                    statement.get("Condition").is_none(),
                    "a condition on {action} would deny what the client needs"
                );
            } else if action == "iam:PassRole" {
                pass_role.push(statement);
            } else {
                panic!("{IAM_POLICY}: {action} is not needed by ecs-gitops");
            }
        }
    }
    let client = client_operations();
    let extra: Vec<_> = ecs.difference(&client).collect();
    let lacking: Vec<_> = client.difference(&ecs).collect();
    assert!(
        extra.is_empty() && lacking.is_empty(),
        "{IAM_POLICY}: allows ECS actions the client never calls: {extra:?}; lacks actions it calls: {lacking:?}"
    );
    assert_eq!(pass_role.len(), 1, "one iam:PassRole statement");
    assert_eq!(
        pass_role[0]["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
        "iam:PassRole must be limited to ECS tasks (task and execution roles)"
    );
}

/// The two policies of many accounts: the controller's role may assume the accounts' roles,
/// each of which trusts it (with an external id), and nothing more.
#[test]
fn account_policies_let_the_controller_assume_the_roles_and_no_more() {
    let read = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(repo().join(file)).unwrap()).unwrap()
    };
    let assume = read("manifests/aws/assume-roles-policy.json");
    let trust = read("manifests/aws/account-role-trust-policy.json");
    for policy in [&assume, &trust] {
        assert_eq!(policy["Version"], "2012-10-17");
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{policy}");
        assert_eq!(statements[0]["Effect"], "Allow");
        assert_eq!(statements[0]["Action"], "sts:AssumeRole");
    }
    let roles = assume["Statement"][0]["Resource"].as_array().unwrap();
    assert!(roles.iter().all(|r| r.as_str().unwrap().contains(":role/")));
    let trusted = &trust["Statement"][0];
    assert!(
        trusted["Principal"]["AWS"]
            .as_str()
            .unwrap()
            .contains(":role/")
    );
    assert!(trusted["Condition"]["StringEquals"]["sts:ExternalId"].is_string());
}

/// `helm lint --strict` and `helm template` with the defaults and with each values file of
/// `ci/`, every object valid for the bench's Kubernetes version (kubernetes-validate,
/// strict: unknown fields are errors).
#[test]
fn chart_lints_and_renders_valid_objects() {
    let Some(helm) = helm() else { return };
    let Some(validate) = common::venv_bin("kubernetes-validate") else {
        return;
    };
    let version = bench_kubernetes_version();
    let rendered = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<String>)> = vec![("default values".into(), vec![])];
    for file in VALUES_FILES {
        let path = format!("{CHART}/{file}");
        cases.push((path.clone(), vec!["--values".into(), path]));
    }
    for (what, values) in &cases {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();

        let mut lint = vec!["lint", "--strict", CHART];
        lint.extend(&values);
        let out = helm_ok(&helm, &lint, None);
        assert!(out.contains("0 chart(s) failed"), "{what}: {out}");

        let mut extra = vec!["--include-crds"];
        extra.extend(&values);
        let yaml = template(&helm, &extra);
        let objects = objects(&yaml);
        assert!(objects.len() >= 4, "{what}: {} objects", objects.len());
        let file = rendered
            .path()
            .join(format!("{}.yaml", what.replace('/', "-")));
        std::fs::write(&file, &yaml).unwrap();

        let mut cmd = Command::new(&validate);
        cmd.args(["--strict", "-k", &version]).arg(&file);
        let out = run(cmd, Duration::from_secs(120));
        let report = text(&out.stdout) + &text(&out.stderr);
        assert!(
            out.status.success(),
            "{what}: kubernetes-validate {version} rejects the chart:\n{report}"
        );
        // Each object passed, except the ServiceMonitor, whose schema (Prometheus Operator's
        // CRD) it does not carry.
        let passed = report.matches(" passed for resource ").count();
        let unknown: Vec<&str> = report
            .lines()
            .filter(|l| l.contains("Couldn't find schema"))
            .collect();
        assert!(
            unknown.iter().all(
                |l| l.contains("kind ServiceMonitor with api version monitoring.coreos.com/v1")
            ),
            "{what}: not validated: {unknown:?}"
        );
        assert_eq!(
            passed + unknown.len(),
            objects.len(),
            "{what}: kubernetes-validate checked other objects than rendered:\n{report}"
        );
        assert!(
            report.contains(&format!(
                "against version {}",
                version.trim_end_matches(".0")
            )),
            "{report}"
        );
    }
}

/// Wrong values fail `helm template` (and so install and upgrade) with a message that names
/// the value and what is wrong: the schema for each value, the chart's checks for the rules
/// between values.
#[test]
fn wrong_values_are_rejected_with_a_readable_message() {
    let Some(helm) = helm() else { return };
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--set", "mode=kube"],
            &["at '/mode': value must be one of 'crd', 'git'"],
        ),
        (
            &["--set", "replicaCount=two"],
            &["at '/replicaCount': got string, want integer"],
        ),
        (
            &["--set", "replicas=3"],
            &["additional properties 'replicas' not allowed"],
        ),
        (
            &["--set", "image.pullPolicy=Sometimes"],
            &["at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"],
        ),
        (
            &["--set", "watchNamespaces[0]=Team_A"],
            &["at '/watchNamespaces/0'", "does not match pattern"],
        ),
        (
            &["--set", "aws.region=EU-WEST-1"],
            &["at '/aws/region'", "'EU-WEST-1' does not match pattern"],
        ),
        (
            &["--set", "git.interval=soon"],
            &["at '/git/interval'", "'soon' does not match pattern"],
        ),
        (
            &["--set", "logFormat=xml", "--set", "service.port=0"],
            &[
                "at '/logFormat': value must be one of 'text', 'json'",
                "at '/service/port': minimum: got 0, want 1",
            ],
        ),
        (
            &[
                "--set",
                "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=1",
            ],
            &[
                "at '/serviceAccount/annotations/eks.amazonaws.com~1role-arn': got number, want string",
            ],
        ),
        (
            &["--set", "accounts[0].name=prod"],
            &["at '/accounts/0': missing property 'roleArn'"],
        ),
        (
            &["--set", "mode=git"],
            &["mode: git needs git.url, the repository to follow"],
        ),
        (
            &[
                "--set",
                "mode=git",
                "--set",
                "git.url=https://github.com/acme/deploy.git",
                "--set",
                "git.https.tokenKey=token",
            ],
            &["are keys of git.existingSecret: set git.existingSecret to the Secret's name"],
        ),
        (
            &[
                "--set",
                "mode=git",
                "--set",
                "git.url=git@github.com:acme/deploy.git",
                "--set",
                "git.existingSecret=git",
                "--set",
                "git.ssh.privateKeyKey=identity",
            ],
            &[
                "git.ssh.privateKeyKey needs git.ssh.knownHostsKey: the Git server's host key is always checked",
            ],
        ),
        (
            &[
                "--set",
                "mode=git",
                "--set",
                "git.url=https://github.com/acme/deploy.git",
                "--set",
                "watchNamespaces={apps}",
            ],
            &["watchNamespaces is for mode: crd"],
        ),
        (
            &[
                "--set",
                "serviceMonitor.enabled=true",
                "--set",
                "service.enabled=false",
            ],
            &["serviceMonitor.enabled needs service.enabled"],
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["template", RELEASE, CHART];
        all.extend(*args);
        let out = helm_command(&helm, &all, None);
        let message = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        for want in *expected {
            assert!(
                message.contains(want),
                "{args:?}: {want:?} not in the message:\n{message}"
            );
        }
    }
    // The schema rejects, not only the templates: a values file with a wrong type.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "image:\n  tag: 1.0\n").unwrap();
    let out = helm_command(
        &helm,
        &[
            "template",
            RELEASE,
            CHART,
            "--values",
            file.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(
        text(&out.stderr).contains("at '/image/tag': got number, want string"),
        "{}",
        text(&out.stderr)
    );
}

/// What each mode renders: the command line, the token, the RBAC objects, the update
/// strategy, the credentials.
#[test]
fn rendering_follows_mode_replicas_and_namespaces() {
    let Some(helm) = helm() else { return };

    // Defaults: crd mode, 2 replicas electing a leader, all namespaces.
    let default = objects(&template(&helm, &[]));
    assert_eq!(
        kinds(&default),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
        .map(String::from)
        .into(),
    );
    assert_eq!(
        args(&default),
        [
            "--log-format=text",
            "controller",
            "--listen=0.0.0.0:8080",
            "--leader-elect",
            "--lease-name=ecs-gitops"
        ]
    );
    let pod = &deployment(&default)["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(pod["serviceAccountName"], "ecs-gitops");
    assert_eq!(deployment(&default)["spec"]["replicas"], 2);
    assert_eq!(
        deployment(&default)["spec"]["strategy"]["type"],
        "RollingUpdate"
    );
    assert_eq!(
        container(&default)["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(container(&default)["image"], "ecs-gitops:0.1.0");
    assert_eq!(
        container(&default)["livenessProbe"]["httpGet"]["path"],
        "/healthz"
    );
    assert_eq!(
        container(&default)["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );
    let hardened = &container(&default)["securityContext"];
    assert_eq!(hardened["readOnlyRootFilesystem"], true);
    assert_eq!(hardened["allowPrivilegeEscalation"], false);
    assert_eq!(hardened["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sa = find(&default, "ServiceAccount")[0];
    assert_eq!(sa["metadata"]["name"], "ecs-gitops");
    assert_eq!(sa["automountServiceAccountToken"], false);
    // No wildcard anywhere, no Secrets.
    for role in find(&default, "ClusterRole")
        .into_iter()
        .chain(find(&default, "Role"))
    {
        for rule in role["rules"].as_array().unwrap() {
            let all = rule.to_string();
            assert!(!all.contains('*'), "wildcard in {rule}");
            assert!(!all.contains("secrets"), "secrets in {rule}");
        }
    }

    // Watched namespaces: a Role in each of them, nothing cluster-wide; one replica: no
    // leader election, no Lease, and updates never run two pods at once.
    let namespaced = objects(&template(
        &helm,
        &[
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "replicaCount=1",
        ],
    ));
    assert!(find(&namespaced, "ClusterRole").is_empty());
    assert!(find(&namespaced, "ClusterRoleBinding").is_empty());
    let roles: Vec<(&str, &str)> = find(&namespaced, "Role")
        .iter()
        .map(|r| {
            (
                r["metadata"]["namespace"].as_str().unwrap(),
                r["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(roles, [("team-a", "ecs-gitops"), ("team-b", "ecs-gitops")]);
    assert_eq!(find(&namespaced, "RoleBinding").len(), 2);
    assert_eq!(
        args(&namespaced),
        [
            "--log-format=text",
            "controller",
            "--namespace=team-a",
            "--namespace=team-b",
            "--listen=0.0.0.0:8080"
        ]
    );
    assert_eq!(
        deployment(&namespaced)["spec"]["strategy"],
        json!({"type": "Recreate"})
    );

    // git mode, one replica: no Kubernetes API at all (no token, no RBAC); the cache on an
    // emptyDir; credentials from the existing Secret, as files and environment.
    let git = objects(&template(
        &helm,
        &["--values", &format!("{CHART}/ci/git-values.yaml")],
    ));
    assert_eq!(
        kinds(&git),
        [
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ]
        .map(String::from)
        .into(),
        "git mode with one replica needs no RBAC"
    );
    let pod = &deployment(&git)["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        args(&git),
        [
            "--log-format=json",
            "run",
            "--git=git@github.com:acme/deploy.git",
            "--ref=main",
            "--path=ecs",
            "--interval=30s",
            "--prune",
            "--owner=acme-deploy",
            "--git-ssh-key=/etc/ecs-gitops/git/identity",
            "--git-known-hosts=/etc/ecs-gitops/git/known_hosts",
            "--cache-dir=/var/cache/ecs-gitops",
            "--listen=0.0.0.0:8080",
            "--region=us-east-1"
        ]
    );
    assert_eq!(
        pod["volumes"],
        json!([
            {"name": "cache", "emptyDir": {}},
            {"name": "git-ssh", "secret": {
                "secretName": "ecs-gitops-git",
                "defaultMode": 0o440,
                "items": [{"key": "identity", "path": "identity"},
                          {"key": "known_hosts", "path": "known_hosts"}]}}
        ])
    );
    assert_eq!(
        container(&git)["env"],
        json!([{"name": "ECS_GITOPS_HOOK_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "ecs-gitops-git", "key": "webhook-secret"}}}])
    );

    // Accounts: a ConfigMap the controller reads as --accounts (and that the controller's
    // parser takes as it is), mounted read-only; a change to it rolls the pods.
    let full = objects(&template(
        &helm,
        &["--values", &format!("{CHART}/ci/full-values.yaml")],
    ));
    let config = find(&full, "ConfigMap")[0];
    assert_eq!(config["metadata"]["name"], "ecs-gitops-full-accounts");
    let file = config["data"]["accounts.yaml"].as_str().unwrap();
    let accounts = ecs_gitops::api::Accounts::parse("accounts.yaml", file).unwrap();
    let prod = accounts.get("prod").unwrap();
    assert_eq!(prod.role_arn, "arn:aws:iam::111111111111:role/ecs-gitops");
    assert_eq!(prod.regions, ["eu-west-1", "us-east-1"]);
    assert!(accounts.get("staging").is_some());
    assert!(args(&full).contains(&"--accounts=/etc/ecs-gitops/accounts/accounts.yaml".to_string()));
    let pod = &deployment(&full)["spec"]["template"];
    assert_eq!(
        pod["spec"]["volumes"],
        json!([{"name": "accounts", "configMap": {"name": "ecs-gitops-full-accounts"}}])
    );
    assert_eq!(
        container(&full)["volumeMounts"],
        json!([{"name": "accounts", "mountPath": "/etc/ecs-gitops/accounts", "readOnly": true}])
    );
    assert!(pod["metadata"]["annotations"]["checksum/accounts"].is_string());
    assert!(find(&default, "ConfigMap").is_empty());

    // git mode over https with two replicas: the token from the Secret, and a Lease (the
    // only Kubernetes API it uses).
    let git_ha = objects(&template(
        &helm,
        &[
            "--set",
            "mode=git",
            "--set",
            "git.url=https://github.com/acme/deploy.git",
            "--set",
            "git.existingSecret=git",
            "--set",
            "git.https.tokenKey=token",
        ],
    ));
    assert!(find(&git_ha, "ClusterRole").is_empty());
    let roles = find(&git_ha, "Role");
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["metadata"]["name"], "ecs-gitops-leader-election");
    assert!(
        roles[0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resources"] == json!(["leases"])),
        "{}",
        roles[0]
    );
    let pod = &deployment(&git_ha)["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert!(args(&git_ha).contains(&"--leader-elect".to_string()));
    let env = container(&git_ha)["env"].to_string();
    assert!(
        env.contains(r#""name":"ECS_GITOPS_GIT_TOKEN","valueFrom":{"secretKeyRef":{"key":"token","name":"git"}}"#),
        "{env}"
    );
}

/// `manifests/*.yaml` is what `scripts/gen-manifests` writes from the chart's defaults.
#[test]
fn manifests_are_the_chart_with_default_values() {
    let Some(helm) = helm() else { return };
    if updating() {
        sync_chart_crds();
    }
    let fresh = tempfile::tempdir().unwrap();
    let target = if updating() {
        repo().join("manifests")
    } else {
        fresh.path().to_path_buf()
    };
    let mut cmd = Command::new(repo().join("scripts/gen-manifests"));
    cmd.arg(&target).env("HELM", &helm);
    let out = run(cmd, HELM_TIMEOUT);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let yaml_files = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect()
    };
    let committed = repo().join("manifests");
    assert_eq!(yaml_files(&committed), yaml_files(&target));
    for name in yaml_files(&target) {
        assert!(
            std::fs::read(committed.join(&name)).unwrap()
                == std::fs::read(target.join(&name)).unwrap(),
            "manifests/{name} is stale: run scripts/gen-manifests (or UPDATE_GENERATED=1 cargo test --test install)"
        );
    }
    // `kubectl apply -f manifests/` reads every .yaml, .yml and .json file at the top: only
    // Kubernetes objects may be there (the IAM policy lives in manifests/aws/).
    for entry in std::fs::read_dir(&committed).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert!(
                path.extension().is_some_and(|e| e == "yaml"),
                "{}: kubectl apply -f manifests/ would read it",
                path.display()
            );
        }
    }
}

/// The pods the chart makes meet the `restricted` Pod Security Standard: the API server's
/// own admission (PodSecurity) accepts them in a namespace that enforces it, and refuses a
/// weakened one.
#[test]
fn pods_meet_the_restricted_pod_security_standard() {
    let Some(helm) = helm() else { return };
    let Some(bench) = k8s::bench() else { return };
    let ns = "pod-security";
    bench.admin(&["create", "namespace", ns]);
    bench.admin(&[
        "label",
        "namespace",
        ns,
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    let files = tempfile::tempdir().unwrap();
    let git_values = format!("{CHART}/ci/git-values.yaml");
    let full_values = format!("{CHART}/ci/full-values.yaml");
    let cases: [(&str, Vec<&str>); 3] = [
        ("default", vec![]),
        ("full", vec!["--values", &full_values]),
        ("git", vec!["--values", &git_values]),
    ];
    let pod_of = |name: &str, values: &[&str]| -> Value {
        let rendered = objects(&template(&helm, values));
        let template = &deployment(&rendered)["spec"]["template"];
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
        })
    };
    let create = |pod: &Value| -> Output {
        let file = files.path().join(format!(
            "{}.json",
            pod["metadata"]["name"].as_str().unwrap()
        ));
        std::fs::write(&file, pod.to_string()).unwrap();
        bench.kubectl(
            Who::Admin,
            &["create", "--dry-run=server", "-f", file.to_str().unwrap()],
        )
    };
    for (name, values) in &cases {
        let out = create(&pod_of(name, values));
        assert!(
            out.status.success(),
            "{name}: refused under the restricted Pod Security Standard: {}",
            text(&out.stderr)
        );
    }
    // The check can fail: the same pod, allowed to escalate privileges, is refused.
    let mut weakened = pod_of("weakened", &[]);
    weakened["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let out = create(&weakened);
    assert!(!out.status.success(), "a weakened pod was accepted");
    assert!(
        text(&out.stderr).contains("violates PodSecurity \"restricted:latest\""),
        "{}",
        text(&out.stderr)
    );
}

/// Every cluster-scoped object but namespaces (the other tests of this process make some).
fn cluster_scoped(bench: &Bench) -> BTreeSet<String> {
    let resources = bench.admin(&[
        "api-resources",
        "--namespaced=false",
        "--verbs=list",
        "-o",
        "name",
    ]);
    let resources: Vec<&str> = resources
        .lines()
        .filter(|r| *r != "namespaces" && *r != "componentstatuses")
        .collect();
    bench
        .admin(&["get", &resources.join(","), "-o", "name"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// `kubectl auth can-i --list` for the controller's service account in `ns`.
fn can_i(bench: &Bench, ns: &str) -> String {
    bench.admin(&[
        "auth",
        "can-i",
        "--list",
        &format!("--as={CONTROLLER_USER}"),
        "-n",
        ns,
    ])
}

/// The golden file's text: what the service account may do in the release's namespace, and
/// in any other (the cluster-wide rules).
fn can_i_report(bench: &Bench) -> String {
    format!(
        "# kubectl auth can-i --list --as={CONTROLLER_USER} -n {NAMESPACE}\n\
         # after `helm install {RELEASE} {CHART} -n {NAMESPACE}` with default values, on the\n\
         # test bench's API server (tests/install.rs; UPDATE_GENERATED=1 rewrites this file).\n\
         {}\n\
         # The same with -n default: what it may do in any other namespace (the cluster-wide rules).\n\
         {}",
        can_i(bench, NAMESPACE),
        can_i(bench, "default")
    )
}

fn check_golden_can_i(bench: &Bench, after: &str) {
    let report = can_i_report(bench);
    let path = repo().join(GOLDEN_CAN_I);
    if updating() {
        std::fs::write(&path, &report).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    let lines = |t: &str| t.lines().map(str::to_string).collect::<BTreeSet<String>>();
    let (want, got) = (lines(&golden), lines(&report));
    assert!(
        golden == report,
        "{after}: the service account's permissions differ from {GOLDEN_CAN_I} \
         (if the change is meant, UPDATE_GENERATED=1 cargo test --test install)\n\
         granted now, not in the file: {:#?}\nin the file, not granted now: {:#?}\nnow:\n{report}",
        got.difference(&want).collect::<Vec<_>>(),
        want.difference(&got).collect::<Vec<_>>(),
    );
    // The bench's real token for the service account has exactly those permissions too.
    let real = bench.kubectl(
        Who::Controller,
        &["auth", "can-i", "--list", "-n", NAMESPACE],
    );
    assert!(real.status.success(), "{}", text(&real.stderr));
    assert_eq!(text(&real.stdout), can_i(bench, NAMESPACE), "{after}");
}

/// Runs kubectl as the controller (its service-account token); panics unless the result is
/// as `allowed` says, and a refusal is RBAC's 403 for that service account.
fn as_controller(bench: &Bench, args: &[&str], allowed: bool) -> String {
    let out = bench.kubectl(Who::Controller, args);
    let message = text(&out.stderr);
    if allowed {
        assert!(
            out.status.success(),
            "the controller may not {args:?}: {message}"
        );
    } else {
        assert!(!out.status.success(), "the controller may {args:?}");
        assert!(
            message.contains("(Forbidden)") && message.contains(CONTROLLER_USER),
            "{args:?}: not RBAC's 403: {message}"
        );
    }
    text(&out.stdout)
}

/// A JSON merge patch to `path` with the controller's token, as its client sends it (no
/// read before); the HTTP status and body.
fn patch_as_controller(bench: &Bench, path: &str, patch: &str) -> (u16, String) {
    let kubeconfig = std::fs::read_to_string(bench.dir.join("kubeconfig-controller")).unwrap();
    let field = |name: &str| {
        kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in kubeconfig-controller"))
            .trim()
            .to_string()
    };
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "30",
        "-X",
        "PATCH",
        "-w",
        "\n%{http_code}",
    ])
    .arg("--cacert")
    .arg(bench.dir.join("ca.crt"))
    .args(["-H", "Content-Type: application/merge-patch+json"])
    // The token on stdin (a config file), not on the command line.
    .args(["-K", "-", "--data", patch])
    .arg(format!("{}{path}", field("server:")));
    let header = format!("header = \"Authorization: Bearer {}\"\n", field("token:"));
    let out = run_with_input(cmd, &header);
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

fn run_with_input(mut cmd: Command, input: &str) -> Output {
    use std::process::Stdio;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("curl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn write(dir: &Path, name: &str, content: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

/// Waits (30 s at most) until the chart's CRDs are Established and in discovery.
fn wait_for_crds(bench: &Bench) {
    let mut wait = vec![
        "wait".to_string(),
        "--for=condition=Established".into(),
        "--timeout=30s".into(),
    ];
    wait.extend(KINDS.iter().map(|k| format!("crd/{k}.{GROUP}")));
    let wait: Vec<&str> = wait.iter().map(String::as_str).collect();
    bench.admin(&wait);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = bench.admin(&["api-resources", "--api-group", GROUP, "-o", "name"]);
        if KINDS
            .iter()
            .all(|k| listed.lines().any(|l| l == format!("{k}.{GROUP}")))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{GROUP} not in discovery: {listed}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// The service account does what the CRD-mode controller does, with its own token, in
/// namespace `ns`: read and watch the kinds, a finalizer, status by server-side apply, an
/// Event; and may not read Secrets nor create, replace or delete its objects.
fn check_controller_permissions(bench: &Bench, files: &Path, ns: &str, leases: bool) {
    let service = format!("ecsservice.{GROUP}/web");
    as_controller(bench, &["get", &service, "-n", ns], true);
    as_controller(
        bench,
        &["get", "ecsclusters,ecstaskdefinitions", "-n", ns],
        true,
    );
    for kind in KINDS {
        let watch = as_controller(bench, &["auth", "can-i", "watch", kind, "-n", ns], true);
        assert_eq!(watch.trim(), "yes", "watch {kind}");
    }
    // The finalizer, by a JSON merge patch on metadata.
    as_controller(
        bench,
        &[
            "patch",
            &service,
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["ecs-gitops.dev/cleanup"]}}"#,
        ],
        true,
    );
    // Status, by server-side apply on the status subresource as field manager ecs-gitops.
    let status = json!({
        "apiVersion": format!("{GROUP}/v1alpha1"),
        "kind": "EcsService",
        "metadata": {"name": "web", "namespace": ns},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "RolloutCompleted",
                            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        },
    });
    let status_file = write(files, &format!("status-{ns}.json"), &status);
    as_controller(
        bench,
        &[
            "apply",
            "--server-side",
            "--field-manager=ecs-gitops",
            "--subresource=status",
            "-f",
            &status_file,
        ],
        true,
    );
    let live = bench.get_json(&["get", &service, "-n", ns]);
    assert_eq!(
        live["status"]["conditions"][0]["reason"],
        "RolloutCompleted"
    );
    assert_eq!(
        live["metadata"]["finalizers"],
        json!(["ecs-gitops.dev/cleanup"])
    );
    // An Event about it (events.k8s.io), then its series patched.
    let event = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web.rollout", "namespace": ns},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "ecs-gitops.dev/controller",
        "reportingInstance": "ecs-gitops-0",
        "action": "Reconcile",
        "reason": "RolloutCompleted",
        "type": "Normal",
        "note": "rollout completed",
        "regarding": {"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "EcsService",
                      "name": "web", "namespace": ns},
    });
    let event_file = write(files, &format!("event-{ns}.json"), &event);
    as_controller(bench, &["create", "-f", &event_file], true);
    // kubectl patch reads the object first; the controller's recorder patches straight away.
    let (status, body) = patch_as_controller(
        bench,
        &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events/web.rollout"),
        r#"{"series":{"count":2,"lastObservedTime":"2026-01-01T00:01:00.000000Z"}}"#,
    );
    assert_eq!(status, 200, "patching the Event: {body}");

    // Nothing more.
    bench.admin(&[
        "create",
        "secret",
        "generic",
        "aws",
        "-n",
        ns,
        "--from-literal=key=value",
    ]);
    as_controller(bench, &["get", "secret/aws", "-n", ns], false);
    as_controller(bench, &["get", "secrets", "-n", NAMESPACE], false);
    as_controller(bench, &["get", "secrets", "--all-namespaces"], false);
    as_controller(bench, &["get", "configmaps", "-n", ns], false);
    as_controller(bench, &["delete", &service, "-n", ns], false);
    as_controller(
        bench,
        &["create", "-f", &service_file(files, "other", ns)],
        false,
    );
    // Replacing (update) rather than patching is not granted either.
    let live_file = write(files, &format!("live-{ns}.json"), &live);
    as_controller(bench, &["replace", "-f", &live_file], false);
    as_controller(bench, &["get", "events.events.k8s.io", "-n", ns], false);
    as_controller(bench, &["get", "deployments", "-n", NAMESPACE], false);

    // Its Lease, only in its own namespace and only by its name.
    let lease = |name: &str, lease_ns: &str| {
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": lease_ns},
            "spec": {"holderIdentity": "ecs-gitops-0", "leaseDurationSeconds": 15},
        })
    };
    let ours = write(files, "lease.json", &lease(RELEASE, NAMESPACE));
    let elsewhere = write(files, "lease-elsewhere.json", &lease(RELEASE, ns));
    as_controller(bench, &["create", "-f", &elsewhere], false);
    if leases {
        as_controller(bench, &["create", "-f", &ours], true);
        let lease_ref = format!("lease.coordination.k8s.io/{RELEASE}");
        let got = as_controller(
            bench,
            &["get", &lease_ref, "-n", NAMESPACE, "-o", "json"],
            true,
        );
        let got: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(got["metadata"]["name"], RELEASE);
        // kube-lease-manager takes and renews the lease with server-side apply (patch).
        let mut renewed = lease(RELEASE, NAMESPACE);
        renewed["spec"]["holderIdentity"] = json!("ecs-gitops-1");
        let renewed = write(files, "lease-renewed.json", &renewed);
        as_controller(
            bench,
            &[
                "apply",
                "--server-side",
                "--field-manager=kube-lease-manager-ecs-gitops-1",
                "--force-conflicts",
                "-f",
                &renewed,
            ],
            true,
        );
        as_controller(bench, &["replace", "-f", &renewed], false);
        as_controller(bench, &["get", "leases", "-n", NAMESPACE], false);
        as_controller(bench, &["delete", &lease_ref, "-n", NAMESPACE], false);
        bench.admin(&["delete", &lease_ref, "-n", NAMESPACE]);
    } else {
        as_controller(bench, &["create", "-f", &ours], false);
    }

    // Leave the object as it was: the finalizer off, the Event and the Secret gone.
    bench.admin(&[
        "patch",
        &service,
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    bench.admin(&["delete", "events.events.k8s.io/web.rollout", "-n", ns]);
    bench.admin(&["delete", "secret/aws", "-n", ns]);
}

fn service_file(files: &Path, name: &str, ns: &str) -> String {
    let service = json!({
        "apiVersion": format!("{GROUP}/v1alpha1"),
        "kind": "EcsService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"cluster": "quickstart", "taskDefinitionRef": "worker", "desiredCount": 1},
    });
    write(files, &format!("service-{ns}-{name}.json"), &service)
}

/// Objects of the release (by its instance label) in the namespaces given and cluster-wide.
fn release_objects(bench: &Bench, namespaces: &[&str]) -> Vec<String> {
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let mut found = Vec::new();
    for ns in namespaces {
        found.extend(
            bench
                .admin(&[
                    "get",
                    "deployments,services,serviceaccounts,poddisruptionbudgets,roles,rolebindings",
                    "-n",
                    ns,
                    "-l",
                    &selector,
                    "-o",
                    "name",
                ])
                .lines()
                .map(|l| format!("{ns}/{l}")),
        );
    }
    found.extend(
        bench
            .admin(&[
                "get",
                "clusterroles,clusterrolebindings",
                "-l",
                &selector,
                "-o",
                "name",
            ])
            .lines()
            .map(str::to_string),
    );
    found
}

/// The install flow on the real API server, in one test because the controller's token
/// belongs to release ecs-gitops in namespace ecs-gitops: `helm install` with the defaults,
/// the RBAC against the golden list and used with the token; `helm upgrade` to watched
/// namespaces with one replica, then to git mode; `helm uninstall`, which leaves no
/// cluster-scoped object but the CRDs; then the same install from `manifests/`.
#[test]
fn helm_install_upgrade_uninstall_then_plain_manifests() {
    let Some(helm) = helm() else { return };
    let Some(bench) = k8s::bench() else { return };
    let files = tempfile::tempdir().unwrap();
    let files = files.path();
    let before = cluster_scoped(bench);

    // Install: the chart brings the CRDs; no pod ever runs here (no kubelet), so the objects
    // are checked rather than the rollout.
    let started = Instant::now();
    let out = helm_ok(
        &helm,
        &[
            "install",
            RELEASE,
            CHART,
            "-n",
            NAMESPACE,
            "--create-namespace",
            "--timeout",
            "2m",
        ],
        Some(bench),
    );
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert!(
        out.contains("kubectl get ecsservices --all-namespaces"),
        "NOTES: {out}"
    );
    eprintln!("helm install: {:?}", started.elapsed());
    wait_for_crds(bench);
    for object in [
        "deployment/ecs-gitops",
        "service/ecs-gitops",
        "serviceaccount/ecs-gitops",
        "poddisruptionbudget/ecs-gitops",
        "role/ecs-gitops-leader-election",
        "rolebinding/ecs-gitops-leader-election",
    ] {
        bench.admin(&["get", object, "-n", NAMESPACE]);
    }
    bench.admin(&[
        "get",
        "clusterrole/ecs-gitops",
        "clusterrolebinding/ecs-gitops",
    ]);

    check_golden_can_i(bench, "after helm install");
    bench.admin(&["create", "namespace", "apps"]);
    bench.admin(&["create", "namespace", "other"]);
    for ns in ["apps", "other"] {
        bench.admin(&["create", "-f", &service_file(files, "web", ns)]);
    }
    let listed = as_controller(
        bench,
        &["get", "ecsservices", "--all-namespaces", "-o", "name"],
        true,
    );
    assert_eq!(listed.lines().count(), 2, "{listed}");
    check_controller_permissions(bench, files, "apps", true);
    check_controller_permissions(bench, files, "other", true);

    // Upgrade: only namespace apps, one replica (no leader election). The ClusterRole and
    // the Lease's Role go away.
    helm_ok(
        &helm,
        &[
            "upgrade",
            RELEASE,
            CHART,
            "-n",
            NAMESPACE,
            "--reset-values",
            "--set",
            "watchNamespaces={apps}",
            "--set",
            "replicaCount=1",
            "--timeout",
            "2m",
        ],
        Some(bench),
    );
    let mut objects = release_objects(bench, &[NAMESPACE, "apps"]);
    objects.sort();
    assert_eq!(
        objects,
        [
            "apps/role.rbac.authorization.k8s.io/ecs-gitops",
            "apps/rolebinding.rbac.authorization.k8s.io/ecs-gitops",
            "ecs-gitops/deployment.apps/ecs-gitops",
            "ecs-gitops/poddisruptionbudget.policy/ecs-gitops",
            "ecs-gitops/service/ecs-gitops",
            "ecs-gitops/serviceaccount/ecs-gitops",
        ]
    );
    let deployment = bench.get_json(&["get", "deployment/ecs-gitops", "-n", NAMESPACE]);
    assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
    let live_args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(live_args.contains("--namespace=apps") && !live_args.contains("--leader-elect"));
    check_controller_permissions(bench, files, "apps", false);
    as_controller(bench, &["get", "ecsservices", "--all-namespaces"], false);
    as_controller(bench, &["get", "ecsservices", "-n", "other"], false);

    // Upgrade to git mode, one replica: no RBAC at all, no token in the pod.
    helm_ok(
        &helm,
        &[
            "upgrade",
            RELEASE,
            CHART,
            "-n",
            NAMESPACE,
            "--reset-values",
            "--set",
            "mode=git",
            "--set",
            "git.url=https://github.com/acme/deploy.git",
            "--set",
            "replicaCount=1",
            "--timeout",
            "2m",
        ],
        Some(bench),
    );
    let mut objects = release_objects(bench, &[NAMESPACE, "apps"]);
    objects.sort();
    assert_eq!(
        objects,
        [
            "ecs-gitops/deployment.apps/ecs-gitops",
            "ecs-gitops/poddisruptionbudget.policy/ecs-gitops",
            "ecs-gitops/service/ecs-gitops",
            "ecs-gitops/serviceaccount/ecs-gitops",
        ]
    );
    let deployment = bench.get_json(&["get", "deployment/ecs-gitops", "-n", NAMESPACE]);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
    as_controller(bench, &["get", "ecsservices", "-n", "apps"], false);

    // Uninstall: nothing of the release is left, and of all cluster-scoped objects only the
    // CRDs (Helm never deletes CRDs) and the API group the server serves for them are new.
    helm_ok(
        &helm,
        &["uninstall", RELEASE, "-n", NAMESPACE, "--timeout", "2m"],
        Some(bench),
    );
    assert_eq!(
        release_objects(bench, &[NAMESPACE, "apps"]),
        Vec::<String>::new()
    );
    let after = cluster_scoped(bench);
    let added: BTreeSet<&String> = after.difference(&before).collect();
    let removed: BTreeSet<&String> = before.difference(&after).collect();
    let mut expected: BTreeSet<String> = KINDS
        .iter()
        .map(|k| format!("customresourcedefinition.apiextensions.k8s.io/{k}.{GROUP}"))
        .collect();
    expected.insert(format!(
        "apiservice.apiregistration.k8s.io/v1alpha1.{GROUP}"
    ));
    assert_eq!(
        added,
        expected.iter().collect(),
        "cluster-scoped objects left behind by helm install/upgrade/uninstall"
    );
    assert!(removed.is_empty(), "removed: {removed:?}");

    // The plain manifests: the same objects, the same permissions.
    let started = Instant::now();
    bench.admin(&["apply", "--server-side", "-f", "manifests/"]);
    eprintln!(
        "kubectl apply --server-side -f manifests/: {:?}",
        started.elapsed()
    );
    let mut objects = release_objects(bench, &[NAMESPACE]);
    objects.sort();
    assert_eq!(
        objects,
        [
            "clusterrole.rbac.authorization.k8s.io/ecs-gitops",
            "clusterrolebinding.rbac.authorization.k8s.io/ecs-gitops",
            "ecs-gitops/deployment.apps/ecs-gitops",
            "ecs-gitops/poddisruptionbudget.policy/ecs-gitops",
            "ecs-gitops/role.rbac.authorization.k8s.io/ecs-gitops-leader-election",
            "ecs-gitops/rolebinding.rbac.authorization.k8s.io/ecs-gitops-leader-election",
            "ecs-gitops/service/ecs-gitops",
            "ecs-gitops/serviceaccount/ecs-gitops",
        ]
    );
    let namespace = bench.get_json(&["get", "namespace", NAMESPACE]);
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    check_golden_can_i(bench, "after kubectl apply -f manifests/");
    check_controller_permissions(bench, files, "apps", true);
    // Client-side `kubectl apply -f manifests/` works as well (no annotation too large).
    bench.admin(&["apply", "--dry-run=server", "-f", "manifests/"]);
    bench.admin(&["delete", "-f", "manifests/02-ecs-gitops.yaml"]);
}
