//! The CRDs and the examples against a real Kubernetes API server (`common::k8s`): what only
//! a real server checks: that it accepts the CRDs' structural schemas, prunes nothing from our
//! objects, rejects unknown fields and wrong types, and enforces RBAC on the controller's
//! service account.

mod common;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::k8s::*;
use serde_json::Value;

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
            "ecscapacityproviders.ecs-gitops.dev",
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
    let explained = words(&explain(
        bench,
        "ecscapacityprovider.spec.autoScalingGroupProvider.managedScaling",
    ));
    assert!(
        explained.contains("targetCapacity"),
        "explain lacks targetCapacity:\n{explained}"
    );
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
